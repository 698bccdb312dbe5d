//! The real `microci-tui` in a real terminal: a private tmux server (its own `-L` socket, killed
//! on drop) with one 120×40 pane, keys sent with `send-keys`, the screen read with
//! `capture-pane -p`. Every wait is a bounded poll that fails with the last screen.

use crate::daemon::TestDaemon;
use crate::ok;
use anyhow::{Context, Result, ensure};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a wait for the screen may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A private tmux server with one session; killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (given to `sh -c`) in a new detached 120×40 session. When the command
    /// ends, the pane shows `EXITED <code>` and stays, so the screen can still be read.
    pub fn try_start(command: &str, envs: &[(&str, &str)]) -> Result<Tmux> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "mci-tui-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let wrapped = format!("{command}; echo EXITED $?; sleep 600");
        let mut c = Command::new("tmux");
        c.args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"]);
        c.args(["-x", "120", "-y", "40"]);
        for (k, v) in envs {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg(wrapped);
        let out = c.output().context("run tmux (Debian package `tmux`)")?;
        ensure!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(t)
    }

    /// [`Tmux::try_start`] for tests.
    pub fn start(command: &str, envs: &[(&str, &str)]) -> Tmux {
        ok(Tmux::try_start(command, envs))
    }

    /// The UI (`microci-tui --socket SOCKET`) against a daemon.
    pub fn tui(d: &TestDaemon) -> Tmux {
        Tmux::start(
            &format!("{} --socket {}", d.tui_bin().display(), d.socket.display()),
            &[],
        )
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane shows now, one line per row.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// A `display -p` format, e.g. `#{pane_title}`.
    pub fn display(&self, format: &str) -> String {
        self.tmux(&["display", "-p", "-t", "0", format])
            .trim_end()
            .to_string()
    }

    /// Sends keys in tmux's key syntax (`Enter`, `Escape`, `q`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Polls the screen until `ok` holds; returns that screen, or panics with the last one.
    pub fn wait(&self, what: &str, ok: impl FnMut(&str) -> bool) -> String {
        self.wait_for(what, WAIT, ok)
    }

    /// [`Tmux::wait`] with another limit.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut ok: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}; the screen was:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_text(&self, text: &str) -> String {
        self.wait(&format!("{text:?} on screen"), |s| s.contains(text))
    }

    /// Resizes the window (as a person resizing their terminal).
    pub fn resize(&self, width: u16, height: u16) {
        self.tmux(&[
            "resize-window",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
    }

    /// The pid of the process running in the pane (the `sh -c` wrapper).
    pub fn pane_pid(&self) -> u32 {
        self.display("#{pane_pid}").parse().expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
