//! Webhook authentication as each forge does it: HMAC-SHA256 of the raw body (bare hex or `sha256=<hex>`),
//! or GitLab's plain-text token; every comparison is constant-time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::HeaderMap;

use super::{Forge, HookError, display_header, first_header};

type HmacSha256 = Hmac<Sha256>;

/// How a forge carries its proof of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Lowercase hex HMAC-SHA256 of the body, nothing else (Gogs, Gitea, Forgejo).
    BareHex,
    /// `sha256=<hex>` HMAC-SHA256 of the body (GitHub, Bitbucket).
    Sha256Prefixed,
    /// The secret itself, compared as-is (GitLab `X-Gitlab-Token`).
    Token,
}

/// The headers to read, in order of preference (the first present and non-empty is used), and the scheme.
pub fn scheme(forge: Forge) -> (&'static [&'static str], Scheme) {
    match forge {
        Forge::Gogs => (&["x-gogs-signature"], Scheme::BareHex),
        Forge::Gitea => (&["x-gitea-signature", "x-gogs-signature"], Scheme::BareHex),
        Forge::Forgejo => (
            &[
                "x-forgejo-signature",
                "x-gitea-signature",
                "x-gogs-signature",
            ],
            Scheme::BareHex,
        ),
        Forge::Github => (&["x-hub-signature-256"], Scheme::Sha256Prefixed),
        Forge::Gitlab => (&["x-gitlab-token"], Scheme::Token),
        Forge::Bitbucket => (&["x-hub-signature"], Scheme::Sha256Prefixed),
    }
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`, as Gogs/Gitea put in their signature header.
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, body))
}

fn hmac_sha256(secret: &[u8], body: &[u8]) -> Vec<u8> {
    mac(secret, body).finalize().into_bytes().to_vec()
}

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail; the fallback keeps it
    // total without unwrap.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => HmacSha256::new(&Default::default()),
    };
    mac.update(body);
    mac
}

/// The header a forge would send for `body` under `secret`: (lowercase name, value). For tests and for
/// tools that replay deliveries.
pub fn signature_header(forge: Forge, body: &[u8], secret: &str) -> (&'static str, String) {
    let (names, scheme) = scheme(forge);
    let value = match scheme {
        Scheme::BareHex => hmac_sha256_hex(secret.as_bytes(), body),
        Scheme::Sha256Prefixed => format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), body)),
        Scheme::Token => secret.to_owned(),
    };
    (names[0], value)
}

/// True when `signature_hex` (either case) is the HMAC-SHA256 of `body` under `secret`; constant-time in
/// the MAC value.
pub fn hmac_matches(secret: &[u8], body: &[u8], signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(tag) => mac(secret, body).verify_slice(&tag).is_ok(),
        Err(_) => false,
    }
}

/// True when `token` equals `secret`. Both are hashed first so neither the content nor the length of the
/// secret leaks through timing.
pub fn token_matches(secret: &str, token: &str) -> bool {
    let a = Sha256::digest(secret.as_bytes());
    let b = Sha256::digest(token.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// See [`crate::forge::verify`]. Messages name the header and what was wrong with it, never the secret.
pub fn verify(
    forge: Forge,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), HookError> {
    let (names, scheme) = scheme(forge);
    let shown = display_header(names[0]);
    let value = match first_header(headers, names) {
        Ok(Some(value)) => value,
        Ok(None) => {
            let present = names.iter().any(|n| headers.contains_key(*n));
            return Err(HookError::Unauthorized(if present {
                format!("empty signature header {shown}")
            } else {
                format!("missing signature header {shown}")
            }));
        }
        Err(_) => {
            return Err(HookError::Unauthorized(format!(
                "signature header {shown} is not visible ASCII"
            )));
        }
    };
    let ok = match scheme {
        Scheme::BareHex => hmac_matches(secret.as_bytes(), body, &value),
        Scheme::Sha256Prefixed => match value.split_once('=') {
            Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => {
                if hex.is_empty() {
                    return Err(HookError::Unauthorized(format!(
                        "empty signature in header {shown}"
                    )));
                }
                hmac_matches(secret.as_bytes(), body, hex)
            }
            _ => {
                return Err(HookError::Unauthorized(format!(
                    "signature header {shown} is not of the form sha256=<hex>"
                )));
            }
        },
        Scheme::Token => token_matches(secret, &value),
    };
    if ok {
        Ok(())
    } else if scheme == Scheme::Token {
        Err(HookError::Unauthorized(format!("wrong token in {shown}")))
    } else {
        Err(HookError::Unauthorized(format!(
            "signature in {shown} does not match the body"
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    // Published in GitHub's "Validating webhook deliveries" docs.
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_SIG: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn one(name: &'static str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    fn unauthorized(r: Result<(), HookError>) -> String {
        match r {
            Err(HookError::Unauthorized(m)) => m,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn github_published_vector() {
        assert_eq!(hmac_sha256_hex(GH_SECRET.as_bytes(), GH_BODY), GH_SIG);
        let h = one("X-Hub-Signature-256", &format!("sha256={GH_SIG}"));
        verify(Forge::Github, &h, GH_BODY, GH_SECRET).unwrap();
        // Uppercase hex is the same MAC.
        let h = one(
            "X-Hub-Signature-256",
            &format!("sha256={}", GH_SIG.to_uppercase()),
        );
        verify(Forge::Github, &h, GH_BODY, GH_SECRET).unwrap();
        // Same vector in Bitbucket's header, and bare for Gogs/Gitea/Forgejo.
        let h = one("X-Hub-Signature", &format!("sha256={GH_SIG}"));
        verify(Forge::Bitbucket, &h, GH_BODY, GH_SECRET).unwrap();
        verify(
            Forge::Gogs,
            &one("X-Gogs-Signature", GH_SIG),
            GH_BODY,
            GH_SECRET,
        )
        .unwrap();
        verify(
            Forge::Gitea,
            &one("X-Gitea-Signature", GH_SIG),
            GH_BODY,
            GH_SECRET,
        )
        .unwrap();
        verify(
            Forge::Forgejo,
            &one("X-Forgejo-Signature", GH_SIG),
            GH_BODY,
            GH_SECRET,
        )
        .unwrap();
        // Forgejo falls back to the Gitea header.
        verify(
            Forge::Forgejo,
            &one("X-Gitea-Signature", GH_SIG),
            GH_BODY,
            GH_SECRET,
        )
        .unwrap();
    }

    #[test]
    fn wrong_missing_empty_and_other_body() {
        let good = one("X-Hub-Signature-256", &format!("sha256={GH_SIG}"));
        let m = unauthorized(verify(Forge::Github, &good, GH_BODY, "wrong secret"));
        assert!(m.contains("does not match"), "{m}");
        let m = unauthorized(verify(Forge::Github, &good, b"Hello, World?", GH_SECRET));
        assert!(m.contains("does not match"), "{m}");
        let m = unauthorized(verify(Forge::Github, &HeaderMap::new(), GH_BODY, GH_SECRET));
        assert_eq!(m, "missing signature header X-Hub-Signature-256");
        let m = unauthorized(verify(
            Forge::Github,
            &one("X-Hub-Signature-256", ""),
            GH_BODY,
            GH_SECRET,
        ));
        assert_eq!(m, "empty signature header X-Hub-Signature-256");
        let m = unauthorized(verify(
            Forge::Github,
            &one("X-Hub-Signature-256", "sha256="),
            GH_BODY,
            GH_SECRET,
        ));
        assert!(m.contains("empty signature"), "{m}");
        let sha1 = one("X-Hub-Signature-256", "sha1=0123");
        assert!(unauthorized(verify(Forge::Github, &sha1, GH_BODY, GH_SECRET)).contains("sha256="));
        let bare = one("X-Hub-Signature-256", GH_SIG);
        assert!(unauthorized(verify(Forge::Github, &bare, GH_BODY, GH_SECRET)).contains("sha256="));

        let m = unauthorized(verify(Forge::Gogs, &HeaderMap::new(), GH_BODY, GH_SECRET));
        assert_eq!(m, "missing signature header X-Gogs-Signature");
        let m = unauthorized(verify(
            Forge::Gogs,
            &one("X-Gogs-Signature", ""),
            GH_BODY,
            GH_SECRET,
        ));
        assert_eq!(m, "empty signature header X-Gogs-Signature");
        let m = unauthorized(verify(
            Forge::Gogs,
            &one("X-Gogs-Signature", "zz"),
            GH_BODY,
            GH_SECRET,
        ));
        assert!(m.contains("does not match"), "{m}");
        // A truncated MAC is refused.
        let m = unauthorized(verify(
            Forge::Gogs,
            &one("X-Gogs-Signature", &GH_SIG[..32]),
            GH_BODY,
            GH_SECRET,
        ));
        assert!(m.contains("does not match"), "{m}");
        // Gogs does not read GitHub's header.
        let gh = one("X-Hub-Signature-256", &format!("sha256={GH_SIG}"));
        assert!(verify(Forge::Gogs, &gh, GH_BODY, GH_SECRET).is_err());
        let m = unauthorized(verify(
            Forge::Bitbucket,
            &HeaderMap::new(),
            GH_BODY,
            GH_SECRET,
        ));
        assert_eq!(m, "missing signature header X-Hub-Signature");
    }

    #[test]
    fn gitlab_token() {
        verify(
            Forge::Gitlab,
            &one("X-Gitlab-Token", "s3cret"),
            b"{}",
            "s3cret",
        )
        .unwrap();
        let m = unauthorized(verify(
            Forge::Gitlab,
            &one("X-Gitlab-Token", "s3creT"),
            b"{}",
            "s3cret",
        ));
        assert_eq!(m, "wrong token in X-Gitlab-Token");
        assert!(!m.contains("s3cret"));
        let m = unauthorized(verify(Forge::Gitlab, &HeaderMap::new(), b"{}", "s3cret"));
        assert_eq!(m, "missing signature header X-Gitlab-Token");
        assert!(
            verify(
                Forge::Gitlab,
                &one("X-Gitlab-Token", "s3cret-longer"),
                b"{}",
                "s3cret"
            )
            .is_err()
        );
    }

    #[test]
    fn signature_header_round_trips() {
        for forge in Forge::ALL {
            let (name, value) = signature_header(forge, b"{\"a\":1}", "k");
            let h = one(name, &value);
            verify(forge, &h, b"{\"a\":1}", "k").unwrap();
            assert!(verify(forge, &h, b"{\"a\":2}", "k").is_err() || forge == Forge::Gitlab);
            assert!(verify(forge, &h, b"{\"a\":1}", "other").is_err());
        }
    }
}
