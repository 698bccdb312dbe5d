//! Job secrets through real Docker: a job gets the secrets its `.microci.json` asks for, as
//! variables and as files under `/run/secrets/`; every occurrence in its output (printed a byte
//! at a time, base64-encoded) is `***` in the log, the CLI and the web page; a fork's pull
//! request and a branch outside `secret_branches` get none and their log says so; a re-attaching
//! daemon still masks and loses no line; bad config is refused naming the key, never the value.

use crate::options;
use crate::pulls::{job_id, pull_event, pull_head};
use base64::Engine as _;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final};
use microci_testkit::daemon::{Options, SECRET, TestDaemon};
use microci_testkit::hooks::{FORGE_URL, ZEROS, deliver, gogs_push, push};
use microci_testkit::http::request;
use microci_testkit::repo::Repo;
use sha2::Digest;
use std::path::Path;
use std::time::{Duration, Instant};

/// The token the daemon's environment holds (`env:` source).
const TOKEN: &str = "tok-3x4mpl3/Secret+Value";
/// The key file's content (`file:` source).
const KEY: &str =
    "-----BEGIN TEST KEY-----\nabcdefghijklmnopqrstuvwxyz012345\n-----END TEST KEY-----\n";

/// Options with the token and the key configured for `alice/app`, plus `repo_extra`.
fn with_secrets(repo: &Repo, dir: &Path, repo_extra: &str) -> Options {
    let key = dir.join("deploy_key");
    std::fs::write(&key, KEY).expect("key");
    Options {
        repo: format!(
            "secrets = {{ API_TOKEN = \"env:MICROCI_TEST_API_TOKEN\", DEPLOY_KEY = \"file:{}\" }}\n\
             {repo_extra}",
            key.display()
        ),
        http: "pages = \"all\"\n".into(),
        env: vec![("MICROCI_TEST_API_TOKEN".into(), TOKEN.into())],
        ..options().for_repo(repo)
    }
}

