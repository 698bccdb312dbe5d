//! Reading one tar archive the engine sent and keeping the regular files the globs want, within
//! the caps. Nothing from the archive is trusted: names must be plain relative paths, symbolic
//! links are never followed or kept (those leading out of `/repo` are refused by name), and the
//! total size and number of files stop at their caps, keeping what fit.

use super::Patterns;
use microci_proto::Artifact;
use sha2::Digest;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Most files one job keeps.
pub const MAX_FILES: usize = 1000;

/// Whether `name` is a plain relative path: `/`-separated normal components only.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 4096
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// One collection's state across the archives of its roots.
pub struct Collector {
    patterns: Patterns,
    dest: PathBuf,
    cap: u64,
    /// Bytes kept so far.
    pub used: u64,
    /// What was kept.
    pub kept: Vec<Artifact>,
    /// Lines for the job's log (refusals, the cap).
    pub notes: Vec<String>,
    /// Which globs matched something.
    pub matched: Vec<bool>,
    /// A cap was reached: nothing more is kept.
    pub full: bool,
    seen: HashSet<String>,
}

impl Collector {
    /// Keeps files into `dest` (an empty directory), at most `cap` bytes.
    pub fn new(patterns: Patterns, dest: PathBuf, cap: u64) -> Collector {
        let n = patterns.sources().count();
        Collector {
            patterns,
            dest,
            cap,
            used: 0,
            kept: Vec::new(),
            notes: Vec::new(),
            matched: vec![false; n],
            full: false,
            seen: HashSet::new(),
        }
    }

