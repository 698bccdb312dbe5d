//! Forge webhooks as pure functions: read a delivery (headers + raw body), verify its signature, and decide
//! whether it asks for a build ([`Outcome::Build`]) or builds nothing ([`Outcome::Ignore`]). No I/O here.
//!
//! The HTTP handler calls, in order: [`inspect`] (event, delivery id and repository name, to choose the
//! secret), [`verify`] (signature or token), then [`interpret`]. Everything read from the body is untrusted:
//! repository names, refs, commit ids and URLs are validated in [`names`] before they reach a [`Push`].

mod bitbucket;
mod bitbucket_pulls;
mod common;
mod gitea;
mod github;
mod gitlab;
mod gogs;
pub mod names;
mod pulls;
pub mod signature;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;

/// The forges microci accepts webhooks from; each has its own route `/hooks/<name>`, headers and payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forge {
    /// Gogs (`X-Gogs-*` headers).
    Gogs,
    /// Gitea (`X-Gitea-*` headers, Gogs-compatible payloads).
    Gitea,
    /// Forgejo (a Gitea fork: `X-Forgejo-*` headers plus all the Gitea ones, same payloads).
    Forgejo,
    /// GitHub (`X-GitHub-*` headers, `X-Hub-Signature-256`).
    Github,
    /// GitLab (`X-Gitlab-*` headers, plain-text `X-Gitlab-Token`).
    Gitlab,
    /// Bitbucket Cloud (`X-Event-Key`, `X-Hub-Signature`).
    Bitbucket,
}

impl Forge {
    /// Every forge, in route order; handy for building routes and for tests.
    pub const ALL: [Forge; 6] = [
        Forge::Gogs,
        Forge::Gitea,
        Forge::Forgejo,
        Forge::Github,
        Forge::Gitlab,
        Forge::Bitbucket,
    ];

    /// Maps the route segment after `/hooks/` to a forge, so that one handler serves every forge.
    /// Exact lowercase names only; a trailing `/` (as in `/hooks/gogs/`) is tolerated.
    pub fn from_route(segment: &str) -> Option<Forge> {
        let segment = segment.strip_suffix('/').unwrap_or(segment);
        Forge::ALL.into_iter().find(|f| f.name() == segment)
    }

    /// The lowercase name used in routes, logs and job records.
    pub fn name(self) -> &'static str {
        match self {
            Forge::Gogs => "gogs",
            Forge::Gitea => "gitea",
            Forge::Forgejo => "forgejo",
            Forge::Github => "github",
            Forge::Gitlab => "gitlab",
            Forge::Bitbucket => "bitbucket",
        }
    }

    /// Headers that carry the event name, in order of preference (the first one present wins).
    fn event_headers(self) -> &'static [&'static str] {
        match self {
            Forge::Gogs => &["x-gogs-event"],
            Forge::Gitea => &["x-gitea-event", "x-gogs-event"],
            Forge::Forgejo => &["x-forgejo-event", "x-gitea-event", "x-gogs-event"],
            Forge::Github => &["x-github-event"],
            Forge::Gitlab => &["x-gitlab-event"],
            Forge::Bitbucket => &["x-event-key"],
        }
    }

    /// Headers that carry a per-delivery id, in order of preference.
    ///
    /// GitLab: `Idempotency-Key` first because GitLab documents it as stable across retries, which is what
    /// redelivery detection needs; `X-Gitlab-Event-UUID` otherwise. Bitbucket: only `X-Request-UUID`;
    /// `X-Hook-UUID` names the webhook, not the delivery, so using it would merge every push into one job.
    fn delivery_headers(self) -> &'static [&'static str] {
        match self {
            Forge::Gogs => &["x-gogs-delivery", "x-github-delivery"],
            Forge::Gitea => &["x-gitea-delivery", "x-gogs-delivery"],
            Forge::Forgejo => &["x-forgejo-delivery", "x-gitea-delivery", "x-gogs-delivery"],
            Forge::Github => &["x-github-delivery"],
            Forge::Gitlab => &["idempotency-key", "x-gitlab-event-uuid"],
            Forge::Bitbucket => &["x-request-uuid"],
        }
    }
}

impl std::fmt::Display for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the headers (and the repository name in the body) say about a delivery before it is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event name as the forge sends it (`push`, `Push Hook`, `repo:push`, ...).
    pub event: String,
    /// The forge's id for this delivery, used to recognise redeliveries; `None` when the forge sent none.
    pub delivery_id: Option<String>,
    /// The repository full name, only when present and valid (see [`names::validate_repo_name`]); used to
    /// pick a per-repository secret. An invalid name gives `None` here and a `BadRequest` in [`interpret`].
    pub repo: Option<String>,
}

