//! Artifacts against the real daemon and Docker: a job's globs keep the right files (a FAILED
//! job's too), a symbolic link to `/etc/passwd` is refused by name, `docker.max_artifacts` stops
//! the copy keeping what fit, the CLI downloads a file byte for byte what the job wrote (the
//! job's own `sha256sum` against the file saved), the web serves it where the pages may show
//! the job (and only names the job kept), a re-attached job and a cancelled one in a copied
//! workspace collect too, and retention removes them with their job.

use crate::options;
use microci_proto::JobStatus;
use microci_testkit::control::{log_text, wait_final, wait_for};
use microci_testkit::daemon::{Options, TestDaemon};
use microci_testkit::hooks::{push, push_another};
use microci_testkit::http::request;
use microci_testkit::repo::Repo;
use sha2::Digest;
use std::time::Duration;

fn cli_ok(d: &TestDaemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The artifacts `microci-tui artifacts ID --json` lists: (name, size, sha256).
fn listed(d: &TestDaemon, id: i64) -> Vec<(String, u64, String)> {
    let text = cli_ok(d, &["artifacts", &id.to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v.as_array()
        .expect("an array")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_string(),
                a["size"].as_u64().expect("size"),
                a["sha256"].as_str().expect("sha256").to_string(),
            )
        })
        .collect()
}

/// The hash `sha256sum` printed in the job's log for `name`.
fn job_sha(log: &str, name: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_suffix(&format!("  {name}")))
        .unwrap_or_else(|| panic!("no sha256sum line for {name} in:\n{log}"))
        .to_string()
}

const GLOB_SCRIPT: &str = "\
mkdir -p target/debian target/other
head -c 700000 /dev/urandom > target/debian/app_1.0.deb
echo notes > target/debian/notes.txt
echo other > target/other/x.deb
printf '<h1>report</h1>' > report.html
ln -s /etc/passwd target/debian/passwd.deb
ln -s /etc target/etc
sha256sum target/debian/app_1.0.deb report.html
exit 3
";

