//! `logs ID [--follow]`: the job's log bytes to stdout verbatim (this output is for pipes and
//! scripts; the interactive UI is what sanitises). Exit 0 only if the job ended SUCCEED;
//! otherwise the final status and reason go to stderr.
//!
//! Without `--follow` the log is paged with `ReadLog` until a chunk comes back empty. With it, a
//! `FollowLog` subscription streams from offset 0 until `End`; on `Lagged` it re-subscribes from
//! the last offset written, and chunks that end at or before that offset are skipped, so output
//! has no gaps and no repeats.

use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use crate::format;
use microci_proto::{Event, Job, Reply, Request};
use std::io::{self, Write};

/// Largest read the daemon serves.
pub const READ_MAX: u32 = 256 * 1024;

/// Prints a job's log and reports whether it ended SUCCEED.
pub async fn logs(
    conn: &mut Connection,
    id: i64,
    follow: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let last = if follow {
        follow_log(conn, id, out).await?
    } else {
        read_log(conn, id, out).await?;
        None
    };
    let job = match last {
        Some(job) if job.status.is_final() => job,
        _ => get_job(conn, id).await?,
    };
    if job.status == microci_proto::JobStatus::Succeed {
        return Ok(Outcome::Success);
    }
    if job.status.is_final() {
        let reason = job
            .reason
            .as_deref()
            .map(|r| format!(": {}", format::clean(r)))
            .unwrap_or_default();
        writeln!(err, "job {} ended {}{}", job.id, job.status, reason)?;
    } else {
        writeln!(
            err,
            "job {} is {} (not finished; --follow waits for it)",
            job.id, job.status
        )?;
    }
    Ok(Outcome::JobNotSucceeded)
}

async fn get_job(conn: &mut Connection, id: i64) -> Result<Job, CommandError> {
    match conn.request(Request::GetJob { job: id }).await? {
        Reply::Job { job } => Ok(job),
        other => Err(unexpected(other)),
    }
}

/// Writes a chunk; `Ok(false)` when the reader went away (e.g. `| head`).
fn emit(out: &mut impl Write, data: &str, flush: bool) -> Result<bool, CommandError> {
    let r = out
        .write_all(data.as_bytes())
        .and_then(|()| if flush { out.flush() } else { Ok(()) });
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn read_log(
    conn: &mut Connection,
    id: i64,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let mut offset = 0;
    loop {
        let chunk = match conn
            .request(Request::ReadLog {
                job: id,
                offset,
                max: READ_MAX,
            })
            .await?
        {
            Reply::Log(chunk) => chunk,
            other => return Err(unexpected(other)),
        };
        if chunk.data.is_empty() || chunk.next_offset <= offset {
            return Ok(());
        }
        if !emit(out, &chunk.data, false)? {
            return Ok(());
        }
        offset = chunk.next_offset;
    }
}

/// Streams until `End`; returns the last job state seen, if any.
async fn follow_log(
    conn: &mut Connection,
    id: i64,
    out: &mut impl Write,
) -> Result<Option<Job>, CommandError> {
    let mut offset = 0;
    let mut last = None;
    'subscribe: loop {
        let mut sub = conn
            .subscribe(Request::FollowLog { job: id, offset })
            .await?;
        while let Some(event) = sub.next().await? {
            match event {
                Event::Log(chunk) => {
                    if chunk.next_offset <= offset {
                        continue;
                    }
                    if !emit(out, &chunk.data, true)? {
                        return Ok(None);
                    }
                    offset = chunk.next_offset;
                }
                Event::Job { job } if job.id == id => last = Some(job),
                Event::Job { .. } => {}
                Event::Lagged => continue 'subscribe,
                Event::End => break,
            }
        }
        return Ok(last);
    }
}
