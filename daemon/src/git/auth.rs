//! libgit2 callbacks: credentials (deploy key, HTTP token) and SSH host-key verification, with a record of what
//! happened so a failure can be reported as "authentication failed" rather than libgit2's internal wording.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};

use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};
use sha2::{Digest, Sha256};

use super::url::{UrlInfo, UrlKind, redact_url};
use super::{Credentials, Origin};
use tokio_util::sync::CancellationToken;

/// What the callbacks saw during one remote operation; read afterwards to classify an error.
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    /// Set when we refused to (re)offer credentials: the server rejected what we had, or we had nothing.
    pub(crate) auth_failed: Option<String>,
    /// Set when the SSH host key did not match the configured known_hosts file.
    pub(crate) hostkey_rejected: Option<String>,
    tried_ssh_key: bool,
    tried_userpass: bool,
    username_offers: u32,
}

/// Shared handle to [`AuthState`] (callbacks run on the calling thread, so `Rc` suffices).
pub(crate) type SharedState = Rc<RefCell<AuthState>>;

impl AuthState {
    /// Forgets which credentials were offered: each connection (ls-remote, then fetch) may offer them once.
    pub(crate) fn new_connection(&mut self) {
        self.tried_ssh_key = false;
        self.tried_userpass = false;
        self.username_offers = 0;
    }
}

fn auth_error(msg: &str) -> git2::Error {
    git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, msg)
}

fn canceled_error() -> git2::Error {
    git2::Error::new(ErrorCode::User, ErrorClass::Callback, "canceled")
}

/// Whether `creds` may be offered to the server at `asked` (the URL libgit2 is talking to, after
/// any redirect); the reason, in words, when not.
fn may_offer(creds: &Credentials, asked: &str, what: &str) -> Result<(), String> {
    let Some(origin) = Origin::of_url(asked) else {
        return Err(format!(
            "the {what} is not offered to {}: not a network URL",
            redact_url(asked)
        ));
    };
    if !creds.origins.contains(&origin) {
        let bound: Vec<String> = creds.origins.iter().map(Origin::to_string).collect();
        return Err(if bound.is_empty() {
            format!("the {what} is not offered to {origin}: no host is configured for it")
        } else {
            format!(
                "the {what} is not offered to {origin}: it belongs to {}",
                bound.join(", ")
            )
        });
    }
    if origin.scheme == "http" && !creds.allow_insecure_http {
        return Err(format!(
            "refusing to send the {what} to {origin} over plain http:// \
             (set git.allow_insecure_http = true to allow it)"
        ));
    }
    Ok(())
}

