//! Materialising one commit from the cache into a job's workspace as a standalone git work tree (objects
//! copied, HEAD detached, tags present), so the job can run `git describe` without access to the cache.

use std::fs;
use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{Oid, Repository};

use super::{GitError, redact_url};

/// Fails unless `dest` is absent or an empty directory (we never overwrite someone's files).
pub(crate) fn ensure_empty_dest(dest: &Path) -> Result<(), GitError> {
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GitError::InvalidInput(format!(
                    "checkout destination {} is not empty",
                    dest.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(GitError::io(
            format!("reading checkout destination {}", dest.display()),
            e,
        )),
    }
}

fn other(url: &str, what: &str, e: &git2::Error) -> GitError {
    GitError::Other {
        url_redacted: redact_url(url),
        detail: format!("{what}: {}", e.message()),
    }
}

/// Writes `oid` from `cache` (at `cache_dir`) into `dest` as a git work tree with a detached HEAD.
pub(crate) fn materialise(
    cache_dir: &Path,
    cache: &Repository,
    oid: Oid,
    url: &str,
    dest: &Path,
) -> Result<(), GitError> {
    fs::create_dir_all(dest).map_err(|e| {
        GitError::io(
            format!("creating checkout destination {}", dest.display()),
            e,
        )
    })?;
    let repo = Repository::init(dest).map_err(|e| other(url, "creating work tree", &e))?;
    copy_objects(&cache_dir.join("objects"), &repo.path().join("objects"))?;
    for r in cache
        .references_glob("refs/tags/*")
        .map_err(|e| other(url, "listing tags", &e))?
        .flatten()
    {
        if let (Ok(name), Some(target)) = (r.name(), r.target()) {
            repo.reference(name, target, true, "microci: tag from cache")
                .map_err(|e| other(url, "copying tags", &e))?;
        }
    }
    repo.remote("origin", &redact_url(url))
        .map_err(|e| other(url, "setting origin", &e))?;
    repo.set_head_detached(oid)
        .map_err(|e| other(url, "detaching HEAD", &e))?;
    repo.checkout_head(Some(CheckoutBuilder::new().force()))
        .map_err(|e| other(url, "checking out files", &e))?;
    Ok(())
}

/// Copies the cache's object store (packs and loose objects) into a checkout, skipping `info/alternates`.
fn copy_objects(from: &Path, to: &Path) -> Result<(), GitError> {
    let io = |what: &str, p: &Path, e| GitError::io(format!("{what} {}", p.display()), e);
    fs::create_dir_all(to).map_err(|e| io("creating", to, e))?;
    for entry in fs::read_dir(from).map_err(|e| io("reading", from, e))? {
        let entry = entry.map_err(|e| io("reading", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type().map_err(|e| io("inspecting", &src, e))?;
        if ft.is_dir() {
            copy_objects(&src, &dst)?;
        } else if ft.is_file() && entry.file_name() != "alternates" {
            fs::copy(&src, &dst).map_err(|e| io("copying", &src, e))?;
        }
    }
    Ok(())
}
