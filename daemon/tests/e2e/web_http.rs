//! The web side over plain HTTP: the log's event stream (resume, end), the raw log (ranges, a
//! log over 4 MiB, 404/416), badges for each state (parsed as XML), bad input answered with a
//! clear 4xx, and links under `http.base_path`.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{wait_final, wait_for};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push};
use microci_testkit::http::{Response, request};
use microci_testkit::repo::Repo;
use std::sync::atomic::{AtomicUsize, Ordering};

fn public(repo: &Repo) -> Options {
    Options {
        repo: "public = true\n".into(),
        ..options().for_repo(repo)
    }
}

fn push_ref(d: &TestDaemon, git_ref: &str, sha: &str) -> i64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    let body = gogs_push("alice/app", FORGE_URL, git_ref, ZEROS, sha, "a change");
    let delivery = format!("http-{}", N.fetch_add(1, Ordering::Relaxed));
    let r = deliver(d, "push", &delivery, &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

/// The jobs' table of a list page (the branches' table above it links jobs too).
fn jobs_table(html: String) -> String {
    match html.split_once("<table class=\"jobs list\"") {
        Some((_, t)) => t.to_string(),
        None => html
            .split_once("<h2>Jobs</h2>")
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
    }
}

fn get(d: &TestDaemon, path: &str, headers: &[(&str, &str)]) -> Response {
    request(d.port, "GET", path, headers, b"")
}

/// An SSE body's events as (event, id, data).
fn events(body: &str) -> Vec<(String, Option<String>, String)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let (mut name, mut id, mut data) = (None, None, Vec::new());
            for line in e.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            Some((name?, id, data.join("\n")))
        })
        .collect()
}

