//! Throw-away repositories made with the `git` CLI: a work tree on `main` in a temp dir, with
//! helpers to commit, tag and publish a bare copy for a server to serve.

use super::try_git;
use crate::ok;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A non-bare repository in a temporary directory, on branch `main`.
pub struct TestRepo {
    _dir: TempDir,
    /// The work tree.
    pub path: PathBuf,
    /// The latest commit made through this helper.
    pub head: String,
}

/// Creates a repository with `files` (paths may contain `/`) committed on `main`.
pub fn try_make_repo(files: &[(&str, &[u8])]) -> Result<TestRepo> {
    let dir = tempfile::tempdir().context("temp dir for a repository")?;
    let path = dir.path().join("work");
    std::fs::create_dir(&path).context("create the work tree")?;
    try_git(&path, &["init", "-q", "-b", "main"])?;
    try_git(&path, &["config", "user.name", "microci test"])?;
    try_git(&path, &["config", "user.email", "test@microci.invalid"])?;
    try_git(&path, &["config", "commit.gpgsign", "false"])?;
    let mut repo = TestRepo {
        _dir: dir,
        path,
        head: String::new(),
    };
    repo.try_commit(files, "initial commit")?;
    Ok(repo)
}

/// [`try_make_repo`] for tests.
pub fn make_repo(files: &[(&str, &[u8])]) -> TestRepo {
    ok(try_make_repo(files))
}

impl TestRepo {
    /// Writes `files`, commits everything (`git add -A`) with `message`, returns the new commit.
    pub fn try_commit(&mut self, files: &[(&str, &[u8])], message: &str) -> Result<String> {
        for (name, content) in files {
            self.try_write(name, content)?;
        }
        try_git(&self.path, &["add", "-A"])?;
        try_git(
            &self.path,
            &["commit", "-q", "--allow-empty", "-m", message],
        )?;
        self.head = try_git(&self.path, &["rev-parse", "HEAD"])?;
        Ok(self.head.clone())
    }

    /// [`TestRepo::try_commit`] for tests.
    pub fn commit(&mut self, files: &[(&str, &[u8])], message: &str) -> String {
        ok(self.try_commit(files, message))
    }

    /// Writes one file (creating parent directories) without committing.
    pub fn try_write(&self, name: &str, content: &[u8]) -> Result<()> {
        let p = self.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&p, content).with_context(|| format!("write {}", p.display()))
    }

    /// [`TestRepo::try_write`] for tests.
    pub fn write(&self, name: &str, content: &[u8]) {
        ok(self.try_write(name, content))
    }

    /// Sets the executable bits on a file (not committed).
    pub fn chmod_x(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        ok(
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("chmod {}", p.display())),
        );
    }

    /// Creates a symlink `link` -> `target` (not committed).
    pub fn symlink(&self, target: &str, link: &str) {
        ok(std::os::unix::fs::symlink(target, self.path.join(link))
            .with_context(|| format!("symlink {link}")));
    }

    /// Creates a tag at HEAD: annotated if `message` is given, else lightweight.
    pub fn tag(&self, name: &str, message: Option<&str>) {
        match message {
            Some(m) => git(self, &["tag", "-a", name, "-m", m]),
            None => git(self, &["tag", name]),
        };
    }

    /// Runs git in the work tree.
    pub fn git(&self, args: &[&str]) -> String {
        git(self, args)
    }

    /// Makes a bare copy at `<base_dir>/<name>.git` (to serve), returns its path.
    pub fn publish(&self, base_dir: &Path, name: &str) -> PathBuf {
        let bare = base_dir.join(format!("{name}.git"));
        let (src, dst) = (self.path.display().to_string(), bare.display().to_string());
        ok(try_git(base_dir, &["clone", "-q", "--bare", &src, &dst]));
        bare
    }

    /// Pushes every branch and tag to a bare copy made by [`TestRepo::publish`].
    pub fn push_to(&self, bare: &Path) {
        let bare = bare.display().to_string();
        let refs = ["refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"];
        git(self, &["push", "-q", "--force", &bare, refs[0], refs[1]]);
    }
}

/// Runs git in `repo`'s work tree, panicking on failure.
fn git(repo: &TestRepo, args: &[&str]) -> String {
    ok(try_git(&repo.path, args))
}