/// Builds the callbacks for one remote operation against `url`.
///
/// Credentials are offered once per kind: libgit2 calls the callback again after a rejection, and offering the
/// same secret forever would loop. They are offered only to a server whose origin (scheme, host, port) is in
/// `creds.origins`, and a token never over plain `http://` unless `creds.allow_insecure_http`: libgit2 asks
/// with the URL it is talking to, so a redirect to another host, or a webhook naming another host, gets
/// nothing. HTTP(S): user name is `creds.username`, else the URL's user, else `"git"` (Gogs, Gitea, GitHub
/// and GitLab accept any user name with a token); password is `creds.token`. SSH: the deploy key
/// `creds.ssh_key` with the URL's user (default `"git"`); ssh-agent and `~/.ssh` are never consulted, so the
/// daemon only ever uses keys that were configured for the repository.
///
/// Every callback checks `cancel`: a cancelled job's fetch stops at the next bit of progress.
pub(crate) fn callbacks<'a>(
    creds: &'a Credentials,
    info: &'a UrlInfo,
    url: &'a str,
    state: SharedState,
    cancel: &'a CancellationToken,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let st = state.clone();
    cb.credentials(move |asked, username_from_url, allowed| {
        let mut st = st.borrow_mut();
        if cancel.is_cancelled() {
            return Err(canceled_error());
        }
        let ssh_user = username_from_url
            .or(info.username.as_deref())
            .unwrap_or("git");
        if allowed.contains(CredentialType::SSH_KEY) {
            let Some(key) = creds.ssh_key.as_deref() else {
                st.auth_failed =
                    Some("the server wants an SSH key and no deploy key is configured".into());
                return Err(auth_error("no deploy key configured"));
            };
            if let Err(why) = may_offer(creds, asked, "deploy key") {
                st.auth_failed = Some(why);
                return Err(auth_error("deploy key not offered to this server"));
            }
            if st.tried_ssh_key {
                st.auth_failed = Some(format!(
                    "the server rejected the deploy key {}",
                    key.display()
                ));
                return Err(auth_error("deploy key rejected"));
            }
            st.tried_ssh_key = true;
            // libssh2 cannot always derive the public key from an OpenSSH-format private key; use KEY.pub when
            // it is there.
            let mut public = key.as_os_str().to_owned();
            public.push(".pub");
            let public = Path::new(&public);
            return Cred::ssh_key(ssh_user, public.is_file().then_some(public), key, None);
        }
        if allowed.contains(CredentialType::USERNAME) {
            st.username_offers += 1;
            if st.username_offers > 2 {
                st.auth_failed = Some("the server rejected the user name".into());
                return Err(auth_error("user name rejected"));
            }
            return Cred::username(ssh_user);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            let Some(password) = creds.token.as_deref() else {
                st.auth_failed =
                    Some("the server wants a user name and token and none is configured".into());
                return Err(auth_error("no token configured"));
            };
            if let Err(why) = may_offer(creds, asked, "token") {
                st.auth_failed = Some(why);
                return Err(auth_error("token not offered to this server"));
            }
            if st.tried_userpass {
                st.auth_failed = Some("the server rejected the user name and token".into());
                return Err(auth_error("token rejected"));
            }
            st.tried_userpass = true;
            let user = creds
                .username
                .as_deref()
                .or(username_from_url)
                .or(info.username.as_deref())
                .unwrap_or("git");
            return Cred::userpass_plaintext(user, password);
        }
        st.auth_failed = Some(format!(
            "the server asks for an unsupported kind of credentials ({allowed:?})"
        ));
        Err(auth_error("unsupported credential type"))
    });
    cb.transfer_progress(move |_| !cancel.is_cancelled());
    cb.sideband_progress(move |_| !cancel.is_cancelled());
    let known_hosts = creds.ssh_known_hosts.clone();
    let (host, port) = match &info.kind {
        UrlKind::Ssh { host, port } => (host.clone(), *port),
        _ => (String::new(), 0),
    };
    cb.certificate_check(move |cert, cb_host| {
        if cancel.is_cancelled() {
            return Err(canceled_error());
        }
        let Some(hk) = cert.as_hostkey() else {
            // X.509 (HTTPS): let libgit2/OpenSSL decide with the system trust store.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let host = if host.is_empty() {
            cb_host.to_string()
        } else {
            host.clone()
        };
        let fingerprint = match (hk.hostkey(), hk.hash_sha256()) {
            (Some(raw), _) => fingerprint(&Sha256::digest(raw)),
            (None, Some(h)) => fingerprint(h),
            (None, None) => "unknown".to_string(),
        };
        match &known_hosts {
            None => {
                log_fingerprint_once(&host, port, &fingerprint, url);
                Ok(CertificateCheckStatus::CertificateOk)
            }
            Some(path) => {
                let accepted = hk
                    .hostkey()
                    .is_some_and(|raw| known_hosts_match(path, &host, port, raw));
                if accepted {
                    Ok(CertificateCheckStatus::CertificateOk)
                } else {
                    let msg = format!(
                        "host key {fingerprint} of {host} port {port} is not in {}",
                        path.display()
                    );
                    state.borrow_mut().hostkey_rejected = Some(msg.clone());
                    Err(git2::Error::new(
                        ErrorCode::Certificate,
                        ErrorClass::Ssh,
                        msg,
                    ))
                }
            }
        }
    });
    cb
}

