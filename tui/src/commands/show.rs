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
    // A daemon that keeps no artifacts (or answers oddly) just shows none.
    let kept = super::artifacts::list(conn, id).await.ok();
    if json {
        match kept {
            Some(kept) => {
                let mut value = serde_json::to_value(&job)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("artifacts".into(), serde_json::to_value(kept)?);
                }
                write_json(out, &value)?;
            }
            None => write_json(out, &job)?,
        }
    } else {
        let now = time::OffsetDateTime::now_utc();
        let fields = format::Fields::raw_if(raw);
        let text = format::job_details(&job, now, fields);
        out.write_all(text.as_bytes())?;
        if let Some(kept) = kept.filter(|k| !k.is_empty()) {
            writeln!(out, "artifacts:")?;
            for line in super::artifacts::table(id, &kept, fields).lines() {
                writeln!(out, "  {line}")?;
            }
        }
    }
    Ok(Outcome::Success)
}
