//! The web pages in a real browser (headless Chromium over the DevTools protocol) against a real
//! daemon running real Docker jobs: the front page's branches and jobs, a running job's log
//! growing in the page, hostile text that must stay text, screenshots at 360 px and 1440 px in
//! light and dark; and, over plain HTTP, the event stream, the raw log and bad input.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::browser::Browser;
use microci_testkit::control::{wait_final, wait_for};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push};
use microci_testkit::http::{Response, request};
use microci_testkit::repo::Repo;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// alice/app, public on the pages, cloned from `repo`.
fn public(repo: &Repo) -> Options {
    Options {
        repo: "public = true\n".into(),
        ..options().for_repo(repo)
    }
}

/// Pushes commit `sha` of alice/app to `git_ref` with `message`; `edit` may change the body.
fn push_ref(
    d: &TestDaemon,
    git_ref: &str,
    sha: &str,
    message: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> i64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    let body = gogs_push("alice/app", FORGE_URL, git_ref, ZEROS, sha, message);
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    edit(&mut v);
    let body = v.to_string().into_bytes();
    let delivery = format!("web-{}", N.fetch_add(1, Ordering::Relaxed));
    let r = deliver(d, "push", &delivery, &body, Some(SECRET));
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()["job_id"].as_i64().expect("job_id")
}

fn get(d: &TestDaemon, path: &str, headers: &[(&str, &str)]) -> Response {
    request(d.port, "GET", path, headers, b"")
}

/// Where screenshots go for a person to look at: `target/screenshots/`.
fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots")
}

