//! The notification outbox (`notifications`): rows are queued by the writer in the transaction
//! that changes a job's state, for every `[[notify]]` entry that wants the event; the notify task
//! reads the due ones and records how each attempt went. `fixed` is decided here, against the
//! branch's previous finished job, so it is right whatever order jobs end in.

use super::Delivery;
use microci_proto::JobStatus;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

/// For a job of `(repository, ref)`: each `[[notify]]` entry covering it, with the names of the
/// events it wants. Set by the job service from the configuration (and again on reload).
pub type NotifyRules = Arc<dyn Fn(&str, &str) -> Vec<(String, Vec<&'static str>)> + Send + Sync>;

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The outbox row.
    pub id: i64,
    /// Which job.
    pub job_id: i64,
    /// The `[[notify]]` entry's name.
    pub target: String,
    /// `failed`, `errored`, `fixed`, `succeeded` or `started`.
    pub event: String,
    /// When it was queued (Unix ms): past a day it is given up.
    pub created_ms: i64,
    /// Attempts so far.
    pub attempts: i64,
}

/// Queues the notifications job `id` entering `to` calls for, in the caller's transaction.
pub(super) fn queue(
    c: &Connection,
    id: i64,
    to: JobStatus,
    rules: Option<&NotifyRules>,
) -> rusqlite::Result<()> {
    let Some(rules) = rules else {
        return Ok(());
    };
    let event = match to {
        JobStatus::Started => "started",
        JobStatus::Failed => "failed",
        JobStatus::Errored => "errored",
        JobStatus::Succeed => "succeeded",
        _ => return Ok(()),
    };
    let (repo, git_ref): (String, String) =
        c.query_row("SELECT repo, git_ref FROM jobs WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let wanted = rules(&repo, &git_ref);
    if wanted.is_empty() {
        return Ok(());
    }
    let fixed = event == "succeeded"
        && wanted.iter().any(|(_, e)| e.contains(&"fixed"))
        && after_failure(c, id, &repo, &git_ref)?;
    let ms = super::now_ms();
    let mut insert = c.prepare_cached(
        "INSERT INTO notifications (job_id, target, event, created_ms, next_ms) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?;
    for (target, events) in wanted {
        // One message per entry: `fixed` says more than `succeeded` where both are wanted.
        let chosen = if fixed && events.contains(&"fixed") {
            "fixed"
        } else if events.contains(&event) {
            event
        } else {
            continue;
        };
        insert.execute(params![id, target, chosen, ms])?;
    }
    Ok(())
}

/// Whether the branch's previous finished job (canceled ones aside) failed or errored.
fn after_failure(c: &Connection, id: i64, repo: &str, git_ref: &str) -> rusqlite::Result<bool> {
    let previous: Option<String> = c
        .prepare_cached(
            "SELECT status FROM jobs WHERE repo = ?1 AND git_ref = ?2 AND id != ?3 \
             AND status IN ('SUCCEED', 'FAILED', 'ERRORED') \
             ORDER BY finished_at DESC, id DESC LIMIT 1",
        )?
        .query_row(params![repo, git_ref, id], |r| r.get(0))
        .optional()?;
    Ok(matches!(previous.as_deref(), Some("FAILED" | "ERRORED")))
}

/// Records how a delivery attempt of notification `id` went.
pub(super) fn result(c: &Connection, id: i64, d: &Delivery) -> rusqlite::Result<()> {
    match d {
        Delivery::Delivered => c.execute(
            "UPDATE notifications SET outcome = 'delivered', attempts = attempts + 1, \
             last_error = NULL WHERE id = ?1",
            [id],
        ),
        Delivery::Retry { next_ms, error } => c.execute(
            "UPDATE notifications SET attempts = attempts + 1, next_ms = ?2, last_error = ?3 \
             WHERE id = ?1",
            params![id, next_ms, error],
        ),
        Delivery::GaveUp { error } => c.execute(
            "UPDATE notifications SET outcome = 'gave_up', attempts = attempts + 1, \
             last_error = ?2 WHERE id = ?1",
            params![id, error],
        ),
    }?;
    Ok(())
}

/// Notifications due at `now_ms`, oldest first: per job and entry only the oldest queued one,
/// so a job's `started` never arrives after its end, and one entry's failing relay holds up no
/// other entry.
pub(super) fn due(c: &Connection, now_ms: i64, limit: usize) -> rusqlite::Result<Vec<Notice>> {
    c.prepare_cached(
        "SELECT n.id, n.job_id, n.target, n.event, n.created_ms, n.attempts \
         FROM notifications n \
         WHERE n.outcome = 'queued' AND n.next_ms <= ?1 AND NOT EXISTS ( \
           SELECT 1 FROM notifications e \
           WHERE e.job_id = n.job_id AND e.target = n.target AND e.outcome = 'queued' \
           AND e.id < n.id) \
         ORDER BY n.id LIMIT ?2",
    )?
    .query_map(params![now_ms, limit as i64], |r| {
        Ok(Notice {
            id: r.get(0)?,
            job_id: r.get(1)?,
            target: r.get(2)?,
            event: r.get(3)?,
            created_ms: r.get(4)?,
            attempts: r.get(5)?,
        })
    })?
    .collect()
}

/// When the next queued notification is due (Unix ms), if any is queued.
pub(super) fn next_ms(c: &Connection) -> rusqlite::Result<Option<i64>> {
    c.query_row(
        "SELECT MIN(next_ms) FROM notifications WHERE outcome = 'queued'",
        [],
        |r| r.get(0),
    )
}

/// How job `id`'s notifications fared, for `show`, oldest first.
pub(super) fn summary(
    c: &Connection,
    id: i64,
) -> rusqlite::Result<Vec<microci_proto::Notification>> {
    c.prepare_cached(
        "SELECT target, event, outcome, attempts, last_error FROM notifications \
         WHERE job_id = ?1 ORDER BY id",
    )?
    .query_map([id], |r| {
        let outcome: String = r.get(2)?;
        let attempts: i64 = r.get(3)?;
        let error: Option<String> = r.get(4)?;
        let state = match (outcome.as_str(), error) {
            ("delivered", _) => "delivered".to_string(),
            ("gave_up", Some(e)) => format!("gave up ({e})"),
            ("gave_up", None) => "gave up".to_string(),
            (_, Some(e)) if attempts > 0 => format!("retrying ({e})"),
            _ => "queued".to_string(),
        };
        Ok(microci_proto::Notification {
            target: r.get(0)?,
            event: r.get(1)?,
            state,
        })
    })?
    .collect()
}
