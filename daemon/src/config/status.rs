//! Commit statuses: `[forge.<name>]` (`api_url`, `token`, `context`) and `[[repo]] status_token`
//! say where a job's life is reported, and `http.public_url` where its page is. A token goes only
//! to its forge's API, over https (plain http only to a loopback address).

use super::credentials::KeyError;
use super::webhook::Secret;
use serde::Deserialize;
use std::collections::HashMap;

/// The forges with a commit status API, and how each is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApi {
    /// Gitea and Forgejo: `POST /repos/{owner}/{repo}/statuses/{sha}`.
    Gitea,
    /// GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}`.
    Github,
    /// GitLab: `POST /projects/{id}/statuses/{sha}`.
    Gitlab,
    /// Bitbucket Cloud: `POST /repositories/{workspace}/{slug}/commit/{sha}/statuses/build`.
    Bitbucket,
}

impl StatusApi {
    /// The API for a forge route name; `None` for Gogs (it has no status API) and unknown names.
    pub fn of(forge: &str) -> Option<StatusApi> {
        match forge {
            "gitea" | "forgejo" => Some(StatusApi::Gitea),
            "github" => Some(StatusApi::Github),
            "gitlab" => Some(StatusApi::Gitlab),
            "bitbucket" => Some(StatusApi::Bitbucket),
            _ => None,
        }
    }

    /// The public service's API, for the forges that have one.
    fn default_url(self) -> Option<&'static str> {
        match self {
            StatusApi::Gitea => None,
            StatusApi::Github => Some("https://api.github.com"),
            StatusApi::Gitlab => Some("https://gitlab.com/api/v4"),
            StatusApi::Bitbucket => Some("https://api.bitbucket.org/2.0"),
        }
    }
}

/// One forge's API settings (`[forge.<name>]`).
#[derive(Clone)]
pub struct ForgeApi {
    /// Base URL of the API, without a trailing `/`.
    pub api_url: Option<String>,
    /// Token for every repository of this forge (a repository's `status_token` wins).
    pub token: Option<Secret>,
    /// The status's name on the forge.
    pub context: String,
}

impl std::fmt::Debug for ForgeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeApi")
            .field("api_url", &self.api_url)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Where to report one job's statuses.
#[derive(Clone)]
pub struct Reporter {
    /// How to speak to it.
    pub api: StatusApi,
    /// Its base URL.
    pub api_url: String,
    /// The token.
    pub token: Secret,
    /// The status's name.
    pub context: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForgeApi {
    pub api_url: Option<String>,
    pub token: Option<String>,
    pub context: Option<String>,
}

/// Validates `[forge.*]`.
pub(super) fn forge_apis(
    raw: HashMap<String, RawForgeApi>,
) -> Result<HashMap<String, ForgeApi>, KeyError> {
    let mut out = HashMap::new();
    for (name, f) in raw {
        let key = |k: &str| format!("forge.{name}.{k}");
        let Some(api) = StatusApi::of(&name) else {
            let why = if name == "gogs" {
                "Gogs has no commit status API: nothing can be reported to it".to_string()
            } else {
                "is not a forge with a status API (gitea, forgejo, github, gitlab, bitbucket)"
                    .to_string()
            };
            return Err((format!("forge.{name}"), why));
        };
        let api_url = f
            .api_url
            .map(|u| u.trim_end_matches('/').to_string())
            .or_else(|| api.default_url().map(str::to_string));
        if let Some(url) = &api_url {
            check_url(&key("api_url"), url)?;
        } else if f.token.is_some() {
            return Err((
                key("api_url"),
                "a self-hosted forge's API address is needed, e.g. \
                 \"https://git.example.com/api/v1\""
                    .into(),
            ));
        }
        let context = f.context.unwrap_or_else(|| "microci".into());
        if context.is_empty() || context.len() > 100 || context.chars().any(char::is_control) {
            return Err((
                key("context"),
                "must be 1 to 100 printable characters".into(),
            ));
        }
        let token = f.token.map(Secret::new);
        out.insert(
            name,
            ForgeApi {
                api_url,
                token,
                context,
            },
        );
    }
    Ok(out)
}

/// An API or page address: https, or plain http to a loopback address only.
pub(super) fn check_url(key: &str, url: &str) -> Result<(), KeyError> {
    let parsed = url::Url::parse(url).map_err(|e| (key.to_string(), format!("{url:?}: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err((
            key.to_string(),
            format!("{url:?} must be https:// (plain http:// only to a loopback address)"),
        )),
    }
}

/// The reporter for a job of `repo` delivered by `forge`, when a token applies.
pub(super) fn reporter(
    forges: &HashMap<String, ForgeApi>,
    repo_token: Option<&Secret>,
    forge: &str,
) -> Option<Reporter> {
    let api = StatusApi::of(forge)?;
    let settings = forges.get(forge);
    let token = repo_token
        .or(settings.and_then(|f| f.token.as_ref()))?
        .clone();
    let api_url = settings
        .and_then(|f| f.api_url.clone())
        .or_else(|| api.default_url().map(str::to_string))?;
    let context = settings.map_or_else(|| "microci".into(), |f| f.context.clone());
    Some(Reporter {
        api,
        api_url,
        token,
        context,
    })
}
