//! Notifications through real jobs on the real Docker Engine: mail to a real SMTP server
//! (aiosmtpd) on loopback — received with the right subject, facts and sanitised log, and
//! delivered once a relay that was down comes back —, webhooks to a loopback server that checks
//! the HMAC signature and the body shapes, `fixed` only after a failure, a refused webhook given
//! up, and commands fed the job's JSON with nothing of the daemon's environment, killed at their
//! deadline.

use crate::options;
use microci_proto::{JobStatus, Notification};
use microci_testkit::control::{Client, wait_final};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::forge_api::ForgeApi;
use microci_testkit::hooks::{push, sign};
use microci_testkit::repo::Repo;
use microci_testkit::smtp::{SmtpServer, decode};
use std::time::{Duration, Instant};

/// A daemon building `repo` as `alice/app` with these `[[notify]]` tables.
fn notifying(repo: &Repo, notify: &str) -> Options {
    Options {
        http: "public_url = \"https://ci.example.com/\"\n".into(),
        extra: notify.to_string(),
        ..options().for_repo(repo)
    }
}

/// Waits until `show` lists a notification of job `id` whose state starts with `want`.
async fn notified(d: &TestDaemon, id: i64, want: &str) -> Vec<Notification> {
    let mut c = Client::connect(&d.socket).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = c.job(id).await.notifications;
        if n.iter().any(|n| n.state.starts_with(want)) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "notifications stuck at {n:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_is_mailed_with_its_facts_and_a_clean_log() {
    let smtp = SmtpServer::start();
    let script = "echo 'first line'\nprintf 'colour \\033[31mred\\033[0m <b>bold</b> \\033]0;title\\007\\n'\nexit 3\n";
    let repo = Repo::with_script(script, None);
    let d = TestDaemon::start(notifying(
        &repo,
        &format!(
            "[[notify]]\nname = \"team\"\nkind = \"email\"\nto = \"dev@example.com\"\n\
             from = \"CI <ci@example.com>\"\nsmtp = \"127.0.0.1:{}\"\n",
            smtp.port
        ),
    ));
    let id = push(&d, &repo, "e-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    let n = notified(&d, id, "delivered").await;
    assert_eq!(
        (n[0].target.as_str(), n[0].event.as_str()),
        ("team", "failed")
    );
    let mail = smtp.wait_for(1, 30);
    assert_eq!(mail.len(), 1);
    let m = decode(&mail[0]);
    assert_eq!(
        m.subject,
        format!("[microci] alice/app main failed (#{id})")
    );
    assert_eq!(m.to, "dev@example.com");
    for fact in [
        "State       FAILED".to_string(),
        "Repository  alice/app".into(),
        "Branch      main".into(),
        format!("Commit      {}", repo.head()),
        "Reason      command exited with code 3".into(),
        format!("Job         https://ci.example.com/jobs/{id}"),
        "first line\n".into(),
        "colour red <b>bold</b> \n".into(),
    ] {
        assert!(m.text.contains(&fact), "{fact:?} not in\n{}", m.text);
    }
    assert!(!m.text.contains('\x1b'), "{:?}", m.text);
    assert!(!m.text.contains("title"), "{:?}", m.text);
    assert!(
        m.html.contains("colour red &lt;b&gt;bold&lt;/b&gt;"),
        "{}",
        m.html
    );
    assert!(!m.html.contains("<b>"), "{}", m.html);
    assert!(
        m.html
            .contains(&format!("<a href=\"https://ci.example.com/jobs/{id}\">")),
        "{}",
        m.html
    );
    // A success after it is news too (`fixed` is in the default events); a second is not.
    repo.commit(&[("microci.sh", "echo ok\n")], "repair");
    let fixed = push(&d, &repo, "e-2");
    assert_eq!(
        wait_final(&d.socket, fixed).await.status,
        JobStatus::Succeed
    );
    notified(&d, fixed, "delivered").await;
    let mail = smtp.wait_for(2, 30);
    assert_eq!(
        decode(&mail[1]).subject,
        format!("[microci] alice/app main is fixed (#{fixed})")
    );
    repo.commit(&[("x", "x")], "again");
    let quiet = push(&d, &repo, "e-3");
    assert_eq!(
        wait_final(&d.socket, quiet).await.status,
        JobStatus::Succeed
    );
    let mut c = Client::connect(&d.socket).await;
    assert!(c.job(quiet).await.notifications.is_empty());
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_is_down_gets_retries_and_the_mail_arrives_once() {
    let mut smtp = SmtpServer::down();
    let repo = Repo::with_script("exit 1\n", None);
    let d = TestDaemon::start(notifying(
        &repo,
        &format!(
            "[[notify]]\nkind = \"email\"\nto = \"dev@example.com\"\nsmtp = \"127.0.0.1:{}\"\n",
            smtp.port
        ),
    ));
    let id = push(&d, &repo, "r-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    let n = notified(&d, id, "retrying").await;
    assert!(n[0].state.contains("127.0.0.1"), "{n:?}");
    smtp.up();
    notified(&d, id, "delivered").await;
    let mail = smtp.wait_for(1, 10);
    // Delivered once: no second copy comes later either.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.messages().len(), 1, "{mail:?}");
    assert_eq!(
        decode(&mail[0]).subject,
        format!("[microci] alice/app main failed (#{id})")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_goes_through_starttls_and_auth_and_a_wrong_password_is_given_up() {
    let smtp = SmtpServer::start_tls("ci", "right-password");
    let dir = tempfile::tempdir().expect("tempdir");
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::write(&good, "right-password\n").expect("write");
    std::fs::write(&bad, "wrong-password\n").expect("write");
    let entry = |name: &str, file: &std::path::Path| {
        format!(
            "[[notify]]\nname = \"{name}\"\nkind = \"email\"\nto = \"dev@example.com\"\n\
             smtp = \"localhost:{}\"\nstarttls = true\nusername = \"ci\"\n\
             password_file = \"{}\"\n",
            smtp.port,
            file.display()
        )
    };
    let repo = Repo::with_script("exit 1\n", None);
    let d = TestDaemon::start(Options {
        // The relay's certificate is the test's own: trusted through OpenSSL's SSL_CERT_FILE.
        env: vec![("SSL_CERT_FILE".into(), smtp.cert().display().to_string())],
        ..notifying(
            &repo,
            &format!("{}{}", entry("good", &good), entry("bad", &bad)),
        )
    });
    let id = push(&d, &repo, "t-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    let mut c = Client::connect(&d.socket).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let states = loop {
        let n = c.job(id).await.notifications;
        let state = |t: &str| {
            n.iter()
                .find(|n| n.target == t)
                .map(|n| n.state.clone())
                .unwrap_or_default()
        };
        let (g, b) = (state("good"), state("bad"));
        if g.starts_with("delivered") && b.starts_with("gave up") {
            break (g, b);
        }
        assert!(Instant::now() < deadline, "notifications stuck at {n:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        states.1.contains("535") || states.1.contains("uthentication"),
        "{states:?}"
    );
    let mail = smtp.wait_for(1, 10);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(
        decode(&mail[0]).subject,
        format!("[microci] alice/app main failed (#{id})")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_shaped_and_given_up_when_refused() {
    let receiver = ForgeApi::start(&[]);
    let refusing = ForgeApi::start(&[]);
    refusing.answer(410);
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "hook-signing-secret\n").expect("write");
    let repo = Repo::with_script("exit 2\n", None);
    let d = TestDaemon::start(notifying(
        &repo,
        &format!(
            "[[notify]]\nname = \"json\"\nkind = \"webhook\"\nurl = \"{0}/json\"\n\
             secret_file = \"{1}\"\nevents = [\"failed\", \"fixed\"]\n\
             [[notify]]\nname = \"slack\"\nkind = \"webhook\"\nurl = \"{0}/slack\"\n\
             format = \"slack\"\nevents = [\"failed\"]\nbranches = [\"main\"]\n\
             [[notify]]\nname = \"other\"\nkind = \"webhook\"\nurl = \"{0}/other\"\n\
             branches = [\"release/*\"]\n\
             [[notify]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"{2}/gone\"\n",
            receiver.origin(),
            secret_file.display(),
            refusing.origin()
        ),
    ));
    let failed = push(&d, &repo, "w-1");
    assert_eq!(
        wait_final(&d.socket, failed).await.status,
        JobStatus::Failed
    );
    let n = notified(&d, failed, "gave up").await;
    let state = |t: &str| {
        n.iter()
            .find(|n| n.target == t)
            .map(|n| n.state.clone())
            .unwrap_or_default()
    };
    assert!(state("gone").starts_with("gave up (HTTP 410"), "{n:?}");
    assert!(n.iter().all(|n| n.target != "other"), "{n:?}");
    repo.commit(&[("microci.sh", "echo ok\n")], "repair");
    let fixed = push(&d, &repo, "w-2");
    assert_eq!(
        wait_final(&d.socket, fixed).await.status,
        JobStatus::Succeed
    );
    notified(&d, fixed, "delivered").await;
    notified(&d, failed, "delivered").await;

    let calls = receiver.calls();
    let json: Vec<_> = calls.iter().filter(|c| c.path == "/json").collect();
    assert_eq!(json.len(), 2, "{calls:?}");
    for c in &json {
        let want = format!("sha256={}", sign("hook-signing-secret", &c.raw));
        assert_eq!(c.header("x-microci-signature"), Some(want.as_str()));
        assert_eq!(c.header("content-type"), Some("application/json"));
    }
    assert_eq!(json[0].body["event"], "failed");
    assert_eq!(json[0].body["job"]["id"], failed);
    assert_eq!(json[0].body["job"]["status"], "FAILED");
    assert_eq!(json[0].body["branch"], "main");
    assert_eq!(
        json[0].body["url"],
        format!("https://ci.example.com/jobs/{failed}")
    );
    assert_eq!(json[1].body["event"], "fixed");
    assert_eq!(json[1].body["job"]["id"], fixed);
    let slack: Vec<_> = calls.iter().filter(|c| c.path == "/slack").collect();
    assert_eq!(slack.len(), 1, "{calls:?}");
    assert!(slack[0].header("x-microci-signature").is_none());
    let text = slack[0].body["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with(&format!("[microci] alice/app main failed (#{failed})")),
        "{text}"
    );
    assert!(calls.iter().all(|c| c.path != "/other"), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_get_the_job_on_stdin_and_are_killed_at_their_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("job.json");
    let env = dir.path().join("env");
    let repo = Repo::with_script("exit 4\n", None);
    let d = TestDaemon::start(notifying(
        &repo,
        &format!(
            "[[notify]]\nname = \"record\"\nkind = \"command\"\n\
             command = [\"/bin/sh\", \"-c\", \"cat > '{}'; env > '{}'\"]\n\
             env = {{ CHANNEL = \"builds\" }}\n\
             [[notify]]\nname = \"hang\"\nkind = \"command\"\n\
             command = [\"/bin/sh\", \"-c\", \"sleep 60\"]\ntimeout = \"1s\"\n",
            out.display(),
            env.display()
        ),
    ));
    let id = push(&d, &repo, "c-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    let n = notified(&d, id, "retrying").await;
    let hang = n.iter().find(|n| n.target == "hang").expect("hang");
    assert_eq!(hang.state, "retrying (/bin/sh was killed after 1s)");
    notified(&d, id, "delivered").await;
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("the command's output"))
            .expect("JSON on stdin");
    assert_eq!(doc["event"], "failed");
    assert_eq!(doc["job"]["id"], id);
    assert_eq!(doc["job"]["reason"], "command exited with code 4");
    let env = std::fs::read_to_string(&env).expect("env");
    assert!(env.contains("CHANNEL=builds"), "{env}");
    // Nothing of the daemon's own environment (the tests give it MICROCI_LOG) reaches it.
    assert!(!env.contains("MICROCI"), "{env}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_notification_outlives_a_restart() {
    let mut smtp = SmtpServer::down();
    let repo = Repo::with_script("exit 1\n", None);
    let mut d = TestDaemon::start(notifying(
        &repo,
        &format!(
            "[[notify]]\nkind = \"email\"\nto = \"dev@example.com\"\nsmtp = \"127.0.0.1:{}\"\n",
            smtp.port
        ),
    ));
    let id = push(&d, &repo, "o-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    notified(&d, id, "retrying").await;
    d.stop();
    smtp.up();
    d.spawn();
    let n = notified(&d, id, "delivered").await;
    assert_eq!(n.len(), 1, "{n:?}");
    let mail = smtp.wait_for(1, 10);
    assert_eq!(mail.len(), 1);
    assert_eq!(
        decode(&mail[0]).subject,
        format!("[microci] alice/app main failed (#{id})")
    );
}
