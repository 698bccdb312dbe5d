//! Read queries on their own connections (WAL lets them run beside the writer).

use super::schema::{JOB_COLUMN_COUNT, JOB_COLUMNS, open_read};
use super::{JobRecord, RepoRow, StoreError};
use microci_proto::{Job, JobQuery, JobStatus};
use rusqlite::{Connection, OptionalExtension, Row, ToSql};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Read access; cheap to clone. Connections are pooled and used on blocking threads.
#[derive(Clone)]
pub struct Reader {
    inner: Arc<Inner>,
}

struct Inner {
    db: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Reader {
    pub(super) fn new(db: PathBuf) -> Reader {
        Reader {
            inner: Arc::new(Inner {
                db,
                pool: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub(super) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.pool.lock().ok().and_then(|mut p| p.pop());
            let conn = match conn {
                Some(c) => c,
                None => open_read(&inner.db)?,
            };
            let out = f(&conn);
            if let Ok(mut p) = inner.pool.lock()
                && p.len() < 8
            {
                p.push(conn);
            }
            Ok(out?)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// One job with its clone URL and its parameters (which lists leave out: up to
    /// [`MAX_PARAMS_BYTES`](super::params::MAX_PARAMS_BYTES) each would swell a page of jobs).
    pub async fn job(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS}, params FROM jobs WHERE id = ?1"),
                [id],
                row_with_params,
            )
            .optional()
        })
        .await
    }

    /// When schedule `key`'s last handled run was planned (Unix milliseconds), if ever.
    pub async fn schedule_last(&self, key: String) -> Result<Option<i64>, StoreError> {
        self.with(move |c| {
            c.prepare_cached("SELECT last_ms FROM schedule_runs WHERE schedule = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })
        .await
    }

    /// Every STARTED job, oldest first, with its container when one was recorded.
    pub async fn started(&self) -> Result<Vec<super::Started>, StoreError> {
        self.with(|c| {
            c.prepare(&format!(
                "SELECT {JOB_COLUMNS}, container, output_at, timeout_ms, run_started_ms, \
                 interruptible FROM jobs WHERE status = 'STARTED' ORDER BY id"
            ))?
            .query_map([], |row| {
                let record = row_to_record(row)?;
                let n = JOB_COLUMN_COUNT;
                let container: Option<String> = row.get(n)?;
                let run = match container {
                    Some(container) => Some(super::Run {
                        id: record.job.id,
                        container,
                        output_at: row.get::<_, Option<i64>>(n + 1)?.unwrap_or(0).max(0) as u64,
                        timeout: std::time::Duration::from_millis(
                            row.get::<_, Option<i64>>(n + 2)?.unwrap_or(0).max(0) as u64,
                        ),
                        started_ms: row.get::<_, Option<i64>>(n + 3)?.unwrap_or(0),
                        interruptible: row.get(n + 4)?,
                    }),
                    None => None,
                };
                Ok(super::Started { record, run })
            })?
            .collect()
        })
        .await
    }

    /// The finished jobs retention removes, oldest first: those that ended before `before`, those
    /// past the newest `keep_per_repo` of their repository, then — while all logs together are
    /// over `max_log_bytes` — the oldest of the rest. The latest job of each branch is never
    /// among them, nor is anything PENDING or STARTED.
    pub async fn prunable(
        &self,
        before: String,
        keep_per_repo: u64,
        max_log_bytes: u64,
    ) -> Result<Vec<super::Prunable>, StoreError> {
        self.with(move |c| {
            let total: i64 =
                c.query_row("SELECT COALESCE(SUM(log_size), 0) FROM jobs", [], |r| {
                    r.get(0)
                })?;
            let mut over = (total.max(0) as u64).saturating_sub(max_log_bytes);
            let mut stmt = c.prepare(&format!(
                "SELECT id, repo, log_size, finished_at, rn_repo FROM ( \
                   SELECT id, repo, log_size, finished_at, \
                     ROW_NUMBER() OVER (PARTITION BY repo ORDER BY id DESC) AS rn_repo, \
                     ROW_NUMBER() OVER (PARTITION BY repo, git_ref ORDER BY id DESC) AS rn_ref \
                   FROM jobs WHERE status IN ({}) \
                 ) WHERE rn_ref > 1 ORDER BY id",
                super::FINAL_STATES
            ))?;
            let rows = stmt.query_map([], |r| {
                let job = super::Prunable {
                    id: r.get(0)?,
                    repo: r.get(1)?,
                    log_size: r.get::<_, i64>(2)?.max(0) as u64,
                    finished_at: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                };
                Ok((job, r.get::<_, i64>(4)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (job, rank) = row?;
                let expired = job.finished_at < before || rank as u64 > keep_per_repo;
                if expired || over > 0 {
                    over = over.saturating_sub(job.log_size);
                    out.push(job);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Commit status reports due at `now_ms`, oldest first: per job only its oldest queued one,
    /// so a later state never overtakes an earlier one.
    pub async fn due_reports(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<super::Report>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "SELECT r.id, r.job_id, r.state, r.description, r.created_ms, r.attempts, \
                   j.repo, j.commit_sha, j.report_via \
                 FROM status_reports r JOIN jobs j ON j.id = r.job_id \
                 WHERE r.outcome = 'queued' AND r.next_ms <= ?1 AND NOT EXISTS ( \
                   SELECT 1 FROM status_reports e \
                   WHERE e.job_id = r.job_id AND e.outcome = 'queued' AND e.id < r.id) \
                 ORDER BY r.id LIMIT ?2",
            )?
            .query_map(rusqlite::params![now_ms, limit as i64], |r| {
                Ok(super::Report {
                    id: r.get(0)?,
                    job_id: r.get(1)?,
                    state: r.get(2)?,
                    description: r.get(3)?,
                    created_ms: r.get(4)?,
                    attempts: r.get(5)?,
                    repo: r.get(6)?,
                    commit: r.get(7)?,
                    forge: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                })
            })?
            .collect()
        })
        .await
    }

    /// When the next queued report is due (Unix ms), if any is queued.
    pub async fn next_report_ms(&self) -> Result<Option<i64>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(next_ms) FROM status_reports WHERE outcome = 'queued'",
                [],
                |r| r.get(0),
            )
        })
        .await
    }

    /// How job `id`'s commit statuses fared, for `show`: the latest report's outcome (or, while
    /// one waits, that it does and why); `None` when they are not reported.
    pub async fn report_summary(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.with(move |c| {
            let waiting: Option<(i64, Option<String>)> = c
                .query_row(
                    "SELECT attempts, last_error FROM status_reports \
                     WHERE job_id = ?1 AND outcome = 'queued' ORDER BY id LIMIT 1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((attempts, error)) = waiting {
                return Ok(Some(match (attempts, error) {
                    (0, _) | (_, None) => "queued".to_string(),
                    (_, Some(e)) => format!("retrying ({e})"),
                }));
            }
            let last: Option<(String, Option<String>)> = c
                .query_row(
                    "SELECT outcome, last_error FROM status_reports WHERE job_id = ?1 \
                     ORDER BY id DESC LIMIT 1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(
                last.map(|(outcome, error)| match (outcome.as_str(), error) {
                    ("gave_up", Some(e)) => format!("gave up ({e})"),
                    ("gave_up", None) => "gave up".to_string(),
                    _ => "delivered".to_string(),
                }),
            )
        })
        .await
    }

    /// Notifications due at `now_ms`, oldest first, per job one at a time.
    pub async fn due_notices(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<super::Notice>, StoreError> {
        self.with(move |c| super::notices::due(c, now_ms, limit))
            .await
    }

    /// When the next queued notification is due (Unix ms), if any is queued.
    pub async fn next_notice_ms(&self) -> Result<Option<i64>, StoreError> {
        self.with(super::notices::next_ms).await
    }

    /// How job `id`'s notifications fared, for `show`.
    pub async fn notice_summary(
        &self,
        id: i64,
    ) -> Result<Vec<microci_proto::Notification>, StoreError> {
        self.with(move |c| super::notices::summary(c, id)).await
    }

    /// The PENDING jobs of `repo` at `git_ref` (a closed pull request's).
    pub async fn pending_at(&self, repo: String, git_ref: String) -> Result<Vec<i64>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "SELECT id FROM jobs WHERE repo = ?1 AND git_ref = ?2 AND status = 'PENDING' \
                 ORDER BY id",
            )?
            .query_map(rusqlite::params![repo, git_ref], |r| r.get(0))?
            .collect()
        })
        .await
    }

    /// The jobs of `repo` at `git_ref` older than job `newer` that it supersedes: those still
    /// queued, and those running whose `.microci.json` says `"interruptible": true`.
    pub async fn superseded(
        &self,
        repo: String,
        git_ref: String,
        newer: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "SELECT id FROM jobs WHERE repo = ?1 AND git_ref = ?2 AND id < ?3 \
                 AND (status = 'PENDING' OR (status = 'STARTED' AND interruptible = 1)) \
                 ORDER BY id",
            )?
            .query_map(rusqlite::params![repo, git_ref, newer], |r| r.get(0))?
            .collect()
        })
        .await
    }

    /// The newest job of `repo` at `git_ref` that a webhook queued after job `id`, if any: what
    /// supersedes an interruptible job that learnt it was one only after its checkout.
    pub async fn newer_push(
        &self,
        repo: String,
        git_ref: String,
        id: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.with(move |c| {
            c.prepare_cached(
                "SELECT max(id) FROM jobs WHERE repo = ?1 AND git_ref = ?2 AND id > ?3 \
                 AND trigger = 'webhook'",
            )?
            .query_row(rusqlite::params![repo, git_ref, id], |r| r.get(0))
        })
        .await
    }

    /// Every known repository with when it was last seen and whether it has work in flight.
    pub async fn repo_activity(&self) -> Result<Vec<super::RepoActivity>, StoreError> {
        self.with(|c| {
            c.prepare(
                "SELECT name, last_seen, EXISTS (SELECT 1 FROM jobs WHERE jobs.repo = repos.name \
                 AND status IN ('PENDING', 'STARTED')) FROM repos ORDER BY name",
            )?
            .query_map([], |r| {
                Ok(super::RepoActivity {
                    name: r.get(0)?,
                    last_seen: r.get(1)?,
                    busy: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Which of `ids` name no job, or a finished one (their containers are not needed).
    pub async fn finished_or_gone(&self, ids: Vec<i64>) -> Result<Vec<i64>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached("SELECT status FROM jobs WHERE id = ?1")?;
            let mut out = Vec::new();
            for id in ids {
                let status: Option<String> = stmt.query_row([id], |r| r.get(0)).optional()?;
                if status.is_none_or(|s| s != "PENDING" && s != "STARTED") {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Newest first, filtered; see [`JobQuery`].
    pub async fn list(&self, q: JobQuery) -> Result<Vec<Job>, StoreError> {
        self.with(move |c| list_where(c, &q, None)).await
    }

    /// Like [`Reader::list`], only jobs of repositories the public pages may show.
    pub async fn list_visible(
        &self,
        q: JobQuery,
        visible: Visible,
    ) -> Result<Vec<Job>, StoreError> {
        self.with(move |c| list_where(c, &q, Some(&visible))).await
    }

    /// What the forge last said about a repository being public (`None`: it never said).
    pub async fn forge_public(&self, repo: String) -> Result<Option<bool>, StoreError> {
        self.with(move |c| {
            c.prepare_cached("SELECT public FROM repos WHERE name = ?1")?
                .query_row([repo], |r| r.get::<_, Option<bool>>(0))
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    /// The oldest PENDING jobs, at most `n`, in arrival order (what runs next).
    pub async fn next_pending(&self, n: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS}, params FROM jobs WHERE status = 'PENDING' ORDER BY id \
                 LIMIT ?1"
            ))?;
            st.query_map([n as i64], row_with_params)?.collect()
        })
        .await
    }

    /// How many jobs are in each of PENDING and STARTED.
    pub async fn counts(&self) -> Result<(u64, u64), StoreError> {
        self.with(|c| {
            let count = |s: &str| {
                c.query_row("SELECT count(*) FROM jobs WHERE status = ?1", [s], |r| {
                    r.get::<_, i64>(0)
                })
            };
            Ok((count("PENDING")? as u64, count("STARTED")? as u64))
        })
        .await
    }

    /// Known repositories by name.
    pub async fn repos(&self) -> Result<Vec<RepoRow>, StoreError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT name, clone_url, default_branch, public FROM repos ORDER BY name",
            )?
            .query_map([], |r| {
                Ok(RepoRow {
                    name: r.get(0)?,
                    clone_url: r.get(1)?,
                    default_branch: r.get(2)?,
                    public: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }
}

/// Which repositories the public web pages may show: those the forge says are public, plus
/// `also`, minus `never` (the `[[repo]] public` settings).
#[derive(Debug, Clone, Default)]
pub struct Visible {
    /// Shown whatever the forge says.
    pub also: Vec<String>,
    /// Hidden whatever the forge says.
    pub never: Vec<String>,
}

fn list_where(
    c: &Connection,
    q: &JobQuery,
    visible: Option<&Visible>,
) -> rusqlite::Result<Vec<Job>> {
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    // Appends `clause`, its `?N` numbered for `value` (when there is one).
    let mut add = |clause: &str, value: Option<Box<dyn ToSql>>| {
        if let Some(v) = value {
            args.push(v);
        }
        sql.push_str(&clause.replace("?N", &format!("?{}", args.len())));
    };
    if let Some(s) = q.status {
        add(" AND status = ?N", Some(Box::new(s.as_str())));
    }
    if let Some(r) = &q.repo {
        add(" AND repo = ?N", Some(Box::new(r.clone())));
    }
    if let Some(b) = q.before {
        add(" AND id < ?N", Some(Box::new(b)));
    }
    if let Some(v) = visible {
        add(
            " AND (repo IN (SELECT name FROM repos WHERE public = 1)",
            None,
        );
        for name in &v.also {
            add(" OR repo = ?N", Some(Box::new(name.clone())));
        }
        add(")", None);
        for name in &v.never {
            add(" AND repo != ?N", Some(Box::new(name.clone())));
        }
    }
    if let Some(text) = q.search.as_deref().filter(|t| !t.is_empty()) {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        add(
            " AND (repo LIKE ?N ESCAPE '\\' OR git_ref LIKE ?N ESCAPE '\\' \
             OR commit_sha LIKE ?N ESCAPE '\\' OR message LIKE ?N ESCAPE '\\' \
             OR author LIKE ?N ESCAPE '\\')",
            Some(Box::new(format!("%{escaped}%"))),
        );
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT {}",
        q.limit.clamp(1, microci_proto::MAX_JOB_LIST)
    ));
    let mut st = c.prepare_cached(&sql)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    st.query_map(params.as_slice(), |r| row_to_record(r).map(|r| r.job))?
        .collect()
}

/// Builds a record from a row selected with `JOB_COLUMNS, params`: the queries that start a job
/// or show one need its parameters; lists leave them out.
fn row_with_params(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let mut record = row_to_record(row)?;
    let params: Option<String> = row.get(JOB_COLUMN_COUNT)?;
    record.job.params = super::params::decode(params.as_deref());
    Ok(record)
}

/// Builds a record from a row selected with `JOB_COLUMNS`.
pub(crate) fn row_to_record(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let id: i64 = r.get(0)?;
    let status: String = r.get(6)?;
    let status = status.parse().unwrap_or(JobStatus::Errored);
    Ok(JobRecord {
        job: Job {
            id,
            repo: r.get(1)?,
            git_ref: r.get(2)?,
            commit: r.get(3)?,
            message: r.get(4)?,
            author: r.get(5)?,
            status,
            reason: r.get(7)?,
            exit_code: r.get(8)?,
            created_at: r.get(9)?,
            started_at: r.get(10)?,
            finished_at: r.get(11)?,
            trigger: r.get(12)?,
            log_size: r.get::<_, i64>(15)?.max(0) as u64,
            log_dropped: r.get::<_, i64>(14)?.max(0) as u64,
            status_report: None,
            notifications: Vec::new(),
            untrusted: r.get(16)?,
            commit_url: r.get(17)?,
            pull_url: r.get(18)?,
            params: Default::default(),
            waiting: r.get(23)?,
            engine: r.get(24)?,
        },
        concurrency: r.get(22)?,
        clone_url: r.get(13)?,
        source_ref: r.get(19)?,
        source_repo: r.get(20)?,
        report_via: r.get(21)?,
    })
}
