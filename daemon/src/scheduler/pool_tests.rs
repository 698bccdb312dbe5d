//! The scheduler over a pool of two different backends — the real Docker Engine of this machine
//! and the fake engine — placed by `"runs_on"`: the proof that a backend other than Docker (a
//! `kube` one, say) plugs in beside it without the scheduler knowing.
#![allow(clippy::unwrap_used)]

use crate::config::{Config, EngineHost, EngineSettings, SystemdDirs, WorkspaceMode};
use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::runner::docker::DockerEngine;
use crate::runner::fake::FakeEngine;
use crate::runner::pool::{Entry, Pool};
use crate::state_dir::StateDir;
use crate::testing::repo;
use microci_proto::{Job, JobStatus};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The image `scripts/test-image.sh` builds.
const IMAGE: &str = "microci-test/busybox:latest";

fn engine(name: &str, label: &str) -> EngineSettings {
    EngineSettings {
        name: name.into(),
        host: EngineHost::Default,
        max_jobs: 2,
        labels: vec![label.into()],
        workspace: WorkspaceMode::Bind,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_and_the_fake_engine_run_side_by_side_in_one_pool() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let commits = repo(
        &repo_dir,
        &[
            &format!(
                r#"{{"dockerimg": "{IMAGE}", "command": "echo from docker", "runs_on": ["docker"]}}"#
            ),
            r#"{"command": ["print:from the fake", "exit:0"], "runs_on": ["fake"]}"#,
            r#"{"command": ["print:never"], "runs_on": ["gpu"]}"#,
        ],
    );
    let tag = format!("pool-test-{}", std::process::id());
    let text = format!(
        "state_dir = \"{}\"\n[docker]\nmax_jobs = 4\ndefault_image = \"fake\"\n\
         timeout = \"60s\"\nlabels = {{ \"microci-test.daemon\" = \"{tag}\" }}\n\
         [webhook]\nsecret = \"0123456789abcdef0123\"\n\
         [[repo]]\nname = \"a/b\"\nclone_url = \"{}\"\n",
        dir.path().join("state").display(),
        repo_dir.display()
    );
    let config = Config::parse(Path::new("/c.toml"), &text, &SystemdDirs::default()).unwrap();
    let docker_settings = engine("docker", "docker");
    let docker = DockerEngine::new(config.docker.clone(), &docker_settings, tag.clone(), tag);
    let pool = Pool::new(
        vec![
            Entry::new(docker_settings, docker),
            Entry::new(engine("fake", "fake"), FakeEngine::default()),
        ],
        Duration::from_secs(5),
        false,
    );
    let state = StateDir::lock(&config.state_dir).unwrap();
    state.create_layout().unwrap();
    let store = crate::store::open(&state.database()).unwrap();
    let jobs = Arc::new(Jobs::new(Arc::new(config), &state, store, Arc::new(pool)));
    let stop = CancellationToken::new();
    jobs.engine.monitor(stop.clone());
    let task = super::spawn(jobs.clone(), Vec::new(), stop.clone());

    let mut ids = Vec::new();
    for commit in &commits {
        let url = repo_dir.display().to_string();
        let new = crate::testing::new_job("a/b", "refs/heads/main", commit, &url);
        let ins = jobs.writer.insert(new).await.unwrap();
        jobs.publish(&ins.job);
        jobs.slots.wake.notify_one();
        ids.push(ins.job.id);
    }
    let mut ended: Vec<Job> = Vec::new();
    for &id in &ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = jobs.job(id).await.unwrap().unwrap();
            if job.status.is_final() {
                ended.push(job);
                break;
            }
            assert!(Instant::now() < deadline, "job {id} stuck: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let log = |id: i64| {
        let jobs = jobs.clone();
        async move {
            jobs.logs
                .chunk(id, 0, microci_proto::MAX_LOG_READ)
                .await
                .unwrap()
                .data
        }
    };
    assert_eq!(ended[0].status, JobStatus::Succeed, "{}", log(ids[0]).await);
    assert_eq!(ended[0].engine.as_deref(), Some("docker"));
    assert!(log(ids[0]).await.contains("\nfrom docker\n"));
    assert!(log(ids[0]).await.contains("[microci] engine docker\n"));
    assert_eq!(ended[1].status, JobStatus::Succeed, "{}", log(ids[1]).await);
    assert_eq!(ended[1].engine.as_deref(), Some("fake"));
    assert!(log(ids[1]).await.contains("\nfrom the fake\n"));
    assert_eq!(ended[2].status, JobStatus::Errored);
    assert_eq!(
        ended[2].reason.as_deref(),
        Some(
            "no engine has the labels gpu that \"runs_on\" asks for (engines: docker [docker]; \
             fake [fake])"
        )
    );
    // Places are given back once the containers are removed, just after the ends are recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while jobs.engine.engines().await.iter().any(|e| e.running > 0) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            jobs.engine.engines().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let engines = jobs.engine.engines().await;
    assert_eq!(engines.len(), 2);
    assert!(
        engines.iter().all(|e| e.healthy && e.running == 0),
        "{engines:?}"
    );
    assert!(
        engines[0]
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("Docker")),
        "{engines:?}"
    );
    stop.cancel();
    task.await.unwrap();
}
