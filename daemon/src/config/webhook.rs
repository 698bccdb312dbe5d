//! Who may enqueue work: webhook secrets and how strong they must be, whether unlisted
//! repositories build, and from which hosts they may be cloned.

use crate::git::Origin;

/// A secret string whose `Debug` never shows it, so a logged config cannot leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the config.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that needs it: signature verification.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Why this secret cannot protect a repository, if it cannot: empty, a placeholder from an
    /// example, or too short to resist guessing.
    pub fn weakness(&self) -> Option<&'static str> {
        let v = self.0.trim();
        if v.is_empty() {
            Some("is empty")
        } else if PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p)) {
            Some("is a placeholder from an example")
        } else if v.len() < MIN_SECRET {
            Some("is shorter than 16 bytes")
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        })
    }
}

/// Shortest secret accepted without `webhook.allow_unsigned`.
pub const MIN_SECRET: usize = 16;

/// Values that documentation and examples put where a secret goes (ours ship `change-me`).
const PLACEHOLDERS: &[&str] = &[
    "change-me",
    "changeme",
    "change-me-too",
    "change_me",
    "secret",
    "password",
    "replace-me",
    "<openssl rand -hex 32>",
    "openssl rand -hex 32",
    "xxx",
    "todo",
];

/// `[webhook]`: who may enqueue builds.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// Default secret (HMAC key or GitLab token); `[[repo]] secret` overrides it.
    pub secret: Secret,
    /// Accept repositories whose secret is weak or empty (deliveries then are not verified).
    pub allow_unsigned: bool,
    /// Build repositories that have no `[[repo]]` table (trusting every holder of `secret`).
    pub allow_unlisted: bool,
    /// Where unlisted repositories may be cloned from.
    pub clone_hosts: Vec<Origin>,
}

impl WebhookSettings {
    /// Whether `clone_url` (of an unlisted repository) points at an allowed host.
    pub fn clone_host_allowed(&self, clone_url: &str) -> bool {
        Origin::of_url(clone_url).is_some_and(|o| self.clone_hosts.contains(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets() {
        let w = |s: &str| Secret::new(s.into()).weakness();
        assert_eq!(w(""), Some("is empty"));
        assert_eq!(w("  "), Some("is empty"));
        assert_eq!(w("CHANGE-ME"), Some("is a placeholder from an example"));
        assert_eq!(w("s3cret"), Some("is shorter than 16 bytes"));
        assert_eq!(w("0123456789abcdef"), None);
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "<redacted>");
    }
}
