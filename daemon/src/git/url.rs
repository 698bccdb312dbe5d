//! Repository URLs: classification, validation and redaction, so that untrusted clone URLs are checked before
//! libgit2 sees them and credentials inside them never reach a log line or an error message.

use super::GitError;

/// The transport a repository URL selects, as far as authentication and host-key checks care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UrlKind {
    /// A plain local path or a `file://` URL (tests, mirrors on the same host).
    Local,
    /// `git://`: anonymous, unauthenticated.
    Git,
    /// `http://` or `https://`: basic auth with a token.
    Http,
    /// `ssh://` or scp-like `user@host:path`: a deploy key.
    Ssh {
        /// Host name as written in the URL (no brackets, no port).
        host: String,
        /// TCP port (22 when the URL names none).
        port: u16,
    },
}

/// What we learnt from a URL: its kind and the userinfo it carries (used as credential fallbacks).
#[derive(Clone, Debug)]
pub(crate) struct UrlInfo {
    pub(crate) kind: UrlKind,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

/// Splits `scheme://rest` into `(scheme, rest)` (scheme lowercased).
fn split_scheme(url: &str) -> Option<(String, &str)> {
    let idx = url.find("://")?;
    let scheme = &url[..idx];
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return None;
    }
    Some((scheme.to_ascii_lowercase(), &url[idx + 3..]))
}

/// The clone URL of fork `fork` of repository `repo`, cloned from `url`: the same server, scheme
/// and user, with the fork's path in place of the repository's (`https://bitbucket.org/team/app.git`
/// → `https://bitbucket.org/mallory/app.git`, `git@bitbucket.org:team/app.git` →
/// `git@bitbucket.org:mallory/app.git`). So a fork is fetched from where its repository is, and
/// never from an address a delivery names. `None` when `url` does not end with `repo`'s path.
pub fn fork_url(url: &str, repo: &str, fork: &str) -> Option<String> {
    let (base, suffix) = match url.strip_suffix(".git") {
        Some(base) => (base, ".git"),
        None => (url.strip_suffix('/').unwrap_or(url), ""),
    };
    let server = base.strip_suffix(repo)?;
    // The repository's path must start right after a separator: `/team/app`, `:team/app`.
    if !(server.ends_with('/') || server.ends_with(':')) || server.ends_with("//") {
        return None;
    }
    Some(format!("{server}{fork}{suffix}"))
}

/// Splits the authority part of `rest` (after `scheme://`) into `(userinfo, hostport, path_and_more)`.
fn split_authority(rest: &str) -> (Option<&str>, &str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..], tail),
        None => (None, authority, tail),
    }
}

/// Whether `url` is scp-like (`[user@]host:path`), the form `git` accepts for SSH without a scheme.
pub(crate) fn is_scp_like(url: &str) -> bool {
    if url.contains("://") || url.starts_with('/') || url.starts_with('.') {
        return false;
    }
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 0,
        (Some(colon), None) => colon > 0,
        _ => false,
    }
}

/// Splits `host[:port]` or `[v6]:port` into the host and an optional port.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let close = rest.find(']').ok_or("unterminated [ in host")?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) if !p.is_empty() => Some(p.parse::<u16>().map_err(|_| "bad port")?),
            _ => None,
        };
        return Ok((host.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => Ok((
            h.to_string(),
            Some(p.parse::<u16>().map_err(|_| "bad port")?),
        )),
        Some((h, _)) => Ok((h.to_string(), None)),
        None => Ok((hostport.to_string(), None)),
    }
}

