//! The real `microci-tui` in a real terminal (tmux) against the real daemon and real Docker jobs:
//! what a person at the keyboard sees.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{wait_final, wait_for};
use microci_testkit::daemon::TestDaemon;
use microci_testkit::hooks::push;
use microci_testkit::repo::Repo;
use microci_testkit::tmux::Tmux;

/// A starting microcid removes every container labelled `microci.job` on the Docker host, not
/// only those of its own state directory, so a daemon restart kills the jobs of every other test
/// daemon running at that moment. Tests here that run jobs hold this for reading; the one that
/// restarts a daemon holds it for writing.
static RESTARTS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The screen's last line (the status bar).
fn status_bar(screen: &str) -> &str {
    screen.lines().last().unwrap_or("")
}

/// The list row of job `id`, if shown.
fn row(screen: &str, id: i64) -> Option<&str> {
    let id = id.to_string();
    screen
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id.as_str()) && l.contains("alice/app"))
}

#[tokio::test(flavor = "multi_thread")]
async fn push_appears_log_streams_and_cancel_shows_canceled() {
    let _jobs = RESTARTS.read().await;
    let repo = Repo::with_script(
        "echo first line; sleep 2; echo second line; sleep 120; echo never\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let t = Tmux::tui(&d);
    let s = t.wait_text("no jobs yet");
    assert!(status_bar(&s).contains("microcid"), "{s}");

    // A push appears without a key press.
    let id = push(&d, &repo, "d-tui-1");
    t.wait(&format!("job {id} in the list"), |s| row(s, id).is_some());
    wait_for(&d.socket, id, 60, |j| j.status == JobStatus::Started).await;
    t.wait(&format!("job {id} STARTED in the list"), |s| {
        row(s, id).is_some_and(|r| r.contains("STARTED"))
    });

    // Its log streams while it runs: the first line is there before the second is written.
    t.keys(&["Enter"]);
    let s = t.wait_text("first line");
    assert!(s.contains(&format!("job {id}")), "{s}");
    let mut saw_first_only = !s.contains("second line");
    let s = t.wait("the second line", |s| {
        if s.contains("first line") && !s.contains("second line") {
            saw_first_only = true;
        }
        s.contains("second line")
    });
    assert!(
        saw_first_only,
        "the log never showed the first line alone:\n{s}"
    );
    assert!(s.contains("following"), "{s}");

    // c asks, y cancels; the job view and then the list show CANCELED.
    t.keys(&["c"]);
    t.wait_text(&format!("Cancel job {id}? y/n"));
    t.keys(&["y"]);
    let s = t.wait("CANCELED in the job view", |s| {
        s.lines().take(3).any(|l| l.contains("CANCELED"))
    });
    assert!(!s.contains("never"), "{s}");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    t.keys(&["q"]);
    t.wait("CANCELED in the list", |s| {
        row(s, id).is_some_and(|r| r.contains("CANCELED"))
    });

    // q on the list quits and leaves the terminal to the shell.
    t.keys(&["q"]);
    let s = t.wait_text("EXITED 0");
    assert!(
        !s.contains("microcid"),
        "the UI left its screen behind:\n{s}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_log_leaves_the_screen_intact() {
    let _jobs = RESTARTS.read().await;
    let long = "L".repeat(5000);
    let script = format!(
        "printf 'BEFORE-MARK\\n'\n\
         printf '\\033[10;10Hmoved-text\\n'\n\
         printf '\\033]0;pwned\\007title-text\\n'\n\
         printf '\\033]2;pwned\\033\\\\osc-st-text\\n'\n\
         printf '\\033[2Jcleared-text\\033[H\\033[K\\n'\n\
         printf '\\033[31mred-text\\033[0m\\n'\n\
         printf '{long}END-OF-LONG\\n'\n\
         printf 'bad \\377\\376 utf8-text\\n'\n\
         printf '\\033[?1049h\\033[?25l\\033c\\033[5A\\rcr-text\\n'\n\
         printf 'AFTER-MARK\\n'\n"
    );
    let repo = Repo::with_script(&script, None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-tui-hostile");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");

    let t = Tmux::tui(&d);
    t.wait(&format!("job {id} in the list"), |s| row(s, id).is_some());
    t.keys(&["Enter"]);
    let s = t.wait_text("AFTER-MARK");

    // Everything in order, where the log pane puts it.
    let order = [
        "BEFORE-MARK",
        "moved-text",
        "title-text",
        "osc-st-text",
        "cleared-text",
        "red-text",
        "utf8-text",
        "cr-text",
        "AFTER-MARK",
    ];
    let mut at = 0;
    for word in order {
        let pos = s[at..]
            .find(word)
            .unwrap_or_else(|| panic!("{word} missing or out of order:\n{s}"));
        at += pos + word.len();
    }
    assert!(!s.contains("pwned"), "{s}");
    assert!(!s.contains("END-OF-LONG"), "a long line was not cut:\n{s}");
    assert!(s.contains("bad \u{fffd}\u{fffd} utf8-text"), "{s}");
    // The header is still on top, the status bar at the bottom, and no line is over 120 cols.
    assert!(
        s.lines()
            .next()
            .unwrap_or("")
            .contains(&format!("job {id}")),
        "{s}"
    );
    assert!(status_bar(&s).contains("microcid"), "{s}");
    assert!(status_bar(&s).contains("? help"), "{s}");
    assert_eq!(s.lines().count(), 40, "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 120), "{s}");
    let long_row = s
        .lines()
        .find(|l| l.starts_with("LLLL"))
        .unwrap_or_else(|| panic!("no long line:\n{s}"));
    assert_eq!(long_row.trim_end().chars().count(), 120, "{s}");
    assert_ne!(t.display("#{pane_title}"), "pwned");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "still on the UI's screen"
    );
    // Back to the list: it is drawn whole again.
    t.keys(&["q"]);
    let s = t.wait(&format!("job {id} SUCCEED in the list"), |s| {
        row(s, id).is_some_and(|r| r.contains("SUCCEED"))
    });
    assert!(
        s.lines().next().unwrap_or("").contains("microci jobs"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_restart_shows_disconnected_then_reconnects() {
    let _restarts = RESTARTS.write().await;
    let repo = Repo::with_script("echo done\n", None);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let first = push(&d, &repo, "d-tui-r1");
    wait_final(&d.socket, first).await;
    let t = Tmux::tui(&d);
    t.wait(&format!("job {first} in the list"), |s| {
        row(s, first).is_some_and(|r| r.contains("SUCCEED"))
    });

    d.stop();
    let s = t.wait("disconnected in the status bar", |s| {
        status_bar(s).contains("disconnected")
    });
    // What it showed is kept.
    assert!(row(&s, first).is_some(), "{s}");

    d.spawn();
    let s = t.wait("reconnected", |s| {
        let bar = status_bar(s);
        bar.contains("microcid") && !bar.contains("disconnected") && bar.contains("running")
    });
    assert!(row(&s, first).is_some(), "{s}");
    // Live again: a new push appears without a key press.
    let second = push(&d, &repo, "d-tui-r2");
    t.wait(&format!("job {second} in the list"), |s| {
        row(s, second).is_some()
    });

    // A crash (no clean shutdown, stale socket) is survived the same way.
    d.crash();
    t.wait("disconnected after a crash", |s| {
        status_bar(s).contains("disconnected")
    });
    d.spawn();
    t.wait_for(
        "reconnected after a crash",
        std::time::Duration::from_secs(40),
        |s| {
            let bar = status_bar(s);
            bar.contains("microcid") && !bar.contains("disconnected")
        },
    );
}

/// Processes whose command line contains `needle`, as (pid, argv).
fn processes_with(needle: &str) -> Vec<(u32, Vec<String>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if argv.iter().any(|a| a.contains(needle)) {
            found.push((pid, argv));
        }
    }
    found
}

/// ssh processes forwarding a local socket to `remote`.
fn tunnels(remote: &str) -> Vec<(u32, Vec<String>)> {
    processes_with(&format!(":{remote}"))
        .into_iter()
        .filter(|(_, argv)| {
            argv.first().is_some_and(|a| a.ends_with("ssh"))
                && argv.iter().any(|a| a.ends_with(&format!(":{remote}")))
        })
        .collect()
}

/// `MICROCI_SSH_COMMAND` for the test sshd: its port, its key, no host-key bookkeeping.
fn ssh_command(sshd: &microci_testkit::git_servers::Sshd) -> String {
    format!(
        "ssh -p {} -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes",
        sshd.port,
        sshd.deploy_key().display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_forward_lists_jobs_and_runs_the_ui_and_cleans_up() {
    let _restarts = RESTARTS.write().await;
    let repo = Repo::with_script("echo over ssh\n", None);
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let sshd = microci_testkit::git_servers::Sshd::start(d.path());
    let id = push(&d, &repo, "d-tui-ssh");
    wait_final(&d.socket, id).await;
    let target = format!("{}@127.0.0.1", sshd.user);
    let remote = d.socket.display().to_string();
    let ssh = ssh_command(&sshd);

    // A scripting verb through the forward.
    let out = std::process::Command::new(d.tui_bin())
        .args(["--ssh", &target, "--remote-socket", &remote, "jobs"])
        .env("MICROCI_SSH_COMMAND", &ssh)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run microci-tui");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nsshd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        sshd.log()
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("alice/app") && l.contains("SUCCEED")),
        "{stdout}"
    );
    assert!(tunnels(&remote).is_empty(), "ssh left running");

    // The interactive UI through the forward.
    let bin = d.tui_bin();
    let t = Tmux::start(
        &format!("{} --ssh {target} --remote-socket {remote}", bin.display()),
        &[("MICROCI_SSH_COMMAND", &ssh)],
    );
    let s = t.wait(&format!("job {id} over ssh"), |s| {
        row(s, id).is_some_and(|r| r.contains("SUCCEED"))
    });
    assert!(status_bar(&s).contains("microcid"), "{s}");
    let open = tunnels(&remote);
    assert_eq!(open.len(), 1, "one ssh forward: {open:?}");
    let local = open[0]
        .1
        .iter()
        .find_map(|a| a.strip_suffix(&format!(":{remote}")))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no -L argument: {open:?}"));
    assert!(local.exists(), "{}", local.display());

    // A daemon restart behind the forward: ssh's complaints must not reach the screen.
    d.stop();
    t.wait("disconnected over ssh", |s| {
        status_bar(s).contains("disconnected")
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.spawn();
    let s = t.wait_for(
        "reconnected over ssh",
        std::time::Duration::from_secs(40),
        |s| {
            let bar = status_bar(s);
            bar.contains("running") && !bar.contains("disconnected")
        },
    );
    assert!(!s.contains("channel"), "ssh wrote into the UI:\n{s}");
    assert!(!s.contains("open failed"), "ssh wrote into the UI:\n{s}");
    assert!(row(&s, id).is_some(), "{s}");

    // ssh itself dies (a network hiccup): the UI starts a new forward and reconnects.
    let ssh_pid = tunnels(&remote)[0].0;
    let _ = std::process::Command::new("kill")
        .arg(ssh_pid.to_string())
        .status();
    t.wait("disconnected after ssh died", |s| {
        status_bar(s).contains("disconnected")
    });
    let s = t.wait_for(
        "reconnected through a new forward",
        std::time::Duration::from_secs(40),
        |s| {
            let bar = status_bar(s);
            bar.contains("running") && !bar.contains("disconnected")
        },
    );
    assert!(row(&s, id).is_some(), "{s}");
    let open = tunnels(&remote);
    assert_eq!(open.len(), 1, "one new ssh forward: {open:?}");
    assert_ne!(open[0].0, ssh_pid);
    let local = open[0]
        .1
        .iter()
        .find_map(|a| a.strip_suffix(&format!(":{remote}")))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("no -L argument: {open:?}"));

    // q quits; ssh and the local socket are gone.
    t.keys(&["q"]);
    t.wait_text("EXITED 0");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !tunnels(&remote).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh still running after quit: {:?}",
            tunnels(&remote)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!local.exists(), "{} left behind", local.display());
    assert!(
        !local.parent().is_some_and(|p| p.exists()),
        "{} left behind",
        local.display()
    );
}

/// Seconds since boot from `/proc/uptime` (the same clock inside a container: not namespaced).
fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|u| u.parse().ok()))
        .unwrap_or(0.0)
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// Numbers for docs/benchmarks-tui.md, not a pass/fail test:
/// `cargo test -p microcid --test e2e tui::numbers -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run by hand"]
async fn numbers_log_latency_over_ssh_and_idle_cpu() {
    let _restarts = RESTARTS.write().await;
    let repo = Repo::with_script(
        "i=0; while [ $i -lt 60 ]; do read up idle < /proc/uptime; echo \"LAT$i $up\"; i=$((i+1)); sleep 0.25; done\nsleep 40\n",
        None,
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let sshd = microci_testkit::git_servers::Sshd::start(d.path());
    let remote = d.socket.display().to_string();
    let bin = d.tui_bin();
    let t = Tmux::start(
        &format!(
            "{} --ssh {}@127.0.0.1 --remote-socket {remote}",
            bin.display(),
            sshd.user
        ),
        &[("MICROCI_SSH_COMMAND", &ssh_command(&sshd))],
    );
    t.wait_text("no jobs yet");
    let id = push(&d, &repo, "d-numbers");
    t.wait(&format!("job {id}"), |s| row(s, id).is_some());
    t.keys(&["Enter"]);
    // Poll the pane as fast as tmux answers; a line's latency is the host clock when it first
    // shows minus the container clock when it was written.
    let mut seen = std::collections::HashSet::new();
    let mut lat = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < 60 && std::time::Instant::now() < deadline {
        let s = t.screen();
        let now = uptime();
        for l in s.lines() {
            let mut w = l.split_whitespace();
            if let (Some(tag), Some(at)) = (w.next(), w.next())
                && let Some(n) = tag.strip_prefix("LAT")
                && let (Ok(n), Ok(at)) = (n.parse::<u32>(), at.parse::<f64>())
                && seen.insert(n)
                && n > 0
            {
                lat.push(now - at);
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let poll = {
        let t0 = std::time::Instant::now();
        for _ in 0..20 {
            t.screen();
        }
        t0.elapsed().as_secs_f64() / 20.0
    };
    println!(
        "log line container -> screen over ssh: n={} median {:.0} ms, p90 {:.0} ms, max {:.0} ms \
         (clock resolution 10 ms; one capture-pane takes {:.1} ms)",
        lat.len(),
        lat[lat.len() / 2] * 1e3,
        lat[lat.len() * 9 / 10] * 1e3,
        lat[lat.len() - 1] * 1e3,
        poll * 1e3
    );
    // Idle: the job is in its silent `sleep 40`, the UI shows its log.
    wait_for(&d.socket, id, 60, |j| j.log_size > 0).await;
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = processes_with(&bin.display().to_string())
        .into_iter()
        .find(|(_, argv)| argv.first().is_some_and(|a| a.ends_with("microci-tui")))
        .map(|(p, _)| p)
        .expect("microci-tui pid");
    let ticks = |p| cpu_ticks(p);
    let (a, ssh_pid) = (ticks(pid), tunnels(&remote)[0].0);
    let sa = ticks(ssh_pid);
    std::thread::sleep(std::time::Duration::from_secs(10));
    let (b, sb) = (ticks(pid), ticks(ssh_pid));
    println!(
        "idle 10 s with a running silent job: microci-tui {} ticks ({} ms CPU), ssh {} ticks (ticks are 10 ms)",
        b - a,
        (b - a) * 10,
        sb - sa
    );
    let job = microci_testkit::control::Client::connect(&d.socket)
        .await
        .job(id)
        .await;
    assert_eq!(
        job.status,
        JobStatus::Started,
        "the job was not running throughout"
    );
}

/// SIGTERM ends the UI and gives the terminal back (main screen, cursor shown); a resize to
/// 80×24 reflows the list instead of breaking it.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_restores_the_terminal_and_resizing_reflows() {
    let repo = microci_testkit::repo::Repo::with_script("echo hi\n", None);
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "d-1");
    let t = Tmux::tui(&d);
    t.wait(&format!("job {id} listed"), |s| row(s, id).is_some());
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the UI draws on the alternate screen"
    );
    t.resize(80, 24);
    assert_eq!(t.display("#{window_width}x#{window_height}"), "80x24");
    let s = t.wait("reflowed to 80 columns", |s| {
        row(s, id).is_some() && s.lines().all(|l| l.chars().count() <= 80)
    });
    assert!(status_bar(&s).contains("microcid"), "{s}");
    let ui = processes_with("microci-tui")
        .into_iter()
        .find(|(_, argv)| argv.iter().any(|a| a == &d.socket.display().to_string()))
        .map(|(pid, _)| pid)
        .expect("microci-tui process");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(ui.to_string())
        .status();
    t.wait_text("EXITED");
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left on after SIGTERM"
    );
    assert_eq!(
        t.display("#{cursor_flag}"),
        "1",
        "cursor left hidden after SIGTERM"
    );
}
