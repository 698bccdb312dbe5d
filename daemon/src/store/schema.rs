//! Database schema, its migrations, and connection settings (including who may read the file).

use rusqlite::{Connection, params};
use std::path::Path;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo        TEXT NOT NULL,
    git_ref     TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    message     TEXT NOT NULL,
    author      TEXT NOT NULL,
    clone_url   TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    exit_code   INTEGER,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    trigger     TEXT NOT NULL,
    forge       TEXT,
    delivery_id TEXT,
    retry_of    INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_delivery ON jobs(forge, delivery_id)
    WHERE delivery_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
CREATE INDEX IF NOT EXISTS jobs_repo ON jobs(repo, id);
CREATE TABLE IF NOT EXISTS repos (
    name           TEXT PRIMARY KEY,
    clone_url      TEXT NOT NULL,
    default_branch TEXT,
    last_seen      TEXT NOT NULL
);
";

/// Changes to databases created by earlier releases, in order; `PRAGMA user_version` counts the
/// ones applied. Each runs once, in the transaction that bumps the version.
const MIGRATIONS: &[fn(&Connection) -> rusqlite::Result<()>] = &[
    migrate_1, migrate_2, migrate_3, migrate_4, migrate_5, migrate_6, migrate_7, migrate_8,
    migrate_9, migrate_10, migrate_11, migrate_12,
];

/// 1: whether a repository is public (web pages), bytes of output dropped over `docker.max_log`,
/// an index for finding a commit's active job (replayed deliveries), and clone URLs stored
/// without the credentials an older release kept in them.
fn migrate_1(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE repos ADD COLUMN public INTEGER;
         ALTER TABLE jobs ADD COLUMN log_dropped INTEGER NOT NULL DEFAULT 0;
         CREATE INDEX IF NOT EXISTS jobs_commit ON jobs(commit_sha);",
    )?;
    for table in ["jobs", "repos"] {
        let key = if table == "jobs" { "id" } else { "name" };
        let rows: Vec<(rusqlite::types::Value, String)> = c
            .prepare(&format!(
                "SELECT {key}, clone_url FROM {table} WHERE clone_url LIKE '%@%'"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (k, url) in rows {
            let clean = crate::git::redact_url(&url);
            if clean != url {
                c.execute(
                    &format!("UPDATE {table} SET clone_url = ?2 WHERE {key} = ?1"),
                    params![k, clean],
                )?;
            }
        }
    }
    Ok(())
}

/// 2: the log's final size, recorded when a job ends, so reading a finished job needs no look at
/// its log file.
fn migrate_2(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE jobs ADD COLUMN log_size INTEGER NOT NULL DEFAULT 0;")
}

/// 3: the container a STARTED job runs in, where its output starts in the log, its timeout and
/// when its container started, so a daemon started again re-attaches to it.
fn migrate_3(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE jobs ADD COLUMN container TEXT;
         ALTER TABLE jobs ADD COLUMN output_at INTEGER;
         ALTER TABLE jobs ADD COLUMN timeout_ms INTEGER;
         ALTER TABLE jobs ADD COLUMN run_started_ms INTEGER;",
    )
}

/// 4: commit statuses: which forge a job's statuses go to (`report_via`, set when it was queued
/// and a token applied), and the outbox of reports, delivered in order per job.
fn migrate_4(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE jobs ADD COLUMN report_via TEXT;
         CREATE TABLE status_reports (
             id          INTEGER PRIMARY KEY AUTOINCREMENT,
             job_id      INTEGER NOT NULL,
             state       TEXT NOT NULL,
             description TEXT NOT NULL,
             created_ms  INTEGER NOT NULL,
             next_ms     INTEGER NOT NULL,
             attempts    INTEGER NOT NULL DEFAULT 0,
             outcome     TEXT NOT NULL DEFAULT 'queued',
             last_error  TEXT
         );
         CREATE INDEX status_reports_due ON status_reports(outcome, next_ms);
         CREATE INDEX status_reports_job ON status_reports(job_id, id);",
    )
}

/// 5: jobs of a fork's pull request are untrusted.
fn migrate_5(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE jobs ADD COLUMN untrusted INTEGER NOT NULL DEFAULT 0;")
}

/// 6: links to the job's commit and pull request on the forge.
fn migrate_6(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE jobs ADD COLUMN commit_url TEXT;
         ALTER TABLE jobs ADD COLUMN pull_url TEXT;",
    )
}

/// 7: where a pull request's commit is fetched from when the forge serves no ref for it
/// (Bitbucket): the source branch, and the fork it is in; and whether a running job may be
/// stopped by a newer push to its ref.
fn migrate_7(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE jobs ADD COLUMN source_ref TEXT;
         ALTER TABLE jobs ADD COLUMN source_repo TEXT;
         ALTER TABLE jobs ADD COLUMN interruptible INTEGER NOT NULL DEFAULT 0;",
    )
}

