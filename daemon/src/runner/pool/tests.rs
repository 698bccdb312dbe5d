//! The pool's own bookkeeping over fake engines: recorded names, room, drain, and the watch a
//! running job keeps on its engine's health.
#![allow(clippy::unwrap_used)]

use super::{Entry, Pool};
use crate::config::{EngineHost, EngineSettings, WorkspaceMode};
use crate::runner::fake::FakeEngine;
use crate::runner::{Engine, JobSpec, Placed, Placement, Room};
use std::time::Duration;

fn pool(engines: &[(&str, usize, &[&str])]) -> Pool {
    let entries = engines
        .iter()
        .map(|(name, max_jobs, labels)| {
            let settings = EngineSettings {
                name: name.to_string(),
                host: EngineHost::Default,
                max_jobs: *max_jobs,
                labels: labels.iter().map(|l| l.to_string()).collect(),
                workspace: WorkspaceMode::Bind,
            };
            Entry::new(settings, FakeEngine::default())
        })
        .collect();
    Pool::new(entries, Duration::from_secs(5), false)
}

fn want(job: i64, runs_on: &[&str]) -> Placement {
    Placement {
        job,
        repo: "a/b".into(),
        image: "fake".into(),
        runs_on: runs_on.iter().map(|l| l.to_string()).collect(),
        cache: false,
    }
}

fn spec(id: i64) -> JobSpec {
    JobSpec {
        id,
        image: "fake".into(),
        argv: vec!["exit:0".into()],
        env: Vec::new(),
        workspace: "/nonexistent".into(),
        secret_env: Vec::new(),
        secret_files: Vec::new(),
        services: Vec::new(),
        mounts: Vec::new(),
    }
}

#[tokio::test]
async fn containers_are_recorded_with_their_engine_and_found_again() {
    let p = pool(&[("a", 2, &[]), ("b", 2, &["x"])]);
    assert_eq!(
        p.place(&want(1, &["x"])).await.unwrap(),
        Placed::Here(Some("b".into()))
    );
    let h = p.prepare(&spec(1)).await.unwrap();
    let id = p.container_id(&h);
    assert_eq!(id, "b/fake-1");
    assert_eq!(p.adopt(1, &id).member, 1);
    // Recorded before pools: the first engine's.
    assert_eq!(p.adopt(1, "fake-1").member, 0);
    let found = p.containers().await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].container, "b/fake-1");
    assert!(p.reachable("b/fake-1"));
    // A container of an engine no longer configured is not out of sight but gone: a restarted
    // daemon ends its job as lost rather than waiting for it.
    assert!(p.reachable("gone/fake-1"));
}

#[tokio::test]
async fn room_counts_usable_engines_and_a_drained_one_takes_nothing_new() {
    let p = pool(&[("a", 2, &[]), ("b", 1, &[])]);
    assert_eq!(
        p.room(),
        Some(Room {
            free: 3,
            settled: 0
        })
    );
    for job in 1..=3 {
        assert!(matches!(
            p.place(&want(job, &[])).await.unwrap(),
            Placed::Here(_)
        ));
    }
    assert_eq!(
        p.room(),
        Some(Room {
            free: 0,
            settled: 3
        })
    );
    assert!(matches!(
        p.place(&want(4, &[])).await.unwrap(),
        Placed::Wait(_)
    ));
    p.release(2);
    p.release(2);
    // Job 4, told to wait, counts as settled: it does not take the room others could use.
    assert_eq!(
        p.room(),
        Some(Room {
            free: 1,
            settled: 3
        })
    );
    let on = |job| p.inner.state().placed.get(&job).copied();
    let freed = if on(1) == Some(0) && on(3) == Some(0) {
        1
    } else {
        0
    };
    let name = ["a", "b"][freed];
    assert!(p.drain(name, true));
    assert_eq!(p.room().unwrap().free, 0);
    assert_eq!(
        p.place(&want(4, &[])).await.unwrap(),
        Placed::Wait(format!(
            "waiting for an engine: {}",
            if name == "a" {
                "a drained, b busy (1/1)"
            } else {
                "a busy (2/2), b drained"
            }
        ))
    );
    assert!(p.drain(name, false));
    assert!(!p.drain("nope", true));
    assert_eq!(
        p.place(&want(4, &[])).await.unwrap(),
        Placed::Here(Some(name.into()))
    );
    let info = p.engines().await;
    assert_eq!(info.iter().map(|e| e.running).sum::<u64>(), 3);
}

#[tokio::test]
async fn a_running_job_hears_when_its_engine_goes_and_comes_back() {
    let p = pool(&[("a", 2, &[])]);
    p.place(&want(1, &[])).await.unwrap();
    let h = p.prepare(&spec(1)).await.unwrap();
    let lost = tokio::time::timeout(Duration::from_millis(50), p.lost(&h)).await;
    assert!(lost.is_err(), "an engine that answers is not lost");
    assert!(
        p.inner
            .mark_down(0, "engine a does not answer: refused".into())
    );
    let why = tokio::time::timeout(Duration::from_secs(1), p.lost(&h))
        .await
        .unwrap();
    assert_eq!(why, "engine a does not answer: refused");
    assert_eq!(p.down(), vec!["a".to_string()]);
    assert_eq!(p.room().unwrap().free, 0);
    // Not back within the time: false; back: true.
    assert!(!p.returned(&h, Duration::from_millis(50)).await);
    // A ping (the fake engine answers) brings it back.
    let back = {
        let inner = p.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            super::health::check(&inner, 0).await
        })
    };
    assert!(p.returned(&h, Duration::from_secs(5)).await);
    back.await.unwrap();
    assert!(p.down().is_empty());
    assert!(p.ping().await.is_ok());
    let info = p.engines().await;
    assert!(info[0].healthy && info[0].error.is_none());
}