fn log_html(evs: &[(String, Option<String>, String)]) -> String {
    evs.iter()
        .filter(|(n, _, _)| n == "log")
        .map(|(_, _, d)| d.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_follow_a_running_job_resume_and_end() {
    let repo = Repo::with_script(
        "for w in alpha beta gamma delta; do echo $w; sleep 0.4; done; printf '\\033[1mbold\\033[0m\\n'\n",
        None,
    );
    let d = TestDaemon::start(public(&repo));
    let id = push_ref(&d, "refs/heads/main", &repo.head());
    wait_for(&d.socket, id, 60, |j| j.status == JobStatus::Started).await;
    // Without JavaScript, a running job's page reloads itself.
    let refresh = "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>";
    let page = get(&d, &format!("/jobs/{id}"), &[]).text();
    assert!(page.contains(refresh), "{page}");
    // Following while it runs: the stream ends by itself when the job does.
    let port = d.port;
    let path = format!("/jobs/{id}/events");
    let live = tokio::task::spawn_blocking(move || request(port, "GET", &path, &[], b""))
        .await
        .expect("join");
    assert_eq!(live.status, 200);
    assert_eq!(live.header("content-type"), Some("text/event-stream"));
    let evs = events(&live.text());
    assert_eq!(evs.first().map(|e| e.0.as_str()), Some("state"), "{evs:?}");
    assert_eq!(evs.last().map(|e| e.0.as_str()), Some("end"), "{evs:?}");
    let last_state = evs.iter().rev().find(|e| e.0 == "state").expect("state");
    let state: serde_json::Value = serde_json::from_str(&last_state.2).expect("json");
    assert_eq!(state["status"], "SUCCEED");
    assert_eq!(state["final"], true);
    let html = log_html(&evs);
    for w in [
        "alpha\n",
        "beta\n",
        "gamma\n",
        "delta\n",
        "<span class=\"sb\">bold</span>\n",
    ] {
        assert_eq!(html.matches(w).count(), 1, "{w:?} once in {html:?}");
    }
    let size = wait_final(&d.socket, id).await.log_size;
    let ids: Vec<u64> = evs
        .iter()
        .filter_map(|e| e.1.as_ref()?.parse().ok())
        .collect();
    assert_eq!(
        ids.last().copied(),
        Some(size),
        "the last id is the log's size"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let page = get(&d, &format!("/jobs/{id}"), &[]).text();
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "a finished job's page stays: {page}"
    );
    // Resuming from an offset sends exactly the rest.
    let log = get(&d, &format!("/jobs/{id}/log"), &[]).text();
    let cut = log.find("gamma").expect("gamma") as u64;
    let resumed = get(
        &d,
        &format!("/jobs/{id}/events?offset=0"),
        &[("Last-Event-ID", &cut.to_string())],
    );
    let html = log_html(&events(&resumed.text()));
    assert!(html.starts_with("gamma\ndelta\n"), "{html:?}");
    assert!(!html.contains("beta"), "{html:?}");
    let at_end = get(&d, &format!("/jobs/{id}/events?offset={size}"), &[]);
    let evs = events(&at_end.text());
    assert_eq!(log_html(&evs), "");
    assert_eq!(evs.last().map(|e| e.0.as_str()), Some("end"));
    for bad in ["x", "-1", "1.5"] {
        let r = get(&d, &format!("/jobs/{id}/events"), &[("Last-Event-ID", bad)]);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.text().contains("Last-Event-ID"), "{}", r.text());
    }
    assert_eq!(get(&d, "/jobs/999/events", &[]).status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_log_streams_past_4_mib_with_ranges() {
    // 5,000,000 bytes of output: more than the old 4 MiB cap.
    let repo = Repo::with_script(
        "yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c 5000000\n",
        None,
    );
    let d = TestDaemon::start(public(&repo));
    let id = push_ref(&d, "refs/heads/main", &repo.head());
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let on_disk = std::fs::read(d.state_dir().join("logs").join(format!("{id}.log"))).expect("log");
    assert!(on_disk.len() >= 5_000_000, "{}", on_disk.len());

    let whole = get(&d, &format!("/jobs/{id}/log"), &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), on_disk.len());
    assert!(whole.body == on_disk, "the bytes differ");
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        whole.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let size = on_disk.len();

    let part = get(
        &d,
        &format!("/jobs/{id}/log"),
        &[("Range", "bytes=4194300-4194310")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, on_disk[4_194_300..=4_194_310]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 4194300-4194310/{size}").as_str())
    );
    let tail = get(&d, &format!("/jobs/{id}/log"), &[("Range", "bytes=-7")]);
    assert_eq!((tail.status, &tail.body[..]), (206, &on_disk[size - 7..]));
    let open = get(
        &d,
        &format!("/jobs/{id}/log"),
        &[("Range", "bytes=4999990-")],
    );
    assert_eq!(open.body, on_disk[4_999_990..]);
    let past = get(
        &d,
        &format!("/jobs/{id}/log"),
        &[("Range", &format!("bytes={size}-"))],
    );
    assert_eq!(past.status, 416, "{}", past.text());
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    let from = get(&d, &format!("/jobs/{id}/log?offset=4999995"), &[]);
    assert_eq!((from.status, &from.body[..]), (200, &on_disk[4_999_995..]));

    // The job page shows the tail and links the whole log.
    let page = get(&d, &format!("/jobs/{id}"), &[]).text();
    assert!(
        page.contains(&format!("href=\"/jobs/{id}/log\"")),
        "{}",
        &page[..2000]
    );
    assert!(
        page.len() < 300 * 1024,
        "the page holds only the tail: {}",
        page.len()
    );

    for (path, status) in [
        ("/jobs/999/log".to_string(), 404),
        ("/jobs/abc/log".into(), 404),
        (format!("/jobs/{id}/log?offset=x"), 400),
    ] {
        assert_eq!(get(&d, &path, &[]).status, status, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn badges_show_each_state_as_valid_svg() {
    let repo = Repo::with_script("exit 0\n", None);
    let d = TestDaemon::start(public(&repo));
    let fail = repo.commit(&[("microci.sh", "exit 1\n")], "fail");
    let err = repo.commit(
        &[(
            ".microci.json",
            "{\"dockerimg\": \"microci-test/absent:1\"}",
        )],
        "err",
    );
    let slow = repo.commit(
        &[("microci.sh", "sleep 60\n"), (".microci.json", "{}")],
        "slow",
    );
    let ok = repo.commit(&[("microci.sh", "exit 0\n")], "ok");
    let cases = [
        ("main", ok.clone(), JobStatus::Succeed, "passing"),
        ("broken", fail, JobStatus::Failed, "failing"),
        ("errs", err, JobStatus::Errored, "error"),
        ("stopped", slow, JobStatus::Canceled, "canceled"),
    ];
    for (branch, sha, want, _) in &cases {
        let id = push_ref(&d, &format!("refs/heads/{branch}"), sha);
        if *want == JobStatus::Canceled {
            wait_for(&d.socket, id, 60, |j| j.status == JobStatus::Started).await;
            let out = d.cli(&["cancel", &id.to_string()]);
            assert!(out.status.success(), "{out:?}");
        }
        assert_eq!(wait_final(&d.socket, id).await.status, *want, "{branch}");
    }
    // A job still running does not change the badge: the newest finished one counts.
    let running = push_ref(
        &d,
        "refs/heads/main",
        &repo.commit(&[("microci.sh", "sleep 60\n")], "again"),
    );
    wait_for(&d.socket, running, 60, |j| j.status == JobStatus::Started).await;

    let badge = |query: &str| get(&d, &format!("/badge/alice/app.svg{query}"), &[]);
    for (branch, _, _, word) in &cases {
        let r = badge(&format!("?branch={branch}"));
        assert_eq!(r.status, 200, "{branch}");
        assert_eq!(r.header("content-type"), Some("image/svg+xml"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let text = r.text();
        let doc = roxmltree::Document::parse(&text).expect("valid XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(texts, ["build", *word], "{branch}");
    }
    // Without a branch: the default branch the forge named (main).
    let default = badge("");
    assert!(default.text().contains(">passing<"), "{}", default.text());
    let unknown = badge("?branch=nothing-here");
    assert!(roxmltree::Document::parse(&unknown.text()).is_ok());
    assert!(unknown.text().contains(">unknown<"), "{}", unknown.text());
    // ETag: 304 while nothing changed.
    let tag = default.header("etag").expect("etag").to_string();
    let again = get(&d, "/badge/alice/app.svg", &[("If-None-Match", &tag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_ne!(unknown.header("etag"), Some(tag.as_str()));
    // Only repositories the pages may show.
    for path in ["/badge/bob/none.svg", "/badge/alice/app.png"] {
        assert_eq!(get(&d, path, &[]).status, 404, "{path}");
    }
    let out = d.cli(&["cancel", &running.to_string()]);
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_4xx_and_loses_nothing() {
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(public(&repo));
    let id = push_ref(&d, "refs/heads/main", &repo.head());
    wait_final(&d.socket, id).await;
    for (path, status, says) in [
        ("/repos/nobody/none", 404, "no such repository"),
        ("/jobs/abc", 404, "no such job"),
        ("/jobs/99999", 404, "no such job"),
        ("/?before=abc", 400, "before"),
        ("/?after=-3", 400, "after"),
        ("/?state=done", 400, "state"),
        ("/repos/alice/app?state=%3Cscript%3E", 400, "state"),
        ("/assets/nope.js", 404, "no such asset"),
    ] {
        let r = get(&d, path, &[]);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
        // Errors are JSON, never markup a browser would run.
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    }
    let front = get(&d, "/", &[]);
    assert_eq!(front.status, 200);
    assert!(
        front.text().contains(&format!("/jobs/{id}")),
        "the job is still listed"
    );
    // Filters and cursors that are fine.
    let filtered = jobs_table(get(&d, "/?state=failed", &[]).text());
    assert!(
        !filtered.contains(&format!("\"/jobs/{id}\"")),
        "a passed job under failed"
    );
    let passed = jobs_table(get(&d, "/repos/alice/app?state=SUCCEED", &[]).text());
    assert!(passed.contains(&format!("\"/jobs/{id}\"")), "{passed}");
    let older = jobs_table(get(&d, &format!("/?before={id}"), &[]).text());
    assert!(older.contains("No jobs here."), "{older}");
    assert!(
        older.contains(&format!("after={}", id - 1)) || older.contains("No jobs"),
        "{older}"
    );
    assert_eq!(get(&d, "/healthz", &[]).status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_link_under_the_base_path_and_page_by_keyset() {
    let repo = Repo::with_script("echo fine\n", None);
    let d = TestDaemon::start(Options {
        http: "base_path = \"/ci/\"\n".into(),
        ..public(&repo)
    });
    let mut ids = Vec::new();
    for i in 0..3 {
        let sha = repo.commit(&[("n", &i.to_string())], &format!("c{i}"));
        ids.push(push_ref(&d, "refs/heads/main", &sha));
    }
    for id in &ids {
        wait_final(&d.socket, *id).await;
    }
    for path in [
        "/".to_string(),
        format!("/jobs/{}", ids[0]),
        "/repos/alice/app".into(),
    ] {
        let html = get(&d, &path, &[]).text();
        let mut links = 0;
        for attr in ["href=\"", "src=\""] {
            for piece in html.split(attr).skip(1) {
                let url = piece.split('"').next().unwrap_or("");
                if url.starts_with('/') {
                    links += 1;
                    assert!(
                        url.starts_with("/ci/"),
                        "{path}: {url} outside the base path"
                    );
                }
            }
        }
        assert!(links >= 3, "{path}: {links} links");
    }
    // Keyset pages: the cursors walk the ids (the jobs' table only: the branches' table above it
    // links the newest job too).
    let page = get(&d, &format!("/?before={}", ids[2]), &[]).text();
    let page = jobs_table(page);
    assert!(page.contains(&format!("\"/ci/jobs/{}\"", ids[1])), "{page}");
    assert!(
        !page.contains(&format!("\"/ci/jobs/{}\"", ids[2])),
        "{page}"
    );
    assert!(
        page.contains(&format!("/ci/?after={}", ids[1])),
        "a newer link: {page}"
    );
    let newer = jobs_table(get(&d, &format!("/?after={}", ids[0]), &[]).text());
    assert!(
        newer.contains(&format!("\"/ci/jobs/{}\"", ids[2])),
        "{newer}"
    );
    assert!(
        !newer.contains(&format!("\"/ci/jobs/{}\"", ids[0])),
        "{newer}"
    );
    assert!(
        newer.contains(&format!("/ci/?before={}", ids[1])),
        "an older link: {newer}"
    );
}
