//! The git cache against real servers on loopback: git daemon, nginx + git-http-backend with basic auth,
//! and sshd with a deploy key.
#![allow(clippy::unwrap_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use microci_testkit::free_port;
use microci_testkit::git_servers::{GitDaemon, HttpGit, Sshd, TestRepo, git, keygen, make_repo};
use microcid::git::{Credentials, GitCache, GitError, Origin};
use tokio_util::sync::CancellationToken;

/// `resolve_ref`'s commit: what a manual build of `reference` would build.
fn resolve(
    cache: &GitCache,
    repo: &str,
    url: &str,
    creds: &Credentials,
    reference: &str,
    cancel: &CancellationToken,
) -> Result<String, GitError> {
    cache
        .resolve_ref(repo, url, creds, reference, cancel)
        .map(|(_, commit)| commit)
}

/// A cancellation nobody fires.
fn never() -> CancellationToken {
    CancellationToken::new()
}

/// Where test credentials may go: the loopback server at `url`, over plain http too.
fn bound_to(url: &str, creds: Credentials) -> Credentials {
    Credentials {
        origins: Origin::of_url(url).into_iter().collect(),
        allow_insecure_http: true,
        ..creds
    }
}

fn sample_repo() -> TestRepo {
    let mut repo = make_repo(&[("README.md", b"hello\n"), ("src/lib.txt", b"lib\n")]);
    repo.write("run.sh", b"#!/bin/sh\necho ok\n");
    repo.chmod_x("run.sh");
    repo.symlink("README.md", "link-to-readme");
    repo.commit(&[], "script and symlink");
    repo.tag("v1", Some("release 1"));
    repo
}

