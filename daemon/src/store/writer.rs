//! The single writer: one thread owns the write connection. Callers send commands and await the
//! answer; the thread takes every command that is waiting, applies them in one transaction and
//! answers only after the commit, so many concurrent webhooks share one fsync.

use super::notices::{self, NotifyRules};
use super::read::row_to_record;
use super::schema::JOB_COLUMNS;
use super::{Inserted, NewJob, RepoRow, Run, StoreError, Transition, now};
use microci_proto::{Job, JobStatus};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::{Arc, RwLock, mpsc};
use tokio::sync::oneshot;

/// The final states, quoted for SQL.
pub const FINAL_STATES: &str = "'SUCCEED', 'FAILED', 'ERRORED', 'CANCELED'";

/// Most commands applied in one transaction.
const MAX_BATCH: usize = 512;

enum Command {
    Insert(Box<NewJob>, oneshot::Sender<Result<Inserted, StoreError>>),
    Transition(Transition, oneshot::Sender<Result<Option<Job>, StoreError>>),
    UpsertRepo(RepoRow, oneshot::Sender<Result<(), StoreError>>),
    Interrupted(
        JobStatus,
        String,
        oneshot::Sender<Result<Vec<Job>, StoreError>>,
    ),
    Run(Run, oneshot::Sender<Result<(), StoreError>>),
    Requeue(Vec<i64>, oneshot::Sender<Result<Vec<Job>, StoreError>>),
    Delete(Vec<i64>, oneshot::Sender<Result<Vec<i64>, StoreError>>),
    Reported(
        i64,
        super::Delivery,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    Resolved(
        i64,
        String,
        oneshot::Sender<Result<Option<Job>, StoreError>>,
    ),
    Placed(
        i64,
        String,
        oneshot::Sender<Result<Option<Job>, StoreError>>,
    ),
    Notified(
        i64,
        super::Delivery,
        oneshot::Sender<Result<(), StoreError>>,
    ),
    Waiting(
        super::Waiting,
        oneshot::Sender<Result<Option<Job>, StoreError>>,
    ),
    ScheduleRan(String, i64, oneshot::Sender<Result<(), StoreError>>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
    /// Which notifications a state change queues; `None` while nothing is configured.
    rules: Rules,
}

/// The notification rules, shared with the writer thread.
type Rules = Arc<RwLock<Option<NotifyRules>>>;

impl Writer {
    pub(super) fn start(conn: Connection) -> Writer {
        let (tx, rx) = mpsc::channel();
        let rules: Rules = Arc::default();
        let shared = rules.clone();
        std::thread::Builder::new()
            .name("microci-db-writer".into())
            .spawn(move || run(conn, rx, &shared))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("cannot start database writer: {e}"));
        Writer { tx, rules }
    }

    /// Sets which notifications state changes queue from now on (`None`: none).
    pub fn set_notify(&self, rules: Option<NotifyRules>) {
        *self
            .rules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = rules;
    }

    /// Records how a delivery attempt of notification `id` went.
    pub async fn notified(&self, id: i64, delivery: super::Delivery) -> Result<(), StoreError> {
        self.ask(|tx| Command::Notified(id, delivery, tx)).await
    }

    /// Queues a command now (so commands keep the order they were asked in, and a caller may go
    /// on while it commits); the future resolves once it is committed.
    fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.tx.send(make(tx)).map_err(|_| StoreError::WriterGone);
        async move {
            queued?;
            rx.await.map_err(|_| StoreError::WriterGone)?
        }
    }

    /// Records a job as PENDING (or finds the earlier job of the same delivery); returns once it
    /// is committed.
    pub fn insert(
        &self,
        job: NewJob,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send + 'static {
        self.ask(|tx| Command::Insert(Box::new(job), tx))
    }

