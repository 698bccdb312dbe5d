//! A pool of real Docker Engines: extra `dockerd`s, each in a network namespace of its own
//! (`microci_testkit::engines`), beside nothing of the host's Engine. Jobs spread within each
//! engine's `max_jobs` and the global one, go where their `"runs_on"` labels are, stay off a
//! drained engine, wait for an engine that stopped answering and are re-attached to when it
//! returns (never run twice), or end ERRORED "engine lost" after `engine_down_timeout`.

use crate::options;
use microci_proto::{EngineInfo, JobStatus, Reply, Request};
use microci_testkit::control::{Client, log_text, wait_final, wait_for, wait_logged};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::engines::{EngineOptions, ExtraEngine};
use microci_testkit::hooks::{push, push_another};
use microci_testkit::repo::Repo;
use std::time::{Duration, Instant};

/// The job image, loaded into every extra engine.
const IMAGE: &str = "microci-test/busybox:latest";

/// Started engines with the job image loaded.
fn engines(n: usize, options: EngineOptions) -> Vec<ExtraEngine> {
    let all = ExtraEngine::start_all(&vec![options; n]);
    for e in &all {
        e.load_image(IMAGE);
    }
    all
}

/// An `[[engine]]` table for `e`, reached over its Unix socket.
fn table(name: &str, e: &ExtraEngine, max_jobs: u32, labels: &[&str], workspace: &str) -> String {
    let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
    format!(
        "[[engine]]\nname = \"{name}\"\nhost = \"{}\"\nmax_jobs = {max_jobs}\nlabels = [{}]\n\
         workspace = \"{workspace}\"\n",
        e.unix_host(),
        labels.join(", ")
    )
}

async fn engine_list(d: &TestDaemon) -> Vec<EngineInfo> {
    match Client::connect(&d.socket)
        .await
        .call(Request::ListEngines)
        .await
    {
        Ok(Reply::Engines { engines }) => engines,
        other => panic!("list_engines: {other:?}"),
    }
}

/// The job's log after an outage: what was logged `before` it, unchanged, then the rest of the
/// output once (`finish`), nothing of `before` replayed. (That the first output is logged once
/// is the runner's business, not the pool's: see the note on attach in `runner/docker.rs`.)
fn assert_run_once(before: &str, log: &str) {
    assert!(log.starts_with(before), "before:\n{before}\nafter:\n{log}");
    let after = &log[before.len()..];
    assert!(
        !after.contains("begin"),
        "replayed after the outage:\n{log}"
    );
    assert_eq!(after.matches("finish").count(), 1, "{log}");
}

/// One engine (`options`), in the daemon's config as `entry` gives it, pinged every second
/// (more `[docker]` lines in `docker`), and a job of `script` pushed and seen printing `begin`.
struct Solo {
    engine: ExtraEngine,
    repo: Repo,
    d: TestDaemon,
    id: i64,
}

async fn solo(
    options: EngineOptions,
    entry: fn(&ExtraEngine) -> String,
    script: &str,
    docker: &str,
) -> Solo {
    let engine = tokio::task::spawn_blocking(move || engines(1, options))
        .await
        .expect("engines")
        .remove(0);
    let repo = Repo::with_script(script, None);
    let d = TestDaemon::start(Options {
        extra: entry(&engine),
        docker: format!("engine_ping = \"1s\"\n{docker}"),
        ..crate::options().for_repo(&repo)
    });
    let id = push(&d, &repo, "d-1");
    wait_logged(&d, id, "begin", 60).await;
    Solo {
        engine,
        repo,
        d,
        id,
    }
}

/// `[[engine]]` for a TLS engine, with its own client certificate.
fn tls_entry(e: &ExtraEngine) -> String {
    crate::engines_remote::tls_entry(e, e.client_cert(), e.client_key())
}

/// `[[engine]] name = "solo"` over its Unix socket.
fn solo_unix(e: &ExtraEngine) -> String {
    table("solo", e, 2, &[], "bind")
}

