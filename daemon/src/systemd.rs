//! The little OS glue a daemon needs: sd_notify messages (ready, status, watchdog, stopping),
//! sockets passed by systemd, the umask, and user/group lookups for the control socket.

use crate::jobs::Jobs;
use crate::runner::Engine;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Tells systemd (when it is listening) that the daemon is ready.
pub fn ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Sets the one-line status `systemctl status` shows.
pub fn status(text: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(text)]);
}

/// Pets the watchdog.
fn watchdog() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
}

/// Says the daemon is stopping.
/// Whether stderr is connected to the journal: `JOURNAL_STREAM` (`DEVICE:INODE`, set by systemd
/// for a unit whose output goes to the journal) names the file stderr is. A child that inherited
/// the variable but writes elsewhere gets plain lines.
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    // fstat(2) through a duplicate of the descriptor: it works on the journal's socket.
    use std::os::fd::AsFd;
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| std::fs::File::from(fd).metadata());
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(dev), Ok(ino), Ok(m)) => m.dev() == dev && m.ino() == ino,
        _ => false,
    }
}

/// Tells systemd a reload (SIGHUP) is under way; [`ready`] says it is done.
pub fn reloading() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Keeps `systemctl status` current ("N running, M queued", updated when a job changes, at
/// most once a second) and pets the watchdog — but only while the scheduler's loop keeps going
/// round, so a wedged scheduler stops the pets and systemd restarts the daemon. Does nothing
/// when not run by systemd.
pub async fn report<E: Engine>(jobs: Arc<Jobs<E>>, shutdown: CancellationToken) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let timeout = sd_notify::watchdog_enabled();
    let mut pet = tokio::time::interval(timeout.map_or(Duration::from_secs(3600), |d| d / 2));
    let mut events = jobs.bus.subscribe();
    // The first status went out with the start (see `report_status`).
    let mut dirty = false;
    let mut settle = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Ok(crate::events::BusEvent::Job(_)) | Err(RecvError::Lagged(_)) => dirty = true,
                Ok(_) => {}
                Err(RecvError::Closed) => return,
            },
            _ = settle.tick(), if dirty => {
                dirty = false;
                report_status(&jobs).await;
            }
            _ = pet.tick(), if timeout.is_some() => {
                // Alive: it has missed no more than one heartbeat.
                let beat = jobs.since_scheduler_beat();
                if beat < 2 * crate::scheduler::HEARTBEAT {
                    watchdog();
                } else {
                    tracing::warn!("the scheduler has not gone round for {beat:?}; not petting the watchdog");
                }
            }
        }
    }
}

/// Sends the one-line status: how many jobs run and wait, as the database has them (what
/// `microci-tui status` says too; a finished job's slot may still be held by its clean-up).
pub async fn report_status<E: Engine>(jobs: &Jobs<E>) {
    let (queued, running) = jobs.counts().await.unwrap_or((0, 0));
    status(&format!("{running} running, {queued} queued"));
}

/// Listening sockets passed by systemd (socket activation), by their `FileDescriptorName=`.
#[derive(Default)]
pub struct Activated {
    /// The control socket (`control`, or any Unix stream socket).
    pub control: Option<std::os::unix::net::UnixListener>,
    /// The HTTP socket (`http`, or any TCP socket).
    pub http: Option<std::net::TcpListener>,
}

/// Takes the sockets systemd passed, if any.
#[allow(unsafe_code)]
pub fn activated() -> Activated {
    let mut got = Activated {
        control: None,
        http: None,
    };
    let Ok(fds) = sd_notify::listen_fds_with_names() else {
        return got;
    };
    for (fd, name) in fds {
        // SAFETY: systemd passed these descriptors to this process for it to own
        // (LISTEN_PID matched); each is taken exactly once here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // std refuses to read a non-Unix address as a Unix one: that tells the two apart.
        let unix = std::os::unix::net::UnixListener::from(owned);
        if name == "control" || (name != "http" && unix.local_addr().is_ok()) {
            got.control = Some(unix);
        } else {
            got.http = Some(std::net::TcpListener::from(OwnedFd::from(unix)));
        }
    }
    got
}

/// Keeps everything the daemon creates (database, logs, caches, workspaces) out of reach of other
/// users, whatever umask it was started with: at most `rwxr-x---`.
#[allow(unsafe_code)]
pub fn restrict_umask() {
    // SAFETY: umask only swaps a process-wide integer; read and re-set at start-up.
    let old = unsafe { libc::umask(0o027) };
    // SAFETY: as above.
    unsafe { libc::umask(old | 0o027) };
}

/// Runs `f` with the process umask set to `mask`, restoring it after.
#[allow(unsafe_code)]
pub fn with_umask<T>(mask: libc::mode_t, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps a process-wide integer.
    let old = unsafe { libc::umask(mask) };
    let out = f();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    out
}

/// The numeric id of a group, from /etc/group.
pub fn group_id(name: &str) -> Option<u32> {
    lookup("/etc/group", |fields| {
        (fields[0] == name)
            .then(|| fields[2].parse().ok())
            .flatten()
    })
}

/// A user's name, from /etc/passwd.
pub fn user_name(uid: u32) -> Option<String> {
    let uid = uid.to_string();
    lookup("/etc/passwd", |fields| {
        (fields[2] == uid).then(|| fields[0].to_string())
    })
}

fn lookup<T>(file: &str, f: impl Fn(&[&str]) -> Option<T>) -> Option<T> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|fields| fields.len() >= 3)
        .find_map(|fields| f(&fields))
}