/// Checks that `url` is a kind of repository URL we support and extracts what authentication needs.
///
/// Rejected: control characters and whitespace, a leading `-` (option injection if the URL ever reaches a
/// command line), unknown schemes (`ext::`, `fd::` and friends run commands in some git implementations).
pub(crate) fn parse(url: &str) -> Result<UrlInfo, GitError> {
    let bad = |reason: &str| GitError::InvalidUrl {
        url_redacted: redact_url(url),
        reason: reason.to_string(),
    };
    if url.is_empty() {
        return Err(bad("empty URL"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("contains whitespace or control characters"));
    }
    if url.starts_with('-') {
        return Err(bad("starts with '-'"));
    }
    if url.contains("::") && !url.contains("://") {
        return Err(bad("transport helpers (X::) are not supported"));
    }
    if let Some((scheme, rest)) = split_scheme(url) {
        let (userinfo, hostport, _) = split_authority(rest);
        let (username, password) = match userinfo {
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(ui)), None),
            },
            None => (None, None),
        };
        let kind = match scheme.as_str() {
            "file" => UrlKind::Local,
            "git" => UrlKind::Git,
            "http" | "https" => UrlKind::Http,
            "ssh" | "git+ssh" | "ssh+git" => {
                let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
                if host.is_empty() {
                    return Err(bad("no host"));
                }
                UrlKind::Ssh {
                    host,
                    port: port.unwrap_or(22),
                }
            }
            _ => {
                return Err(bad(
                    "unsupported scheme (use https, http, ssh, git or file)",
                ));
            }
        };
        if matches!(kind, UrlKind::Git | UrlKind::Http) && hostport.is_empty() {
            return Err(bad("no host"));
        }
        return Ok(UrlInfo {
            kind,
            username,
            password,
        });
    }
    if is_scp_like(url) {
        let colon = url.find(':').unwrap_or(0);
        let authority = &url[..colon];
        let (username, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h.to_string()),
            None => (None, authority.to_string()),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        return Ok(UrlInfo {
            kind: UrlKind::Ssh { host, port: 22 },
            username,
            password: None,
        });
    }
    Ok(UrlInfo {
        kind: UrlKind::Local,
        username: None,
        password: None,
    })
}

/// Decodes `%XX` escapes (userinfo in URLs may be percent-encoded); invalid escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', h, l]) => hex_val(*h).zip(hex_val(*l)),
            _ => None,
        };
        if let Some((h, l)) = escaped {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Returns `url` with its secrets removed so it can be shown in logs, errors, the web page and the TUI.
///
/// `user:password@` is removed entirely; a lone `user@` is removed from HTTP(S) URLs (forges accept a token as
/// the user name) but kept for SSH, where it is the login name (`git@`) and never a secret. The query string and
/// fragment of HTTP(S) URLs are dropped (`?access_token=...`). Anything that does not parse as a URL is returned
/// with everything up to the last `@` before the path removed if it contains a `:`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = split_scheme(url) {
        let scheme_written = &url[..url.len() - rest.len()];
        let (userinfo, hostport, tail) = split_authority(rest);
        let keep_user = match userinfo {
            Some(ui) if !ui.contains(':') && !matches!(scheme.as_str(), "http" | "https") => {
                Some(ui)
            }
            _ => None,
        };
        let tail = if matches!(scheme.as_str(), "http" | "https") {
            let cut = tail.find(['?', '#']).unwrap_or(tail.len());
            &tail[..cut]
        } else {
            tail
        };
        return match keep_user {
            Some(u) => format!("{scheme_written}{u}@{hostport}{tail}"),
            None => format!("{scheme_written}{hostport}{tail}"),
        };
    }
    if is_scp_like(url) {
        let colon = url.find(':').unwrap_or(0);
        let (authority, path) = url.split_at(colon);
        // A user part with a ':' cannot occur before the first ':', so scp-like URLs carry no password.
        return format!("{authority}{path}");
    }
    url.to_string()
}

/// Takes the credentials out of a URL: `(url without them, user name, password or token)`.
///
/// HTTP(S): `user:password@` gives both; a lone `token@` is a token (forges accept a token as the user
/// name, and any user name with a token as password). Other schemes keep their user name (the SSH login)
/// and lose any password (SSH passwords are never used). URLs without userinfo come back unchanged.
pub(crate) fn split_userinfo(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((scheme, rest)) = split_scheme(url) else {
        return (url.to_string(), None, None);
    };
    let scheme_written = &url[..url.len() - rest.len()];
    let (userinfo, hostport, tail) = split_authority(rest);
    let Some(userinfo) = userinfo else {
        return (url.to_string(), None, None);
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
        None => (percent_decode(userinfo), None),
    };
    if matches!(scheme.as_str(), "http" | "https") {
        let clean = format!("{scheme_written}{hostport}{tail}");
        return match password {
            Some(p) => (clean, (!user.is_empty()).then_some(user), Some(p)),
            None => (clean, None, (!user.is_empty()).then_some(user)),
        };
    }
    let login = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let clean = if login.is_empty() {
        format!("{scheme_written}{hostport}{tail}")
    } else {
        format!("{scheme_written}{login}@{hostport}{tail}")
    };
    (clean, None, None)
}

