//! `cache list [REPO] [--json]` and `cache clear REPO [--branch B]`: the job caches the daemon
//! keeps between jobs (`"cache"` in `.microci.json`), with their sizes, and removing them.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::sanitize::one_line;
use microci_proto::{CacheInfo, Reply, Request};
use std::io::Write;

/// Prints the saved caches, one line each (or a JSON array).
pub async fn cache_list(
    conn: &mut Connection,
    repo: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let caches = match conn.request(Request::ListCaches { repo }).await? {
        Reply::Caches { caches } => caches,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &caches)?;
    } else {
        out.write_all(list_text(&caches).as_bytes())?;
    }
    Ok(Outcome::Success)
}

/// Removes a repository's caches (or one branch's) and says how many went.
pub async fn cache_clear(
    conn: &mut Connection,
    repo: String,
    branch: Option<String>,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let request = Request::ClearCache {
        repo: repo.clone(),
        branch: branch.clone(),
    };
    let n = match conn.request(request).await? {
        Reply::Cleared { caches } => caches,
        other => return Err(unexpected(other)),
    };
    let whose = match &branch {
        Some(b) => format!("{} branch {}", one_line(&repo), one_line(b)),
        None => one_line(&repo).to_string(),
    };
    if n == 0 {
        writeln!(out, "no saved cache of {whose}")?;
    } else {
        writeln!(out, "cleared {n} cache(s) of {whose}")?;
    }
    Ok(Outcome::Success)
}

/// A table for people: repository, branch (`-` for a repository's cache), size, when saved, by
/// which job, and the directories.
pub fn list_text(caches: &[CacheInfo]) -> String {
    if caches.is_empty() {
        return "no saved caches\n".into();
    }
    let mut out = format!(
        "{:<24} {:<16} {:>10}  {:<20}  {:>6}  PATHS\n",
        "REPO", "BRANCH", "SIZE", "SAVED", "JOB"
    );
    for c in caches {
        let branch = c
            .branch
            .as_deref()
            .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b))
            .unwrap_or("-");
        let paths: Vec<String> = c.paths.iter().map(|p| one_line(p)).collect();
        out.push_str(&format!(
            "{:<24} {:<16} {:>10}  {:<20}  {:>6}  {}\n",
            one_line(&c.repo),
            one_line(branch),
            super::prune::bytes(c.size),
            one_line(&c.saved_at),
            c.job,
            paths.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_cache() {
        let caches = vec![
            CacheInfo {
                repo: "alice/app".into(),
                branch: None,
                paths: vec!["/root/.cargo/registry".into()],
                size: 1536,
                saved_at: "2026-12-01T10:00:00Z".into(),
                job: 41,
            },
            CacheInfo {
                repo: "bob/x\u{1b}[2J".into(),
                branch: Some("refs/heads/dev".into()),
                paths: vec!["/a".into(), "/b".into()],
                size: 10,
                saved_at: "2026-12-01T11:00:00Z".into(),
                job: 42,
            },
        ];
        let text = list_text(&caches);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("REPO"), "{text}");
        assert!(
            lines[1].contains("alice/app") && lines[1].contains(" - "),
            "{text}"
        );
        assert!(lines[1].contains("1.5 KiB") && lines[1].ends_with("/root/.cargo/registry"));
        assert!(
            lines[2].contains("dev") && !lines[2].contains("refs/heads"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert_eq!(list_text(&[]), "no saved caches\n");
    }
}
