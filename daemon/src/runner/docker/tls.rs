//! `tcp://` engines with mutual TLS, through the system's OpenSSL (native-tls, already linked
//! for git and mail) rather than bollard's `ssl` feature: that one brings rustls and ring into a
//! binary already at its size target, and trusts the system's roots besides the engine's CA.
//! Here only `tls_ca` is trusted, the engine's certificate must name the host it is reached at
//! (hostname or IP address in its subject alternative names), and the daemon shows its own
//! `tls_cert`. The files are read at every (re)connection, so renewed certificates are picked
//! up without a restart.

use crate::config::TlsFiles;
use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// How long a TCP connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an unused connection stays open for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A client speaking HTTPS to `addr` (`host:port`) with `files`; nothing is sent yet.
pub(super) fn connect(addr: &str, files: &TlsFiles) -> Result<Docker, String> {
    let tls = connector(files)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    // A partition is noticed within about 30 s even while a job's output is quiet.
    http.set_keepalive(Some(Duration::from_secs(15)));
    http.set_keepalive_interval(Some(Duration::from_secs(5)));
    http.set_keepalive_retries(Some(3));
    let mut https = hyper_tls::HttpsConnector::from((http, tls.into()));
    https.https_only(true);
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https),
    );
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = Arc::clone(&client);
            async move { Ok(client.request(request).await?) }
        },
        Some(format!("https://{addr}")),
        super::connect::REQUEST_TIMEOUT,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}

/// The TLS settings: only the CA(s) in `files.ca`, the client identity from `files.cert` and
/// `files.key`, TLS 1.2 or later.
fn connector(files: &TlsFiles) -> Result<native_tls::TlsConnector, String> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("cannot read {what} {}: {e}", p.display()))
    };
    let ca = read("tls_ca", &files.ca)?;
    let cert = read("tls_cert", &files.cert)?;
    let key = read("tls_key", &files.key)?;
    let cas = openssl::x509::X509::stack_from_pem(&ca)
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("tls_ca {} holds no PEM certificate", files.ca.display()))?;
    let mut builder = native_tls::TlsConnector::builder();
    // TLS 1.2 exactly: there the engine checks the client certificate inside the handshake, so a
    // refused one is an alert this side reads and names. With TLS 1.3 the verdict comes after
    // the handshake, and a refusal often reads as a reset connection mid-request (seen in CI).
    builder
        .disable_built_in_roots(true)
        .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .max_protocol_version(Some(native_tls::Protocol::Tlsv12));
    for c in cas {
        let der = c.to_der().map_err(|e| format!("tls_ca: {e}"))?;
        let c = native_tls::Certificate::from_der(&der).map_err(|e| format!("tls_ca: {e}"))?;
        builder.add_root_certificate(c);
    }
    builder.identity(identity(&cert, &key).map_err(|e| {
        format!(
            "tls_cert {} and tls_key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?);
    builder.build().map_err(|e| e.to_string())
}

/// The client identity: a PEM certificate (chain) and its key in any PEM form OpenSSL reads
/// (PKCS#8, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`), given to native-tls as PKCS#8.
fn identity(cert: &[u8], key: &[u8]) -> Result<native_tls::Identity, String> {
    let key = openssl::pkey::PKey::private_key_from_pem(key)
        .map_err(|_| "the key is not a PEM private key (or it is encrypted)".to_string())?;
    let leaf = openssl::x509::X509::from_pem(cert)
        .map_err(|_| "the certificate is not PEM".to_string())?;
    let public = leaf.public_key().map_err(|e| e.to_string())?;
    if !key.public_eq(&public) {
        return Err("the key does not belong to the certificate".into());
    }
    let pkcs8 = key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?;
    native_tls::Identity::from_pkcs8(cert, &pkcs8).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    /// A self-signed certificate for `key`.
    fn certificate(key: &PKey<openssl::pkey::Private>) -> Vec<u8> {
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "microci test").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(key, openssl::hash::MessageDigest::sha256()).unwrap();
        b.build().to_pem().unwrap()
    }

    #[test]
    fn keys_in_pkcs8_pkcs1_and_sec1_are_accepted() {
        let rsa = Rsa::generate(2048).unwrap();
        let pkcs1 = rsa.private_key_to_pem().unwrap();
        let rsa = PKey::from_rsa(rsa).unwrap();
        let cert = certificate(&rsa);
        assert!(String::from_utf8_lossy(&pkcs1).contains("BEGIN RSA PRIVATE KEY"));
        identity(&cert, &pkcs1).unwrap();
        identity(&cert, &rsa.private_key_to_pem_pkcs8().unwrap()).unwrap();

        let ec =
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
        let sec1 = ec.private_key_to_pem().unwrap();
        let ec = PKey::from_ec_key(ec).unwrap();
        assert!(String::from_utf8_lossy(&sec1).contains("BEGIN EC PRIVATE KEY"));
        identity(&certificate(&ec), &sec1).unwrap();
    }

    #[test]
    fn a_key_of_another_certificate_or_no_key_is_refused_with_why() {
        let a = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let b = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let e = identity(&certificate(&a), &b.private_key_to_pem_pkcs8().unwrap())
            .err()
            .unwrap();
        assert_eq!(e, "the key does not belong to the certificate");
        let e = identity(&certificate(&a), b"not a key").err().unwrap();
        assert!(e.contains("not a PEM private key"), "{e}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("ca.pem"), "nothing here").unwrap();
        let files = TlsFiles {
            ca: p("ca.pem"),
            cert: p("cert.pem"),
            key: p("key.pem"),
        };
        let a = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        std::fs::write(p("cert.pem"), certificate(&a)).unwrap();
        std::fs::write(p("key.pem"), a.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let e = connector(&files).err().unwrap();
        assert!(
            e.contains("tls_ca") && e.contains("no PEM certificate"),
            "{e}"
        );
        std::fs::remove_file(p("key.pem")).unwrap();
        std::fs::write(p("ca.pem"), certificate(&a)).unwrap();
        let e = connector(&files).err().unwrap();
        assert!(e.contains("cannot read tls_key"), "{e}");
    }
}
