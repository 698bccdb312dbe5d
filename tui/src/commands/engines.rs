//! `engines [--json]`, `drain NAME` and `undrain NAME`: the Docker (or Podman) Engines of the
//! daemon's pool with their health and load, and taking one out of placement and back.
//! The daemon answers all three with every engine after the change (`Reply::Engines`).

use super::{CommandError, Outcome, unexpected, write_json};
use crate::client::{ClientError, Connection};
use crate::format;
use crate::sanitize::one_line;
use microci_proto::{EngineInfo, ErrorCode, Reply, Request};
use std::io::Write;
use time::OffsetDateTime;

/// Prints the engines, one line each, then why each one that is down is (or a JSON array).
pub async fn engines(
    conn: &mut Connection,
    json: bool,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let engines = list(conn, Request::ListEngines).await?;
    if json {
        write_json(out, &engines)?;
    } else {
        let now = OffsetDateTime::now_utc();
        out.write_all(table(&engines, now).as_bytes())?;
    }
    Ok(Outcome::Success)
}

/// Drains engine `name` (no new jobs; running ones finish) and prints its state after.
pub async fn drain(
    conn: &mut Connection,
    name: String,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let request = Request::Drain {
        engine: name.clone(),
    };
    change(conn, request, &name, out).await
}

/// Undrains engine `name` (it takes new jobs again) and prints its state after.
pub async fn undrain(
    conn: &mut Connection,
    name: String,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let request = Request::Undrain {
        engine: name.clone(),
    };
    change(conn, request, &name, out).await
}

/// Sends a drain or undrain; an unknown name fails with the daemon's sentence and the names
/// there are, so the person can retype it.
async fn change(
    conn: &mut Connection,
    request: Request,
    name: &str,
    out: &mut impl Write,
) -> Result<Outcome, CommandError> {
    let engines = match list(conn, request).await {
        Ok(engines) => engines,
        Err(CommandError::Client(ClientError::Daemon {
            code: ErrorCode::NotFound,
            message,
        })) => {
            let known = match list(conn, Request::ListEngines).await {
                Ok(all) if !all.is_empty() => {
                    let names: Vec<String> = all.iter().map(|e| one_line(&e.name)).collect();
                    format!(" (the engines are: {})", names.join(", "))
                }
                _ => String::new(),
            };
            return Err(CommandError::Failed(format!(
                "{}{known}",
                one_line(&message)
            )));
        }
        Err(e) => return Err(e),
    };
    let Some(engine) = engines.iter().find(|e| e.name == name) else {
        return Err(CommandError::Failed(format!(
            "the daemon's answer has no engine {}",
            one_line(name)
        )));
    };
    writeln!(out, "{}", change_text(engine))?;
    Ok(Outcome::Success)
}

/// Asks `request` and expects the engine list back.
async fn list(conn: &mut Connection, request: Request) -> Result<Vec<EngineInfo>, CommandError> {
    match conn.request(request).await? {
        Reply::Engines { engines } => Ok(engines),
        other => Err(unexpected(other)),
    }
}

/// One sentence on an engine after `drain` or `undrain`: what it does with jobs now.
pub fn change_text(e: &EngineInfo) -> String {
    let name = one_line(&e.name);
    let running = match e.running {
        0 => "no job running".to_string(),
        1 => "1 job running".to_string(),
        n => format!("{n} jobs running"),
    };
    let down = if e.healthy { "" } else { " (and DOWN)" };
    if e.drained {
        let finish = if e.running > 0 { ", to finish" } else { "" };
        format!("engine {name} drained{down}: takes no new jobs; {running}{finish}")
    } else {
        format!("engine {name} undrained{down}: takes new jobs; {running}")
    }
}

/// `up`, or `DOWN 5m` (how long it has not answered, when known).
fn health(e: &EngineInfo, now: OffsetDateTime) -> String {
    if e.healthy {
        return "up".into();
    }
    match e.down_since.as_deref().and_then(format::parse_ts) {
        Some(t) => format!("DOWN {}", format::human_duration((now - t).whole_seconds())),
        None => "DOWN".into(),
    }
}

