//! Database schema and connection settings.

use rusqlite::Connection;
use std::path::Path;

const SCHEMA: &str = "
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

/// The columns every job query selects, in the order `read::row_to_record` expects.
pub(crate) const JOB_COLUMNS: &str = "id, repo, git_ref, commit_sha, message, author, status, \
    reason, exit_code, created_at, started_at, finished_at, trigger, clone_url";

/// Opens the write connection: WAL, full sync (a 202 means the job is on disk), schema applied.
pub(crate) fn open_write(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
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
