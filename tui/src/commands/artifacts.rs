//! `artifacts ID [--get NAME] [-o DIR]`: list the files a job kept, or download one. A download
//! is read in windows, written to a temporary file beside its destination, checked against the
//! SHA-256 the daemon recorded when it kept the file, and only then renamed into place: a
//! broken transfer never leaves a file that looks complete.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::format::{self, Fields};
use microci_proto::{Artifact, MAX_ARTIFACT_READ, Reply, Request};
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files job `id` kept, from the daemon.
pub async fn list(conn: &mut Connection, id: i64) -> Result<Vec<Artifact>, CommandError> {
    match conn.request(Request::ListArtifacts { job: id }).await? {
        Reply::Artifacts { artifacts, .. } => Ok(artifacts),
        other => Err(unexpected(other)),
    }
}

/// Lists job `id`'s artifacts, or with `get` downloads one into `dir` (named after the last
/// component of its name) and prints where it went.
pub async fn artifacts(
    conn: &mut Connection,
    id: i64,
    get: Option<String>,
    dir: Option<PathBuf>,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let kept = list(conn, id).await?;
    let Some(name) = get else {
        if json {
            write_json(out, &kept)?;
        } else {
            out.write_all(table(id, &kept, Fields::Clean).as_bytes())?;
        }
        return Ok(Outcome::Success);
    };
    let Some(artifact) = kept.into_iter().find(|a| a.name == name) else {
        return Err(failed(format!("job {id} has no artifact {name:?}")));
    };
    let dir = dir.unwrap_or_else(|| PathBuf::from("."));
    let path = download(conn, id, &artifact, &dir).await?;
    writeln!(
        out,
        "{} ({} bytes, sha256 {})",
        path.display(),
        artifact.size,
        artifact.sha256
    )?;
    Ok(Outcome::Success)
}

/// The listing as text: one line per file, name (cleaned of escape sequences unless `fields`
/// says raw), size and SHA-256.
pub fn table(id: i64, kept: &[Artifact], fields: Fields) -> String {
    if kept.is_empty() {
        return format!("job {id} kept no artifacts\n");
    }
    let names: Vec<String> = kept.iter().map(|a| fields.text(&a.name)).collect();
    let w = names.iter().map(|n| format::width(n)).max().unwrap_or(0);
    let mut text = String::new();
    for (a, n) in kept.iter().zip(names) {
        text.push_str(&format!(
            "{}  {:>12}  {}\n",
            format::pad(&n, w),
            a.size,
            a.sha256
        ));
    }
    text
}

/// A command failure with one sentence.
fn failed(message: String) -> CommandError {
    CommandError::Failed(message)
}

/// Reads artifact `a` of job `id` into `dir`; returns the file written.
async fn download(
    conn: &mut Connection,
    id: i64,
    a: &Artifact,
    dir: &Path,
) -> Result<PathBuf, CommandError> {
    let base = a.name.rsplit('/').next().unwrap_or_default();
    if base.is_empty() || base == "." || base == ".." || base.chars().any(char::is_control) {
        return Err(failed(format!(
            "artifact name {:?} cannot be a file name",
            a.name
        )));
    }
    let dest = dir.join(base);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut hasher = sha2::Sha256::new();
    let mut offset = 0u64;
    loop {
        let request = Request::ReadArtifact {
            job: id,
            name: a.name.clone(),
            offset,
            max: MAX_ARTIFACT_READ,
        };
        let chunk = match conn.request(request).await? {
            Reply::ArtifactChunk(c) => c,
            other => return Err(unexpected(other)),
        };
        let bytes = chunk
            .bytes()
            .ok_or_else(|| failed("the daemon sent a chunk that is not base64".into()))?;
        if chunk.offset != offset || chunk.next_offset != offset + bytes.len() as u64 {
            return Err(failed("the daemon sent a chunk out of place".into()));
        }
        hasher.update(&bytes);
        tmp.write_all(&bytes)?;
        offset = chunk.next_offset;
        if bytes.is_empty() || offset >= chunk.size {
            break;
        }
    }
    let sha = hex::encode(hasher.finalize());
    if offset != a.size || sha != a.sha256 {
        return Err(failed(format!(
            "{}: got {offset} bytes with sha256 {sha}, the daemon kept {} bytes with sha256 {}",
            a.name, a.size, a.sha256
        )));
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&dest)
        .map_err(|e| CommandError::Output(e.error))?;
    Ok(dest)
}
