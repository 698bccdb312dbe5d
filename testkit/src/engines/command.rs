//! Running the tools the kit drives (ip, nsenter, openssl, ssh-keygen, docker) to their end,
//! each bounded in time and killed by its pid when it overruns.

use anyhow::{Context, Result, bail};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long any one command of the kit may run.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// Runs a command to its end (killed after two minutes); its trimmed stdout, or an error with
/// its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs a command to its end, killed by its pid after [`COMMAND_LIMIT`].
pub fn output(cmd: &mut Command) -> Result<Output> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd:?}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_LIMIT) {
        Ok(out) => out.with_context(|| format!("waiting for {cmd:?}")),
        Err(_) => {
            super::cleanup::signal(pid, rustix::process::Signal::KILL);
            bail!("{cmd:?} did not finish within {COMMAND_LIMIT:?}")
        }
    }
}
