//! Probes of a daemon and its Docker Engine from outside: does it serve yet, stop it politely,
//! which containers carry its label.

use crate::ok;
use anyhow::{Context, Result, ensure};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Whether the control socket at `socket` sends its hello within `within`: the daemon serves
/// it, not only the kernel's backlog.
pub fn greets(socket: &Path, within: Duration) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(within));
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return false;
    }
    let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).min(microci_proto::MAX_FRAME)];
    s.read_exact(&mut body).is_ok()
        && matches!(
            serde_json::from_slice(&body),
            Ok(microci_proto::ServerMessage::Hello { .. })
        )
}

/// Whether `GET /healthz` on 127.0.0.1:`port` answers: 200, or 503 naming what fails (a test may
/// start a daemon whose Docker Engine is unreachable on purpose; it serves all the same).
pub fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && (head.ends_with(b"200") || head.ends_with(b"503"))
}

/// SIGTERM, then up to 20 s for a clean exit, then SIGKILL.
pub fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Ids of the containers, running or not, that carry `label` (`KEY=VALUE`).
pub fn try_containers_labelled(label: &str) -> Result<Vec<String>> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .context("docker ps")?;
    ensure!(
        out.status.success(),
        "docker ps: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// [`try_containers_labelled`] for tests.
pub fn containers_labelled(label: &str) -> Vec<String> {
    ok(try_containers_labelled(label))
}

/// Names of the volumes that carry `label` (`KEY=VALUE`): a daemon's job caches.
pub fn try_volumes_labelled(label: &str) -> Result<Vec<String>> {
    let out = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter"])
        .arg(format!("label={label}"))
        .output()
        .context("docker volume ls")?;
    ensure!(
        out.status.success(),
        "docker volume ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}
