//! `cancel ID`: stop a pending or running job.

use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Cancels a job and prints its state after the change.
pub async fn cancel(
    conn: &mut Connection,
    id: i64,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    match conn.request(Request::Cancel { job: id }).await? {
        Reply::Job { job } => writeln!(out, "job {} is {}", job.id, job.status)?,
        other => return Err(unexpected(other)),
    }
    Ok(Outcome::Success)
}
