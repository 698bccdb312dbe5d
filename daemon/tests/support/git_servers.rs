//! Real git servers on 127.0.0.1 for tests: `git daemon`, smart HTTP (nginx + fcgiwrap + git-http-backend with
//! basic auth) and OpenSSH's sshd with a deploy key; plus throw-away repositories made with the `git` CLI.
//! Every server is killed and its temporary directory removed on drop. A missing server binary fails the test
//! with the Debian package to install: these tests must never pass by skipping.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Panics (failing the test) unless `path` exists, naming the Debian package that provides it.
pub fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} not found: install the Debian package `{package}` (apt-get install -y {package})"
    );
}

/// Runs `git ARGS` in `dir`, panicking with its stderr on failure; returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("running git (Debian package `git`)");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until 127.0.0.1:`port` accepts connections, or panics with the child's state after 15 s.
fn wait_port(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 15 s");
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A non-bare repository in a temporary directory, on branch `main`.
pub struct TestRepo {
    dir: TempDir,
    /// The work tree.
    pub path: PathBuf,
    /// The latest commit made through this helper.
    pub head: String,
}

/// Creates a repository with `files` (paths may contain `/`) committed on `main`.
pub fn make_repo(files: &[(&str, &[u8])]) -> TestRepo {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("work");
    std::fs::create_dir(&path).unwrap();
    git(&path, &["init", "-q", "-b", "main"]);
    git(&path, &["config", "user.name", "microci test"]);
    git(&path, &["config", "user.email", "test@microci.invalid"]);
    git(&path, &["config", "commit.gpgsign", "false"]);
    let mut repo = TestRepo {
        dir,
        path,
        head: String::new(),
    };
    repo.commit(files, "initial commit");
    repo
}

impl TestRepo {
    /// Writes `files`, commits everything (`git add -A`) with `message`, returns the new commit id.
    pub fn commit(&mut self, files: &[(&str, &[u8])], message: &str) -> String {
        for (name, content) in files {
            self.write(name, content);
        }
        git(&self.path, &["add", "-A"]);
        git(
            &self.path,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.head = git(&self.path, &["rev-parse", "HEAD"]);
        self.head.clone()
    }

    /// Writes one file (creating parent directories) without committing.
    pub fn write(&self, name: &str, content: &[u8]) {
        let p = self.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
    }

    /// Sets the executable bits on a file (not committed).
    pub fn chmod_x(&self, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Creates a symlink `link` -> `target` (not committed).
    pub fn symlink(&self, target: &str, link: &str) {
        std::os::unix::fs::symlink(target, self.path.join(link)).unwrap();
    }

    /// Creates a tag at HEAD: annotated if `message` is given, else lightweight.
    pub fn tag(&self, name: &str, message: Option<&str>) {
        match message {
            Some(m) => git(&self.path, &["tag", "-a", name, "-m", m]),
            None => git(&self.path, &["tag", name]),
        };
    }

    /// Runs git in the work tree.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }

    /// Makes a bare copy at `<base_dir>/<name>.git` (to serve), returns its path.
    pub fn publish(&self, base_dir: &Path, name: &str) -> PathBuf {
        let bare = base_dir.join(format!("{name}.git"));
        git(
            base_dir,
            &[
                "clone",
                "-q",
                "--bare",
                self.path.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        bare
    }

    /// Pushes every branch and tag to a bare copy made by [`TestRepo::publish`].
    pub fn push_to(&self, bare: &Path) {
        git(
            &self.path,
            &[
                "push",
                "-q",
                "--force",
                bare.to_str().unwrap(),
                "refs/heads/*:refs/heads/*",
                "refs/tags/*:refs/tags/*",
            ],
        );
    }
}

/// `git daemon` serving every repository under a base directory over git://.
pub struct GitDaemon {
    child: Option<Child>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl GitDaemon {
    /// Starts `git daemon --export-all` on a free port and waits until it accepts connections.
    pub fn start(base_dir: &Path) -> GitDaemon {
        let port = free_port();
        // Run git-daemon itself, not through the `git` wrapper, so that killing the child kills the server.
        let exec_path = run(Command::new("git").arg("--exec-path"));
        let mut child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                &format!("--base-path={}", base_dir.display()),
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
            ])
            .arg(base_dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning git daemon (Debian package `git`)");
        wait_port(port, &mut child, "git daemon");
        GitDaemon {
            child: Some(child),
            port,
        }
    }

    /// `git://127.0.0.1:PORT/<name>.git`
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
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

/// Smart HTTP with basic auth: nginx (single process) -> fcgiwrap (unix socket) -> git-http-backend.
pub struct HttpGit {
    nginx: Option<Child>,
    fcgiwrap: Option<Child>,
    dir: TempDir,
    /// The port nginx listens on (127.0.0.1).
    pub port: u16,
}

impl HttpGit {
    /// Serves every repository under `base_dir` at `http://127.0.0.1:PORT/<name>.git`, only to `user`/`password`.
    pub fn start(base_dir: &Path, user: &str, password: &str) -> HttpGit {
        require("/usr/sbin/nginx", "nginx-light");
        require("/usr/sbin/fcgiwrap", "fcgiwrap");
        require("/usr/bin/openssl", "openssl");
        let backend = http_backend();
        require(backend.to_str().unwrap(), "git");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        std::fs::create_dir_all(d.join("logs")).unwrap();
        let hash = run(Command::new("/usr/bin/openssl").args(["passwd", "-apr1", password]));
        std::fs::write(d.join("htpasswd"), format!("{user}:{hash}\n")).unwrap();

        let sock = d.join("fcgiwrap.sock");
        let mut fcgiwrap = Command::new("/usr/sbin/fcgiwrap")
            // One process (no -c): killing it leaves no pre-forked workers behind.
            .args(["-s", &format!("unix:{}", sock.display())])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning fcgiwrap");
        let start = Instant::now();
        while !sock.exists() {
            if let Ok(Some(s)) = fcgiwrap.try_wait() {
                panic!("fcgiwrap exited early with {s}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "fcgiwrap did not create {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        let port = free_port();
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
        std::fs::write(d.join("nginx.conf"), conf).unwrap();
        let mut nginx = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(d)
            .arg("-e")
            .arg(d.join("logs/error.log"))
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning nginx");
        wait_port(port, &mut nginx, "nginx");
        HttpGit {
            nginx: Some(nginx),
            fcgiwrap: Some(fcgiwrap),
            dir,
            port,
        }
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

impl Drop for HttpGit {
    fn drop(&mut self) {
        kill(&mut self.nginx);
        kill(&mut self.fcgiwrap);
    }
}

/// Generates an unencrypted key pair at `path` / `path.pub` (`kind`: "ed25519", "rsa", "ecdsa").
pub fn keygen(path: &Path, kind: &str) {
    require("/usr/bin/ssh-keygen", "openssh-client");
    let mut cmd = Command::new("/usr/bin/ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", "microci-test", "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    run(&mut cmd);
}

/// OpenSSH's sshd on 127.0.0.1 accepting one fresh deploy key for the current user.
pub struct Sshd {
    child: Option<Child>,
    dir: TempDir,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The login name (the current user).
    pub user: String,
    base: PathBuf,
}

impl Sshd {
    /// Starts `sshd -D -e` with its own config, host key and authorized deploy key; waits until it listens.
    pub fn start(base_dir: &Path) -> Sshd {
        Self::start_with_key_type(base_dir, "ed25519")
    }

    /// Like [`Sshd::start`] with a deploy key of the given type.
    pub fn start_with_key_type(base_dir: &Path, kind: &str) -> Sshd {
        require("/usr/sbin/sshd", "openssh-server");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_key"), "ed25519");
        keygen(&d.join("deploy_key"), kind);
        std::fs::copy(d.join("deploy_key.pub"), d.join("authorized_keys")).unwrap();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd");
        let user = run(Command::new("id").arg("-un"));
        let port = free_port();
        let conf = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\nStreamLocalBindUnlink yes\n\
             LogLevel VERBOSE\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), conf).unwrap();
        let mut child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(d.join("sshd.log")).unwrap(),
            ))
            .spawn()
            .expect("spawning sshd");
        wait_port(port, &mut child, "sshd");
        Sshd {
            child: Some(child),
            dir,
            port,
            user,
            base: base_dir.to_path_buf(),
        }
    }

    /// `ssh://USER@127.0.0.1:PORT/<absolute base_dir>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}.git",
            self.user,
            self.port,
            self.base.display()
        )
    }

    /// The authorised deploy key (private half).
    pub fn deploy_key(&self) -> PathBuf {
        self.dir.path().join("deploy_key")
    }

    /// A known_hosts line for this server (`[127.0.0.1]:PORT <host key>`).
    pub fn known_hosts_line(&self) -> String {
        let pubkey = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            f.next().unwrap(),
            f.next().unwrap()
        )
    }

    /// sshd's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
