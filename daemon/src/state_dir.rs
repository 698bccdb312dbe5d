//! The state directory: what lives where in it (database, logs, git cache, workspaces), the mode
//! of the files that hold job output, and the lock that makes one daemon its only user — taken
//! before anything in it is read or changed.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of the database, its WAL and shared-memory files, and job logs: they hold job output and
/// commit messages of private repositories. The `microci` group (administrators) may read them.
pub const FILE_MODE: u32 = 0o640;

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Another daemon holds the lock.
    #[error("state_dir {path} is in use by {}", pid.map_or("another process".to_string(), |p| format!("pid {p}")))]
    InUse {
        /// The state directory.
        path: PathBuf,
        /// The holder's process id, when it wrote one.
        pid: Option<u32>,
    },
    /// It could not be created, or its lock file could not be opened or written.
    #[error("state_dir {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A state directory this process holds the lock of; the lock goes with the value (and with the
/// process, however it dies).
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
    _lock: std::fs::File,
}

impl StateDir {
    /// Creates `root` if needed and takes its lock (`root/lock`, holding our pid). Fails with
    /// [`StateDirError::InUse`] when another daemon holds it; nothing else in the directory is
    /// touched before the lock is ours.
    pub fn lock(root: &Path) -> Result<StateDir, StateDirError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateDirError::Io { path, source }
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let lock_path = root.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        if file.try_lock().is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StateDirError::InUse {
                path: root.to_path_buf(),
                pid: text.trim().parse().ok(),
            });
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io(&lock_path))?;
        Ok(StateDir {
            root: root.to_path_buf(),
            _lock: file,
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("microci.db")
    }

    /// One log file per job.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Bare repository caches.
    pub fn git(&self) -> PathBuf {
        self.root.join("git")
    }

    /// An empty directory libgit2 is pointed at instead of the system's git configuration.
    pub fn git_config(&self) -> PathBuf {
        self.root.join("git-config")
    }

    /// Job checkouts, one directory per running job.
    pub fn workspaces(&self) -> PathBuf {
        self.root.join("workspaces")
    }

    /// Files jobs produced (`.microci.json` `"artifacts"`), one directory per job.
    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Creates the subdirectories.
    pub fn create_layout(&self) -> Result<(), StateDirError> {
        for dir in [
            self.logs(),
            self.git(),
            self.git_config(),
            self.workspaces(),
            self.artifacts(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|source| StateDirError::Io { path: dir, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::lock(dir.path()).unwrap();
        let err = StateDir::lock(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "state_dir {} is in use by pid {}",
                dir.path().display(),
                std::process::id()
            )
        );
        drop(first);
        StateDir::lock(dir.path()).unwrap();
    }
}