fn assert_checkout(dest: &Path, commit: &str) {
    assert_eq!(std::fs::read(dest.join("README.md")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read(dest.join("src/lib.txt")).unwrap(), b"lib\n");
    let mode = std::fs::metadata(dest.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "run.sh lost its executable bits: {mode:o}"
    );
    let meta = std::fs::symlink_metadata(dest.join("link-to-readme")).unwrap();
    assert!(
        meta.file_type().is_symlink(),
        "link-to-readme is not a symlink"
    );
    assert_eq!(
        std::fs::read_link(dest.join("link-to-readme")).unwrap(),
        Path::new("README.md")
    );
    // A usable work tree: HEAD is the commit, clean, tags present for `git describe`.
    assert_eq!(git(dest, &["rev-parse", "HEAD"]), commit);
    assert_eq!(git(dest, &["status", "--porcelain"]), "");
    git(dest, &["fsck", "--no-dangling", "--connectivity-only"]);
}

#[test]
fn git_daemon_checkout_then_incremental_fetch_then_offline() {
    let mut repo = sample_repo();
    let first = repo.head.clone();
    let base = tempfile::tempdir().unwrap();
    let bare = repo.publish(base.path(), "alice_app");
    let server = GitDaemon::start(base.path());
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    let creds = Credentials::default();
    let url = server.url("alice_app");

    let dest1 = work.path().join("job1");
    cache
        .checkout(
            "alice/app",
            &url,
            &creds,
            "refs/heads/main",
            &first,
            &dest1,
            &never(),
        )
        .unwrap();
    assert_checkout(&dest1, &first);
    assert_eq!(git(&dest1, &["describe", "--tags"]), "v1");
    assert_eq!(git(&dest1, &["remote", "get-url", "origin"]), url);

    let cache_dir = cache.cache_dir("alice/app");
    assert!(
        cache_dir.join("HEAD").exists(),
        "bare cache not at {}",
        cache_dir.display()
    );
    std::fs::write(cache_dir.join("microci-test-marker"), b"").unwrap();

    let second = repo.commit(&[("new.txt", b"new\n")], "second");
    repo.push_to(&bare);
    let dest2 = work.path().join("job2");
    cache
        .checkout("alice/app", &url, &creds, "main", &second, &dest2, &never())
        .unwrap();
    assert_eq!(std::fs::read(dest2.join("new.txt")).unwrap(), b"new\n");
    assert_eq!(git(&dest2, &["rev-parse", "HEAD"]), second);
    assert!(
        cache_dir.join("microci-test-marker").exists(),
        "the cache was re-created instead of fetched into"
    );

    // Commits already cached need no network: stop the server and check out the first again.
    drop(server);
    let dest3 = work.path().join("job3");
    cache
        .checkout(
            "alice/app",
            &url,
            &creds,
            "refs/heads/main",
            &first,
            &dest3,
            &never(),
        )
        .unwrap();
    assert_checkout(&dest3, &first);
    assert!(!dest3.join("new.txt").exists());
}

#[test]
fn http_with_token_and_wrong_token() {
    let repo = sample_repo();
    let base = tempfile::tempdir().unwrap();
    repo.publish(base.path(), "app");
    let token = "tok-Secret-4711";
    let server = HttpGit::start(base.path(), "alice", token);
    let url = server.url("app");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));

    let good = Credentials {
        username: Some("alice".into()),
        token: Some(token.into()),
        ..bound_to(&url, Credentials::default())
    };
    let dest = work.path().join("ok");
    cache
        .checkout(
            "alice/app",
            &url,
            &good,
            "refs/heads/main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap_or_else(|e| panic!("{e}\nnginx log:\n{}", server.error_log()));
    assert_checkout(&dest, &repo.head);
    assert_eq!(
        resolve(&cache, "alice/app", &url, &good, "main", &never()).unwrap(),
        repo.head
    );

    // Token in the URL's userinfo works too (for that URL's host only, and over plain http only
    // when allowed), and is not written into the checkout's origin.
    let with_userinfo = url.replace("http://", &format!("http://alice:{token}@"));
    let insecure = Credentials {
        allow_insecure_http: true,
        ..Credentials::default()
    };
    let dest = work.path().join("userinfo");
    let other_cache = GitCache::new(work.path().join("cache2"));
    let err = other_cache
        .checkout(
            "alice/app",
            &with_userinfo,
            &Credentials::default(),
            "main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("plain http://"), "{err}");
    other_cache
        .checkout(
            "alice/app",
            &with_userinfo,
            &insecure,
            "main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap_or_else(|e| panic!("{e}\nnginx log:\n{}", server.error_log()));
    assert!(!git(&dest, &["remote", "get-url", "origin"]).contains(token));
    assert!(
        !std::fs::read_to_string(dest.join(".git/config"))
            .unwrap()
            .contains(token)
    );

    let wrong_token = "wrong-Token-0815";
    let bad = Credentials {
        username: Some("alice".into()),
        token: Some(wrong_token.into()),
        ..bound_to(&url, Credentials::default())
    };
    for (i, (u, c)) in [
        (url.clone(), bad.clone()),
        (
            url.replace("http://", &format!("http://alice:{wrong_token}@")),
            insecure.clone(),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let fresh = GitCache::new(work.path().join(format!("cache-bad-{i}")));
        let err = fresh
            .checkout(
                "alice/app",
                &u,
                &c,
                "main",
                &repo.head,
                &work.path().join("bad"),
                &never(),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, GitError::AuthFailed { .. }),
            "expected AuthFailed, got {err:?}"
        );
        assert!(
            !text.contains(wrong_token) && !format!("{err:?}").contains(wrong_token),
            "token leaked: {text}"
        );
        assert!(
            text.starts_with(&format!("authentication failed for {url}")),
            "{text}"
        );
    }

    let err = resolve(
        &cache,
        "alice/app",
        &url,
        &Credentials::default(),
        "main",
        &never(),
    )
    .unwrap_err();
    assert!(
        matches!(err, GitError::AuthFailed { .. }),
        "no credentials: {err:?}"
    );
}

#[test]
fn ssh_with_deploy_key_wrong_key_and_known_hosts() {
    let repo = sample_repo();
    let base = tempfile::tempdir().unwrap();
    repo.publish(base.path(), "app");
    let sshd = Sshd::start(base.path());
    let url = sshd.url("app");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));

    let creds = Credentials {
        ssh_key: Some(sshd.deploy_key()),
        ..bound_to(&url, Credentials::default())
    };
    let dest = work.path().join("ok");
    cache
        .checkout(
            "alice/app",
            &url,
            &creds,
            "refs/heads/main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()));
    assert_checkout(&dest, &repo.head);
    assert_eq!(
        cache.default_branch(&url, &creds, &never()).unwrap(),
        "main"
    );

    // The private key alone (no KEY.pub next to it) works too.
    let alone = work.path().join("key-alone");
    std::fs::copy(sshd.deploy_key(), &alone).unwrap();
    let alone_creds = Credentials {
        ssh_key: Some(alone),
        ..bound_to(&url, Credentials::default())
    };
    GitCache::new(work.path().join("cache-alone"))
        .checkout(
            "alice/app",
            &url,
            &alone_creds,
            "main",
            &repo.head,
            &work.path().join("alone"),
            &never(),
        )
        .unwrap_or_else(|e| panic!("private key without .pub: {e}"));

    // Pinned host key: accepted when listed, rejected when another key is listed for the host.
    let kh = work.path().join("known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let pinned = Credentials {
        ssh_known_hosts: Some(kh.clone()),
        ..creds.clone()
    };
    assert_eq!(
        resolve(&cache, "alice/app", &url, &pinned, "v1", &never()).unwrap(),
        repo.head
    );
    keygen(&work.path().join("other_host"), "ed25519");
    let other_host = std::fs::read_to_string(work.path().join("other_host.pub")).unwrap();
    let kh2 = work.path().join("known_hosts_wrong");
    let mut f = other_host.split_whitespace();
    std::fs::write(
        &kh2,
        format!(
            "[127.0.0.1]:{} {} {}\n",
            sshd.port,
            f.next().unwrap(),
            f.next().unwrap()
        ),
    )
    .unwrap();
    let mismatched = Credentials {
        ssh_known_hosts: Some(kh2),
        ..creds.clone()
    };
    let err = resolve(&cache, "alice/app", &url, &mismatched, "main", &never()).unwrap_err();
    assert!(matches!(err, GitError::HostKeyRejected { .. }), "{err:?}");

    // A key the server does not know.
    keygen(&work.path().join("stranger"), "ed25519");
    let wrong = Credentials {
        ssh_key: Some(work.path().join("stranger")),
        ..bound_to(&url, Credentials::default())
    };
    let fresh = GitCache::new(work.path().join("cache-wrong"));
    let err = fresh
        .checkout(
            "alice/app",
            &url,
            &wrong,
            "main",
            &repo.head,
            &work.path().join("bad"),
            &never(),
        )
        .unwrap_err();
    assert!(
        matches!(err, GitError::AuthFailed { .. }),
        "expected AuthFailed, got {err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("authentication failed for {url}")),
        "{err}"
    );

    // No key at all.
    let err = resolve(
        &fresh,
        "alice/app",
        &url,
        &Credentials::default(),
        "main",
        &never(),
    )
    .unwrap_err();
    assert!(
        matches!(err, GitError::AuthFailed { .. }),
        "expected AuthFailed, got {err:?}"
    );
}

#[test]
fn ssh_with_rsa_deploy_key() {
    let repo = sample_repo();
    let base = tempfile::tempdir().unwrap();
    repo.publish(base.path(), "app");
    let sshd = Sshd::start_with_key_type(base.path(), "rsa");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    let creds = Credentials {
        ssh_key: Some(sshd.deploy_key()),
        ..bound_to(&sshd.url("app"), Credentials::default())
    };
    cache
        .checkout(
            "a",
            &sshd.url("app"),
            &creds,
            "main",
            &repo.head,
            &work.path().join("d"),
            &never(),
        )
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", sshd.log()));
}

#[test]
fn missing_commit_and_fetch_by_id() {
    let mut repo = sample_repo();
    let main_head = repo.head.clone();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let feature = repo.commit(&[("f.txt", b"f\n")], "feature only");
    repo.git(&["checkout", "-q", "main"]);
    let base = tempfile::tempdir().unwrap();
    let bare = repo.publish(base.path(), "app");
    let server = GitDaemon::start(base.path());
    let url = server.url("app");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    let creds = Credentials::default();

    let absent = "0123456789abcdef0123456789abcdef01234567";
    let err = cache
        .checkout(
            "r",
            &url,
            &creds,
            "refs/heads/main",
            absent,
            &work.path().join("x"),
            &never(),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("commit {absent} not found in {url} (fetched refs/heads/main)")
    );

    // The feature commit is not reachable from main; the server refuses unadvertised objects by default.
    let err = cache
        .checkout(
            "r",
            &url,
            &creds,
            "refs/heads/main",
            &feature,
            &work.path().join("y"),
            &never(),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::CommitNotFound { .. }), "{err:?}");
    // ... and allows them once configured: then the commit is fetched by id.
    git(
        &bare,
        &["config", "uploadpack.allowReachableSHA1InWant", "true"],
    );
    let dest = work.path().join("z");
    cache
        .checkout(
            "r",
            &url,
            &creds,
            "refs/heads/main",
            &feature,
            &dest,
            &never(),
        )
        .unwrap();
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), feature);
    assert!(dest.join("f.txt").exists());
    assert_ne!(main_head, feature);
}

