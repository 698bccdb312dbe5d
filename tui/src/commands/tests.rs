//! The verbs against a fake daemon on a real socket.

use super::*;
use futures_util::{SinkExt, StreamExt};
use microci_proto::{DaemonStatus, Event, JobStatus, LogChunk, Reply, Request, ServerMessage};
use microci_testkit::fixtures::job;
use microci_testkit::peer::{FakeDaemon, ServerConn, short_dir};

/// What a hostile job (job 5) prints: a clipboard write, a title, a screen clear, a cursor move,
/// colour, a bidi override, a lone CR. Served in 8-byte reads, so sequences are split.
const HOSTILE_LOG: &str = "ok \x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x1b\\\x1b[2J\x1b[H\
                           \x1b[31mred\x1b[0m \u{202E}txt\rover\n\u{9d}2;t\u{9c}end\n";

/// The hostile log as `logs` writes it on a terminal.
const HOSTILE_CLEAN: &str = "ok \x1b[0;31mred\x1b[0m <U+202E>txt\nover\nend\n";

/// A terminal, a pipe.
const TTY: Terminal = Terminal {
    stdout: true,
    no_color: false,
};
const PIPE: Terminal = Terminal {
    stdout: false,
    no_color: false,
};

/// A log of "line N\n" x 3 (job 5: [`HOSTILE_LOG`]), served in 8-byte reads; job 1 SUCCEED,
/// the others FAILED; job 3 has hostile fields.
async fn serve(mut conn: ServerConn) {
    let chunk = |job: i64, offset: u64, max: usize| {
        let log = if job == 5 {
            HOSTILE_LOG
        } else {
            "line 1\nline 2\nline 3\n"
        };
        let start = (offset as usize).min(log.len());
        let mut end = (start + max).min(log.len());
        // `data` is a String: cut on a character boundary, never before `start`'s character.
        while !log.is_char_boundary(end) {
            end += 1;
        }
        LogChunk {
            id: job,
            offset,
            next_offset: end as u64,
            data: log[start..end].to_string(),
        }
    };
    let job_of = |id: i64| {
        let mut j = job(
            id,
            if id == 1 {
                JobStatus::Succeed
            } else {
                JobStatus::Failed
            },
        );
        if id != 1 {
            j.reason = Some("exit code 2".into());
        }
        if id == 5 {
            j.reason = Some("boom\x1b]0;t\x07\u{202E}".into());
        }
        if id == 3 {
            j.author = "mallory\x1b]52;c;cm0=\x07".into();
            j.message = "fix\x1b[2J\u{202E}gnp.exe".into();
            j.log_dropped = 99;
            j.engine = Some("b".into());
        }
        j
    };
    // Engine `b` is drained until undrained; `local` is up, `b` down.
    let mut b_drained = false;
    while let Some(Ok(msg)) = conn.next().await {
        let id = msg.id;
        let reply = match msg.request {
            Request::ListEngines => Reply::Engines {
                engines: pool(b_drained),
            },
            Request::Drain { engine } | Request::Undrain { engine } if engine != "b" => {
                let message = format!("no engine {engine}");
                let code = microci_proto::ErrorCode::NotFound;
                conn.send(ServerMessage::Error { id, code, message })
                    .await
                    .ok();
                continue;
            }
            Request::Drain { .. } => {
                b_drained = true;
                Reply::Engines {
                    engines: pool(b_drained),
                }
            }
            Request::Undrain { .. } => {
                b_drained = false;
                Reply::Engines {
                    engines: pool(b_drained),
                }
            }
            Request::ReadLog { job, offset, .. } => Reply::Log(chunk(job, offset, 8)),
            Request::GetJob { job } => Reply::Job { job: job_of(job) },
            Request::FollowLog { job, offset } => {
                conn.send(ServerMessage::Ok {
                    id,
                    reply: Reply::Subscribed,
                })
                .await
                .ok();
                // A repeated chunk first (must be skipped), then the rest in two pieces.
                let first = chunk(job, offset, 7);
                let mut evs = vec![Event::Log(first.clone())];
                if offset == 0 {
                    evs.push(Event::Log(chunk(job, 0, 7)));
                }
                evs.push(Event::Log(chunk(job, first.next_offset, 200)));
                evs.push(Event::Job { job: job_of(job) });
                evs.push(Event::End);
                for event in evs {
                    conn.send(ServerMessage::Event { id, event }).await.ok();
                }
                continue;
            }
            Request::ListJobs(q) => Reply::Jobs {
                jobs: (1..=3).rev().take(q.limit as usize).map(job_of).collect(),
            },
            Request::Run { .. } => Reply::Created { job: 42 },
            // Job 1 kept one 768,000-byte file; job 2 claims a hash its bytes do not have.
            Request::ListArtifacts { job } => Reply::Artifacts {
                job,
                artifacts: vec![microci_proto::Artifact {
                    name: "out/data.bin".into(),
                    size: blob().len() as u64,
                    sha256: if job == 1 {
                        blob_sha()
                    } else {
                        "00".repeat(32)
                    },
                }],
            },
            Request::ReadArtifact {
                job,
                name,
                offset,
                max,
            } => {
                let data = blob();
                let start = (offset as usize).min(data.len());
                let end = (start + max as usize).min(data.len());
                Reply::ArtifactChunk(microci_proto::ArtifactChunk::new(
                    job,
                    name,
                    start as u64,
                    data.len() as u64,
                    &data[start..end],
                ))
            }
            Request::Status => Reply::Status(DaemonStatus {
                version: "9.9.9".into(),
                uptime_secs: 61,
                running: 0,
                queued: 0,
                max_jobs: 2,
                docker_reachable: true,
                docker_error: None,
                warnings: vec![
                    "webhook.allow_unsigned: unsigned webhooks are accepted".into(),
                    "evil\x1b]0;t\x07\u{202E}".into(),
                ],
                reload_error: None,
                disk_low: None,
                engines_down: vec!["b".into()],
            }),
            _ => Reply::Subscribed,
        };
        conn.send(ServerMessage::Ok { id, reply }).await.ok();
    }
}

