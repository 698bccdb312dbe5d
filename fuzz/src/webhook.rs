//! The webhook harness: builds a delivery (headers from knobs, the body from the rest of the
//! input), runs it through `inspect` → `verify` → `interpret` as `daemon/src/http/hooks.rs`
//! does, and checks what comes out.
//!
//! Most inputs carry the correct signature for their body under [`SECRET`], so the fuzzer gets
//! past `verify` and into the payload parsers. Whether `verify` must accept is decided here
//! independently of the daemon's code (its own HMAC, its own reading of the headers), so a
//! forged or mangled signature that gets through is a failure, and so is a good one refused.

use arbitrary::Arbitrary;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use microcid::forge::{self, Delivery, Forge, HookError, Outcome, Push, names};
use sha2::Sha256;

use crate::{assert_no_control, split_knobs};

/// The webhook secret the simulated daemon is configured with.
pub const SECRET: &str = "fuzz-secret-0123";

/// How a forge proves it knows the secret, as its documentation describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// Lowercase hex HMAC-SHA256 of the body (Gogs, Gitea, Forgejo).
    BareHex,
    /// `sha256=<hex HMAC-SHA256>` (GitHub `X-Hub-Signature-256`, Bitbucket `X-Hub-Signature`).
    Sha256Prefixed,
    /// The secret itself (GitLab `X-Gitlab-Token`).
    Token,
}

/// What a forge's documentation says about its deliveries. Header lists are in the order the
/// daemon prefers them (the first present and non-empty one wins).
struct Spec {
    forge: Forge,
    /// Event names the forge sends (the first one builds; the others exercise the rest).
    events: &'static [&'static str],
    event_headers: &'static [&'static str],
    delivery_headers: &'static [&'static str],
    signature_headers: &'static [&'static str],
    scheme: Scheme,
    /// GitLab repository paths may have subgroups.
    subgroups: bool,
}

fn spec(forge: Forge) -> Spec {
    match forge {
        Forge::Gogs => Spec {
            forge,
            events: &["push", "create", "delete", "release", "issues"],
            event_headers: &["x-gogs-event"],
            delivery_headers: &["x-gogs-delivery", "x-github-delivery"],
            signature_headers: &["x-gogs-signature"],
            scheme: Scheme::BareHex,
            subgroups: false,
        },
        Forge::Gitea => Spec {
            forge,
            events: &["push", "create", "delete", "release", "pull_request"],
            event_headers: &["x-gitea-event", "x-gogs-event"],
            delivery_headers: &["x-gitea-delivery", "x-gogs-delivery"],
            signature_headers: &["x-gitea-signature", "x-gogs-signature"],
            scheme: Scheme::BareHex,
            subgroups: false,
        },
        Forge::Forgejo => Spec {
            forge,
            events: &["push", "create", "delete", "release", "pull_request"],
            event_headers: &["x-forgejo-event", "x-gitea-event", "x-gogs-event"],
            delivery_headers: &["x-forgejo-delivery", "x-gitea-delivery", "x-gogs-delivery"],
            signature_headers: &[
                "x-forgejo-signature",
                "x-gitea-signature",
                "x-gogs-signature",
            ],
            scheme: Scheme::BareHex,
            subgroups: false,
        },
        Forge::Github => Spec {
            forge,
            events: &["push", "ping", "create", "delete", "pull_request"],
            event_headers: &["x-github-event"],
            delivery_headers: &["x-github-delivery"],
            signature_headers: &["x-hub-signature-256"],
            scheme: Scheme::Sha256Prefixed,
            subgroups: false,
        },
        Forge::Gitlab => Spec {
            forge,
            events: &[
                "Push Hook",
                "Tag Push Hook",
                "Merge Request Hook",
                "System Hook",
            ],
            event_headers: &["x-gitlab-event"],
            delivery_headers: &["idempotency-key", "x-gitlab-event-uuid"],
            signature_headers: &["x-gitlab-token"],
            scheme: Scheme::Token,
            subgroups: true,
        },
        Forge::Bitbucket => Spec {
            forge,
            events: &[
                "repo:push",
                "pullrequest:created",
                "pullrequest:updated",
                "pullrequest:fulfilled",
                "repo:fork",
            ],
            event_headers: &["x-event-key"],
            delivery_headers: &["x-request-uuid"],
            signature_headers: &["x-hub-signature"],
            scheme: Scheme::Sha256Prefixed,
            subgroups: false,
        },
    }
}

