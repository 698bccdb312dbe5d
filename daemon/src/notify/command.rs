//! `kind = "command"`: runs the entry's program (an argv list, never a shell) with the job
//! document on stdin, only the configured environment (plus a plain `PATH`), in its own process
//! group, and kills the group at the deadline. Exit 0 is delivered; anything else is tried
//! again, but a program that cannot be started at all gives up.

use super::Failure;
use super::message::Message;
use crate::config::Command;
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most of the program's stderr kept for the error a person sees.
const MAX_STDERR: u64 = 2048;

/// Runs `c` for `m`.
pub(super) async fn run(c: &Command, m: &Message) -> Result<(), Failure> {
    let mut cmd = tokio::process::Command::new(&c.argv[0]);
    cmd.args(&c.argv[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(c.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::Permanent(format!("cannot run {}: {e}", c.argv[0])))?;
    let pid = child.id();
    let input = serde_json::to_vec(&m.document()).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let mut stderr = child.stderr.take();
    let work = async {
        // Fed and heard at once: a program that talks before it reads cannot block on a pipe.
        let feed = async {
            if let Some(mut s) = stdin.take() {
                // A program that does not read its input is not an error.
                let _ = s.write_all(&input).await;
            }
        };
        let hear = async {
            let mut err = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.take(MAX_STDERR).read_to_string(&mut err).await;
            }
            err
        };
        let ((), err) = tokio::join!(feed, hear);
        (child.wait().await, err)
    };
    match tokio::time::timeout(c.timeout, work).await {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), err)) => {
            let err = crate::store::status_description(err.trim());
            Err(Failure::Retry(if err.is_empty() {
                format!("{} ended with {status}", c.argv[0])
            } else {
                format!("{} ended with {status}: {err}", c.argv[0])
            }))
        }
        Ok((Err(e), _)) => Err(Failure::Retry(format!("{}: {e}", c.argv[0]))),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            Err(Failure::Retry(format!(
                "{} was killed after {}",
                c.argv[0],
                humantime::format_duration(c.timeout)
            )))
        }
    }
}