#[tokio::test]
async fn logs_pages_until_empty_and_exits_by_status() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 1, false, false, PIPE, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(o, Outcome::Success);
    assert_eq!(String::from_utf8(out).unwrap(), "line 1\nline 2\nline 3\n");
    assert!(err.is_empty());

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 2, false, false, PIPE, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(o, Outcome::JobNotSucceeded);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "job 2 ended FAILED: exit code 2\n"
    );
}

#[tokio::test]
async fn logs_follow_skips_repeats_and_reports_final_state() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 1, true, false, PIPE, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(o, Outcome::Success);
    assert_eq!(String::from_utf8(out).unwrap(), "line 1\nline 2\nline 3\n");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 2, true, false, PIPE, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(o, Outcome::JobNotSucceeded);
    assert!(String::from_utf8(err).unwrap().contains("FAILED"));
}

#[tokio::test]
async fn jobs_json_is_one_array_and_run_prints_id() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    jobs(&mut conn, None, None, 2, true, false, &mut out)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], 3);
    assert_eq!(arr[0]["ref"], "refs/heads/main");
    assert_eq!(arr[0]["status"], "FAILED");
    let mut out = Vec::new();
    run(&mut conn, "alice/app".into(), None, Vec::new(), &mut out)
        .await
        .unwrap();
    assert_eq!(out, b"42\n");
}

/// `logs` of the hostile job with `raw` and `term`, followed or paged: (stdout, stderr).
async fn hostile_logs(
    conn: &mut Connection,
    follow: bool,
    raw: bool,
    term: Terminal,
) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(conn, 5, follow, raw, term, &mut out, &mut err)
        .await
        .unwrap();
    assert_eq!(o, Outcome::JobNotSucceeded);
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn logs_on_a_terminal_are_inert_even_split_across_chunks() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    for follow in [false, true] {
        let (out, err) = hostile_logs(&mut conn, follow, false, TTY).await;
        assert_eq!(out, HOSTILE_CLEAN, "follow={follow}");
        // The reason on stderr is cleaned whatever stdout is.
        assert_eq!(err, "job 5 ended FAILED: boom<U+202E>\n");
    }
    // NO_COLOR: plain text.
    let no_color = Terminal {
        no_color: true,
        ..TTY
    };
    let (out, _) = hostile_logs(&mut conn, false, false, no_color).await;
    assert_eq!(out, "ok red <U+202E>txt\nover\nend\n");
}

#[tokio::test]
async fn logs_raw_or_into_a_pipe_are_verbatim() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    for (follow, raw, term) in [
        (false, true, TTY),
        (true, true, TTY),
        (false, false, PIPE),
        (true, false, PIPE),
        (false, true, PIPE),
    ] {
        let (out, err) = hostile_logs(&mut conn, follow, raw, term).await;
        assert_eq!(out, HOSTILE_LOG, "follow={follow} raw={raw} {term:?}");
        assert_eq!(err, "job 5 ended FAILED: boom<U+202E>\n");
    }
}

#[tokio::test]
async fn show_and_jobs_clean_fields_unless_raw() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    show(&mut conn, 3, false, false, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\nauthor    mallory\n"), "{text}");
    assert!(text.contains("\nengine    b\n"), "{text}");
    assert!(text.contains("\n    fix<U+202E>gnp.exe\n"), "{text}");
    assert!(
        text.contains("\nlog       truncated at docker.max_log, 99 bytes of output dropped\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "{text:?}");

    let mut out = Vec::new();
    show(&mut conn, 3, false, true, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\nauthor    mallory\x1b]52;c;cm0=\x07\n"),
        "{text:?}"
    );

    let mut out = Vec::new();
    jobs(&mut conn, None, None, 3, false, false, &mut out)
        .await
        .unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("fix<U+202E>gnp.exe"), "{table}");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );

    let mut out = Vec::new();
    jobs(&mut conn, None, None, 3, false, true, &mut out)
        .await
        .unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("fix\x1b[2J\u{202E}gnp.exe"), "{table:?}");

    // JSON escapes control characters itself.
    let mut out = Vec::new();
    show(&mut conn, 3, true, false, &mut out).await.unwrap();
    assert!(!out.contains(&0x1b));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["author"], "mallory\x1b]52;c;cm0=\x07");
}

