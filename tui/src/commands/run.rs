//! `run REPO [REF]`: a manual build; prints the new id.

use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Starts a manual build and prints the new job's id.
pub async fn run(
    conn: &mut Connection,
    repo: String,
    git_ref: Option<String>,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    match conn.request(Request::Run { repo, git_ref }).await? {
        Reply::Created { job } => writeln!(out, "{job}")?,
        other => return Err(unexpected(other)),
    }
    Ok(Outcome::Success)
}
