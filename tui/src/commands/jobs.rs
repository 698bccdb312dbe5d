//! `jobs`: list jobs newest first, as a table or one JSON array. The table's untrusted fields are
//! always cleaned (terminal or not); `--raw` prints them verbatim.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::format;
use microci_proto::{JobQuery, JobStatus, Reply, Request};
use std::io::Write;

/// Lists jobs matching the filters.
pub async fn jobs(
    conn: &mut Connection,
    status: Option<JobStatus>,
    repo: Option<String>,
    limit: u32,
    json: bool,
    raw: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let query = JobQuery {
        status,
        repo,
        limit,
        ..JobQuery::default()
    };
    let jobs = match conn.request(Request::ListJobs(query)).await? {
        Reply::Jobs { jobs } => jobs,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &jobs)?;
    } else {
        let now = time::OffsetDateTime::now_utc();
        let table = format::jobs_table(&jobs, now, format::Fields::raw_if(raw));
        out.write_all(table.as_bytes())?;
    }
    Ok(Outcome::Success)
}
