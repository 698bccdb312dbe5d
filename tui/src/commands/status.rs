//! `status`: daemon version, uptime, running/queued counts, Docker reachable, and one cleaned
//! `warning: …` line for each setting the daemon reports as weakening it.

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::Connection;
use crate::format;
use microci_proto::{Reply, Request};
use std::io::Write;

/// Prints the daemon's health.
pub async fn status(
    conn: &mut Connection,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let status = match conn.request(Request::Status).await? {
        Reply::Status(s) => s,
        other => return Err(unexpected(other)),
    };
    if json {
        write_json(out, &status)?;
    } else {
        out.write_all(format::status_text(&status).as_bytes())?;
    }
    Ok(Outcome::Success)
}