/// What a verified delivery means for microci.
// One per delivery, matched at once and dropped: boxing the push would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Build this commit.
    Build(Push),
    /// Build each of these: one delivery that updated several refs (Bitbucket batches them),
    /// each with its own commit.
    Builds(Vec<Push>),
    /// A pull request was closed: what is still queued for `git_ref` is canceled.
    Closed {
        /// The repository.
        repo: String,
        /// The pull request's ref.
        git_ref: String,
    },
    /// Build nothing; the reason is short human text for the `{"ignored": ...}` reply.
    Ignore(String),
}

/// A validated request to build one commit of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Repository full name `owner/name` (GitLab: `group/subgroup/.../name`), validated.
    pub repo: String,
    /// HTTP(S) clone URL (Bitbucket sends none: built as `https://bitbucket.org/{repo}.git`).
    pub clone_url: String,
    /// SSH clone URL when the forge sent a plausible one.
    pub ssh_url: Option<String>,
    /// Full ref: `refs/heads/<branch>` or `refs/tags/<tag>`, validated.
    pub git_ref: String,
    /// 40 lowercase hex digits; for a Bitbucket pull request, possibly an abbreviation (7 to 39
    /// digits) that the job resolves when it fetches [`Push::source`].
    pub commit: String,
    /// Commit message (or tag message), at most [`names::MAX_MESSAGE`] bytes.
    pub message: String,
    /// Who pushed, at most [`names::MAX_AUTHOR`] bytes; empty if the forge did not say.
    pub author: String,
    /// The repository's default branch (short name) when sent and valid.
    pub default_branch: Option<String>,
    /// Whether the forge says the repository is public (`private: false`, GitLab visibility
    /// level 20, Bitbucket `is_private: false`); `None` when it did not say. Decides what the
    /// public web pages show.
    pub public: Option<bool>,
    /// The files the pushed commits changed, where the forge lists them (for `[[repo]] paths`).
    pub changed_files: Option<Vec<String>>,
    /// The pull request this builds, for a pull request event.
    pub pull: Option<Pull>,
    /// The repository's web page, for links to the commit and the pull request.
    pub web_url: Option<String>,
    /// Where the commit is fetched from when the repository does not serve `git_ref` itself
    /// (Bitbucket has no `refs/pull/*`): `None` fetches `git_ref` from the repository.
    pub source: Option<Source>,
}

/// A pull request's head as the forge sent it, for a forge whose repositories do not serve the
/// pull request's ref: the source branch, in this repository or in a fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The branch to fetch, `refs/heads/<name>`, validated.
    pub git_ref: String,
    /// The fork's full name when the branch lives in another repository; it is fetched from the
    /// same server as this repository, at the fork's path (see `git::fork_url`).
    pub repo: Option<String>,
}

/// Links to a commit, and to a pull request, on forge `forge` (a route name) for the repository
/// whose web page is `web`: what `show` and the pages link to.
pub fn links(forge: &str, web: &str, commit: &str, pull: Option<u64>) -> (String, Option<String>) {
    let (commit_path, pull_path) = match forge {
        "gitlab" => ("-/commit", "-/merge_requests"),
        "bitbucket" => ("commits", "pull-requests"),
        "github" => ("commit", "pull"),
        // Gogs, Gitea, Forgejo.
        _ => ("commit", "pulls"),
    };
    (
        format!("{web}/{commit_path}/{commit}"),
        pull.map(|n| format!("{web}/{pull_path}/{n}")),
    )
}

/// A pull (merge) request's build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pull {
    /// Its number on the forge.
    pub number: u64,
    /// Whether it comes from another repository (a fork): built only with `pull_requests =
    /// "all"`, and marked untrusted.
    pub fork: bool,
}

/// Why a delivery was refused; the message is safe to show (it never contains a secret).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    /// Missing, empty or wrong signature/token: HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Malformed body, missing header or field, or an invalid value: HTTP 400.
    #[error("{0}")]
    BadRequest(String),
}

impl HookError {
    /// The HTTP status the handler should answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            HookError::Unauthorized(_) => 401,
            HookError::BadRequest(_) => 400,
        }
    }

    /// `missing field "<name>"`, the message for an absent or null required field.
    pub(crate) fn missing(field: &str) -> HookError {
        HookError::BadRequest(format!("missing field \"{field}\""))
    }
}

/// Longest event header value accepted (real ones are under 30 bytes).
const MAX_EVENT: usize = 100;
/// Longest delivery id accepted (real ones are UUIDs).
const MAX_DELIVERY_ID: usize = 200;

