//! `logs ID [--follow] [--raw]`: the job's log to stdout. Exit 0 only if the job ended SUCCEED;
//! otherwise the final status and (cleaned) reason go to stderr.
//!
//! A job's output is written by the job's code, which may be hostile. When stdout is a terminal
//! the log goes through [`Sanitizer`]: colours stay, every other escape sequence (clipboard
//! writes, titles, screen clears, cursor moves) is removed, a carriage return ends the line, and
//! bidirectional controls are shown as `<U+202E>`; the colour is reset at the end. When stdout is
//! not a terminal (a pipe, a file) the bytes are written verbatim, for scripts; so is `--raw`
//! output on a terminal.
//!
//! Without `--follow` the log is paged with `ReadLog` until a chunk comes back empty. With it, a
//! `FollowLog` subscription streams from offset 0 until `End`; on `Lagged` it re-subscribes from
//! the last offset written, and chunks that end at or before that offset are skipped, so output
//! has no gaps and no repeats.

use super::Terminal;
use super::{CommandError, Outcome, unexpected};
use crate::client::Connection;
use crate::sanitize::{Sanitizer, Sgr, one_line};
use microci_proto::{Event, Job, Reply, Request};
use std::io::{self, Write};

/// Prints a job's log and reports whether it ended SUCCEED. The log is sanitised when `term`
/// says stdout is a terminal and `raw` is not set.
pub async fn logs(
    conn: &mut Connection,
    id: i64,
    follow: bool,
    raw: bool,
    term: Terminal,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let mut w = LogWriter::new(raw, term);
    let last = if follow {
        follow_log(conn, id, &mut w, out, err).await?
    } else {
        read_log(conn, id, &mut w, out).await?;
        None
    };
    w.finish(out)?;
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
            .map(|r| format!(": {}", one_line(r)))
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

/// The log's way to stdout: verbatim, or through one [`Sanitizer`] for the whole stream (so a
/// sequence split between two chunks is still removed).
enum LogWriter {
    /// `--raw`, or stdout is not a terminal.
    Verbatim,
    /// Boxed: the parser's state is a few hundred bytes.
    Sanitized { s: Box<Sanitizer>, buf: String },
    /// The reader went away (e.g. `| head`): nothing more is written.
    Gone,
}

impl LogWriter {
    fn new(raw: bool, term: Terminal) -> LogWriter {
        if raw || !term.stdout {
            return LogWriter::Verbatim;
        }
        let sgr = if term.no_color { Sgr::Drop } else { Sgr::Keep };
        LogWriter::Sanitized {
            s: Box::new(Sanitizer::new(sgr)),
            buf: String::new(),
        }
    }

    /// Writes a chunk; `Ok(false)` when the reader went away.
    fn emit(
        &mut self,
        out: &mut impl Write,
        data: &str,
        flush: bool,
    ) -> Result<bool, CommandError> {
        let r = match self {
            LogWriter::Gone => return Ok(false),
            LogWriter::Verbatim => out.write_all(data.as_bytes()),
            LogWriter::Sanitized { s, buf } => {
                buf.clear();
                s.push(data, buf);
                out.write_all(buf.as_bytes())
            }
        };
        self.done(r.and_then(|()| if flush { out.flush() } else { Ok(()) }))
    }

    /// Ends the stream: a pending line end and a colour reset, when sanitising.
    fn finish(&mut self, out: &mut impl Write) -> Result<bool, CommandError> {
        let r = match self {
            LogWriter::Sanitized { s, buf } => {
                buf.clear();
                s.finish(buf);
                out.write_all(buf.as_bytes()).and_then(|()| out.flush())
            }
            LogWriter::Verbatim => Ok(()),
            LogWriter::Gone => return Ok(false),
        };
        self.done(r)
    }

    fn done(&mut self, r: io::Result<()>) -> Result<bool, CommandError> {
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                *self = LogWriter::Gone;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

async fn read_log(
    conn: &mut Connection,
    id: i64,
    w: &mut LogWriter,
    out: &mut impl Write,
) -> Result<(), CommandError> {
    let mut offset = 0;
    loop {
        let chunk = match conn
            .request(Request::ReadLog {
                job: id,
                offset,
                max: microci_proto::MAX_LOG_READ,
            })
            .await?
        {
            Reply::Log(chunk) => chunk,
            other => return Err(unexpected(other)),
        };
        if chunk.data.is_empty() || chunk.next_offset <= offset {
            return Ok(());
        }
        if !w.emit(out, &chunk.data, false)? {
            return Ok(());
        }
        offset = chunk.next_offset;
    }
}

/// How long `--follow` waits for a stopping daemon to come back.
const RESTART_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Streams until `End`; returns the last job state seen, if any. When the daemon stops (a
/// restart, an upgrade) it connects again and follows on from the same offset.
async fn follow_log(
    conn: &mut Connection,
    id: i64,
    w: &mut LogWriter,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Option<Job>, CommandError> {
    let mut offset = 0;
    let mut last = None;
    'subscribe: loop {
        let mut sub = conn
            .subscribe(Request::FollowLog { job: id, offset })
            .await?;
        loop {
            let event = match sub.next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(crate::client::ClientError::Closed) => Event::Stopping,
                Err(e) => return Err(e.into()),
            };
            match event {
                Event::Log(chunk) => {
                    if chunk.next_offset <= offset {
                        continue;
                    }
                    if !w.emit(out, &chunk.data, true)? {
                        return Ok(None);
                    }
                    offset = chunk.next_offset;
                }
                Event::Job { job } if job.id == id => last = Some(job),
                Event::Job { .. } => {}
                Event::Lagged => continue 'subscribe,
                Event::End => break,
                Event::Stopping => {
                    out.flush()?;
                    writeln!(err, "microci: the daemon is stopping; reconnecting")?;
                    conn.reconnect(RESTART_PATIENCE).await?;
                    continue 'subscribe;
                }
            }
        }
        return Ok(last);
    }
}
