//! Smart HTTP with basic auth, as a Gogs or Gitea HTTPS clone with a token looks from our side:
//! nginx (one process) → fcgiwrap (Unix socket) → git-http-backend.

use super::{Server, run, try_require};
use crate::{ok, try_free_port};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// nginx + fcgiwrap serving the repositories under a base directory, only to one user.
pub struct HttpGit {
    // Fields drop in order: nginx first, then fcgiwrap, then the directory.
    _nginx: Server,
    _fcgiwrap: Server,
    dir: TempDir,
    /// The port nginx listens on (127.0.0.1).
    pub port: u16,
}

fn http_backend() -> PathBuf {
    let exec = Command::new("git").arg("--exec-path").output().ok();
    if let Some(out) = exec {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("/usr/lib/git-core/git-http-backend")
}

impl HttpGit {
    /// Serves every repository under `base_dir` at `http://127.0.0.1:PORT/<name>.git`, only to
    /// `user`/`password`.
    pub fn try_start(base_dir: &Path, user: &str, password: &str) -> Result<HttpGit> {
        try_require("/usr/sbin/nginx", "nginx-light")?;
        try_require("/usr/sbin/fcgiwrap", "fcgiwrap")?;
        try_require("/usr/bin/openssl", "openssl")?;
        let backend = http_backend();
        try_require(&backend.display().to_string(), "git")?;
        let dir = tempfile::tempdir().context("temp dir for nginx")?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("tmp")).context("nginx's tmp")?;
        std::fs::create_dir_all(d.join("logs")).context("nginx's logs")?;
        let hash = run(Command::new("/usr/bin/openssl").args(["passwd", "-apr1", password]))?;
        std::fs::write(d.join("htpasswd"), format!("{user}:{hash}\n")).context("htpasswd")?;

        let sock = d.join("fcgiwrap.sock");
        let child = Command::new("/usr/sbin/fcgiwrap")
            // One process (no -c): killing it leaves no pre-forked workers behind.
            .args(["-s", &format!("unix:{}", sock.display())])
            .stdin(Stdio::null())
            .spawn()
            .context("spawning fcgiwrap")?;
        let mut fcgiwrap = Server(Some(child));
        let start = Instant::now();
        while !sock.exists() {
            if let Some(Ok(Some(s))) = fcgiwrap.0.as_mut().map(|c| c.try_wait()) {
                bail!("fcgiwrap exited early with {s}");
            }
            ensure!(
                start.elapsed() < Duration::from_secs(10),
                "fcgiwrap did not create {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        let port = try_free_port()?;
        let conf = format!(
            r#"
master_process off;
daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_basic "git";
            auth_basic_user_file {d}/htpasswd;
            client_max_body_size 0;
            fastcgi_pass unix:{sock};
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {base};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param PATH_INFO $uri;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_param GATEWAY_INTERFACE CGI/1.1;
        }}
    }}
}}
"#,
            d = d.display(),
            sock = sock.display(),
            backend = backend.display(),
            base = base_dir.display(),
        );
        std::fs::write(d.join("nginx.conf"), conf).context("nginx.conf")?;
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("logs/error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()
            .context("spawning nginx")?;
        let nginx = Server::listening(child, port, "nginx")?;
        Ok(HttpGit {
            _nginx: nginx,
            _fcgiwrap: fcgiwrap,
            dir,
            port,
        })
    }

    /// [`HttpGit::try_start`] for tests.
    pub fn start(base_dir: &Path, user: &str, password: &str) -> HttpGit {
        ok(HttpGit::try_start(base_dir, user, password))
    }

    /// `http://127.0.0.1:PORT/<name>.git` (no credentials in it).
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port)
    }

    /// nginx's error and access logs, for assertion messages.
    pub fn error_log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("logs/error.log"), read("logs/access.log"))
    }
}