/// The event header's value.
#[derive(Arbitrary, Debug)]
enum EventName {
    /// One of the forge's documented events, by index (wrapping).
    Documented(u8),
    /// Any text.
    Other(String),
}

/// How the delivery is authenticated.
#[derive(Arbitrary, Debug)]
enum Signature {
    /// The right signature (or token) for the body under [`SECRET`].
    Correct,
    /// Any text in the signature header.
    Fuzzed(String),
    /// The right scheme under another secret.
    WrongSecret,
    /// No signature header.
    Missing,
    /// The daemon has no secret (an empty one): `verify` is skipped, as hooks.rs does.
    Unsigned,
}

/// Everything about a delivery except its body.
#[derive(Arbitrary, Debug)]
struct Knobs {
    event: EventName,
    signature: Signature,
    /// Which of the forge's alternative header names carry the event, delivery id and signature.
    header_names: u8,
    /// For the Gitea target: deliver as Forgejo instead.
    alternate: bool,
    delivery_id: Option<String>,
    /// More headers, any of the names some forge reads, with any value.
    extra: Vec<(u8, String)>,
}

/// Every header name any forge's deliveries are read from, for [`Knobs::extra`].
const ALL_HEADERS: &[&str] = &[
    "x-gogs-event",
    "x-gogs-delivery",
    "x-gogs-signature",
    "x-gitea-event",
    "x-gitea-delivery",
    "x-gitea-signature",
    "x-forgejo-event",
    "x-forgejo-delivery",
    "x-forgejo-signature",
    "x-github-event",
    "x-github-delivery",
    "x-hub-signature-256",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "idempotency-key",
    "x-gitlab-token",
    "x-event-key",
    "x-request-uuid",
    "x-hub-signature",
];

/// Runs one fuzz input against `forge` (`alternate`: the forge to use when the knob says so).
pub fn run(forge: Forge, alternate: Option<Forge>, data: &[u8]) {
    let Some((knobs, body)) = split_knobs::<Knobs>(data) else {
        return;
    };
    let forge = match alternate {
        Some(other) if knobs.alternate => other,
        _ => forge,
    };
    let spec = spec(forge);
    let Some(headers) = headers(&spec, &knobs, body) else {
        return;
    };
    if crate::debug() {
        eprintln!("{forge}: {knobs:?}\n{headers:?}");
    }
    deliver(&spec, &knobs, &headers, body);
}

