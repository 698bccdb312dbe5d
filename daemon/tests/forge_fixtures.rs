//! Conformance test: every shared webhook fixture (`<workspace>/../shared/fixtures/webhooks`, see its
//! SOURCES.md) goes through `inspect`, `verify` and `interpret` with the outcome SOURCES.md predicts, and the
//! published Gogs/Gitea signature vectors verify. Skipped, saying so, when the fixtures are not there.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use microci_testkit::fixtures::webhooks_dir;
use microcid::forge::{self, Forge, HookError, Outcome, signature};
use warp::http::{HeaderMap, HeaderName, HeaderValue};

/// What a fixture must produce.
enum Want {
    /// Build: repository, full ref, commit, author.
    Build(&'static str, &'static str, &'static str, &'static str),
    /// Ignore with exactly this reason.
    Ignore(&'static str),
}

struct Case {
    file: &'static str,
    forge: Forge,
    event: &'static str,
    want: Want,
}

const fn case(file: &'static str, forge: Forge, event: &'static str, want: Want) -> Case {
    Case {
        file,
        forge,
        event,
        want,
    }
}

use Forge::{Bitbucket, Forgejo, Gitea, Github, Gitlab, Gogs};
use Want::{Build, Ignore};

const BRANCH_CREATION: &str = "branch creation (the push event builds it)";
const TAG_CREATION: &str = "tag creation (the push event builds it)";
const PR: &str = "unsupported event \"pull_request\"";
/// A pull request's title edited: nothing to build.
const PR_EDITED: &str = "pull request action \"edited\"";

const CASES: &[Case] = &[
    // Bitbucket: one repo:push per change set; deletions have new: null.
    case(
        "bitbucket/repo-push.go-scm.json",
        Bitbucket,
        "repo:push",
        Build(
            "brydzewski/foo",
            "refs/heads/master",
            "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
            "brydzewski",
        ),
    ),
    case(
        "bitbucket/repo-push.branch-create.go-scm.json",
        Bitbucket,
        "repo:push",
        Build(
            "brydzewski/foo",
            "refs/heads/develop",
            "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
            "brydzewski",
        ),
    ),
    case(
        "bitbucket/repo-push.branch-delete.go-scm.json",
        Bitbucket,
        "repo:push",
        Ignore("branch deletion"),
    ),
    case(
        "bitbucket/repo-push.tag-create.go-scm.json",
        Bitbucket,
        "repo:push",
        Build(
            "brydzewski/foo",
            "refs/tags/feature/x",
            "141977fedf5cf35aa290ac87d4b5177ac4cd9de1",
            "brydzewski",
        ),
    ),
    case(
        "bitbucket/repo-push.tag-delete.go-scm.json",
        Bitbucket,
        "repo:push",
        Ignore("tag deletion"),
    ),
    // Forgejo: Gitea payloads.
    case(
        "forgejo/push.json",
        Forgejo,
        "push",
        Build(
            "forgejo/webhooks",
            "refs/heads/develop",
            "bffeb74224043ba2feb48d137756c8a9331c449a",
            "forgejo",
        ),
    ),
    // Gitea: a tag sends push and create; only the push builds. create/delete carry short refs.
    case(
        "gitea/create.branch.go-scm.json",
        Gitea,
        "create",
        Ignore(BRANCH_CREATION),
    ),
    case(
        "gitea/create.tag.go-scm.json",
        Gitea,
        "create",
        Ignore(TAG_CREATION),
    ),
    case(
        "gitea/delete.branch.go-scm.json",
        Gitea,
        "delete",
        Ignore("branch deletion"),
    ),
    case(
        "gitea/delete.tag.go-scm.json",
        Gitea,
        "delete",
        Ignore("tag deletion"),
    ),
    case(
        "gitea/push.go-scm.json",
        Gitea,
        "push",
        Build(
            "gogits/hello-world",
            "refs/heads/master",
            "4522cbcefc20728a5b72b3a86af35e608622c514",
            "unknwon",
        ),
    ),
    case(
        "gitea/push.json",
        Gitea,
        "push",
        Build(
            "gitea/webhooks",
            "refs/heads/develop",
            "bffeb74224043ba2feb48d137756c8a9331c449a",
            "gitea",
        ),
    ),
    case(
        "gitea/signature-vector.pull_request.go-scm.json",
        Gitea,
        "pull_request",
        Ignore(PR_EDITED),
    ),
    // GitHub: one push per ref, tags and deletions included.
    case("github/ping.json", Github, "ping", Ignore("ping")),
    case(
        "github/push.branch-delete.go-scm.json",
        Github,
        "push",
        Ignore("branch deletion"),
    ),
    case(
        "github/push.go-scm.json",
        Github,
        "push",
        Build(
            "Codertocat/Hello-World",
            "refs/heads/master",
            "199eddf46df50de8d02e99bf1c5fdb4101338224",
            "Codertocat",
        ),
    ),
    case(
        "github/push.new-branch.json",
        Github,
        "push",
        Build(
            "Codertocat/Hello-World",
            "refs/heads/master",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "Codertocat",
        ),
    ),
    case(
        "github/push.tag-create.ghes-35.json",
        Github,
        "push",
        Build(
            "Codertocat/Hello-World",
            "refs/tags/simple-tag",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "Codertocat",
        ),
    ),
    case(
        "github/push.tag-create.go-scm.json",
        Github,
        "push",
        Build(
            "bradrydzewski/drone-test-go",
            "refs/tags/v0.0.1",
            "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd",
            "bradrydzewski",
        ),
    ),
    case(
        "github/push.tag-delete.json",
        Github,
        "push",
        Ignore("tag deletion"),
    ),
    // GitLab: deletions have after = zeros and checkout_sha null; tags only fire Tag Push Hook.
    case(
        "gitlab/push.branch-create.go-scm.json",
        Gitlab,
        "Push Hook",
        Build(
            "gitlab-org/hello-world",
            "refs/heads/feature",
            "c4c79227ed610f1151f05bbc5be33b4f340d39c8",
            "sytses",
        ),
    ),
    case(
        "gitlab/push.branch-delete.go-scm.json",
        Gitlab,
        "Push Hook",
        Ignore("branch deletion"),
    ),
    case(
        "gitlab/push.go-scm.json",
        Gitlab,
        "Push Hook",
        Build(
            "gitlab-org/hello-world",
            "refs/heads/master",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
            "sytses",
        ),
    ),
    case(
        "gitlab/push.json",
        Gitlab,
        "Push Hook",
        Build(
            "mike/diaspora",
            "refs/heads/master",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "jsmith",
        ),
    ),
    case(
        "gitlab/tag_push.create.go-scm.json",
        Gitlab,
        "Tag Push Hook",
        Build(
            "gitlab-org/hello-world",
            "refs/tags/v1.0.0",
            "2adc9465c4edfc33834e173fe89436a7cb899a1d",
            "sytses",
        ),
    ),
    case(
        "gitlab/tag_push.delete.go-scm.json",
        Gitlab,
        "Tag Push Hook",
        Ignore("tag deletion"),
    ),
    case(
        "gitlab/tag_push.json",
        Gitlab,
        "Tag Push Hook",
        Build(
            "jsmith/example",
            "refs/tags/v1.0.0",
            "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
            "John Smith",
        ),
    ),
    // Gogs: a tag sends only create (with sha), so it builds; deletions send only delete.
    case(
        "gogs/create.branch.go-scm.json",
        Gogs,
        "create",
        Ignore(BRANCH_CREATION),
    ),
    case(
        "gogs/create.tag.go-scm.json",
        Gogs,
        "create",
        Build(
            "gogits/hello-world",
            "refs/tags/v1.0.0",
            "599d25c67b05717269f50ac082b34f176d085179",
            "unknwon",
        ),
    ),
    case(
        "gogs/delete.branch.go-scm.json",
        Gogs,
        "delete",
        Ignore("branch deletion"),
    ),
    case(
        "gogs/delete.tag.go-scm.json",
        Gogs,
        "delete",
        Ignore("tag deletion"),
    ),
    case(
        "gogs/push.go-scm.json",
        Gogs,
        "push",
        Build(
            "gogits/hello-world",
            "refs/heads/master",
            "4522cbcefc20728a5b72b3a86af35e608622c514",
            "unknwon",
        ),
    ),
    case(
        "gogs/push.json",
        Gogs,
        "push",
        Build(
            "unknwon/webhooks",
            "refs/heads/develop",
            "bffeb74224043ba2feb48d137756c8a9331c449a",
            "unknwon",
        ),
    ),
    case(
        "gogs/signature-vector.pull_request.go-scm.json",
        Gogs,
        "pull_request",
        Ignore(PR),
    ),
];

/// The headers the forge would send: event, a delivery id, and a signature under `secret`.
fn headers_for(forge: Forge, event: &str, body: &[u8], secret: &str) -> HeaderMap {
    let (event_header, delivery_header) = match forge {
        Gogs => ("x-gogs-event", "x-gogs-delivery"),
        Gitea => ("x-gitea-event", "x-gitea-delivery"),
        Forgejo => ("x-forgejo-event", "x-forgejo-delivery"),
        Github => ("x-github-event", "x-github-delivery"),
        Gitlab => ("x-gitlab-event", "x-gitlab-event-uuid"),
        Bitbucket => ("x-event-key", "x-request-uuid"),
    };
    let (sig_name, sig_value) = signature::signature_header(forge, body, secret);
    let mut map = HeaderMap::new();
    for (name, value) in [
        (event_header, event),
        (delivery_header, "delivery-1"),
        (sig_name, sig_value.as_str()),
    ] {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[test]
fn every_fixture_has_the_documented_outcome() {
    let Some(dir) = webhooks_dir() else { return };
    let mut on_disk = BTreeSet::new();
    for forge_dir in std::fs::read_dir(&dir).unwrap() {
        let forge_dir = forge_dir.unwrap().path();
        if !forge_dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&forge_dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                let rel = file
                    .strip_prefix(&dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                on_disk.insert(rel);
            }
        }
    }
    let covered: BTreeSet<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    assert_eq!(
        on_disk, covered,
        "every fixture file needs an expected outcome here (and every case a file)"
    );

    let mut failures = Vec::new();
    for c in CASES {
        let body = std::fs::read(dir.join(c.file)).unwrap();
        let secret = "conformance-secret";
        let headers = headers_for(c.forge, c.event, &body, secret);
        let delivery = forge::inspect(c.forge, &headers, &body)
            .unwrap_or_else(|e| panic!("{}: inspect: {e}", c.file));
        assert_eq!(delivery.event, c.event, "{}", c.file);
        assert_eq!(
            delivery.delivery_id.as_deref(),
            Some("delivery-1"),
            "{}",
            c.file
        );
        forge::verify(c.forge, &headers, &body, secret)
            .unwrap_or_else(|e| panic!("{}: verify: {e}", c.file));
        assert!(
            matches!(
                forge::verify(c.forge, &headers, &body, "other"),
                Err(HookError::Unauthorized(_))
            ),
            "{}: wrong secret accepted",
            c.file
        );
        let got = forge::interpret(c.forge, &delivery, &body);
        let ok = match (&c.want, &got) {
            (Build(repo, git_ref, commit, author), Ok(Outcome::Build(p))) => {
                assert_eq!(
                    delivery.repo.as_deref(),
                    Some(*repo),
                    "{}: inspect repo",
                    c.file
                );
                p.repo == *repo
                    && p.git_ref == *git_ref
                    && p.commit == *commit
                    && p.author == *author
                    && p.clone_url.starts_with("http")
            }
            (Ignore(reason), Ok(Outcome::Ignore(r))) => r == reason,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {got:?}", c.file));
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected outcomes:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_few_messages_and_urls() {
    let Some(dir) = webhooks_dir() else { return };
    let build = |forge: Forge, event: &str, file: &str| {
        let body = std::fs::read(dir.join(file)).unwrap();
        let headers = headers_for(forge, event, &body, "s");
        let d = forge::inspect(forge, &headers, &body).unwrap();
        match forge::interpret(forge, &d, &body).unwrap() {
            Outcome::Build(p) => p,
            other => panic!("{file}: {other:?}"),
        }
    };
    let p = build(Gogs, "push", "gogs/push.json");
    assert_eq!(p.message, "!@#0^%>>>><<<<>>>>\n");
    assert_eq!(p.clone_url, "http://localhost:3000/unknwon/webhooks.git");
    assert_eq!(
        p.ssh_url.as_deref(),
        Some("ssh://unknwon@localhost:2222/unknwon/webhooks.git")
    );
    assert_eq!(p.default_branch.as_deref(), Some("master"));
    let p = build(Gitlab, "Push Hook", "gitlab/push.json");
    assert_eq!(p.message, "fixed readme");
    assert_eq!(p.clone_url, "http://example.com/mike/diaspora.git");
    let p = build(Github, "push", "github/push.go-scm.json");
    assert_eq!(p.message, "Update README");
    let p = build(Bitbucket, "repo:push", "bitbucket/repo-push.go-scm.json");
    assert_eq!(p.clone_url, "https://bitbucket.org/brydzewski/foo.git");
    assert_eq!(p.message, "Update README\n");
}

#[test]
fn published_signature_vectors() {
    let Some(dir) = webhooks_dir() else { return };
    let vectors = [
        (
            Gogs,
            "x-gogs-signature",
            "gogs/signature-vector.pull_request.go-scm.json",
            "topsecret",
            "fe7faa4703b9bf4e6834e8bdb36a8286a063d3498d7d92d81e49e1f490f087aa",
        ),
        (
            Gitea,
            "x-gitea-signature",
            "gitea/signature-vector.pull_request.go-scm.json",
            "71295b197fa25f4356d2fb9965df3f2379d903d7",
            "a31111f057bafe895837f4a93c0f1f528919c199a20438b1fc8e23485780a33a",
        ),
        // Forgejo falls back to X-Gitea-Signature.
        (
            Forgejo,
            "x-gitea-signature",
            "gitea/signature-vector.pull_request.go-scm.json",
            "71295b197fa25f4356d2fb9965df3f2379d903d7",
            "a31111f057bafe895837f4a93c0f1f528919c199a20438b1fc8e23485780a33a",
        ),
    ];
    for (forge, header, file, secret, sig) in vectors {
        let body = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(
            signature::hmac_sha256_hex(secret.as_bytes(), &body),
            sig,
            "{file}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(header),
            HeaderValue::from_static(sig),
        );
        forge::verify(forge, &headers, &body, secret).unwrap();
        for wrong in ["topsecret2", "", "71295b197fa25f4356d2fb9965df3f2379d903d8"] {
            assert!(
                matches!(
                    forge::verify(forge, &headers, &body, wrong),
                    Err(HookError::Unauthorized(_))
                ),
                "{file}: secret {wrong:?} accepted"
            );
        }
        let mut other = body.clone();
        other.push(b' ');
        assert!(
            forge::verify(forge, &headers, &other, secret).is_err(),
            "{file}: other body"
        );
    }
}
