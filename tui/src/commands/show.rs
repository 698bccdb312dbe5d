//! `show ID`: one job as text or one JSON object.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::format;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Prints one job.
pub async fn show(
    conn: &mut Connection,
    id: i64,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let job = match conn.request(Request::GetJob { job: id }).await? {
        Reply::Job { job } => job,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &job)?;
    } else {
        out.write_all(format::job_details(&job, time::OffsetDateTime::now_utc()).as_bytes())?;
    }
    Ok(Outcome::Success)
}
