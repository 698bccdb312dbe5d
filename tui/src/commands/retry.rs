//! `retry ID`: a new job for the same commit; prints the new id.

use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Retries a job and prints the new job's id.
pub async fn retry(
    conn: &mut Connection,
    id: i64,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    match conn.request(Request::Retry { job: id }).await? {
        Reply::Created { job } => writeln!(out, "{job}")?,
        other => return Err(unexpected(other)),
    }
    Ok(Outcome::Success)
}