#[test]
fn unreachable_server_fails_fast_and_clearly() {
    let port = free_port();
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    for url in [
        format!("git://127.0.0.1:{port}/a.git"),
        format!("http://bob:hunter2hunter2@127.0.0.1:{port}/a.git"),
        format!("ssh://git@127.0.0.1:{port}/a.git"),
    ] {
        let start = Instant::now();
        let err = cache
            .checkout(
                "a",
                &url,
                &Credentials::default(),
                "main",
                &"a".repeat(40),
                &work.path().join("d"),
                &never(),
            )
            .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "took {:?}",
            start.elapsed()
        );
        let text = err.to_string();
        assert!(
            matches!(err, GitError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(
            text.starts_with(&format!(
                "could not reach {}",
                microcid::git::redact_url(&url)
            )),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn resolve_refs_and_default_branch() {
    let mut repo = sample_repo();
    let tagged = repo.head.clone();
    repo.tag("light", None);
    let later = repo.commit(&[("later.txt", b"x")], "later");
    repo.git(&["branch", "develop"]);
    let base = tempfile::tempdir().unwrap();
    let bare = repo.publish(base.path(), "app");
    let server = GitDaemon::start(base.path());
    let url = server.url("app");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    let c = Credentials::default();

    assert_eq!(
        resolve(&cache, "r", &url, &c, "main", &never()).unwrap(),
        later
    );
    assert_eq!(
        resolve(&cache, "r", &url, &c, "refs/heads/main", &never()).unwrap(),
        later
    );
    assert_eq!(
        resolve(&cache, "r", &url, &c, "v1", &never()).unwrap(),
        tagged,
        "annotated tag peels to its commit"
    );
    assert_eq!(
        resolve(&cache, "r", &url, &c, "refs/tags/light", &never()).unwrap(),
        tagged
    );
    assert_eq!(
        resolve(&cache, "r", &url, &c, "HEAD", &never()).unwrap(),
        later
    );
    assert_eq!(
        resolve(&cache, "r", &url, &c, &tagged, &never()).unwrap(),
        tagged,
        "a cached commit id resolves to itself"
    );
    let err = resolve(&cache, "r", &url, &c, "no-such-branch", &never()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("ref no-such-branch not found in {url}")
    );

    assert_eq!(cache.default_branch(&url, &c, &never()).unwrap(), "main");
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/develop"]);
    assert_eq!(cache.default_branch(&url, &c, &never()).unwrap(), "develop");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_checkouts_of_one_repo_and_local_paths() {
    let repo = sample_repo();
    let base = tempfile::tempdir().unwrap();
    let bare = repo.publish(base.path(), "app");
    let work = tempfile::tempdir().unwrap();
    let cache = GitCache::new(work.path().join("cache"));
    let url = bare.to_str().unwrap().to_string();
    // Four jobs of one repository at once: the cache's lock takes them one at a time.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (cache, url, head, dest) = (
                cache.clone(),
                url.clone(),
                repo.head.clone(),
                work.path().join(format!("d{i}")),
            );
            tokio::spawn(async move {
                cache
                    .clone()
                    .locked("app", &never(), move |c, cancel| {
                        c.checkout(
                            "app",
                            &url,
                            &Credentials::default(),
                            "main",
                            &head,
                            &dest,
                            cancel,
                        )
                        .map(|()| dest)
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        let dest = t.await.unwrap().unwrap();
        assert_checkout(&dest, &repo.head);
    }
    let dest = work.path().join("file-url");
    cache
        .checkout(
            "app",
            &format!("file://{url}"),
            &Credentials::default(),
            "main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap();
    assert_checkout(&dest, &repo.head);

    // A non-empty destination is refused, not overwritten.
    let err = cache
        .checkout(
            "app",
            &url,
            &Credentials::default(),
            "main",
            &repo.head,
            &dest,
            &never(),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidInput(_)), "{err:?}");
    // Refspec injection through the ref is refused.
    let err = cache
        .checkout(
            "app",
            &url,
            &Credentials::default(),
            "main:refs/heads/x",
            &repo.head,
            &work.path().join("n"),
            &never(),
        )
        .unwrap_err();
    assert!(matches!(err, GitError::InvalidInput(_)), "{err:?}");
}
