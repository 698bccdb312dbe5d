//! Reaching an engine by its [`EngineHost`]: bollard's own clients for the local socket and
//! plain HTTP, our transports for mutual TLS ([`super::tls`]) and SSH ([`super::ssh`]); and
//! telling a transport failure (the engine may be down) from an answer (the engine said no).

use crate::config::EngineHost;
use crate::runner::EngineError;
use bollard::Docker;
use bollard::errors::Error as DockerError;

/// Seconds bollard waits for the head of each response.
pub(super) const REQUEST_TIMEOUT: u64 = 120;

/// A client for `host`; nothing is sent yet. Fails only when the transport cannot be set up
/// (unreadable or invalid TLS files).
pub(super) fn connect(host: &EngineHost) -> Result<Docker, EngineError> {
    let unusable =
        |detail: String| EngineError::Unreachable(format!("{}: {detail}", cannot_reach(host)));
    match host {
        EngineHost::Default => Docker::connect_with_defaults().map_err(|e| unusable(describe(&e))),
        EngineHost::Unix(path) => Docker::connect_with_socket(
            &path.to_string_lossy(),
            REQUEST_TIMEOUT,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| unusable(describe(&e))),
        EngineHost::Tcp { addr, tls: None } => {
            Docker::connect_with_http(addr, REQUEST_TIMEOUT, bollard::API_DEFAULT_VERSION)
                .map_err(|e| unusable(describe(&e)))
        }
        EngineHost::Tcp {
            addr,
            tls: Some(files),
        } => super::tls::connect(addr, files).map_err(unusable),
        EngineHost::Ssh {
            destination,
            port,
            key,
            known_hosts,
        } => super::ssh::connect(super::ssh::SshTarget {
            destination: destination.clone(),
            port: *port,
            key: key.clone(),
            known_hosts: known_hosts.clone(),
        })
        .map_err(unusable),
    }
}

/// "cannot reach the Docker Engine at tcp://…" (without "at" for the default one).
pub(super) fn cannot_reach(host: &EngineHost) -> String {
    match host {
        EngineHost::Default => "cannot reach the Docker Engine".into(),
        h => format!("cannot reach the Docker Engine at {}", h.display()),
    }
}

/// Whether `e` is about the connection rather than an answer of the engine: then the engine
/// may be down, and the pool may try again elsewhere or later.
pub(super) fn is_transport(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::HyperLegacyError { .. }
            | DockerError::HyperResponseError { .. }
            | DockerError::IOError { .. }
            | DockerError::RequestTimeoutError
            | DockerError::SocketNotFoundError(_)
    )
}

/// `what: detail` as [`EngineError::Unreachable`] when the transport failed, else as
/// [`EngineError::Engine`] with the engine's own words.
pub(super) fn classify(what: &str, e: DockerError) -> EngineError {
    if is_transport(&e) {
        EngineError::Unreachable(format!("{what}: {}", describe(&e)))
    } else {
        EngineError::Engine(format!("{what}: {}", super::docker_message(&e)))
    }
}

/// Every cause in `e`'s chain, innermost last, without the generic wrappers ("Error in the
/// hyper legacy client", "client error (Connect)") when something more precise follows; with a
/// hint of which file to look at when TLS says why it failed.
pub(super) fn describe(e: &DockerError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        let text = text.trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
        cause = c.source();
    }
    let generic = |p: &String| {
        p.starts_with("Error in the hyper legacy client") || p.starts_with("client error (")
    };
    if parts.iter().any(|p| !generic(p)) {
        parts.retain(|p| !generic(p));
    }
    let text = parts.join(": ");
    match tls_hint(&text) {
        Some(hint) => format!("{hint} ({text})"),
        None => text,
    }
}

/// What a person should check when OpenSSL's reason is one of these.
fn tls_hint(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    if t.contains("alert unknown ca")
        || t.contains("alert bad certificate")
        || t.contains("alert certificate required")
        || t.contains("alert decrypt error")
        || t.contains("alert certificate unknown")
    {
        Some("the engine refused this daemon's client certificate (tls_cert, tls_key)")
    } else if t.contains("certificate verify failed") {
        Some(
            "the engine's certificate is not signed by tls_ca or does not name the host in \
             its subject alternative names",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_reasons_get_a_hint_naming_the_files() {
        let refused = "error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca";
        assert!(tls_hint(refused).is_some_and(|h| h.contains("tls_cert")));
        let unverified = "error:0A000086:SSL routines::certificate verify failed";
        assert!(tls_hint(unverified).is_some_and(|h| h.contains("tls_ca")));
        assert_eq!(tls_hint("Connection refused (os error 111)"), None);
    }

    #[test]
    fn transport_failures_are_unreachable_and_answers_are_not() {
        let io = DockerError::IOError {
            err: std::io::Error::other("ssh exited with status 255: Host key verification failed."),
        };
        let e = classify("cannot list containers", io);
        assert!(
            matches!(&e, EngineError::Unreachable(m) if m == "cannot list containers: ssh exited with status 255: Host key verification failed."),
            "{e:?}"
        );
        let said_no = DockerError::DockerResponseServerError {
            status_code: 409,
            message: "conflict\n".into(),
        };
        assert!(matches!(classify("x", said_no), EngineError::Engine(m) if m == "x: conflict"));
    }
}