/// Job containers an engine runs now.
fn running_on(e: &ExtraEngine) -> usize {
    e.docker(&["ps", "-q", "--filter", "label=microci.job"])
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_jobs_spread_over_three_engines_each_within_its_max_jobs() {
    let pool = tokio::task::spawn_blocking(|| engines(3, EngineOptions::default()))
        .await
        .expect("engines");
    let repo = Repo::with_script("echo start; sleep 4; echo end\n", None);
    let extra = table("a", &pool[0], 1, &[], "bind")
        + &table("b", &pool[1], 2, &[], "copy")
        + &table("c", &pool[2], 2, &[], "bind");
    // Global bound 4, under the engines' 5.
    let d = TestDaemon::start(Options {
        max_jobs: 4,
        extra,
        repo: "cancel_superseded = false\n".into(),
        ..options().for_repo(&repo)
    });
    let ids: Vec<i64> = (0..10)
        .map(|i| push_another(&d, &repo, &format!("d-{i}")))
        .collect();
    let limits = [1, 2, 2];
    let mut most = [0usize; 3];
    let mut most_total = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now: Vec<usize> = pool.iter().map(running_on).collect();
        for (i, n) in now.iter().enumerate() {
            assert!(
                *n <= limits[i],
                "engine {i} runs {n} jobs, over its max_jobs"
            );
            most[i] = most[i].max(*n);
        }
        let total: usize = now.iter().sum();
        assert!(total <= 4, "{total} jobs run at once, over docker.max_jobs");
        most_total = most_total.max(total);
        let mut c = Client::connect(&d.socket).await;
        let mut done = true;
        for &id in &ids {
            done &= c.job(id).await.status.is_final();
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not end\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut per_engine = std::collections::BTreeMap::new();
    for &id in &ids {
        let job = wait_final(&d.socket, id).await;
        assert_eq!(
            job.status,
            JobStatus::Succeed,
            "{job:?}\n{}",
            log_text(&d, id).await
        );
        let log = log_text(&d, id).await;
        assert_eq!(log.matches("\nend\n").count(), 1, "{log}");
        *per_engine
            .entry(job.engine.clone().expect("an engine"))
            .or_insert(0) += 1;
        if job.engine.as_deref() == Some("b") {
            assert!(log.contains("workspace copied to the engine: "), "{log}");
        }
    }
    assert_eq!(
        per_engine.len(),
        3,
        "every engine took jobs: {per_engine:?}"
    );
    assert!(most.iter().all(|&m| m >= 1), "{most:?}");
    // Jobs ran side by side (how many at most depends on how fast clones go on a loaded machine;
    // never over the bounds, checked at every look above).
    assert!(most_total >= 2, "{most:?}");
    // Nothing of the jobs is left on any engine.
    for e in &pool {
        assert_eq!(
            e.docker(&["ps", "-aq", "--filter", "label=microci.job"]),
            ""
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_on_picks_the_engine_with_every_label_and_a_label_no_engine_has_errors() {
    let pool = tokio::task::spawn_blocking(|| engines(2, EngineOptions::default()))
        .await
        .expect("engines");
    let repo = Repo::with_script("echo hi\n", Some(r#"{"runs_on": ["arm64", "big"]}"#));
    let extra = table("x86", &pool[0], 2, &["amd64", "big"], "bind")
        + &table("arm", &pool[1], 2, &["arm64", "big"], "bind");
    let d = TestDaemon::start(Options {
        extra,
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.engine.as_deref(), Some("arm"));
    let shown = String::from_utf8_lossy(&d.cli(&["show", &id.to_string()]).stdout).into_owned();
    assert!(shown.contains("arm"), "{shown}");

    repo.commit(&[(".microci.json", r#"{"runs_on": ["gpu"]}"#)], "gpu");
    let id = push(&d, &repo, "d-2");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored);
    assert_eq!(
        job.reason.as_deref(),
        Some(
            "no engine has the labels gpu that \"runs_on\" asks for (engines: x86 [amd64, big]; \
             arm [arm64, big])"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drained_engine_takes_no_new_jobs_and_finishes_its_own() {
    let pool = tokio::task::spawn_blocking(|| engines(2, EngineOptions::default()))
        .await
        .expect("engines");
    let repo = Repo::with_script("echo run; sleep 3; echo ran\n", None);
    let extra = table("a", &pool[0], 2, &[], "bind") + &table("b", &pool[1], 2, &[], "bind");
    let d = TestDaemon::start(Options {
        max_jobs: 4,
        extra,
        repo: "cancel_superseded = false\n".into(),
        ..options().for_repo(&repo)
    });
    let first = push_another(&d, &repo, "d-1");
    let first_job = wait_for(&d.socket, first, 60, |j| j.engine.is_some()).await;
    let on = first_job.engine.expect("placed");
    let other = if on == "a" { "b" } else { "a" };
    let out = d.cli(&["drain", &on]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = engine_list(&d).await;
    assert!(
        listed.iter().any(|e| e.name == on && e.drained),
        "{listed:?}"
    );
    let next: Vec<i64> = (2..5)
        .map(|i| push_another(&d, &repo, &format!("d-{i}")))
        .collect();
    for &id in &next {
        let job = wait_final(&d.socket, id).await;
        assert_eq!(job.status, JobStatus::Succeed);
        assert_eq!(
            job.engine.as_deref(),
            Some(other),
            "job {id} went to the drained engine"
        );
    }
    let job = wait_final(&d.socket, first).await;
    assert_eq!(
        job.status,
        JobStatus::Succeed,
        "the running job finishes on a drained engine"
    );
    assert!(d.cli(&["undrain", &on]).status.success());
    assert!(engine_list(&d).await.iter().all(|e| !e.drained));
    let unknown = d.cli(&["drain", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no engine"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_engine_s_job_is_re_attached_when_it_returns_and_runs_once() {
    let Solo {
        engine: e,
        repo: _repo,
        d,
        id,
    } = solo(
        EngineOptions::default(),
        solo_unix,
        "echo begin; sleep 8; echo finish\n",
        "",
    )
    .await;
    let before = log_text(&d, id).await;
    e.kill();
    let killed = Instant::now();
    // Seen down within a ping or two.
    loop {
        let engines = engine_list(&d).await;
        if !engines[0].healthy {
            assert!(engines[0].down_since.is_some());
            assert!(
                engines[0]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("solo"))
            );
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "not seen down: {engines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("engine seen down {:?} after the kill", killed.elapsed());
    let status = String::from_utf8_lossy(&d.cli(&["status"]).stdout).into_owned();
    assert!(status.contains("solo"), "{status}");
    tokio::task::block_in_place(|| e.restart());
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(
        job.status,
        JobStatus::Succeed,
        "{job:?}\n{log}\n{}",
        d.log()
    );
    assert_run_once(&before, &log);
    assert!(log.contains("waiting up to 10m for it to return"), "{log}");
    assert!(log.contains("re-attaching"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_that_stays_down_loses_its_job_and_new_jobs_wait_for_it() {
    let Solo {
        engine: e,
        repo,
        d,
        id,
    } = solo(
        EngineOptions::default(),
        solo_unix,
        "echo begin; sleep 60\n",
        "engine_down_timeout = \"3s\"\n",
    )
    .await;
    e.kill();
    let job = wait_for(&d.socket, id, 30, |j| j.status.is_final()).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    let reason = job.reason.unwrap_or_default();
    assert!(reason.starts_with("engine lost: engine solo"), "{reason}");
    assert!(reason.ends_with("and not back within 3s"), "{reason}");

    // With no engine up, a new job stays queued: nothing is lost.
    repo.commit(&[("microci.sh", "echo quick\n")], "quick");
    let next = push(&d, &repo, "d-2");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut c = Client::connect(&d.socket).await;
    assert_eq!(c.job(next).await.status, JobStatus::Pending);
    tokio::task::block_in_place(|| e.restart());
    let job = wait_final(&d.socket, next).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{}", d.log());
    assert!(log_text(&d, next).await.contains("quick"));
    // The lost job's container, still running there, goes once the engine is back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !e
        .docker(&["ps", "-aq", "--filter", "label=microci.job"])
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the lost job's container stayed\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_tls_engine_is_down_until_the_link_is_back_and_its_job_runs_once() {
    let Solo {
        engine: e,
        repo: _repo,
        d,
        id,
    } = solo(
        EngineOptions {
            tls: true,
            ..EngineOptions::default()
        },
        tls_entry,
        "echo begin; sleep 10; echo finish\n",
        "",
    )
    .await;
    let before = log_text(&d, id).await;
    e.partition();
    let cut = Instant::now();
    wait_logged(&d, id, "waiting up to", 15).await;
    let listed = engine_list(&d).await;
    assert!(!listed[0].healthy, "{listed:?}");
    eprintln!("partition seen {:?} after the cut", cut.elapsed());
    e.heal();
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(
        job.status,
        JobStatus::Succeed,
        "{job:?}\n{log}\n{}",
        d.log()
    );
    assert_run_once(&before, &log);
    assert!(engine_list(&d).await[0].healthy);
}

/// The daemon restarted while an engine was down: the job it left running there waits for the
/// engine instead of ending ERRORED, and is picked up when the engine returns.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_started_while_an_engine_is_down_waits_for_it() {
    let Solo {
        engine: e,
        repo: _repo,
        mut d,
        id,
    } = solo(
        EngineOptions::default(),
        solo_unix,
        "echo begin; sleep 8; echo finish\n",
        "",
    )
    .await;
    let before = log_text(&d, id).await;
    d.stop();
    e.kill();
    d.spawn();
    wait_logged(&d, id, "waiting up to", 30).await;
    let mut c = Client::connect(&d.socket).await;
    assert_eq!(c.job(id).await.status, JobStatus::Started);
    tokio::task::block_in_place(|| e.restart());
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(
        job.status,
        JobStatus::Succeed,
        "{job:?}\n{log}\n{}",
        d.log()
    );
    assert_run_once(&before, &log);
}

/// A job whose engines are all busy goes back to the queue instead of holding a slot: a job for
/// another engine runs meanwhile, and the waiting one runs when its engine is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_waiting_for_its_engine_gives_its_slot_to_a_job_for_another() {
    let pool = tokio::task::spawn_blocking(|| engines(2, EngineOptions::default()))
        .await
        .expect("engines");
    let repo = Repo::with_script(
        "echo begin; sleep 8; echo finish\n",
        Some(r#"{"runs_on": ["arm64"]}"#),
    );
    let extra = table("arm", &pool[0], 1, &["arm64"], "bind")
        + &table("x86", &pool[1], 1, &["amd64"], "bind");
    let d = TestDaemon::start(Options {
        max_jobs: 2,
        extra,
        repo: "cancel_superseded = false\n".into(),
        ..options().for_repo(&repo)
    });
    let first = push(&d, &repo, "d-1");
    wait_logged(&d, first, "begin", 60).await;
    repo.commit(&[("microci.sh", "echo second\n")], "second");
    let second = push(&d, &repo, "d-2");
    let waiting = wait_for(&d.socket, second, 60, |j| {
        j.status == JobStatus::Pending && j.waiting.is_some()
    })
    .await;
    assert_eq!(
        waiting.waiting.as_deref(),
        Some("waiting for an engine with labels arm64: arm busy (1/1)")
    );
    repo.commit(
        &[
            (".microci.json", r#"{"runs_on": ["amd64"]}"#),
            ("microci.sh", "echo third\n"),
        ],
        "third",
    );
    let third = push(&d, &repo, "d-3");
    let job = wait_final(&d.socket, third).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.engine.as_deref(), Some("x86"));
    let mut c = Client::connect(&d.socket).await;
    assert_eq!(
        c.job(first).await.status,
        JobStatus::Started,
        "the third job ran while the first still held arm"
    );
    let job = wait_final(&d.socket, second).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.engine.as_deref(), Some("arm"));
    assert_eq!(job.waiting, None);
    let log = log_text(&d, second).await;
    assert!(log.contains("queued again until one has room"), "{log}");
    assert!(log.contains("\nsecond\n"), "{log}");
    assert_eq!(
        wait_final(&d.socket, first).await.status,
        JobStatus::Succeed
    );
}
