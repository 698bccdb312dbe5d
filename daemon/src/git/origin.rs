//! Origins — scheme, host and port — of repository URLs, and the host lists credentials and
//! unlisted clone URLs are bound to, so a token or key only ever goes where it belongs.

use std::fmt;

/// Where a URL points, as far as trusting it with credentials goes: `https://git.example.com:443`.
/// Two URLs with the same origin reach the same server the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https`, `http`, `ssh` or `git`.
    pub scheme: String,
    /// Host name (lowercase) or IP address (IPv6 without brackets).
    pub host: String,
    /// Port, with the scheme's default filled in.
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Why a host entry in the config could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a host name or a scheme://host[:port] prefix: {reason}")]
pub struct BadHostEntry {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        "ssh" => Some(22),
        "git" => Some(9418),
        _ => None,
    }
}

/// `ssh`, `git+ssh` and `ssh+git` are one transport.
fn normal_scheme(scheme: &str) -> &str {
    match scheme {
        "git+ssh" | "ssh+git" => "ssh",
        other => other,
    }
}

impl Origin {
    /// The origin of a clone URL: `scheme://[user@]host[:port]/…` or scp-like `[user@]host:path`
    /// (SSH, port 22). `None` for local paths, `file://` and anything unparsable: nothing remote
    /// to trust.
    pub fn of_url(url: &str) -> Option<Origin> {
        if url.contains("://") {
            let parsed = url::Url::parse(url).ok()?;
            let scheme = normal_scheme(parsed.scheme()).to_string();
            let port = parsed.port().or_else(|| default_port(&scheme))?;
            let host = match parsed.host()? {
                url::Host::Domain(d) => d.to_ascii_lowercase(),
                url::Host::Ipv4(a) => a.to_string(),
                url::Host::Ipv6(a) => a.to_string(),
            };
            return Some(Origin { scheme, host, port });
        }
        if !super::url::is_scp_like(url) {
            return None;
        }
        let authority = &url[..url.find(':')?];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then(|| Origin {
            scheme: "ssh".into(),
            host: host.to_ascii_lowercase(),
            port: 22,
        })
    }

    /// Reads one entry of a host list (`git.hosts`, `webhook.clone_hosts`): a bare host name
    /// means HTTPS on 443 and SSH on 22; `scheme://host[:port]` means exactly that (the only way
    /// to allow plain `http://` or another port).
    pub fn parse_entry(entry: &str) -> Result<Vec<Origin>, BadHostEntry> {
        let bad = |reason| BadHostEntry {
            entry: entry.to_string(),
            reason,
        };
        let trimmed = entry.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        if trimmed.contains("://") {
            let origin = Origin::of_url(trimmed).ok_or_else(|| bad("cannot parse it"))?;
            if default_port(&origin.scheme).is_none() {
                return Err(bad("the scheme must be https, http, ssh or git"));
            }
            let parsed = url::Url::parse(trimmed).map_err(|_| bad("cannot parse it"))?;
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(bad("it must not carry a user name or password"));
            }
            if !matches!(parsed.path(), "" | "/") {
                return Err(bad("it must not have a path"));
            }
            return Ok(vec![origin]);
        }
        let valid = trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid || trimmed.contains(':') && !trimmed.starts_with('[') {
            return Err(bad(
                "write a bare host name, or scheme://host:port for another port",
            ));
        }
        let host = trimmed
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Ok(vec![
            Origin {
                scheme: "https".into(),
                host: host.clone(),
                port: 443,
            },
            Origin {
                scheme: "ssh".into(),
                host,
                port: 22,
            },
        ])
    }

    /// Reads a whole host list; see [`Origin::parse_entry`].
    pub fn parse_list(entries: &[String]) -> Result<Vec<Origin>, BadHostEntry> {
        let mut all = Vec::new();
        for e in entries {
            all.extend(Origin::parse_entry(e)?);
        }
        Ok(all)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn o(scheme: &str, host: &str, port: u16) -> Origin {
        Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            Origin::of_url("https://u:p@Git.Example.com/a/b.git"),
            Some(o("https", "git.example.com", 443))
        );
        assert_eq!(
            Origin::of_url("http://127.0.0.1:3000/a.git"),
            Some(o("http", "127.0.0.1", 3000))
        );
        assert_eq!(
            Origin::of_url("ssh://git@[::1]:2222/a.git"),
            Some(o("ssh", "::1", 2222))
        );
        assert_eq!(Origin::of_url("git+ssh://h/a"), Some(o("ssh", "h", 22)));
        assert_eq!(
            Origin::of_url("git@github.com:o/r.git"),
            Some(o("ssh", "github.com", 22))
        );
        assert_eq!(
            Origin::of_url("git://127.0.0.1/x"),
            Some(o("git", "127.0.0.1", 9418))
        );
        assert_eq!(Origin::of_url("/srv/git/a.git"), None);
        assert_eq!(Origin::of_url("file:///srv/a.git"), None);
        assert_eq!(o("https", "::1", 443).to_string(), "https://[::1]:443");
    }

    #[test]
    fn host_entries() {
        assert_eq!(
            Origin::parse_entry("git.example.com").unwrap(),
            vec![
                o("https", "git.example.com", 443),
                o("ssh", "git.example.com", 22)
            ]
        );
        assert_eq!(
            Origin::parse_entry("http://127.0.0.1:3000").unwrap(),
            vec![o("http", "127.0.0.1", 3000)]
        );
        assert_eq!(
            Origin::parse_entry("https://h/").unwrap(),
            vec![o("https", "h", 443)]
        );
        assert_eq!(
            Origin::parse_entry("[::1]").unwrap()[0],
            o("https", "::1", 443)
        );
        for bad in [
            "",
            "h:3000",
            "ftp://h",
            "https://u:p@h",
            "https://h/path",
            "h/x",
            "a b",
        ] {
            assert!(Origin::parse_entry(bad).is_err(), "{bad:?}");
        }
    }
}