    /// Applies a state change if the job is in an allowed state (`None` when it was not). It is
    /// queued when this is called; the future resolves when it is committed.
    pub fn transition(
        &self,
        t: Transition,
    ) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send + 'static {
        self.ask(|tx| Command::Transition(t, tx))
    }

    /// Remembers a repository (for manual builds and `run REPO`); queued when called, like
    /// [`Writer::transition`].
    pub fn upsert_repo(
        &self,
        repo: RepoRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.ask(|tx| Command::UpsertRepo(repo, tx))
    }

    /// Ends every STARTED job as `to` with `reason` (when the daemon stops them); returns them.
    pub async fn end_started(&self, to: JobStatus, reason: String) -> Result<Vec<Job>, StoreError> {
        self.ask(|tx| Command::Interrupted(to, reason, tx)).await
    }

    /// Records a STARTED job's container (again, with a new `output_at`, after the daemon wrote
    /// into the middle of its output); queued when called, like [`Writer::transition`].
    pub fn record_run(
        &self,
        run: Run,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.ask(|tx| Command::Run(run, tx))
    }

    /// Deletes finished jobs (retention), and gives the freed pages back to the file system a
    /// few at a time; returns the ids that were deleted (a job that is not finished never is).
    pub async fn delete(&self, ids: Vec<i64>) -> Result<Vec<i64>, StoreError> {
        self.ask(|tx| Command::Delete(ids, tx)).await
    }

    /// Records how a delivery attempt of commit status report `id` went.
    pub async fn reported(&self, id: i64, delivery: super::Delivery) -> Result<(), StoreError> {
        self.ask(|tx| Command::Reported(id, delivery, tx)).await
    }

    /// Replaces a job's abbreviated commit id (a Bitbucket pull request's) by the full one its
    /// fetch found, in its forge link too; `None` when `full` does not extend what is recorded.
    pub async fn resolved(&self, id: i64, full: String) -> Result<Option<Job>, StoreError> {
        self.ask(|tx| Command::Resolved(id, full, tx)).await
    }

    /// Records the engine a STARTED job was placed on; returns the job as it is now (`None`
    /// when it is not STARTED any more).
    pub async fn placed(&self, id: i64, engine: String) -> Result<Option<Job>, StoreError> {
        self.ask(|tx| Command::Placed(id, engine, tx)).await
    }

    /// Records a job's concurrency group and why it waits (see [`super::Waiting`]); returns the
    /// job as it is now.
    pub async fn waiting(&self, w: super::Waiting) -> Result<Option<Job>, StoreError> {
        self.ask(|tx| Command::Waiting(w, tx)).await
    }

    /// Records that schedule `key`'s run planned for `at_ms` (Unix milliseconds) is handled.
    pub async fn schedule_ran(&self, key: String, at_ms: i64) -> Result<(), StoreError> {
        self.ask(|tx| Command::ScheduleRan(key, at_ms, tx)).await
    }

    /// Puts STARTED jobs whose container was never created back to PENDING, in their old place
    /// (the queue is ordered by id): their checkout starts again. Returns those that were.
    pub async fn requeue(&self, ids: Vec<i64>) -> Result<Vec<Job>, StoreError> {
        self.ask(|tx| Command::Requeue(ids, tx)).await
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Command>, rules: &Rules) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!("database: cannot begin transaction: {e}");
                fail_all(batch, &e);
                continue;
            }
        };
        let mut replies = Vec::with_capacity(batch.len());
        let rules = rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for cmd in batch {
            replies.push(apply(&tx, cmd, rules.as_ref()));
        }
        match tx.commit() {
            Ok(()) => replies.into_iter().for_each(Reply::send),
            Err(e) => {
                tracing::error!("database: commit failed: {e}");
                for r in replies {
                    r.fail(&e);
                }
            }
        }
    }
}

/// An answer held back until the transaction commits.
enum Reply {
    Insert(
        oneshot::Sender<Result<Inserted, StoreError>>,
        Result<Inserted, StoreError>,
    ),
    Transition(
        oneshot::Sender<Result<Option<Job>, StoreError>>,
        Result<Option<Job>, StoreError>,
    ),
    Unit(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Jobs(
        oneshot::Sender<Result<Vec<Job>, StoreError>>,
        Result<Vec<Job>, StoreError>,
    ),
    Ids(
        oneshot::Sender<Result<Vec<i64>, StoreError>>,
        Result<Vec<i64>, StoreError>,
    ),
}

impl Reply {
    fn send(self) {
        // A caller that stopped waiting is no reason to fail the others.
        match self {
            Reply::Insert(tx, r) => drop(tx.send(r)),
            Reply::Transition(tx, r) => drop(tx.send(r)),
            Reply::Unit(tx, r) => drop(tx.send(r)),
            Reply::Jobs(tx, r) => drop(tx.send(r)),
            Reply::Ids(tx, r) => drop(tx.send(r)),
        }
    }