#[tokio::test(flavor = "multi_thread")]
async fn globs_keep_the_right_files_refuse_escaping_links_and_download_byte_for_byte() {
    let repo = Repo::with_script(
        GLOB_SCRIPT,
        Some(
            r#"{"artifacts": ["target/debian/*.deb", "report.html", "missing/*.zip", "target/etc/passwd"]}"#,
        ),
    );
    let d = TestDaemon::start(Options {
        http: "pages = \"all\"\n".into(),
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "a-1");
    let job = wait_final(&d.socket, id).await;
    // The command failed: its artifacts are kept all the same.
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    let log = log_text(&d, id).await;
    assert!(
        log.contains(
            "[microci] artifacts: refused \"target/debian/passwd.deb\": a symbolic link to \
             \"/etc/passwd\", outside /repo"
        ),
        "{log}"
    );
    // Nothing is read through a link a glob would pass: the container's own /etc stays in.
    assert!(
        log.contains(
            "[microci] artifacts: refused \"target/etc\": a symbolic link to \"/etc\", \
             outside /repo"
        ),
        "{log}"
    );
    assert!(
        log.contains("[microci] artifacts: \"missing/*.zip\" matched no file"),
        "{log}"
    );
    assert!(
        log.contains("[microci] artifacts: 2 kept, 700015 bytes"),
        "{log}"
    );
    // The artifacts are in before the end is.
    let summary = log.find("artifacts: 2 kept").expect("summary");
    let end = log.find("[microci] FAILED").expect("end line");
    assert!(summary < end, "{log}");

    let deb_sha = job_sha(&log, "target/debian/app_1.0.deb");
    let mut kept = listed(&d, id);
    kept.sort();
    assert_eq!(
        kept,
        [
            ("report.html".to_string(), 15, job_sha(&log, "report.html")),
            (
                "target/debian/app_1.0.deb".to_string(),
                700_000,
                deb_sha.clone()
            ),
        ]
    );
    let show = cli_ok(&d, &["show", &id.to_string()]);
    assert!(
        show.contains("artifacts:") && show.contains("target/debian/app_1.0.deb"),
        "{show}"
    );

    // The CLI download is byte for byte what the job wrote (over a window: 700,000 bytes).
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().to_str().expect("utf-8 path");
    let said = cli_ok(
        &d,
        &[
            "artifacts",
            &id.to_string(),
            "--get",
            "target/debian/app_1.0.deb",
            "-o",
            dir,
        ],
    );
    let saved = out.path().join("app_1.0.deb");
    assert!(said.contains(&saved.display().to_string()), "{said}");
    let bytes = std::fs::read(&saved).expect("downloaded file");
    assert_eq!(bytes.len(), 700_000);
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), deb_sha);
    // A name the job did not keep is an error, and writes nothing.
    let refused = d.cli(&[
        "artifacts",
        &id.to_string(),
        "--get",
        "target/debian/passwd.deb",
        "-o",
        dir,
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("has no artifact"),
        "{refused:?}"
    );
    assert!(!out.path().join("passwd.deb").exists());
    assert!(
        !d.state_dir()
            .join(format!("artifacts/{id}/target/debian/passwd.deb"))
            .exists()
    );

    // The web: the job page links it; the download is the same bytes, as an attachment.
    let page = request(d.port, "GET", &format!("/jobs/{id}"), &[], b"").text();
    assert!(
        page.contains(&format!("/jobs/{id}/artifacts/target/debian/app_1.0.deb")),
        "{page}"
    );
    let got = request(
        d.port,
        "GET",
        &format!("/jobs/{id}/artifacts/target/debian/app_1.0.deb"),
        &[],
        b"",
    );
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert!(
        got.header("content-disposition")
            .is_some_and(|v| v.starts_with("attachment; filename=\"app_1.0.deb\"")),
        "{:?}",
        got.headers
    );
    for missing in [
        "target/debian/passwd.deb",
        "target/debian/notes.txt",
        "..%2F..%2Fmicroci.db",
        "../../microci.db",
        "%2Fetc%2Fpasswd",
    ] {
        let r = request(
            d.port,
            "GET",
            &format!("/jobs/{id}/artifacts/{missing}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 404, "{missing}: {}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_globs_end_the_job_errored_naming_them() {
    let repo = Repo::with_script(
        "echo never\n",
        Some(r#"{"artifacts": ["../../etc/passwd"]}"#),
    );
    let d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "g-1");
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Errored);
    let reason = job.reason.unwrap_or_default();
    assert!(
        reason.contains("\"artifacts\" glob \"../../etc/passwd\" must not contain"),
        "{reason}"
    );
    assert!(!log_text(&d, id).await.contains("never\n"));
}

const CAP_SCRIPT: &str = "\
mkdir -p out
head -c 61440 /dev/urandom > out/1.bin
head -c 61440 /dev/urandom > out/2.bin
head -c 10240 /dev/urandom > out/3.bin
";

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_keeps_what_fit_and_retention_removes_artifacts_with_their_job() {
    let repo = Repo::with_script(CAP_SCRIPT, Some(r#"{"artifacts": ["out"]}"#));
    let d = TestDaemon::start(Options {
        docker: "max_artifacts = \"100k\"\n".into(),
        extra: "[retention]\nmax_age = \"1s\"\n".into(),
        ..options().for_repo(&repo)
    });
    let first = push(&d, &repo, "c-1");
    let job = wait_final(&d.socket, first).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let log = log_text(&d, first).await;
    assert!(
        log.contains("[microci] artifacts: stopped at \"out/")
            && log.contains("over docker.max_artifacts (102400 bytes)"),
        "{log}"
    );
    let kept = listed(&d, first);
    let total: u64 = kept.iter().map(|(_, size, _)| size).sum();
    // Whatever order the Engine archives them in, the first 60 KiB file fits and the other
    // does not.
    assert!(!kept.is_empty() && kept.len() < 3, "{kept:?}");
    assert!(total <= 100 * 1024, "{kept:?}");
    assert!(
        kept.iter().all(|(n, _, _)| n.starts_with("out/")),
        "{kept:?}"
    );
    for (name, size, sha) in &kept {
        let file = std::fs::read(d.state_dir().join(format!("artifacts/{first}/{name}")))
            .expect("kept file");
        assert_eq!(file.len() as u64, *size);
        assert_eq!(&hex::encode(sha2::Sha256::digest(&file)), sha);
    }
    // The pages may not show a private repository's job: nor its artifacts.
    let name = &kept[0].0;
    let hidden = request(
        d.port,
        "GET",
        &format!("/jobs/{first}/artifacts/{name}"),
        &[],
        b"",
    );
    assert_eq!(hidden.status, 404);

    // A newer job of the branch: the first may go, and its artifacts with it.
    let second = push_another(&d, &repo, "c-2");
    wait_final(&d.socket, second).await;
    // Stored end times have whole seconds: past `max_age = "1s"` for sure after two.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let pruned = cli_ok(&d, &["prune"]);
    let jobs = cli_ok(&d, &["jobs"]);
    assert!(
        !d.state_dir().join(format!("artifacts/{first}")).exists(),
        "prune said:\n{pruned}\njobs:\n{jobs}\n{}",
        d.log()
    );
    assert!(
        !d.state_dir()
            .join(format!("artifacts/{first}.json"))
            .exists()
    );
    assert!(!listed(&d, second).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_re_attached_after_a_restart_collects_its_artifacts() {
    let repo = Repo::with_script(
        "echo started; sleep 3; echo kept > kept.txt\n",
        Some(r#"{"artifacts": ["kept.txt"]}"#),
    );
    let mut d = TestDaemon::start(options().for_repo(&repo));
    let id = push(&d, &repo, "r-1");
    wait_for(&d.socket, id, 60, |j| {
        j.status == JobStatus::Started && j.log_size > 0
    })
    .await;
    while !log_text(&d, id).await.contains("started\n") {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.crash();
    d.spawn();
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
    let kept = listed(&d, id);
    assert_eq!(
        kept.iter()
            .map(|(n, s, _)| (n.as_str(), *s))
            .collect::<Vec<_>>(),
        [("kept.txt", 5)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_in_a_copied_workspace_keeps_what_it_wrote() {
    let repo = Repo::with_script(
        "echo partial > part.txt; echo ready; sleep 60\n",
        Some(r#"{"artifacts": ["part.txt"]}"#),
    );
    let d = TestDaemon::start(Options {
        workspace: "copy",
        ..options().for_repo(&repo)
    });
    let id = push(&d, &repo, "k-1");
    while !log_text(&d, id).await.contains("ready\n") {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cli_ok(&d, &["cancel", &id.to_string()]);
    let job = wait_final(&d.socket, id).await;
    assert_eq!(job.status, JobStatus::Canceled, "{job:?}");
    let kept = listed(&d, id);
    assert_eq!(
        kept.iter()
            .map(|(n, s, _)| (n.as_str(), *s))
            .collect::<Vec<_>>(),
        [("part.txt", 8)]
    );
    let file =
        std::fs::read(d.state_dir().join(format!("artifacts/{id}/part.txt"))).expect("kept file");
    assert_eq!(file, b"partial\n");
}

/// Peak resident memory of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run by hand"]
async fn numbers_copying_a_200_mib_artifact() {
    let script = "head -c 209715200 /dev/urandom > big.bin\n";
    let mut seconds = Vec::new();
    for globs in ["[]", r#"["big.bin"]"#] {
        let json = format!(r#"{{"artifacts": {globs}, "timeout": "10m"}}"#);
        let repo = Repo::with_script(script, Some(&json));
        let d = TestDaemon::start(Options {
            docker: "max_artifacts = \"1g\"\n".into(),
            ..options().for_repo(&repo)
        });
        let started = std::time::Instant::now();
        let id = push(&d, &repo, "n-1");
        let job = wait_final(&d.socket, id).await;
        assert_eq!(job.status, JobStatus::Succeed, "{job:?}");
        seconds.push(started.elapsed().as_secs_f64());
        println!(
            "artifacts {globs}: job {:.2} s, daemon peak RSS {} KiB",
            started.elapsed().as_secs_f64(),
            peak_kib(d.pid())
        );
    }
    println!("copying 200 MiB out added {:.2} s", seconds[1] - seconds[0]);
}
