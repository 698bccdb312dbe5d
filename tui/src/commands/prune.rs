//! `prune [--dry-run] [--json]`: runs the daemon's retention now, or only says what it would
//! remove: how many finished jobs (per repository, with the span of their end times) and bytes of
//! logs, which git caches, how many idle containers.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::sanitize::one_line;
use microci_proto::{PruneReport, Reply, Request};
use std::io::Write;

/// Asks the daemon to prune and prints what went (or would go).
pub async fn prune(
    conn: &mut Connection,
    dry_run: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let report = match conn.request(Request::Prune { dry_run }).await? {
        Reply::Pruned(r) => r,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &report)?;
    } else {
        out.write_all(report_text(&report).as_bytes())?;
    }
    Ok(Outcome::Success)
}

/// The report for people: one line per kind of thing, then one per repository.
pub fn report_text(r: &PruneReport) -> String {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let mut out = format!(
        "{verb} {} finished job(s), {} of logs",
        r.jobs,
        bytes(r.log_bytes)
    );
    if let (Some(oldest), Some(newest)) = (&r.oldest, &r.newest) {
        out.push_str(&format!(
            " (ended {} to {})",
            one_line(oldest),
            one_line(newest)
        ));
    }
    out.push('\n');
    for (repo, n) in &r.by_repo {
        out.push_str(&format!("  {n:>6}  {}\n", one_line(repo)));
    }
    out.push_str(&format!("{verb} {} git cache(s)", r.caches.len()));
    if !r.caches.is_empty() {
        let names: Vec<String> = r.caches.iter().map(|c| one_line(c)).collect();
        out.push_str(&format!(": {}", names.join(", ")));
    }
    out.push('\n');
    out.push_str(&format!("{verb} {} idle container(s)\n", r.containers));
    out
}

/// `1536` → `1.5 KiB`.
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_says_what_would_go() {
        let r = PruneReport {
            dry_run: true,
            jobs: 3,
            log_bytes: 1536,
            oldest: Some("2026-01-01T00:00:00Z".into()),
            newest: Some("2026-02-01T00:00:00Z".into()),
            by_repo: vec![("alice/app".into(), 2), ("bob/x\u{1b}[2J".into(), 1)],
            caches: vec!["old/repo".into()],
            containers: 0,
        };
        assert_eq!(
            report_text(&r),
            "would remove 3 finished job(s), 1.5 KiB of logs \
             (ended 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z)\n\
             \x20      2  alice/app\n\
             \x20      1  bob/x\n\
             would remove 1 git cache(s): old/repo\n\
             would remove 0 idle container(s)\n"
        );
    }
}