/// The request headers the knobs describe; `None` when a fuzzed value cannot be a header value
/// at all (the HTTP server would have refused the request).
fn headers(spec: &Spec, knobs: &Knobs, body: &[u8]) -> Option<HeaderMap> {
    let pick = |names: &[&'static str]| names[usize::from(knobs.header_names) % names.len()];
    let mut map = HeaderMap::new();
    let event = match &knobs.event {
        EventName::Documented(i) => spec.events[usize::from(*i) % spec.events.len()],
        EventName::Other(text) => text.as_str(),
    };
    map.insert(
        pick(spec.event_headers),
        HeaderValue::from_bytes(event.as_bytes()).ok()?,
    );
    if let Some(id) = &knobs.delivery_id {
        map.insert(
            pick(spec.delivery_headers),
            HeaderValue::from_bytes(id.as_bytes()).ok()?,
        );
    }
    let signature = match &knobs.signature {
        Signature::Correct => Some(proof(spec.scheme, SECRET, body)),
        Signature::WrongSecret => Some(proof(spec.scheme, "not-the-secret", body)),
        Signature::Fuzzed(text) => Some(text.clone()),
        Signature::Missing | Signature::Unsigned => None,
    };
    if let Some(signature) = signature {
        map.insert(
            pick(spec.signature_headers),
            HeaderValue::from_bytes(signature.as_bytes()).ok()?,
        );
    }
    for (i, value) in &knobs.extra {
        let name = HeaderName::from_static(ALL_HEADERS[usize::from(*i) % ALL_HEADERS.len()]);
        map.append(name, HeaderValue::from_bytes(value.as_bytes()).ok()?);
    }
    Some(map)
}

/// What a forge puts in its signature header for `body` under `secret`, computed here rather than
/// with the daemon's helpers.
fn proof(scheme: Scheme, secret: &str, body: &[u8]) -> String {
    match scheme {
        Scheme::BareHex => hex::encode(hmac(secret, body)),
        Scheme::Sha256Prefixed => format!("sha256={}", hex::encode(hmac(secret, body))),
        Scheme::Token => secret.to_owned(),
    }
}

fn hmac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Whether the daemon must accept the delivery's signature: the first of the forge's signature
/// headers that is present (first value) and non-empty after trimming is the one read; a value
/// that is not visible ASCII refuses the delivery.
fn must_accept(spec: &Spec, headers: &HeaderMap, body: &[u8]) -> bool {
    let mut value = None;
    for name in spec.signature_headers {
        if let Some(v) = headers.get(*name) {
            let Ok(text) = v.to_str() else {
                return false;
            };
            let text = text.trim();
            if !text.is_empty() {
                value = Some(text);
                break;
            }
        }
    }
    let Some(value) = value else {
        return false;
    };
    let tag_matches = |hex_text: &str| hex::decode(hex_text).is_ok_and(|t| t == hmac(SECRET, body));
    match spec.scheme {
        Scheme::BareHex => tag_matches(value),
        Scheme::Sha256Prefixed => value.split_once('=').is_some_and(|(algo, hex_text)| {
            algo.eq_ignore_ascii_case("sha256") && tag_matches(hex_text)
        }),
        Scheme::Token => value == SECRET,
    }
}

/// `inspect` → `verify` → `interpret`, checking each step.
fn deliver(spec: &Spec, knobs: &Knobs, headers: &HeaderMap, body: &[u8]) {
    let forge = spec.forge;
    let delivery = match forge::inspect(forge, headers, body) {
        Ok(d) => d,
        Err(e) => {
            if crate::debug() {
                eprintln!("inspect: {e}");
            }
            assert!(matches!(e, HookError::BadRequest(_)), "inspect: {e:?}");
            check_error(&e);
            return;
        }
    };
    check_delivery(spec, &delivery);

    if !matches!(knobs.signature, Signature::Unsigned) {
        let expected = must_accept(spec, headers, body);
        let correct_and_alone = matches!(knobs.signature, Signature::Correct)
            && !knobs.extra.iter().any(|(i, _)| {
                spec.signature_headers
                    .contains(&ALL_HEADERS[usize::from(*i) % ALL_HEADERS.len()])
            });
        assert!(
            expected || !correct_and_alone,
            "harness: a correct signature judged wrong"
        );
        match forge::verify(forge, headers, body, SECRET) {
            Ok(()) => assert!(
                expected,
                "verify accepted a delivery it must refuse: {knobs:?}"
            ),
            Err(e) => {
                if crate::debug() {
                    eprintln!("verify: {e}");
                }
                assert!(!expected, "verify refused a correctly signed delivery: {e}");
                assert!(matches!(e, HookError::Unauthorized(_)), "verify: {e:?}");
                assert!(
                    !e.to_string().contains(SECRET),
                    "verify's message shows the secret"
                );
                check_error(&e);
                return;
            }
        }
    }

    let outcome = forge::interpret(forge, &delivery, body);
    if crate::debug() {
        eprintln!("{outcome:?}");
    }
    match outcome {
        Ok(Outcome::Build(push)) => check_push(spec, &delivery, &push),
        Ok(Outcome::Closed { repo, git_ref }) => {
            assert_eq!(
                d_repo(&delivery),
                Some(repo.as_str()),
                "closed another repository"
            );
            assert!(
                names::validate_ref("ref", &git_ref).is_ok(),
                "ref {git_ref:?}"
            );
        }
        Ok(Outcome::Builds(pushes)) => {
            assert!(pushes.len() > 1, "Builds of {} pushes", pushes.len());
            // One delivery, one repository: each ref its own commit.
            let repo = &pushes[0].repo;
            for push in &pushes {
                assert_eq!(
                    &push.repo, repo,
                    "pushes of two repositories in one delivery"
                );
                check_push(spec, &delivery, push);
            }
        }
        Ok(Outcome::Ignore(reason)) => {
            assert!(!reason.is_empty(), "empty ignore reason");
            assert_no_control("ignore reason", &reason);
            assert!(
                reason.len() <= 2048,
                "ignore reason of {} bytes",
                reason.len()
            );
        }
        Err(e) => {
            assert!(matches!(e, HookError::BadRequest(_)), "interpret: {e:?}");
            check_error(&e);
        }
    }
}

fn d_repo(d: &Delivery) -> Option<&str> {
    d.repo.as_deref()
}

/// Refusal messages go back to the forge and into the log: one line, no control characters.
fn check_error(e: &HookError) {
    assert_no_control("error message", &e.to_string());
}

/// What `inspect` read from the headers is bounded and safe to store and log.
fn check_delivery(spec: &Spec, d: &Delivery) {
    assert!(
        !d.event.is_empty() && d.event.len() <= 100,
        "event {:?}",
        d.event
    );
    assert!(
        d.event
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b)),
        "event {:?}",
        d.event
    );
    if let Some(id) = &d.delivery_id {
        assert!(!id.is_empty() && id.len() <= 200, "delivery id {id:?}");
        assert!(
            id.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)),
            "delivery id {id:?}"
        );
    }
    if let Some(repo) = &d.repo {
        assert!(
            names::is_valid_repo_name(repo, spec.subgroups),
            "inspect's repo {repo:?}"
        );
    }
}

