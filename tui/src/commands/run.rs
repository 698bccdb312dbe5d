//! `run REPO [REF] [-e KEY=VALUE]…`: a manual build; prints the new id.

use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Starts a manual build and prints the new job's id. A key given twice keeps its last value,
/// as a shell's environment would.
pub async fn run(
    conn: &mut Connection,
    repo: String,
    git_ref: Option<String>,
    env: Vec<(String, String)>,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let env = env.into_iter().collect();
    match conn.request(Request::Run { repo, git_ref, env }).await? {
        Reply::Created { job } => writeln!(out, "{job}")?,
        other => return Err(unexpected(other)),
    }
    Ok(Outcome::Success)
}
