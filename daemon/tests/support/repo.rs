//! Throwaway git repositories made with the real `git` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Repo {
    pub dir: tempfile::TempDir,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    /// A repository on branch `main` with one commit holding `files`.
    pub fn new(files: &[(&str, &str)]) -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("mci-repo")
            .tempdir()
            .expect("temp dir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let r = Repo { dir };
        r.commit(files, "first commit");
        r
    }

    /// A repository whose job runs `script` via the first microci's `microci.sh` convention,
    /// with `.microci.json` as given (or none).
    pub fn with_script(script: &str, microci_json: Option<&str>) -> Repo {
        let mut files = vec![("microci.sh", script)];
        if let Some(j) = microci_json {
            files.push((".microci.json", j));
        }
        Repo::new(&files)
    }

    /// Writes files and commits; returns the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, content) in files {
            let path = self.dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, content).expect("write file");
        }
        git(self.dir.path(), &["add", "-A"]);
        git(
            self.dir.path(),
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        git(self.dir.path(), &["rev-parse", "HEAD"])
    }

    pub fn tag(&self, name: &str) {
        git(self.dir.path(), &["tag", name]);
    }

    /// The clone URL: the plain path (libgit2 clones local paths).
    pub fn url(&self) -> String {
        self.path().display().to_string()
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}