/// Everything a [`Push`] promises (see its field docs), plus: the repository built is the one
/// whose secret was chosen from `inspect`'s reading of the same body.
fn check_push(spec: &Spec, d: &Delivery, p: &Push) {
    assert!(
        names::is_valid_repo_name(&p.repo, spec.subgroups),
        "repo {:?}",
        p.repo
    );
    assert_eq!(
        d.repo.as_deref(),
        Some(p.repo.as_str()),
        "the secret was chosen for another repository than the one built"
    );
    // 40 lowercase hex digits; only a build fetched from its source branch (Bitbucket pull
    // requests) may carry an abbreviation, of at least 7.
    let shortest = if p.source.is_some() { 7 } else { 40 };
    assert!(
        (shortest..=40).contains(&p.commit.len())
            && p.commit
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "commit {:?}",
        p.commit
    );
    if let Some(source) = &p.source {
        assert!(
            names::ref_kind(&source.git_ref) == Some(names::RefKind::Branch),
            "source ref {:?}",
            source.git_ref
        );
        if let Some(fork) = &source.repo {
            assert!(
                names::is_valid_repo_name(fork, spec.subgroups) && *fork != p.repo,
                "source repo {fork:?}"
            );
        }
    }
    assert!(
        !names::is_zero_commit(&p.commit),
        "builds the all-zero commit"
    );
    assert!(
        names::validate_ref("ref", &p.git_ref).is_ok(),
        "ref {:?}",
        p.git_ref
    );
    match p.pull {
        // A pull (merge) request's head, by its number.
        Some(pull) => assert!(
            p.git_ref == format!("refs/pull/{}/head", pull.number)
                || p.git_ref == format!("refs/merge-requests/{}/head", pull.number),
            "pull request ref {:?}",
            p.git_ref
        ),
        None => assert!(
            names::ref_kind(&p.git_ref).is_some(),
            "ref {:?} is neither refs/heads/<branch> nor refs/tags/<tag>",
            p.git_ref
        ),
    }
    assert!(
        p.message.len() <= names::MAX_MESSAGE,
        "message of {} bytes",
        p.message.len()
    );
    assert!(
        p.author.len() <= names::MAX_AUTHOR,
        "author of {} bytes",
        p.author.len()
    );
    let lower = p.clone_url.to_ascii_lowercase();
    assert!(
        lower.starts_with("http://") || lower.starts_with("https://"),
        "clone_url {:?}",
        p.clone_url
    );
    assert!(
        names::validate_clone_url("clone_url", &p.clone_url).is_ok(),
        "clone_url {:?}",
        p.clone_url
    );
    if let Some(web) = &p.web_url {
        let lower = web.to_ascii_lowercase();
        assert!(
            (lower.starts_with("https://") || lower.starts_with("http://"))
                && !web.chars().any(|c| c.is_control() || "\"'<>` ".contains(c)),
            "web_url {web:?}"
        );
    }
    if let Some(ssh) = &p.ssh_url {
        assert_eq!(
            names::sanitize_ssh_url(Some(ssh.clone())).as_ref(),
            Some(ssh),
            "ssh_url"
        );
        assert!(
            !ssh.starts_with('-'),
            "ssh_url {ssh:?} could be read as an option"
        );
    }
    if let Some(branch) = &p.default_branch {
        assert_eq!(
            names::sanitize_branch(Some(branch.clone())).as_ref(),
            Some(branch),
            "default_branch"
        );
    }
}
