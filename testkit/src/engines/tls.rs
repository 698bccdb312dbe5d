//! Certificates for an Engine's TLS listener, made with the openssl CLI (EC P-256, valid two
//! days): a CA, a server certificate for the namespace's address, a client certificate the
//! Engine accepts, and a client certificate from a second, foreign CA that it must refuse.

use super::command::run;
use anyhow::Result;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of one Engine's TLS set-up.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the server and the right client certificate.
    pub ca: PathBuf,
    /// The Engine's certificate (SAN: the namespace's IP address).
    pub server_cert: PathBuf,
    /// The Engine's key.
    pub server_key: PathBuf,
    /// A client certificate the Engine accepts.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// A client certificate signed by a foreign CA: the Engine refuses the handshake.
    pub wrong_cert: PathBuf,
    /// Its key.
    pub wrong_key: PathBuf,
    /// The foreign CA.
    pub wrong_ca: PathBuf,
}

/// `openssl req -x509 …` making `name.pem` and `name-key.pem` in `dir`, self-signed when
/// `issuer` is `None`, else signed by the CA `issuer` (`issuer.pem`, `issuer-key.pem`).
fn cert(dir: &Path, name: &str, cn: &str, issuer: Option<&str>, ext: &[String]) -> Result<()> {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={cn}"),
        "-keyout",
        &format!("{name}-key.pem"),
        "-out",
        &format!("{name}.pem"),
    ]);
    if let Some(ca) = issuer {
        cmd.args([
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
        ]);
        cmd.args(["-addext", "basicConstraints=critical,CA:FALSE"]);
    }
    for e in ext {
        cmd.args(["-addext", e]);
    }
    run(&mut cmd).map(drop)
}

impl TlsFiles {
    /// Makes every file in `dir` (five openssl runs, a few milliseconds each).
    pub fn make(dir: &Path, server_ip: Ipv4Addr) -> Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let client = ["extendedKeyUsage=clientAuth".to_string()];
        cert(dir, "ca", "microci-test-ca", None, &[])?;
        cert(
            dir,
            "server",
            &server_ip.to_string(),
            Some("ca"),
            &[
                format!("subjectAltName=IP:{server_ip}"),
                "extendedKeyUsage=serverAuth".into(),
            ],
        )?;
        cert(dir, "client", "microci-test-client", Some("ca"), &client)?;
        cert(dir, "foreign-ca", "microci-foreign-ca", None, &[])?;
        cert(
            dir,
            "wrong",
            "microci-test-client",
            Some("foreign-ca"),
            &client,
        )?;
        let f = |name: &str| dir.join(name);
        Ok(TlsFiles {
            ca: f("ca.pem"),
            server_cert: f("server.pem"),
            server_key: f("server-key.pem"),
            client_cert: f("client.pem"),
            client_key: f("client-key.pem"),
            wrong_cert: f("wrong.pem"),
            wrong_key: f("wrong-key.pem"),
            wrong_ca: f("foreign-ca.pem"),
        })
    }
}