/// OpenSSH's way of printing a key fingerprint: `SHA256:` + unpadded base64 of the digest.
fn fingerprint(digest: &[u8]) -> String {
    format!("SHA256:{}", base64_encode(digest).trim_end_matches('='))
}

/// Trust on every use without a known_hosts file: we accept the key but log it, once per host and key per
/// process, so an administrator can pin it (`ssh_known_hosts`) and a change shows up in the journal.
fn log_fingerprint_once(host: &str, port: u16, fp: &str, url: &str) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let key = format!("{host}:{port} {fp}");
    let mut seen = SEEN
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if seen.insert(key) {
        tracing::info!(
            host, port, fingerprint = fp, url = %redact_url(url),
            "accepting SSH host key without verification (no ssh_known_hosts configured)"
        );
    }
}

/// Whether `path` (OpenSSH known_hosts format) lists `raw` (the server's host key blob) for `host`/`port`.
///
/// Supported: plain host patterns, comma-separated lists, `[host]:port`, `*`/`?` wildcards and `!` negation,
/// and `@revoked` markers. Hashed host names (`|1|...`, from `HashKnownHosts yes`) are not supported: write
/// the file with plain names (`ssh-keyscan` without `-H`).
pub(crate) fn known_hosts_match(path: &Path, host: &str, port: u16, raw: &[u8]) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        tracing::warn!(path = %path.display(), "cannot read ssh_known_hosts file; rejecting host key");
        return false;
    };
    let wanted = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut ok = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or("");
        let mut revoked = false;
        if first.starts_with('@') {
            revoked = first == "@revoked";
            if !revoked && first != "@cert-authority" {
                continue;
            }
            if first == "@cert-authority" {
                continue; // certificates are not supported
            }
            first = fields.next().unwrap_or("");
        }
        let (_ktype, Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(blob) = base64_decode(b64) else {
            continue;
        };
        if blob != raw || !hosts_field_matches(first, &wanted) {
            continue;
        }
        if revoked {
            return false;
        }
        ok = true;
    }
    ok
}

fn hosts_field_matches(field: &str, wanted: &str) -> bool {
    let mut matched = false;
    for pat in field.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg, wanted) {
                return false;
            }
        } else if glob(pat, wanted) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcard match (case-insensitive, as host names are).
fn glob(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let e = base64_encode(data);
            assert_eq!(base64_decode(&e).as_deref(), Some(data));
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn known_hosts_matching() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kh");
        let key = b"\x00\x00\x00\x0bssh-ed25519 fake key".to_vec();
        let other = b"other".to_vec();
        std::fs::write(
            &p,
            format!(
                "# comment\nexample.com,10.0.0.1 ssh-ed25519 {k}\n[127.0.0.1]:2222 ssh-ed25519 {k}\n*.wild.org ssh-rsa {k}\n@revoked bad.example ssh-ed25519 {k}\nbad.example ssh-ed25519 {k}\n",
                k = base64_encode(&key)
            ),
        )
        .unwrap();
        assert!(known_hosts_match(&p, "example.com", 22, &key));
        assert!(known_hosts_match(&p, "10.0.0.1", 22, &key));
        assert!(!known_hosts_match(&p, "example.com", 22, &other));
        assert!(!known_hosts_match(&p, "example.com", 2222, &key));
        assert!(known_hosts_match(&p, "127.0.0.1", 2222, &key));
        assert!(!known_hosts_match(&p, "127.0.0.1", 22, &key));
        assert!(known_hosts_match(&p, "a.wild.org", 22, &key));
        assert!(!known_hosts_match(&p, "bad.example", 22, &key));
        assert!(!known_hosts_match(
            &dir.path().join("missing"),
            "example.com",
            22,
            &key
        ));
    }
}