    fn fail(self, e: &rusqlite::Error) {
        let err = || StoreError::Task(format!("commit failed: {e}"));
        match self {
            Reply::Insert(tx, _) => drop(tx.send(Err(err()))),
            Reply::Transition(tx, _) => drop(tx.send(Err(err()))),
            Reply::Unit(tx, _) => drop(tx.send(Err(err()))),
            Reply::Jobs(tx, _) => drop(tx.send(Err(err()))),
            Reply::Ids(tx, _) => drop(tx.send(Err(err()))),
        }
    }
}

fn fail_all(batch: Vec<Command>, e: &rusqlite::Error) {
    let err = |e: &rusqlite::Error| StoreError::Task(format!("cannot begin transaction: {e}"));
    for cmd in batch {
        match cmd {
            Command::Insert(_, tx) => drop(tx.send(Err(err(e)))),
            Command::Transition(_, tx) => drop(tx.send(Err(err(e)))),
            Command::UpsertRepo(_, tx) => drop(tx.send(Err(err(e)))),
            Command::Interrupted(_, _, tx) => drop(tx.send(Err(err(e)))),
            Command::Run(_, tx) => drop(tx.send(Err(err(e)))),
            Command::Requeue(_, tx) => drop(tx.send(Err(err(e)))),
            Command::Delete(_, tx) => drop(tx.send(Err(err(e)))),
            Command::Reported(_, _, tx) => drop(tx.send(Err(err(e)))),
            Command::Resolved(_, _, tx) | Command::Placed(_, _, tx) => drop(tx.send(Err(err(e)))),
            Command::Notified(_, _, tx) => drop(tx.send(Err(err(e)))),
            Command::Waiting(_, tx) => drop(tx.send(Err(err(e)))),
            Command::ScheduleRan(_, _, tx) => drop(tx.send(Err(err(e)))),
        }
    }
}

/// Runs one command inside its own savepoint, so one failure does not undo the batch.
fn apply(tx: &rusqlite::Transaction<'_>, cmd: Command, rules: Option<&NotifyRules>) -> Reply {
    fn within<T>(
        tx: &rusqlite::Transaction<'_>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        tx.execute_batch("SAVEPOINT cmd")?;
        match f(tx) {
            Ok(v) => {
                tx.execute_batch("RELEASE cmd")?;
                Ok(v)
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO cmd; RELEASE cmd")?;
                Err(e.into())
            }
        }
    }
    match cmd {
        Command::Insert(job, reply) => Reply::Insert(reply, within(tx, |c| insert(c, &job))),
        Command::Transition(t, reply) => {
            Reply::Transition(reply, within(tx, |c| transition(c, &t, rules)))
        }
        Command::UpsertRepo(r, reply) => Reply::Unit(reply, within(tx, |c| upsert_repo(c, &r))),
        Command::Interrupted(to, reason, reply) => {
            Reply::Jobs(reply, within(tx, |c| end_started(c, to, &reason)))
        }
        Command::Run(run, reply) => Reply::Unit(reply, within(tx, |c| record_run(c, &run))),
        Command::Requeue(ids, reply) => Reply::Jobs(reply, within(tx, |c| requeue(c, &ids))),
        Command::Delete(ids, reply) => Reply::Ids(reply, within(tx, |c| delete(c, &ids))),
        Command::Reported(id, d, reply) => {
            Reply::Unit(reply, within(tx, |c| report_result(c, id, &d)))
        }
        Command::Resolved(id, full, reply) => {
            Reply::Transition(reply, within(tx, |c| resolve_commit(c, id, &full)))
        }
        Command::Placed(id, engine, reply) => {
            Reply::Transition(reply, within(tx, |c| placed(c, id, &engine)))
        }
        Command::Notified(id, d, reply) => {
            Reply::Unit(reply, within(tx, |c| notices::result(c, id, &d)))
        }
        Command::Waiting(w, reply) => Reply::Transition(reply, within(tx, |c| waiting(c, &w))),
        Command::ScheduleRan(key, at, reply) => {
            Reply::Unit(reply, within(tx, |c| schedule_ran(c, &key, at)))
        }
    }
}

fn get(c: &Connection, id: i64) -> rusqlite::Result<Job> {
    c.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        row_to_record,
    )
    .map(|r| r.job)
}

