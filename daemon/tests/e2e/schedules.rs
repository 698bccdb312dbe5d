//! Schedules through the real daemon: a run missed while the daemon was down (its record
//! written into the real database, as a daemon stopped before the planned time leaves it) runs
//! once at start, less than a day late, with trigger `schedule`, past the branch filter and a
//! `[skip ci]` commit; a run missed by more than a day does not; a second start catches nothing
//! up again. Next-fire times, time zones and daylight saving are unit-tested with an injected
//! clock (`schedule::plan`).

use crate::options;
use microci_proto::{Job, JobQuery, JobStatus, Reply, Request};
use microci_testkit::control::{Client, wait_final};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::repo::Repo;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every job of alice/app, newest first.
async fn jobs(d: &TestDaemon) -> Vec<Job> {
    let mut c = Client::connect(&d.socket).await;
    let query = JobQuery {
        repo: Some("alice/app".into()),
        limit: 50,
        ..JobQuery::default()
    };
    match c.call(Request::ListJobs(query)).await {
        Ok(Reply::Jobs { jobs }) => jobs,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Now in Unix milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Writes when a schedule's runs were last handled, as a daemon does.
fn handled_until(d: &TestDaemon, key: &str, ms: i64) {
    let db = rusqlite::Connection::open(d.state_dir().join("microci.db")).expect("open the db");
    db.execute(
        "INSERT INTO schedule_runs (schedule, last_ms) VALUES (?1, ?2) \
         ON CONFLICT(schedule) DO UPDATE SET last_ms = excluded.last_ms",
        rusqlite::params![key, ms],
    )
    .expect("write the schedule's record");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_missed_while_the_daemon_was_down_runs_once_at_start() {
    let repo = Repo::with_script("echo scheduled run\n", None);
    repo.commit(&[("x", "1")], "[skip ci] a commit no push would build");
    // Daily at the minute an hour ago (UTC): it was due an hour ago and is not due again today.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let secs = hour_ago
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (minute, hour) = ((secs / 60) % 60, (secs / 3600) % 24);
    let daily = format!("{minute} {hour} * * *");
    let yearly = "0 0 1 1 *";
    let mut d = TestDaemon::start(Options {
        repo: format!(
            "branches = [\"release/*\"]\n\
             schedule = [{{ cron = \"{daily}\", branch = \"main\", tz = \"UTC\" }}, \
                         {{ cron = \"{yearly}\", branch = \"main\", tz = \"UTC\" }}]\n"
        ),
        ..options().for_repo(&repo)
    });
    // A new schedule does not make up for times before it existed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(jobs(&d).await.is_empty(), "{:?}", jobs(&d).await);
    d.stop();

    // As if the daemon had stopped two hours ago, before the daily run; and the yearly run
    // (January 1st) was missed by far more than a day.
    let daily_key = format!("alice/app\n{daily}\nmain\nUTC");
    handled_until(&d, &daily_key, now_ms() - 2 * 3600 * 1000);
    handled_until(&d, &format!("alice/app\n{yearly}\nmain\nUTC"), 0);
    d.spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        if let Some(j) = jobs(&d).await.first() {
            break j.id;
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled job");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    assert_eq!(job.trigger, "schedule");
    assert_eq!(job.git_ref, "refs/heads/main");
    assert_eq!(job.commit, repo.head());
    let shown = d.cli(&["show", &id.to_string()]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("trigger   schedule"), "{shown}");
    // One catch-up, not one per schedule or per start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(jobs(&d).await.len(), 1);
    d.stop();
    d.spawn();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(jobs(&d).await.len(), 1, "{:?}", jobs(&d).await);
    assert!(
        d.log().contains("missed by more than a day: skipped"),
        "{}",
        d.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_schedule_is_refused_by_name() {
    for (schedule, key, says) in [
        (
            "[{ cron = \"61 * * * *\" }]",
            "repo[0].schedule[0].cron",
            "not a cron pattern",
        ),
        (
            "[{ cron = \"0 3 * *\" }]",
            "repo[0].schedule[0].cron",
            "five",
        ),
        (
            "[{ cron = \"0 3 * * *\", tz = \"Mars/Olympus\" }]",
            "repo[0].schedule[0].tz",
            "not a time zone",
        ),
    ] {
        let opts = Options {
            repo: format!("schedule = {schedule}\n"),
            ..options()
        };
        let err = TestDaemon::try_start(opts).err().expect("refused");
        let text = format!("{err:#}");
        assert!(
            text.contains(key) && text.contains(says),
            "{schedule}: {text}"
        );
    }
}