/// A JS expression: the text of the element `sel`.
fn text_of(sel: &str) -> String {
    format!("((document.querySelector({sel:?}) || {{}}).textContent || '')")
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_shows_branches_jobs_and_a_live_log() {
    // The browser first: it takes a few seconds to start on a busy machine.
    let mut b = Browser::start();
    let repo = Repo::with_script("printf '\\033[32mgreen ok\\033[0m\\n'\n", None);
    let d = TestDaemon::start(public(&repo));
    let quick = push_ref(&d, "refs/heads/dev", &repo.head(), "quick one", |_| {});
    assert_eq!(
        wait_final(&d.socket, quick).await.status,
        JobStatus::Succeed
    );
    let slow = repo.commit(
        &[(
            "microci.sh",
            "echo start; i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo tick-$i; sleep 0.25; done; echo done-all\n",
        )],
        "slow one",
    );
    let live = push_ref(&d, "refs/heads/main", &slow, "slow one\n\nbody", |_| {});
    wait_for(&d.socket, live, 60, |j| j.status == JobStatus::Started).await;
    b.goto(&d.url(&format!("/jobs/{live}"))).expect("job page");
    b.wait_for(&format!("{}.includes('tick-')", text_of("#log")), 20)
        .expect("the log shows output");
    b.eval("window.__mark = 1").expect("mark");
    let first = b.eval(&text_of("#log")).expect("log").to_string();
    assert!(
        !first.contains("done-all"),
        "the job already ended: {first}"
    );
    // The log grows in place while the container prints, and the state changes without a
    // reload (the mark set above survives).
    b.wait_for(&format!("{}.includes('done-all')", text_of("#log")), 30)
        .expect("the log grew to the end");
    b.wait_for("document.querySelector('#state .st-succeed') !== null", 10)
        .expect("the state turned to passed");
    assert_eq!(b.eval("window.__mark").expect("mark"), serde_json::json!(1));
    let log = b.eval(&text_of("#log")).expect("log");
    let log = log.as_str().expect("text");
    for i in 1..=60 {
        assert_eq!(
            log.matches(&format!("tick-{i}\n")).count(),
            1,
            "tick-{i} once: {log}"
        );
    }
    assert_ne!(b.eval(&text_of("#duration")).expect("duration"), "—");

    b.goto(&d.url("/")).expect("front page");
    let branches = b
        .eval("[...document.querySelectorAll('table.branches tbody tr')].map(r => r.innerText)")
        .expect("branches");
    let branches = branches.as_array().expect("rows");
    assert_eq!(branches.len(), 2, "{branches:?}");
    assert!(
        branches[0].as_str().unwrap_or("").contains("main"),
        "{branches:?}"
    );
    assert!(
        branches[1].as_str().unwrap_or("").contains("dev"),
        "{branches:?}"
    );
    let jobs = b
        .eval("[...document.querySelectorAll('table.list tbody tr')].map(r => r.innerText)")
        .expect("jobs");
    let jobs = jobs.as_array().expect("rows");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let newest = jobs[0].as_str().unwrap_or("");
    assert!(
        newest.contains(&format!("#{live}")) && newest.contains("slow one"),
        "{jobs:?}"
    );
    assert!(
        !newest.contains("body"),
        "only the message's first line: {newest}"
    );
    assert!(
        jobs[1].as_str().unwrap_or("").contains("passed"),
        "{jobs:?}"
    );

    // Screenshots for a person to look at, and no page wider than the screen.
    for (page, path) in [
        ("front", "/".to_string()),
        ("job", format!("/jobs/{quick}")),
    ] {
        for width in [360, 1440] {
            for dark in [false, true] {
                b.emulate(width, if width == 360 { 740 } else { 900 }, dark)
                    .expect("emulate");
                b.goto(&d.url(&path)).expect("page");
                let overflow = b
                    .eval("document.documentElement.scrollWidth - window.innerWidth")
                    .expect("width");
                assert!(
                    overflow.as_i64().unwrap_or(1) <= 0,
                    "{page} at {width}px scrolls sideways by {overflow}"
                );
                let scheme = if dark { "dark" } else { "light" };
                b.screenshot(&screenshots().join(format!("{page}-{width}-{scheme}.png")))
                    .expect("screenshot");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_messages_and_output_stay_text() {
    let repo = Repo::with_script(
        "printf '<script>document.title=\"pwned-log\"</script>\\n'\n\
         printf '<img src=x onerror=\"document.title=1\">\\n'\n\
         printf '\\033]0;window-title\\007\\033]52;c;Y2xpcA==\\007\\033[2J\\033[31mred\\033[0m\\n'\n\
         printf '\\342\\200\\256reversed\\n'\n",
        None,
    );
    let d = TestDaemon::start(public(&repo));
    let message = "<img src=x onerror=\"document.title='pwned-msg'\"> \u{202E}gnp.exe \
                   <script>document.title='pwned-msg2'</script>\x1b[31m";
    let id = push_ref(
        &d,
        "refs/heads/<script>document.title='pwned-ref'</script>",
        &repo.head(),
        message,
        |v| {
            v["commits"][0]["author"]["name"] = "<b onmouseover=alert(1)>Mallory</b>".into();
            v["pusher"]["username"] = "<iframe src=//x>".into();
        },
    );
    let other = push_ref(
        &d,
        "refs/heads/\"><svg/onload=document.title='pwned-ref2'>",
        &repo.head(),
        "plain",
        |_| {},
    );
    wait_final(&d.socket, id).await;
    wait_final(&d.socket, other).await;

    let mut b = Browser::start();
    for path in [
        "/".to_string(),
        format!("/jobs/{id}"),
        format!("/jobs/{other}"),
        "/repos/alice/app".into(),
    ] {
        b.goto(&d.url(&path)).expect("page");
        let title = b.eval("document.title").expect("title");
        assert!(
            !title.as_str().unwrap_or("").contains("pwned"),
            "{path}: title {title}"
        );
        let injected = b
            .eval("document.querySelectorAll('img,svg,iframe,object,embed,b,script:not([src])').length")
            .expect("count");
        assert_eq!(
            injected,
            serde_json::json!(0),
            "{path}: elements were injected"
        );
        let scripts = b
            .eval("[...document.scripts].map(s => new URL(s.src).pathname)")
            .expect("scripts");
        assert_eq!(scripts, serde_json::json!(["/assets/app.js"]), "{path}");
        let text = b.eval("document.body.innerText").expect("text");
        let text = text.as_str().unwrap_or("");
        assert!(
            text.contains("<script>document.title="),
            "{path}: shown as text: {text}"
        );
        if path == format!("/jobs/{id}") {
            assert!(text.contains("<U+202E>gnp.exe"), "bidi spelled out: {text}");
            assert!(text.contains("<U+202E>reversed"), "bidi in the log: {text}");
            assert!(text.contains("<img src=x onerror="), "{text}");
            assert!(
                !text.contains("window-title") && !text.contains("Y2xpcA"),
                "{text}"
            );
            let red = b
                .eval("[...document.querySelectorAll('#log span.f1')].map(s => s.textContent)")
                .expect("spans");
            assert_eq!(
                red,
                serde_json::json!(["red"]),
                "the colour survives as a class"
            );
        }
    }
    assert!(
        b.console.iter().all(|m| !m.contains("pwned")),
        "{:?}",
        b.console
    );
    // The HTML as sent holds no such tag either (not only the DOM chromium built).
    let html = get(&d, &format!("/jobs/{id}"), &[]).text();
    assert!(
        !html.contains("<script>document") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        !html.contains('\u{202E}') && !html.contains('\x1b'),
        "raw controls in the page"
    );
}