/// Reads the event name and delivery id from headers and the repository full name from the body (for
/// choosing a per-repo secret). Err(BadRequest) for a body that is not JSON / missing event header.
pub fn inspect(forge: Forge, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, HookError> {
    let event = match first_header(headers, forge.event_headers())? {
        Some(event) => event,
        None => {
            return Err(HookError::BadRequest(format!(
                "missing header {}",
                display_header(forge.event_headers()[0])
            )));
        }
    };
    if event.len() > MAX_EVENT {
        return Err(HookError::BadRequest(format!(
            "event header is longer than {MAX_EVENT} bytes"
        )));
    }
    let delivery_id = first_header(headers, forge.delivery_headers())?;
    if delivery_id
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DELIVERY_ID)
    {
        return Err(HookError::BadRequest(format!(
            "delivery id header is longer than {MAX_DELIVERY_ID} bytes"
        )));
    }

    #[derive(Deserialize)]
    struct Named {
        full_name: Option<String>,
        path_with_namespace: Option<String>,
    }
    #[derive(Deserialize)]
    struct Probe {
        repository: Option<Named>,
        project: Option<Named>,
    }
    let probe: Probe = parse_json(body)?;
    let (name, subgroups) = match forge {
        Forge::Gitlab => (probe.project.and_then(|p| p.path_with_namespace), true),
        _ => (probe.repository.and_then(|r| r.full_name), false),
    };
    let repo = name.filter(|n| names::is_valid_repo_name(n, subgroups));
    Ok(Delivery {
        event,
        delivery_id,
        repo,
    })
}

/// Checks the signature/token against `secret` as that forge computes it; constant-time compare (subtle).
/// Missing or wrong -> Err(Unauthorized(reason)).
///
/// Call it only when a secret applies; an empty `secret` is treated like any other key (a forge with no
/// secret sends an empty signature, which is refused).
pub fn verify(
    forge: Forge,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), HookError> {
    signature::verify(forge, headers, body, secret)
}

/// Decides what the delivery means: a [`Push`] to build, or the reason to build nothing. `delivery` comes
/// from [`inspect`] on the same request; `body` is the raw body that [`verify`] checked.
pub fn interpret(forge: Forge, delivery: &Delivery, body: &[u8]) -> Result<Outcome, HookError> {
    let event = delivery.event.as_str();
    match forge {
        Forge::Gogs => gogs::interpret(event, body),
        Forge::Gitea | Forge::Forgejo => gitea::interpret(event, body),
        Forge::Github => github::interpret(event, body),
        Forge::Gitlab => gitlab::interpret(event, body),
        Forge::Bitbucket => bitbucket::interpret(event, body),
    }
}

/// `Ignore("unsupported event \"X\"")`.
pub(crate) fn unsupported(event: &str) -> Outcome {
    Outcome::Ignore(format!("unsupported event {event:?}"))
}

/// Parses the body into `T`, naming the problem: not JSON at all, or JSON of the wrong shape.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            HookError::BadRequest(format!("body is not a valid webhook payload: {e}"))
        } else {
            HookError::BadRequest(format!("body is not valid JSON: {e}"))
        }
    })
}

/// The value of the first of `names` that is present and non-empty, trimmed.
/// A value that is not visible ASCII is a BadRequest.
pub(crate) fn first_header(
    headers: &HeaderMap,
    names: &[&str],
) -> Result<Option<String>, HookError> {
    for name in names {
        if let Some(value) = headers.get(*name) {
            let text = value.to_str().map_err(|_| {
                HookError::BadRequest(format!(
                    "header {} is not visible ASCII",
                    display_header(name)
                ))
            })?;
            let text = text.trim();
            if !text.is_empty() {
                return Ok(Some(text.to_owned()));
            }
        }
    }
    Ok(None)
}

