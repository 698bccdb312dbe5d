//! The repositories the end-to-end tests push: a [`TestRepo`] with the job's script in it and a
//! clone URL the daemon can use, shared by reference (commits go through a lock).

use crate::git_servers::{TestRepo, try_make_repo};
use crate::ok;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A repository on `main` that tests commit to through `&self`.
pub struct Repo {
    inner: Mutex<TestRepo>,
}

impl Repo {
    /// A repository on `main` with one commit holding `files`.
    pub fn try_new(files: &[(&str, &str)]) -> Result<Repo> {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        Ok(Repo {
            inner: Mutex::new(try_make_repo(&files)?),
        })
    }

    /// [`Repo::try_new`] for tests.
    pub fn new(files: &[(&str, &str)]) -> Repo {
        ok(Repo::try_new(files))
    }

    /// A repository whose job runs `script` through the first microci's `microci.sh`
    /// convention, with `.microci.json` as given (or none).
    pub fn try_with_script(script: &str, microci_json: Option<&str>) -> Result<Repo> {
        let mut files = vec![("microci.sh", script)];
        if let Some(j) = microci_json {
            files.push((".microci.json", j));
        }
        Repo::try_new(&files)
    }

    /// [`Repo::try_with_script`] for tests.
    pub fn with_script(script: &str, microci_json: Option<&str>) -> Repo {
        ok(Repo::try_with_script(script, microci_json))
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, TestRepo> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes files and commits; returns the commit id.
    pub fn try_commit(&self, files: &[(&str, &str)], message: &str) -> Result<String> {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
        self.repo().try_commit(&files, message)
    }

    /// [`Repo::try_commit`] for tests.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        ok(self.try_commit(files, message))
    }

    /// The latest commit.
    pub fn head(&self) -> String {
        self.repo().head.clone()
    }

    /// A lightweight tag at HEAD.
    pub fn tag(&self, name: &str) {
        self.repo().tag(name, None);
    }

    /// Makes a bare copy under `base` named `name` (to serve from a git server).
    pub fn publish(&self, base: &Path, name: &str) -> PathBuf {
        self.repo().publish(base, name)
    }

    /// The clone URL: the plain path (libgit2 clones local paths).
    pub fn url(&self) -> String {
        self.path().display().to_string()
    }

    /// The work tree.
    pub fn path(&self) -> PathBuf {
        self.repo().path.clone()
    }
}