    /// Reads one archive. `of_repo`: the archive is of `/repo` itself (its entries start with
    /// `repo/`); otherwise of a direct child of `/repo` (entries start with the child's name).
    pub fn take(&mut self, archive: impl Read, of_repo: bool) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(archive);
        for entry in archive.entries()? {
            if self.full {
                break;
            }
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let Some(name) = relative_name(&path, of_repo) else {
                continue;
            };
            let kind = entry.header().entry_type();
            let Some(which) = self.patterns.matching(&name) else {
                // A link where a glob goes on below (`target/debian` for
                // `target/debian/*.deb`): nothing is read through it.
                if kind.is_symlink() && self.patterns.reaches_below(&name) {
                    let target = link_target(&entry)?;
                    self.notes.push(refusal(&name, &target));
                }
                continue;
            };
            if kind.is_dir() {
                continue;
            }
            self.matched[which] = true;
            if kind.is_symlink() {
                let target = link_target(&entry)?;
                self.notes.push(refusal(&name, &target));
                continue;
            }
            if !kind.is_file() {
                self.notes
                    .push(format!("skipped {name:?}: not a regular file"));
                continue;
            }
            if !self.seen.insert(name.clone()) {
                continue;
            }
            let size = entry.header().size()?;
            if self.kept.len() >= MAX_FILES {
                self.stop(format!(
                    "stopped at {name:?}: {MAX_FILES} files kept, the most one job keeps"
                ));
                break;
            }
            if self.used + size > self.cap {
                self.stop(format!(
                    "stopped at {name:?} ({size} bytes): it would take the job's artifacts over \
                     docker.max_artifacts ({} bytes); the files before it are kept",
                    self.cap
                ));
                break;
            }
            match self.keep(&name, &mut entry, size) {
                Ok(artifact) => {
                    self.used += artifact.size;
                    self.kept.push(artifact);
                }
                Err(e) => self.notes.push(format!("could not keep {name:?}: {e}")),
            }
        }
        Ok(())
    }

    fn stop(&mut self, note: String) {
        self.notes.push(note);
        self.full = true;
    }

    /// Writes one file under `dest`, hashing it on the way.
    fn keep(&self, name: &str, entry: &mut impl Read, size: u64) -> std::io::Result<Artifact> {
        let path = self.dest.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(crate::state_dir::FILE_MODE)
            .open(&path)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        let mut limited = entry.take(size);
        loop {
            let n = limited.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            written += n as u64;
        }
        Ok(Artifact {
            name: name.to_string(),
            size: written,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// Where a symbolic link entry points, as written.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> std::io::Result<String> {
    Ok(entry
        .link_name()?
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// The log's word on a symbolic link at `name`: refused when it leads out of `/repo`, skipped
/// otherwise (links are never kept or followed).
fn refusal(name: &str, target: &str) -> String {
    if escapes_repo(name, target) {
        format!("refused {name:?}: a symbolic link to {target:?}, outside /repo")
    } else {
        format!("skipped {name:?}: a symbolic link (links are not kept)")
    }
}

/// An entry's path relative to `/repo`, when it is a plain one (UTF-8, normal components).
fn relative_name(path: &Path, of_repo: bool) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if of_repo {
        if parts.first() != Some(&"repo") {
            return None;
        }
        parts.remove(0);
    }
    let name = parts.join("/");
    safe_name(&name).then_some(name)
}

/// Whether a link at `name` (relative to `/repo`) to `target` leads out of `/repo`, read
/// lexically (the link is never followed).
fn escapes_repo(name: &str, target: &str) -> bool {
    let (mut depth, rest): (Vec<&str>, &str) = match target.strip_prefix('/') {
        Some(abs) => match abs.strip_prefix("repo") {
            Some(r) if r.is_empty() || r.starts_with('/') => (Vec::new(), r),
            _ => return true,
        },
        None => {
            let mut dir: Vec<&str> = name.split('/').collect();
            dir.pop();
            (dir, target)
        }
    };
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return true;
                }
            }
            p => depth.push(p),
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, path, target).unwrap();
    }

    fn collector(globs: &[&str], cap: u64) -> (Collector, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let pats = Patterns::parse(&globs.iter().map(|g| g.to_string()).collect::<Vec<_>>());
        (
            Collector::new(pats.unwrap(), dir.path().to_path_buf(), cap),
            dir,
        )
    }

    #[test]
    fn keeps_matching_files_with_their_hash() {
        let (mut c, dir) = collector(&["out/*.bin"], 1000);
        let tar = archive(|b| {
            file(b, "repo/out/a.bin", b"abc");
            file(b, "repo/out/a.txt", b"no");
            file(b, "repo/other.bin", b"no");
        });
        c.take(&tar[..], true).unwrap();
        assert_eq!(c.kept.len(), 1);
        assert_eq!(c.kept[0].name, "out/a.bin");
        assert_eq!(
            c.kept[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(std::fs::read(dir.path().join("out/a.bin")).unwrap(), b"abc");
        assert!(!dir.path().join("out/a.txt").exists());
    }

    #[test]
    fn symlinks_are_never_kept_and_escapes_are_named() {
        let (mut c, dir) = collector(&["out/*", "etc/passwd"], 1000);
        let tar = archive(|b| {
            link(b, "out/passwd", "/etc/passwd");
            link(b, "out/up", "../../x");
            link(b, "out/in", "../README");
        });
        c.take(&tar[..], false).unwrap();
        // A link the glob would have to go through.
        let tar = archive(|b| link(b, "etc", "/etc"));
        c.take(&tar[..], false).unwrap();
        assert!(c.kept.is_empty());
        assert_eq!(
            c.notes[3],
            "refused \"etc\": a symbolic link to \"/etc\", outside /repo"
        );
        assert!(c.notes[0].contains("refused \"out/passwd\"") && c.notes[0].contains("outside"));
        assert!(c.notes[1].contains("outside"), "{:?}", c.notes);
        assert!(c.notes[2].contains("skipped \"out/in\""), "{:?}", c.notes);
        assert!(!dir.path().join("out/passwd").exists());
    }

    #[test]
    fn the_cap_keeps_what_fit_and_says_where_it_stopped() {
        let (mut c, _dir) = collector(&["*"], 10);
        let tar = archive(|b| {
            file(b, "a", b"12345");
            file(b, "b", b"1234");
            file(b, "c", b"12");
            file(b, "d", b"1");
        });
        c.take(&tar[..], false).unwrap();
        assert_eq!(
            c.kept.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(c.full);
        assert!(c.notes[0].contains("stopped at \"c\""), "{:?}", c.notes);
    }

    #[test]
    fn link_escapes_are_read_lexically() {
        assert!(escapes_repo("a", "/etc/passwd"));
        assert!(escapes_repo("a", "/repository/x"));
        assert!(!escapes_repo("a", "/repo/b"));
        assert!(escapes_repo("a", ".."));
        assert!(!escapes_repo("d/a", "../b"));
        assert!(escapes_repo("d/a", "../../b"));
        assert!(!safe_name("a/../b"));
        assert!(!safe_name("/a"));
        assert!(safe_name("target/debian/x.deb"));
    }
}