/// Removes every secret we know about from a free-text message (libgit2 error text may quote the URL).
pub(crate) fn scrub(text: &str, url: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    if !url.is_empty() {
        out = out.replace(url, &redact_url(url));
    }
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_fork_is_fetched_from_the_same_server() {
        use super::fork_url;
        let fork = |u: &str| fork_url(u, "team/app", "mallory/app");
        assert_eq!(
            fork("https://bitbucket.org/team/app.git").as_deref(),
            Some("https://bitbucket.org/mallory/app.git")
        );
        assert_eq!(
            fork("git@bitbucket.org:team/app.git").as_deref(),
            Some("git@bitbucket.org:mallory/app.git")
        );
        assert_eq!(
            fork("http://127.0.0.1:8080/git/team/app/").as_deref(),
            Some("http://127.0.0.1:8080/git/mallory/app")
        );
        // Not this repository's path: no guess.
        assert_eq!(fork("https://bitbucket.org/team/other.git"), None);
        assert_eq!(fork("https://bitbucket.org/xteam/app.git"), None);
        assert_eq!(fork("https://team/app"), None);
    }

    use super::*;

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("https://alice:s3cret@example.com/a.git"),
            "https://example.com/a.git"
        );
        assert_eq!(
            redact_url("https://tok123@example.com/a.git"),
            "https://example.com/a.git"
        );
        assert_eq!(
            redact_url("https://example.com/a.git?access_token=x#f"),
            "https://example.com/a.git"
        );
        assert_eq!(
            redact_url("ssh://git@127.0.0.1:2222/a.git"),
            "ssh://git@127.0.0.1:2222/a.git"
        );
        assert_eq!(
            redact_url("ssh://git:pw@127.0.0.1:2222/a.git"),
            "ssh://127.0.0.1:2222/a.git"
        );
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(redact_url("/srv/git/a.git"), "/srv/git/a.git");
        assert_eq!(redact_url("http://u:p@h/x@y"), "http://h/x@y");
    }

    #[test]
    fn parses_kinds() {
        let k = |u: &str| parse(u).map(|i| i.kind);
        assert_eq!(k("git://h/a.git").ok(), Some(UrlKind::Git));
        assert_eq!(k("https://h/a.git").ok(), Some(UrlKind::Http));
        assert_eq!(k("/tmp/a").ok(), Some(UrlKind::Local));
        assert_eq!(k("file:///tmp/a").ok(), Some(UrlKind::Local));
        assert_eq!(
            k("ssh://git@h:2222/x").ok(),
            Some(UrlKind::Ssh {
                host: "h".into(),
                port: 2222
            })
        );
        assert_eq!(
            k("git@h:o/r.git").ok(),
            Some(UrlKind::Ssh {
                host: "h".into(),
                port: 22
            })
        );
        assert_eq!(
            k("ssh://[::1]:22/x").ok(),
            Some(UrlKind::Ssh {
                host: "::1".into(),
                port: 22
            })
        );
        assert!(k("ext::sh -c id").is_err());
        assert!(k("ext::x").is_err());
        assert!(k("-uhttps://h").is_err());
        assert!(k("ftp://h/a").is_err());
        assert!(k("https://h/a b").is_err());
        assert!(k("").is_err());
        let info = parse("https://bob:p%40ss@h/a.git").ok();
        assert_eq!(
            info.as_ref().and_then(|i| i.password.clone()).as_deref(),
            Some("p@ss")
        );
        assert_eq!(info.and_then(|i| i.username).as_deref(), Some("bob"));
    }

    #[test]
    fn userinfo_is_split_off() {
        assert_eq!(
            split_userinfo("https://ci:t%40k@h:3000/a.git"),
            (
                "https://h:3000/a.git".to_string(),
                Some("ci".into()),
                Some("t@k".into())
            )
        );
        assert_eq!(
            split_userinfo("https://tok@h/a.git"),
            ("https://h/a.git".to_string(), None, Some("tok".into()))
        );
        assert_eq!(
            split_userinfo("ssh://git:pw@h/a.git"),
            ("ssh://git@h/a.git".to_string(), None, None)
        );
        assert_eq!(
            split_userinfo("git@h:o/r.git"),
            ("git@h:o/r.git".to_string(), None, None)
        );
        assert_eq!(
            split_userinfo("https://h/a.git"),
            ("https://h/a.git".to_string(), None, None)
        );
    }

    #[test]
    fn scrub_removes_secrets() {
        let url = "https://u:tok@h/a.git";
        let s = scrub(
            "failed for https://u:tok@h/a.git with tokentoken",
            url,
            &["tokentoken"],
        );
        assert!(!s.contains("tok@"));
        assert!(!s.contains("tokentoken"));
    }
}
