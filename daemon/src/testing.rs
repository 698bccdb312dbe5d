//! What the crate's unit tests share: a real git repository whose commits carry `.microci.json`
//! files, for tests that run jobs on the fake engine.
#![allow(clippy::unwrap_used)]

use crate::store::NewJob;
use std::path::Path;

/// A manual job of `repo` at `git_ref` and `commit`, cloned from `clone_url`; tests change what
/// they need with struct update syntax.
pub(crate) fn new_job(repo: &str, git_ref: &str, commit: &str, clone_url: &str) -> NewJob {
    NewJob {
        author: "t".into(),
        ..NewJob::manual(repo.into(), git_ref.into(), commit.into(), clone_url.into())
    }
}

/// A repository `a/b` whose successive commits carry these `.microci.json` files; their ids.
pub(crate) fn repo(dir: &Path, files: &[&str]) -> Vec<String> {
    let repo = git2::Repository::init(dir).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let mut ids = Vec::new();
    let mut parent: Option<git2::Oid> = None;
    for (i, text) in files.iter().enumerate() {
        std::fs::write(dir.join(".microci.json"), text).unwrap();
        std::fs::write(dir.join("n"), i.to_string()).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(".microci.json")).unwrap();
        index.add_path(Path::new("n")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let id = repo
            .commit(
                Some("refs/heads/main"),
                &sig,
                &sig,
                &format!("c{i}"),
                &tree,
                &refs,
            )
            .unwrap();
        parent = Some(id);
        ids.push(id.to_string());
    }
    ids
}

/// `.microci.json` running a fake script, with an optional timeout.
pub(crate) fn script(words: &[&str], timeout: Option<&str>) -> String {
    let command = serde_json::to_string(words).unwrap();
    match timeout {
        Some(t) => format!(r#"{{"command": {command}, "timeout": "{t}"}}"#),
        None => format!(r#"{{"command": {command}}}"#),
    }
}