fn sha256(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Nothing of either secret, in any form the masker knows, is in `text`.
fn assert_no_secret(what: &str, text: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for needle in [
        TOKEN.to_string(),
        b64.encode(TOKEN),
        b64.encode(TOKEN)[..20].to_string(),
        "abcdefghijklmnopqrstuvwxyz012345".to_string(),
    ] {
        assert!(!text.contains(&needle), "{what} shows {needle:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_reach_the_job_and_never_its_log() {
    secrets_reach_the_job_and_never_its_log_with("bind").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_reach_a_job_whose_workspace_is_copied_in_too() {
    secrets_reach_the_job_and_never_its_log_with("copy").await;
}

async fn secrets_reach_the_job_and_never_its_log_with(workspace: &'static str) {
    let script = r#"echo "env-sha=$(printf %s "$API_TOKEN" | sha256sum | cut -d' ' -f1)"
echo "file-sha=$(sha256sum < /run/secrets/DEPLOY_KEY | cut -d' ' -f1)"
echo "file-mode=$(stat -c %a /run/secrets/DEPLOY_KEY)"
s="$API_TOKEN"; printf 'slow:'
while [ -n "$s" ]; do r="${s#?}"; printf %s "${s%"$r"}"; s="$r"; sleep 0.02; done
echo ':end'
echo "plain:$API_TOKEN:end"
echo "b64:$(printf %s "$API_TOKEN" | base64):end"
echo "inner-b64:$(printf 'user:%s!' "$API_TOKEN" | base64):end"
cat /run/secrets/DEPLOY_KEY
ls /repo
"#;
    let repo = Repo::with_script(
        script,
        Some(r#"{"secrets": ["API_TOKEN"], "secret_files": ["DEPLOY_KEY"]}"#),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let d = TestDaemon::start(Options {
        workspace,
        ..with_secrets(&repo, dir.path(), "")
    });
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    // The job had the real values.
    assert!(
        log.contains(&format!("env-sha={}\n", sha256(TOKEN))),
        "{log}"
    );
    assert!(
        log.contains(&format!("file-sha={}\n", sha256(KEY))),
        "{log}"
    );
    assert!(log.contains("file-mode=400\n"), "{log}");
    assert!(
        log.contains("[microci] secrets: API_TOKEN, /run/secrets/DEPLOY_KEY\n"),
        "{log}"
    );
    // Not in the workspace.
    assert!(
        !log.lines().any(|l| l == "DEPLOY_KEY" || l == "deploy_key"),
        "{log}"
    );
    // Printed one byte per write, as is, base64-encoded, inside a longer encoding: masked.
    for line in [
        "slow:***:end\n",
        "plain:***:end\n",
        "b64:***:end\n",
        "***\n",
    ] {
        assert!(log.contains(line), "{line:?} missing:\n{log}");
    }
    let inner = log
        .lines()
        .find(|l| l.starts_with("inner-b64:"))
        .expect("inner line");
    assert!(inner.contains("***"), "{inner}");
    assert_no_secret("the log", &log);
    // Nor anywhere else a person reads the job.
    let raw = request(d.port, "GET", &format!("/jobs/{id}/log"), &[], b"").text();
    assert!(raw.contains("slow:***:end"), "{raw}");
    assert_no_secret("the web log", &raw);
    let page = request(d.port, "GET", &format!("/jobs/{id}"), &[], b"").text();
    assert_no_secret("the job page", &page);
    for args in [
        &["logs", &id.to_string()][..],
        &["show", &id.to_string()][..],
    ] {
        let out = String::from_utf8_lossy(&d.cli(args).stdout).into_owned();
        assert_no_secret(&format!("{args:?}"), &out);
    }
    // Nor the daemon's own log.
    assert_no_secret("the daemon's log", &d.log());
    d.wait_cleaned(id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forks_pull_request_and_a_branch_outside_secret_branches_get_none() {
    let script = "echo \"token=[${API_TOKEN:-none}]\"; \
                  ls /run/secrets 2>/dev/null || echo 'no secret files'\n";
    let json = r#"{"secrets": ["API_TOKEN"], "secret_files": ["DEPLOY_KEY"]}"#;
    let repo = Repo::with_script(script, Some(json));
    let forked = pull_head(&repo, 8, script);
    let dir = tempfile::tempdir().expect("tmp");
    let extra = "pull_requests = \"all\"\nsecret_branches = [\"main\"]\n";
    let d = TestDaemon::start(with_secrets(&repo, dir.path(), extra));

    let fork = job_id(&pull_event(&d, "opened", 8, &forked, "mallory/app"));
    let job = wait_final(&d.socket, fork).await;
    let log = log_text(&d, fork).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(job.untrusted);
    assert!(
        log.contains(
            "[microci] secrets withheld: a fork's pull request gets none \
             (asked for API_TOKEN, DEPLOY_KEY)\n"
        ),
        "{log}"
    );
    assert!(log.contains("token=[none]\nno secret files\n"), "{log}");

    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["branch", "feature"])
        .status()
        .expect("git");
    assert!(status.success());
    let body = gogs_push(
        "alice/app",
        FORGE_URL,
        "refs/heads/feature",
        ZEROS,
        &repo.head(),
        "feature work",
    );
    let resp = deliver(&d, "push", "d-feature", &body, Some(SECRET));
    assert_eq!(resp.status, 202, "{}", resp.text());
    let feature = resp.json()["job_id"].as_i64().expect("id");
    let job = wait_final(&d.socket, feature).await;
    let log = log_text(&d, feature).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(
        log.contains(
            "[microci] secrets withheld: branch \"feature\" is not in secret_branches \
             [\"main\"] (asked for API_TOKEN, DEPLOY_KEY)\n"
        ),
        "{log}"
    );
    assert!(log.contains("token=[none]\nno secret files\n"), "{log}");

    // main is in secret_branches: it gets them (and its log masks them).
    let main = push(&d, &repo, "d-main");
    let job = wait_final(&d.socket, main).await;
    let log = log_text(&d, main).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    assert!(log.contains("token=[***]\nDEPLOY_KEY\n"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_the_repository_does_not_configure_errors_naming_it() {
    let repo = Repo::with_script("true\n", Some(r#"{"secrets": ["NOT_CONFIGURED"]}"#));
    let dir = tempfile::tempdir().expect("tmp");
    let d = TestDaemon::start(with_secrets(&repo, dir.path(), ""));
    let id = push(&d, &repo, "d-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored, "{job:?}");
    assert_eq!(
        job.reason.as_deref(),
        Some(
            ".microci.json: secret \"NOT_CONFIGURED\" is not configured for alice/app \
             ([[repo]] secrets)"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_that_re_attaches_still_masks_and_loses_no_line() {
    let repo = Repo::with_script(
        "i=1; while [ $i -le 60 ]; do echo \"line-$i $API_TOKEN\"; i=$((i+1)); sleep 0.03; done\n",
        Some(r#"{"secrets": ["API_TOKEN"]}"#),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut d = TestDaemon::start(with_secrets(&repo, dir.path(), ""));
    let id = push(&d, &repo, "d-1");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log_text(&d, id).await.contains("line-10 ***\n") {
        assert!(Instant::now() < deadline, "line-10 never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.crash();
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    let log = log_text(&d, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("line-")).collect();
    let want: Vec<String> = (1..=60).map(|i| format!("line-{i} ***")).collect();
    assert_eq!(lines, want, "log:\n{log}");
    assert_no_secret("the re-attached log", &log);
}

#[test]
fn bad_secret_settings_are_refused_naming_the_key_never_the_value() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("config.toml");
    let check = |secrets: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[webhook]\nsecret = \"{SECRET}\"\n[[repo]]\nname = \"alice/app\"\n\
                 secrets = {{ {secrets} }}\n"
            ),
        )
        .expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_microcid"))
            .args(["check-config", "--config"])
            .arg(&cfg)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{secrets} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check("API_TOKEN = \"literal-token-value\"");
    assert!(
        err.contains("repo[0].secrets.API_TOKEN") && err.contains("never written in the config"),
        "{err}"
    );
    assert!(!err.contains("literal-token-value"), "{err}");
    let err = check("API_TOKEN = \"file:/nonexistent/microci/token\"");
    assert!(
        err.contains("repo[0].secrets.API_TOKEN") && err.contains("/nonexistent/microci/token"),
        "{err}"
    );
    let err = check("\"BAD-NAME\" = \"env:PATH\"");
    assert!(err.contains("\"BAD-NAME\" is not a variable name"), "{err}");
    let err = check("CI = \"env:PATH\"");
    assert!(err.contains("reserved"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_carries_the_masked_log_tail() {
    let repo = Repo::with_script(
        "echo \"leak:$API_TOKEN:end\"; exit 3\n",
        Some(r#"{"secrets": ["API_TOKEN"]}"#),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("job.json");
    let d = TestDaemon::start(Options {
        extra: format!(
            "[[notify]]\nname = \"record\"\nkind = \"command\"\n\
             command = [\"/bin/sh\", \"-c\", \"cat > '{}'\"]\n",
            out.display()
        ),
        ..with_secrets(&repo, dir.path(), "")
    });
    let id = push(&d, &repo, "d-1");
    assert_eq!(wait_final(&d.socket, id).await.status, JobStatus::Failed);
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(&out)
            && t.ends_with('}')
        {
            break t;
        }
        assert!(Instant::now() < deadline, "no notification");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let tail = doc["log_tail"].to_string();
    assert!(tail.contains("leak:***:end"), "{text}");
    assert_no_secret("the notification", &text);
}
