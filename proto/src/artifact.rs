//! Files a job produced and the daemon kept (`.microci.json` `"artifacts"`): how they are listed
//! and read back in pieces no larger than a frame allows.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// One kept file of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Its path relative to the job's `/repo` (`target/debian/app.deb`): what the job wrote,
    /// and the name to ask for.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lowercase hex, so a download can be checked end to end.
    pub sha256: String,
}

/// A window of one artifact's bytes (`read_artifact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactChunk {
    /// Job id.
    pub job: i64,
    /// The artifact's name.
    pub name: String,
    /// Where `data` starts in the file.
    pub offset: u64,
    /// Where the next read starts; equal to `size` at the end.
    pub next_offset: u64,
    /// The whole file's size.
    pub size: u64,
    /// The bytes, base64 (standard alphabet, padded): JSON carries no raw bytes.
    pub data: String,
}

impl ArtifactChunk {
    /// A chunk of `bytes` read at `offset` of a file of `size` bytes.
    pub fn new(job: i64, name: String, offset: u64, size: u64, bytes: &[u8]) -> ArtifactChunk {
        ArtifactChunk {
            job,
            name,
            offset,
            next_offset: offset + bytes.len() as u64,
            size,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The chunk's bytes; `None` when `data` is not base64 (a broken peer).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trips_bytes_through_json() {
        let bytes: Vec<u8> = (0..=255).collect();
        let chunk = ArtifactChunk::new(3, "a/b.bin".into(), 10, 1000, &bytes);
        assert_eq!(chunk.next_offset, 266);
        let text = serde_json::to_string(&chunk).unwrap();
        let back: ArtifactChunk = serde_json::from_str(&text).unwrap();
        assert_eq!(back.bytes().unwrap(), bytes);
        let broken = ArtifactChunk {
            data: "!!".into(),
            ..back
        };
        assert_eq!(broken.bytes(), None);
    }
}
