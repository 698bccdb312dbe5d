//! The verbs against a fake daemon on a real socket.

use super::*;
use crate::format::tests::job;
use crate::testing::{FakeDaemon, ServerConn, short_dir};
use futures_util::{SinkExt, StreamExt};
use microci_proto::{Event, JobStatus, LogChunk, Reply, Request, ServerMessage};

/// A log of "line N\n" x 3, served in 8-byte reads; job 1 SUCCEED, job 2 FAILED.
async fn serve(mut conn: ServerConn) {
    let log = "line 1\nline 2\nline 3\n";
    let chunk = |offset: u64, max: usize| {
        let start = (offset as usize).min(log.len());
        let end = (start + max).min(log.len());
        LogChunk {
            id: 1,
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
        j
    };
    while let Some(Ok(msg)) = conn.next().await {
        let id = msg.id;
        let reply = match msg.request {
            Request::ReadLog { offset, .. } => Reply::Log(chunk(offset, 8)),
            Request::GetJob { job } => Reply::Job { job: job_of(job) },
            Request::FollowLog { job, offset } => {
                conn.send(ServerMessage::Ok {
                    id,
                    reply: Reply::Subscribed,
                })
                .await
                .ok();
                // A repeated chunk first (must be skipped), then the rest in two pieces.
                let mut evs = vec![Event::Log(chunk(offset, 7))];
                if offset == 0 {
                    evs.push(Event::Log(chunk(0, 7)));
                }
                evs.push(Event::Log(chunk(offset + 7, 100)));
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
    let o = logs(&mut conn, 1, false, &mut out, &mut err).await.unwrap();
    assert_eq!(o, Outcome::Success);
    assert_eq!(String::from_utf8(out).unwrap(), "line 1\nline 2\nline 3\n");
    assert!(err.is_empty());

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 2, false, &mut out, &mut err).await.unwrap();
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
    let o = logs(&mut conn, 1, true, &mut out, &mut err).await.unwrap();
    assert_eq!(o, Outcome::Success);
    assert_eq!(String::from_utf8(out).unwrap(), "line 1\nline 2\nline 3\n");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let o = logs(&mut conn, 2, true, &mut out, &mut err).await.unwrap();
    assert_eq!(o, Outcome::JobNotSucceeded);
    assert!(String::from_utf8(err).unwrap().contains("FAILED"));
}

#[tokio::test]
async fn jobs_json_is_one_array_and_run_prints_id() {
    let dir = short_dir();
    let d = FakeDaemon::start(&dir, 1, serve);
    let mut conn = Connection::connect(&d.path).await.unwrap();
    let mut out = Vec::new();
    jobs(&mut conn, None, None, 2, true, &mut out)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], 3);
    assert_eq!(arr[0]["ref"], "refs/heads/main");
    assert_eq!(arr[0]["status"], "FAILED");
    let mut out = Vec::new();
    run(&mut conn, "alice/app".into(), None, &mut out)
        .await
        .unwrap();
    assert_eq!(out, b"42\n");
}