/// A lowercase header name as forges spell it (`x-gogs-event` -> `X-Gogs-Event`), for messages.
pub(crate) fn display_header(name: &str) -> String {
    const SPECIAL: [(&str, &str); 2] = [
        ("x-github-event", "X-GitHub-Event"),
        ("x-github-delivery", "X-GitHub-Delivery"),
    ];
    if let Some((_, nice)) = SPECIAL.iter().find(|(raw, _)| *raw == name) {
        return (*nice).to_owned();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn links_follow_each_forges_paths() {
        let c = "0123456789abcdef0123456789abcdef01234567";
        let web = "https://forge.example/o/r";
        assert_eq!(
            links("gitea", web, c, Some(3)),
            (format!("{web}/commit/{c}"), Some(format!("{web}/pulls/3")))
        );
        assert_eq!(
            links("github", web, c, Some(3)).1,
            Some(format!("{web}/pull/3"))
        );
        assert_eq!(
            links("gitlab", web, c, Some(3)),
            (
                format!("{web}/-/commit/{c}"),
                Some(format!("{web}/-/merge_requests/3"))
            )
        );
        assert_eq!(
            links("bitbucket", web, c, None),
            (format!("{web}/commits/{c}"), None)
        );
    }

    #[test]
    fn only_plain_web_addresses_are_kept() {
        let keep = |u: &str| names::sanitize_web_url(Some(u.to_string()));
        assert_eq!(
            keep("https://forge.example/o/r/").as_deref(),
            Some("https://forge.example/o/r")
        );
        for bad in [
            "javascript:alert(1)",
            "https://forge.example/o/r\"><script>",
            "https://forge.example/\u{202E}r",
            "ftp://forge.example/o/r",
            "https:///nohost",
        ] {
            assert_eq!(keep(bad), None, "{bad:?}");
        }
    }

    use super::*;
    use warp::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn routes_round_trip() {
        for forge in Forge::ALL {
            assert_eq!(Forge::from_route(forge.name()), Some(forge));
        }
        assert_eq!(Forge::from_route("gogs/"), Some(Forge::Gogs));
        assert_eq!(Forge::from_route("Gogs"), None);
        assert_eq!(Forge::from_route(""), None);
        assert_eq!(Forge::from_route("svn"), None);
    }

    #[test]
    fn inspect_reads_headers_and_repo() {
        let body = br#"{"repository":{"full_name":"alice/app"}}"#;
        let h = headers(&[("X-Gogs-Event", "push"), ("X-Gogs-Delivery", "abc")]);
        let d = inspect(Forge::Gogs, &h, body).unwrap();
        assert_eq!(d.event, "push");
        assert_eq!(d.delivery_id.as_deref(), Some("abc"));
        assert_eq!(d.repo.as_deref(), Some("alice/app"));
    }

    #[test]
    fn inspect_forgejo_falls_back_to_gitea_headers() {
        let body = br#"{"repository":{"full_name":"alice/app"}}"#;
        let h = headers(&[("X-Gitea-Event", "push"), ("X-Gitea-Delivery", "d1")]);
        let d = inspect(Forge::Forgejo, &h, body).unwrap();
        assert_eq!(d.event, "push");
        assert_eq!(d.delivery_id.as_deref(), Some("d1"));
        let h = headers(&[("X-Forgejo-Event", "create"), ("X-Gitea-Event", "push")]);
        assert_eq!(inspect(Forge::Forgejo, &h, body).unwrap().event, "create");
    }

    #[test]
    fn inspect_gitlab_uses_project_path() {
        let body = br#"{"project":{"path_with_namespace":"grp/sub/app"}}"#;
        let h = headers(&[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Event-UUID", "u"),
        ]);
        let d = inspect(Forge::Gitlab, &h, body).unwrap();
        assert_eq!(d.repo.as_deref(), Some("grp/sub/app"));
        assert_eq!(d.delivery_id.as_deref(), Some("u"));
    }

    #[test]
    fn inspect_errors() {
        let h = headers(&[("X-Gogs-Event", "push")]);
        let err = inspect(Forge::Gogs, &h, b"not json").unwrap_err();
        assert!(
            matches!(&err, HookError::BadRequest(m) if m.starts_with("body is not valid JSON")),
            "{err:?}"
        );
        let err = inspect(Forge::Gogs, &HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(
            err,
            HookError::BadRequest("missing header X-Gogs-Event".into())
        );
        let err = inspect(Forge::Github, &HeaderMap::new(), b"{}").unwrap_err();
        assert_eq!(
            err,
            HookError::BadRequest("missing header X-GitHub-Event".into())
        );
        let err = inspect(Forge::Gogs, &h, b"[1,2]").unwrap_err();
        assert!(matches!(err, HookError::BadRequest(_)));
    }

    #[test]
    fn inspect_hides_invalid_repo_names() {
        let body = br#"{"repository":{"full_name":"../etc"}}"#;
        let h = headers(&[("X-Gogs-Event", "push")]);
        assert_eq!(inspect(Forge::Gogs, &h, body).unwrap().repo, None);
    }

    #[test]
    fn status_codes() {
        assert_eq!(HookError::Unauthorized("x".into()).status_code(), 401);
        assert_eq!(
            HookError::missing("after").to_string(),
            "missing field \"after\""
        );
        assert_eq!(HookError::missing("after").status_code(), 400);
    }
}
