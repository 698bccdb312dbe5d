//! The repositories the end-to-end tests push: a [`TestRepo`] with the job's script in it and a
//! clone URL the daemon can use.

use super::git_servers::{TestRepo, make_repo};
use std::path::PathBuf;
use std::sync::Mutex;

pub struct Repo {
    inner: Mutex<TestRepo>,
}

impl Repo {
    /// A repository on `main` with one commit holding `files`.
    pub fn new(files: &[(&str, &str)]) -> Repo {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        Repo {
            inner: Mutex::new(make_repo(&files)),
        }
    }

    /// A repository whose job runs `script` through the first microci's `microci.sh`
    /// convention, with `.microci.json` as given (or none).
    pub fn with_script(script: &str, microci_json: Option<&str>) -> Repo {
        let mut files = vec![("microci.sh", script)];
        if let Some(j) = microci_json {
            files.push((".microci.json", j));
        }
        Repo::new(&files)
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, TestRepo> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes files and commits; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        self.repo().commit(&files, message)
    }

    pub fn head(&self) -> String {
        self.repo().head.clone()
    }

    pub fn tag(&self, name: &str) {
        self.repo().tag(name, None);
    }

    /// Makes a bare copy under `base` named `name` (to serve from a git server).
    pub fn publish(&self, base: &std::path::Path, name: &str) -> PathBuf {
        self.repo().publish(base, name)
    }

    /// The clone URL: the plain path (libgit2 clones local paths).
    pub fn url(&self) -> String {
        self.path().display().to_string()
    }

    pub fn path(&self) -> PathBuf {
        self.repo().path.clone()
    }
}
