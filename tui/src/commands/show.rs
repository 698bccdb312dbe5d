//! `show ID`: one job as text or one JSON object. The text's untrusted fields are always cleaned
//! (terminal or not: a file of `show` output is read on a terminal later); `--raw` prints them
//! verbatim.

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
    raw: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let job = match conn.request(Request::GetJob { job: id }).await? {
        Reply::Job { job } => job,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &job)?;
    } else {
        let now = time::OffsetDateTime::now_utc();
        let text = format::job_details(&job, now, format::Fields::raw_if(raw));
        out.write_all(text.as_bytes())?;
    }
    Ok(Outcome::Success)
}