fn insert(c: &Connection, j: &NewJob) -> rusqlite::Result<Inserted> {
    if let (Some(forge), Some(delivery)) = (&j.forge, &j.delivery_id) {
        let earlier: Option<i64> = c
            .query_row(
                "SELECT id FROM jobs WHERE forge = ?1 AND delivery_id = ?2",
                params![forge, delivery],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = earlier {
            return Ok(Inserted {
                job: get(c, id)?,
                duplicate: true,
            });
        }
    }
    // An abbreviated commit (a Bitbucket pull request's) matches the job it was resolved in.
    if j.dedupe_active {
        let active: Option<i64> = c
            .prepare_cached(
                "SELECT id FROM jobs WHERE repo = ?2 AND git_ref = ?3 \
                 AND status IN ('PENDING', 'STARTED') \
                 AND substr(commit_sha, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![j.commit, j.repo, j.git_ref], |r| r.get(0))
            .optional()?;
        if let Some(id) = active {
            return Ok(Inserted {
                job: get(c, id)?,
                duplicate: true,
            });
        }
    }
    c.prepare_cached(
        "INSERT INTO jobs (repo, git_ref, commit_sha, message, author, clone_url, status, \
         created_at, trigger, forge, delivery_id, retry_of, report_via, untrusted, commit_url, \
         pull_url, source_ref, source_repo, params) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17, ?18)",
    )?
    .execute(params![
        j.repo,
        j.git_ref,
        j.commit,
        j.message,
        j.author,
        j.clone_url,
        now(),
        j.trigger,
        j.forge,
        j.delivery_id,
        j.retry_of,
        j.report_via,
        j.untrusted,
        j.commit_url,
        j.pull_url,
        j.source_ref,
        j.source_repo,
        super::params::encode(&j.params)
    ])?;
    let id = c.last_insert_rowid();
    report(c, id, JobStatus::Pending, None)?;
    Ok(Inserted {
        job: get(c, id)?,
        duplicate: false,
    })
}

fn transition(
    c: &Connection,
    t: &Transition,
    rules: Option<&NotifyRules>,
) -> rusqlite::Result<Option<Job>> {
    let current: Option<String> = c
        .query_row("SELECT status FROM jobs WHERE id = ?1", [t.id], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(current) = current else {
        return Ok(None);
    };
    if !t.from.iter().any(|s| s.as_str() == current) {
        return Ok(None);
    }
    let ts = now();
    report(c, t.id, t.to, t.reason.as_deref())?;
    notices::queue(c, t.id, t.to, rules)?;
    if t.to == JobStatus::Started {
        c.execute(
            "UPDATE jobs SET status = ?2, started_at = ?3, waiting = NULL WHERE id = ?1",
            params![t.id, t.to.as_str(), ts],
        )?;
    } else {
        let reason = t.reason.as_deref().map(super::clean_reason);
        c.execute(
            "UPDATE jobs SET status = ?2, reason = ?3, exit_code = ?4, finished_at = ?5, \
             log_dropped = ?6, log_size = ?7, waiting = NULL WHERE id = ?1",
            params![
                t.id,
                t.to.as_str(),
                reason,
                t.exit_code,
                ts,
                t.log_dropped as i64,
                t.log_size as i64
            ],
        )?;
    }
    get(c, t.id).map(Some)
}

fn upsert_repo(c: &Connection, r: &RepoRow) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO repos (name, clone_url, default_branch, last_seen, public) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(name) DO UPDATE SET clone_url = excluded.clone_url, \
         default_branch = COALESCE(excluded.default_branch, repos.default_branch), \
         last_seen = excluded.last_seen, public = COALESCE(excluded.public, repos.public)",
        params![r.name, r.clone_url, r.default_branch, now(), r.public],
    )?;
    Ok(())
}

fn end_started(c: &Connection, to: JobStatus, reason: &str) -> rusqlite::Result<Vec<Job>> {
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM jobs WHERE status = 'STARTED'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for &id in &ids {
        report(c, id, to, Some(reason))?;
    }
    c.execute(
        "UPDATE jobs SET status = ?1, reason = ?2, finished_at = ?3 WHERE status = 'STARTED'",
        params![to.as_str(), super::clean_reason(reason), now()],
    )?;
    ids.into_iter().map(|id| get(c, id)).collect()
}

/// Queues the commit status for job `id` entering `to`, in the transaction that changes it (so
/// no state is lost to a crash), when the job's statuses are reported.
fn report(c: &Connection, id: i64, to: JobStatus, reason: Option<&str>) -> rusqlite::Result<()> {
    let (state, description) = match to {
        JobStatus::Pending => ("pending", "queued".to_string()),
        JobStatus::Started => ("running", "running".to_string()),
        JobStatus::Succeed => ("success", "succeeded".to_string()),
        JobStatus::Failed => ("failure", reason.unwrap_or("failed").to_string()),
        JobStatus::Errored => ("error", reason.unwrap_or("errored").to_string()),
        JobStatus::Canceled => ("canceled", reason.unwrap_or("canceled").to_string()),
    };
    let description = super::status_description(&description);
    let ms = now_ms();
    c.prepare_cached(
        "INSERT INTO status_reports (job_id, state, description, created_ms, next_ms) \
         SELECT id, ?2, ?3, ?4, ?4 FROM jobs WHERE id = ?1 AND report_via IS NOT NULL",
    )?
    .execute(params![id, state, description, ms])?;
    Ok(())
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Records how a delivery attempt of report `id` went.
fn report_result(c: &Connection, id: i64, d: &super::Delivery) -> rusqlite::Result<()> {
    match d {
        super::Delivery::Delivered => c.execute(
            "UPDATE status_reports SET outcome = 'delivered', attempts = attempts + 1, \
             last_error = NULL WHERE id = ?1",
            [id],
        ),
        super::Delivery::Retry { next_ms, error } => c.execute(
            "UPDATE status_reports SET attempts = attempts + 1, next_ms = ?2, last_error = ?3 \
             WHERE id = ?1",
            params![id, next_ms, error],
        ),
        super::Delivery::GaveUp { error } => c.execute(
            "UPDATE status_reports SET outcome = 'gave_up', attempts = attempts + 1, \
             last_error = ?2 WHERE id = ?1",
            params![id, error],
        ),
    }?;
    Ok(())
}

fn record_run(c: &Connection, r: &Run) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE jobs SET container = ?2, output_at = ?3, timeout_ms = ?4, run_started_ms = ?5, \
         interruptible = ?6 WHERE id = ?1 AND status = 'STARTED'",
    )?
    .execute(params![
        r.id,
        r.container,
        r.output_at as i64,
        r.timeout.as_millis().min(i64::MAX as u128) as i64,
        r.started_ms,
        r.interruptible
    ])?;
    Ok(())
}