/// A table for people: name, health, drained, running/max_jobs, labels, workspace, version and
/// host; then, for each engine that is down, since when and why.
pub fn table(engines: &[EngineInfo], now: OffsetDateTime) -> String {
    if engines.is_empty() {
        return "no engines\n".into();
    }
    let header = [
        "NAME",
        "HEALTH",
        "DRAINED",
        "JOBS",
        "LABELS",
        "WORKSPACE",
        "VERSION",
        "HOST",
    ];
    let rows: Vec<[String; 8]> = engines
        .iter()
        .map(|e| {
            let labels: Vec<String> = e.labels.iter().map(|l| one_line(l)).collect();
            [
                one_line(&e.name),
                health(e, now),
                if e.drained { "yes" } else { "-" }.into(),
                format!("{}/{}", e.running, e.max_jobs),
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels.join(",")
                },
                one_line(&e.workspace),
                e.version
                    .as_deref()
                    .map(one_line)
                    .unwrap_or_else(|| "-".into()),
                one_line(&e.host),
            ]
        })
        .collect();
    let mut widths = header.map(format::width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(format::width(cell));
        }
    }
    let line = |cells: &[String]| {
        let last = cells.len() - 1;
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format::pad(cell, w));
                s.push_str("  ");
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push_str(&line(row));
    }
    for e in engines.iter().filter(|e| !e.healthy) {
        let since = match &e.down_since {
            Some(t) => format!(" since {} ({})", one_line(t), format::age(t, now)),
            None => String::new(),
        };
        let why = match &e.error {
            Some(err) => format!(": {}", one_line(err)),
            None => String::new(),
        };
        out.push_str(&format!("engine {} DOWN{since}{why}\n", one_line(&e.name)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that is up, idle, not drained, with no labels.
    pub(crate) fn engine(name: &str) -> EngineInfo {
        EngineInfo {
            name: name.into(),
            host: "default".into(),
            healthy: true,
            error: None,
            down_since: None,
            drained: false,
            running: 0,
            max_jobs: 4,
            labels: Vec::new(),
            workspace: "bind".into(),
            version: Some("Docker 28.2.2".into()),
        }
    }

    #[test]
    fn the_table_says_which_engine_is_down_since_when_and_why() {
        let now = format::parse_ts("2026-12-02T10:05:00Z").unwrap();
        let mut arm = engine("arm");
        arm.host = "tcp://10.0.0.2:2376".into();
        arm.labels = vec!["arm64".into(), "big".into()];
        arm.workspace = "copy".into();
        arm.drained = true;
        arm.running = 1;
        arm.max_jobs = 2;
        let mut b = engine("b\x1b[2J");
        b.host = "ssh://ci@b".into();
        b.healthy = false;
        b.version = None;
        b.down_since = Some("2026-12-02T10:00:00Z".into());
        b.error = Some("connection refused\x1b]0;t\x07".into());
        let text = table(&[engine("local"), arm, b], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME   HEALTH      DRAINED  JOBS  LABELS     WORKSPACE  VERSION        HOST",
                "local  up          -        0/4   -          bind       Docker 28.2.2  default",
                "arm    up          yes      1/2   arm64,big  copy       Docker 28.2.2  tcp://10.0.0.2:2376",
                "b      DOWN 5m00s  -        0/4   -          bind       -              ssh://ci@b",
                "engine b DOWN since 2026-12-02T10:00:00Z (5m ago): connection refused",
            ],
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(table(&[], now), "no engines\n");
    }

    #[test]
    fn drain_and_undrain_say_what_happens_to_jobs() {
        let mut e = engine("b");
        e.drained = true;
        e.running = 2;
        assert_eq!(
            change_text(&e),
            "engine b drained: takes no new jobs; 2 jobs running, to finish"
        );
        e.running = 0;
        e.healthy = false;
        assert_eq!(
            change_text(&e),
            "engine b drained (and DOWN): takes no new jobs; no job running"
        );
        e.drained = false;
        e.healthy = true;
        e.running = 1;
        assert_eq!(
            change_text(&e),
            "engine b undrained: takes new jobs; 1 job running"
        );
    }
}
