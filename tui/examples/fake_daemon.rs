//! A stand-in for `microcid`'s control socket, for trying the UI and the verbs by hand before
//! the real daemon exists: `cargo run -p microci-tui --example fake_daemon -- /tmp/mci.sock`.
//! It holds 250 made-up jobs (job 250 runs and prints a line every 200 ms, with colours and a
//! few hostile escape sequences), and answers every request kind of the protocol.

use futures_util::{SinkExt, StreamExt};
use microci_proto::{
    DaemonStatus, ErrorCode, Event, Job, JobStatus, LogChunk, PROTOCOL_VERSION, Reply, RepoInfo,
    Request, ServerCodec, ServerMessage,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixListener;
use tokio_util::codec::Framed;

struct State {
    jobs: Vec<Job>,
    log: String,
}

fn job(id: i64) -> Job {
    let status = match id % 7 {
        0 => JobStatus::Failed,
        1 => JobStatus::Errored,
        2 => JobStatus::Canceled,
        _ => JobStatus::Succeed,
    };
    Job {
        id,
        repo: if id % 3 == 0 { "bob/lib" } else { "alice/app" }.into(),
        git_ref: "refs/heads/main".into(),
        commit: format!("{id:040x}"),
        message: format!("Commit number {id}: make things better\n\nbody"),
        author: "alice".into(),
        status,
        reason: (status != JobStatus::Succeed).then(|| "exit code 1".into()),
        exit_code: Some(if status == JobStatus::Succeed { 0 } else { 1 }),
        created_at: "2026-01-01T12:00:00Z".into(),
        started_at: Some("2026-01-01T12:00:01Z".into()),
        finished_at: Some("2026-01-01T12:01:30Z".into()),
        trigger: "webhook".into(),
        log_size: 0,
        log_dropped: 0,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/mci.sock".into());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let mut jobs: Vec<Job> = (1..=250).rev().map(job).collect();
    jobs[0].status = JobStatus::Started;
    jobs[0].finished_at = None;
    jobs[0].reason = None;
    jobs[0].exit_code = None;
    let state = Arc::new(Mutex::new(State {
        jobs,
        log: String::new(),
    }));
    let writer = state.clone();
    tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut s = writer.lock().expect("lock");
            let line = match i % 5 {
                0 => format!("\x1b[32mok\x1b[0m step {i}\n"),
                1 => format!("\x1b]0;pwned\x07title attack {i}\n"),
                2 => format!("\x1b[2J\x1b[H clear attack {i}\n"),
                3 => format!("progress 50%\rprogress 100% {i}\n"),
                _ => format!("plain line {i} {}\n", "x".repeat(i % 200)),
            };
            s.log.push_str(&line);
            s.jobs[0].log_size = s.log.len() as u64;
        }
    });
    eprintln!("fake daemon on {path}");
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let mut conn = Framed::new(stream, ServerCodec::default());
            let hello = ServerMessage::Hello {
                protocol: PROTOCOL_VERSION,
                server_version: "0.0.0-fake".into(),
            };
            if conn.send(hello).await.is_err() {
                return;
            }
            let (mut tx, mut rx) = conn.split();
            let (out, mut outq) = tokio::sync::mpsc::unbounded_channel::<ServerMessage>();
            tokio::spawn(async move {
                while let Some(m) = outq.recv().await {
                    if tx.send(m).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = rx.next().await {
                let id = msg.id;
                let ok = |reply| ServerMessage::Ok { id, reply };
                let reply = match msg.request {
                    Request::Status => ok(Reply::Status(DaemonStatus {
                        version: "0.0.0-fake".into(),
                        uptime_secs: 4000,
                        running: 1,
                        queued: 0,
                        max_jobs: 2,
                        docker_reachable: true,
                        docker_error: None,
                        warnings: Vec::new(),
                    })),
                    Request::ListJobs(q) => {
                        let s = state.lock().expect("lock");
                        let jobs = s
                            .jobs
                            .iter()
                            .filter(|j| q.before.is_none_or(|b| j.id < b))
                            .filter(|j| q.status.is_none_or(|st| j.status == st))
                            .filter(|j| q.repo.as_ref().is_none_or(|r| *r == j.repo))
                            .filter(|j| {
                                q.search
                                    .as_ref()
                                    .is_none_or(|t| j.message.contains(t.as_str()))
                            })
                            .take(q.limit.min(1000) as usize)
                            .cloned()
                            .collect();
                        ok(Reply::Jobs { jobs })
                    }
                    Request::GetJob { job } | Request::Cancel { job } => {
                        let s = state.lock().expect("lock");
                        match s.jobs.iter().find(|j| j.id == job) {
                            Some(j) => ok(Reply::Job { job: j.clone() }),
                            None => ServerMessage::Error {
                                id,
                                code: ErrorCode::NotFound,
                                message: format!("no job {job}"),
                            },
                        }
                    }
                    Request::ReadLog { job, offset, max } => {
                        let s = state.lock().expect("lock");
                        let data = if job == 250 {
                            let start = (offset as usize).min(s.log.len());
                            let end = (start + max.min(256 * 1024) as usize).min(s.log.len());
                            s.log[start..end].to_string()
                        } else {
                            String::new()
                        };
                        ok(Reply::Log(LogChunk {
                            id: job,
                            offset,
                            next_offset: offset + data.len() as u64,
                            data,
                        }))
                    }
                    Request::FollowLog { job, offset } => {
                        out.send(ok(Reply::Subscribed)).ok();
                        let state = state.clone();
                        let out = out.clone();
                        tokio::spawn(async move {
                            let mut at = offset as usize;
                            loop {
                                let (data, done, j) = {
                                    let s = state.lock().expect("lock");
                                    let j = s.jobs.iter().find(|j| j.id == job).cloned();
                                    let log = if job == 250 { s.log.as_str() } else { "" };
                                    let start = at.min(log.len());
                                    (log[start..].to_string(), job != 250, j)
                                };
                                if !data.is_empty() {
                                    let c = LogChunk {
                                        id: job,
                                        offset: at as u64,
                                        next_offset: (at + data.len()) as u64,
                                        data,
                                    };
                                    at = c.next_offset as usize;
                                    let ev = ServerMessage::Event {
                                        id,
                                        event: Event::Log(c),
                                    };
                                    if out.send(ev).is_err() {
                                        return;
                                    }
                                }
                                if done {
                                    if let Some(job) = j {
                                        out.send(ServerMessage::Event {
                                            id,
                                            event: Event::Job { job },
                                        })
                                        .ok();
                                    }
                                    out.send(ServerMessage::Event {
                                        id,
                                        event: Event::End,
                                    })
                                    .ok();
                                    return;
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        });
                        continue;
                    }
                    Request::WatchJobs => ok(Reply::Subscribed),
                    Request::Retry { .. } | Request::Run { .. } => ok(Reply::Created { job: 251 }),
                    Request::Unsubscribe { .. } => ok(Reply::Done),
                    Request::ListRepos => ok(Reply::Repos {
                        repos: ["alice/app", "bob/lib"]
                            .map(|n| RepoInfo {
                                name: n.into(),
                                default_branch: "main".into(),
                                clone_url: format!("https://forge.example/{n}.git"),
                            })
                            .to_vec(),
                    }),
                };
                if out.send(reply).is_err() {
                    return;
                }
            }
        });
    }
}
