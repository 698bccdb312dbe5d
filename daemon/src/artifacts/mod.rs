//! Artifacts: files a job asks to keep (`.microci.json` `"artifacts"`), copied out of its ended
//! container through the engine's archive API ([`gather`]), kept under the state directory as
//! `artifacts/<job>/<path>` with a manifest `artifacts/<job>.json` (the globs asked for, then
//! each kept file's name, size and SHA-256), listed and read back by name, and removed with the
//! job by retention. The manifest, not the directory, says what exists: a name that is not in
//! it is never opened.

mod collect;
mod gather;
pub mod patterns;

pub use gather::gather;
pub use patterns::Patterns;

use microci_proto::{Artifact, ArtifactChunk, MAX_ARTIFACT_READ};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// Why an artifact could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The job kept no file of that name.
    #[error("job {0} has no artifact {1:?}")]
    NotFound(i64, String),
    /// The file system said no.
    #[error("cannot read the artifact: {0}")]
    Io(#[from] std::io::Error),
}

/// What `artifacts/<job>.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    /// The globs the job asked for, recorded before its container starts: a daemon that
    /// re-attaches to the container after a restart collects them too.
    patterns: Vec<String>,
    /// Whether collection finished.
    collected: bool,
    /// What was kept, by name.
    files: Vec<Artifact>,
}

/// The directory of artifacts; cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    dir: Arc<PathBuf>,
}

impl ArtifactStore {
    /// Artifacts under `dir` (the state directory's layout creates it).
    pub fn new(dir: PathBuf) -> ArtifactStore {
        ArtifactStore { dir: Arc::new(dir) }
    }

    /// Where job `id`'s files go.
    fn job_dir(&self, id: i64) -> PathBuf {
        self.dir.join(id.to_string())
    }

    fn manifest_path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn manifest(&self, id: i64) -> Option<Manifest> {
        let bytes = std::fs::read(self.manifest_path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write_manifest(&self, id: i64, manifest: &Manifest) -> std::io::Result<()> {
        let path = self.manifest_path(id);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(manifest).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(crate::state_dir::FILE_MODE)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, path)
    }

    /// Records the globs job `id` asks for, before its container starts; blocking.
    pub fn want(&self, id: i64, patterns: &[String]) -> std::io::Result<()> {
        self.write_manifest(
            id,
            &Manifest {
                patterns: patterns.to_vec(),
                ..Manifest::default()
            },
        )
    }

    /// The globs job `id` asked for (none when it asked for none).
    pub fn wanted(&self, id: i64) -> Vec<String> {
        self.manifest(id).map(|m| m.patterns).unwrap_or_default()
    }

    /// Empties job `id`'s directory for a new collection (a restarted daemon collects again
    /// from the start) and returns it; blocking.
    fn fresh_dir(&self, id: i64) -> std::io::Result<PathBuf> {
        let dir = self.job_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Records what job `id` kept; blocking.
    fn finish(&self, id: i64, patterns: Vec<String>, files: Vec<Artifact>) -> std::io::Result<()> {
        self.write_manifest(
            id,
            &Manifest {
                patterns,
                collected: true,
                files,
            },
        )
    }

    /// The files job `id` kept, by name (none for a job that kept none, or is not done yet).
    pub async fn list(&self, id: i64) -> Vec<Artifact> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.list_now(id))
            .await
            .unwrap_or_default()
    }

    /// [`list`](Self::list), blocking.
    pub fn list_now(&self, id: i64) -> Vec<Artifact> {
        self.manifest(id)
            .filter(|m| m.collected)
            .map(|m| m.files)
            .unwrap_or_default()
    }

    /// Where artifact `name` of job `id` is, with its listing; only names the manifest holds.
    pub fn locate(&self, id: i64, name: &str) -> Result<(PathBuf, Artifact), ArtifactError> {
        let found = self
            .list_now(id)
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ArtifactError::NotFound(id, name.to_string()))?;
        // Names were checked when kept (plain components, no `..`); checked again, cheaply.
        if !collect::safe_name(name) {
            return Err(ArtifactError::NotFound(id, name.to_string()));
        }
        Ok((self.job_dir(id).join(name), found))
    }

    /// Up to `max` (at most [`MAX_ARTIFACT_READ`]) bytes of artifact `name` from `offset`.
    pub async fn read(
        &self,
        id: i64,
        name: String,
        offset: u64,
        max: u32,
    ) -> Result<ArtifactChunk, ArtifactError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let (path, artifact) = store.locate(id, &name)?;
            let mut file = std::fs::File::open(path)?;
            let size = file.metadata()?.len();
            let at = offset.min(size);
            file.seek(SeekFrom::Start(at))?;
            let want = max.clamp(1, MAX_ARTIFACT_READ) as u64;
            let mut bytes = Vec::with_capacity(want.min(size - at) as usize);
            file.take(want).read_to_end(&mut bytes)?;
            debug_assert_eq!(artifact.name, name);
            Ok(ArtifactChunk::new(id, name, at, size, &bytes))
        })
        .await
        .map_err(|e| ArtifactError::Io(std::io::Error::other(e)))?
    }

    /// Removes job `id`'s artifacts and manifest (retention); blocking.
    pub fn remove(&self, id: i64) {
        let _ = std::fs::remove_dir_all(self.job_dir(id));
        let _ = std::fs::remove_file(self.manifest_path(id));
    }
}