#[tokio::test]
async fn status_prints_each_warning_cleaned() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    status(&mut conn, false, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with(
            "docker    reachable\nengines   DOWN: b (no new jobs; `microci-tui engines` says why)\n\
             warning: webhook.allow_unsigned: unsigned webhooks are accepted\n\
             warning: evil<U+202E>\n"
        ),
        "{text:?}"
    );
    let mut out = Vec::new();
    status(&mut conn, true, &mut out).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(2));
}

/// The bytes of job 1's artifact: every byte value, 3,000 times (more than one read window).
fn blob() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 3000).collect()
}

fn blob_sha() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(blob()))
}

#[tokio::test]
async fn artifacts_lists_and_downloads_checked_by_hash() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    artifacts(&mut conn, 1, None, None, false, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!("out/data.bin        768000  {}\n", blob_sha())
    );
    let dest = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let o = artifacts(
        &mut conn,
        1,
        Some("out/data.bin".into()),
        Some(dest.path().to_path_buf()),
        false,
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(o, Outcome::Success);
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), blob());
    assert!(String::from_utf8(out).unwrap().contains("768000 bytes"));
    // Bytes that do not match the recorded hash are refused and leave no file behind.
    let other = tempfile::tempdir().unwrap();
    let e = artifacts(
        &mut conn,
        2,
        Some("out/data.bin".into()),
        Some(other.path().to_path_buf()),
        false,
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("the daemon kept 768000 bytes with sha256 0000"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
    let e = artifacts(
        &mut conn,
        1,
        Some("nope".into()),
        None,
        false,
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(e, "job 1 has no artifact \"nope\"");
}

/// The fake daemon's engines: `local` up with one job; `b` down for a while, two jobs, maybe
/// drained.
fn pool(b_drained: bool) -> Vec<microci_proto::EngineInfo> {
    let local = microci_proto::EngineInfo {
        name: "local".into(),
        host: "default".into(),
        healthy: true,
        error: None,
        down_since: None,
        drained: false,
        running: 1,
        max_jobs: 4,
        labels: Vec::new(),
        workspace: "bind".into(),
        version: Some("Docker 28.2.2".into()),
    };
    let b = microci_proto::EngineInfo {
        name: "b".into(),
        host: "ssh://ci@10.213.0.2".into(),
        healthy: false,
        error: Some("ping: connection refused".into()),
        down_since: Some("2026-12-02T10:00:00Z".into()),
        drained: b_drained,
        running: 2,
        max_jobs: 2,
        labels: vec!["arm64".into()],
        workspace: "copy".into(),
        version: Some("Podman 5.4.2".into()),
    };
    vec![local, b]
}

#[tokio::test]
async fn engines_lists_the_pool_and_drain_changes_one() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    engines(&mut conn, false, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("NAME   HEALTH"), "{text}");
    assert!(lines[1].starts_with("local  up "), "{text}");
    assert!(lines[1].contains(" 1/4 ") && lines[1].ends_with("Docker 28.2.2  default"));
    assert!(lines[2].starts_with("b      DOWN "), "{text}");
    assert!(
        lines[2].contains(" arm64 ") && lines[2].ends_with("Podman 5.4.2   ssh://ci@10.213.0.2"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("engine b DOWN since 2026-12-02T10:00:00Z (")
            && lines[3].ends_with("): ping: connection refused"),
        "{text}"
    );

    let mut out = Vec::new();
    drain(&mut conn, "b".into(), &mut out).await.unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "engine b drained (and DOWN): takes no new jobs; 2 jobs running, to finish\n"
    );
    let mut out = Vec::new();
    engines(&mut conn, true, &mut out).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[1]["name"], "b");
    assert_eq!(v[1]["drained"], true);
    assert_eq!(v[1]["down_since"], "2026-12-02T10:00:00Z");
    let mut out = Vec::new();
    undrain(&mut conn, "b".into(), &mut out).await.unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "engine b undrained (and DOWN): takes new jobs; 2 jobs running\n"
    );

    // An unknown name: the daemon's sentence and the names there are; the connection is usable.
    let e = drain(&mut conn, "c".into(), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "no engine c (the engines are: local, b)");
    let e = undrain(&mut conn, "c".into(), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "no engine c (the engines are: local, b)");
}