/// 8: the web pages' queries. `branch_heads` holds the newest job of each repository and ref,
/// kept by triggers (so the front page reads one row per branch instead of grouping 100,000
/// jobs), and `jobs_branch` finds a branch's newest finished job (badges) without a scan.
fn migrate_8(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "CREATE INDEX IF NOT EXISTS jobs_branch ON jobs(repo, git_ref, id);
         CREATE TABLE branch_heads (
             repo    TEXT NOT NULL,
             git_ref TEXT NOT NULL,
             job_id  INTEGER NOT NULL,
             PRIMARY KEY (repo, git_ref)
         ) WITHOUT ROWID;
         CREATE INDEX branch_heads_job ON branch_heads(job_id);
         INSERT INTO branch_heads (repo, git_ref, job_id)
             SELECT repo, git_ref, max(id) FROM jobs GROUP BY repo, git_ref;
         CREATE TRIGGER branch_heads_insert AFTER INSERT ON jobs BEGIN
             INSERT INTO branch_heads (repo, git_ref, job_id)
                 VALUES (new.repo, new.git_ref, new.id)
                 ON CONFLICT (repo, git_ref) DO UPDATE SET job_id = max(job_id, excluded.job_id);
         END;
         CREATE TRIGGER branch_heads_delete AFTER DELETE ON jobs BEGIN
             DELETE FROM branch_heads WHERE job_id = old.id;
             INSERT OR IGNORE INTO branch_heads (repo, git_ref, job_id)
                 SELECT repo, git_ref, max(id) FROM jobs
                 WHERE repo = old.repo AND git_ref = old.git_ref
                 GROUP BY repo, git_ref;
         END;",
    )
}

/// 9: the outbox of notifications (`[[notify]]`): one row per entry and event of a job,
/// delivered in order per job, retried like commit statuses.
fn migrate_9(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "CREATE TABLE notifications (
             id          INTEGER PRIMARY KEY AUTOINCREMENT,
             job_id      INTEGER NOT NULL,
             target      TEXT NOT NULL,
             event       TEXT NOT NULL,
             created_ms  INTEGER NOT NULL,
             next_ms     INTEGER NOT NULL,
             attempts    INTEGER NOT NULL DEFAULT 0,
             outcome     TEXT NOT NULL DEFAULT 'queued',
             last_error  TEXT
         );
         CREATE INDEX notifications_due ON notifications(outcome, next_ms);
         CREATE INDEX notifications_job ON notifications(job_id, id);",
    )
}

/// 10: the extra environment a person gave a manual run (JSON object; NULL when none).
fn migrate_10(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE jobs ADD COLUMN params TEXT;")
}

/// 11 (issue 11, concurrency groups and schedules): a job's concurrency group once known (from
/// its `.microci.json`: `[[repo]] concurrency` is read from the config) and why it waits, shown
/// by `show`; and per schedule, the last run time that was planned, so a run missed while the
/// daemon was down is caught up once at start.
fn migrate_11(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "ALTER TABLE jobs ADD COLUMN concurrency TEXT;
         ALTER TABLE jobs ADD COLUMN waiting TEXT;
         CREATE TABLE schedule_runs (
             schedule TEXT PRIMARY KEY,
             last_ms  INTEGER NOT NULL
         );",
    )
}

/// 12 (issue 12, engine pools): the engine a job was placed on (`[[engine]] name`).
fn migrate_12(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("ALTER TABLE jobs ADD COLUMN engine TEXT;")
}

/// How many migrations there are: a database this release made or brought up to date has this
/// `user_version`.
#[cfg(test)]
pub(crate) const MIGRATION_COUNT: usize = MIGRATIONS.len();

/// Brings a database of any earlier release up to date.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A new database is created in the first release's shape and migrated like any other.
    conn.execute_batch(SCHEMA)?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        m(&tx)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Creates the database file with [`FILE_MODE`](crate::state_dir::FILE_MODE) before SQLite does (SQLite gives the WAL and
/// shared-memory files the mode of the database), and tightens the files of older releases.
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::state_dir::FILE_MODE)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = Path::new(&p);
        if let Ok(m) = std::fs::metadata(p)
            && m.permissions().mode() & 0o7777 != crate::state_dir::FILE_MODE
        {
            let mode = crate::state_dir::FILE_MODE;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// The columns every job query selects, in the order `read::row_to_record` expects.
pub(crate) const JOB_COLUMNS: &str = "id, repo, git_ref, commit_sha, message, author, status, \
    reason, exit_code, created_at, started_at, finished_at, trigger, clone_url, log_dropped, \
    log_size, untrusted, commit_url, pull_url, source_ref, source_repo, report_via, \
    concurrency, waiting, engine";

/// How many columns [`JOB_COLUMNS`] names: a query selecting more reads them from here on.
pub(crate) const JOB_COLUMN_COUNT: usize = 25;

/// Switches the database to incremental auto-vacuum, so pages retention frees can be given back
/// in small steps. A new database takes it at once; one made by an older release is rebuilt once
/// (`VACUUM`), at the first start of this release.
fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<()> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    }
    Ok(())
}

/// Opens the write connection: WAL, full sync (a 202 means the job is on disk), schema applied.
pub(crate) fn open_write(path: &Path) -> Result<Connection, super::StoreError> {
    restrict(path)
        .map_err(|e| super::StoreError::Task(format!("cannot create {}: {e}", path.display())))?;
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    incremental_vacuum(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a read connection.
pub(crate) fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}