fn delete(c: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = c.prepare_cached(&format!(
        "DELETE FROM jobs WHERE id = ?1 AND status IN ({FINAL_STATES})"
    ))?;
    let mut reports = c.prepare_cached("DELETE FROM status_reports WHERE job_id = ?1")?;
    let mut notes = c.prepare_cached("DELETE FROM notifications WHERE job_id = ?1")?;
    let mut deleted = Vec::new();
    for &id in ids {
        if stmt.execute([id])? > 0 {
            reports.execute([id])?;
            notes.execute([id])?;
            deleted.push(id);
        }
    }
    // With incremental auto-vacuum, free pages go back in small steps, never one long pause.
    c.execute_batch("PRAGMA incremental_vacuum(128)")?;
    Ok(deleted)
}

fn resolve_commit(c: &Connection, id: i64, full: &str) -> rusqlite::Result<Option<Job>> {
    // The link ends with the commit id it was made with (`forge::links`).
    let n = c.execute(
        "UPDATE jobs SET commit_url = CASE WHEN commit_url IS NULL THEN NULL \
         ELSE substr(commit_url, 1, length(commit_url) - length(commit_sha)) || ?2 END, \
         commit_sha = ?2 \
         WHERE id = ?1 AND length(?2) = 40 AND substr(?2, 1, length(commit_sha)) = commit_sha",
        params![id, full],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(c, id).map(Some)
}

fn placed(c: &Connection, id: i64, engine: &str) -> rusqlite::Result<Option<Job>> {
    let n = c.execute(
        "UPDATE jobs SET engine = ?2, waiting = NULL WHERE id = ?1 AND status = 'STARTED'",
        params![id, engine],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(c, id).map(Some)
}

fn requeue(c: &Connection, ids: &[i64]) -> rusqlite::Result<Vec<Job>> {
    let mut back = Vec::new();
    for &id in ids {
        let n = c.execute(
            "UPDATE jobs SET status = 'PENDING', started_at = NULL, container = NULL, engine = NULL, \
             output_at = NULL, timeout_ms = NULL, run_started_ms = NULL \
             WHERE id = ?1 AND status = 'STARTED'",
            [id],
        )?;
        if n > 0 {
            report(c, id, JobStatus::Pending, None)?;
            back.push(get(c, id)?);
        }
    }
    Ok(back)
}

fn waiting(c: &Connection, w: &super::Waiting) -> rusqlite::Result<Option<Job>> {
    let n = c.execute(
        "UPDATE jobs SET concurrency = COALESCE(?2, concurrency), \
         waiting = CASE WHEN status = 'PENDING' THEN ?3 ELSE NULL END WHERE id = ?1",
        params![w.id, w.group, w.text],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(c, w.id).map(Some)
}

fn schedule_ran(c: &Connection, key: &str, at_ms: i64) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO schedule_runs (schedule, last_ms) VALUES (?1, ?2) \
         ON CONFLICT(schedule) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)",
        params![key, at_ms],
    )?;
    Ok(())
}
