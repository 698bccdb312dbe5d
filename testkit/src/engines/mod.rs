//! Extra Docker Engines for the engine pool's tests: each a real `dockerd` in a network namespace
//! of its own (a /30 of 10.213.0.0/16, blackholed on the host), with its own roots, socket and
//! containerd, optionally a mutual-TLS listener and an sshd, and fault injection (crash, restart,
//! partition). Nothing of the host's Engine is shared or touched; everything goes on `Drop`.
//!
//! ```no_run
//! use microci_testkit::engines::{EngineOptions, ExtraEngine};
//! let e = ExtraEngine::start(EngineOptions { tls: true, ssh: true, ..Default::default() });
//! e.load_image("microci-test/busybox:latest");
//! e.docker(&["run", "-d", "microci-test/busybox:latest", "sleep", "60"]);
//! e.partition(); // TCP to e.tcp_addr() now times out
//! e.heal();
//! ```
//!
//! Needs root, `iproute2`, `util-linux` (nsenter), `docker.io`, `openssl` and `openssh-server`.

mod cleanup;
mod command;
mod dockerd;
mod images;
mod netns;
mod sshd;
mod tls;

pub use cleanup::{alive, cgroups_named, mounts_under, sweep_stale};
pub use netns::{BASE_DIR, SUBNET};
pub use tls::TlsFiles;

use crate::ok;
use anyhow::{Context, Result, bail};
use command::run;
use dockerd::{Dockerd, TLS_PORT};
use netns::Netns;
use sshd::EngineSshd;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};

/// What an extra Engine offers besides its Unix socket.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// A mutual-TLS listener on `tcp://<ns ip>:2376` with certificates made for the test.
    pub tls: bool,
    /// An sshd on `<ns ip>:22` whose key leads to this Engine's socket.
    pub ssh: bool,
    /// `--live-restore`: containers survive [`ExtraEngine::kill`] and [`ExtraEngine::stop`].
    pub live_restore: bool,
}

impl Default for EngineOptions {
    /// Unix socket only, with live restore.
    fn default() -> Self {
        EngineOptions {
            tls: false,
            ssh: false,
            live_restore: true,
        }
    }
}

/// One extra Docker Engine in its own network namespace; removed with all it started on drop.
#[derive(Debug)]
pub struct ExtraEngine {
    netns: Netns,
    dir: PathBuf,
    options: EngineOptions,
    tls: Option<TlsFiles>,
    dockerd: Mutex<Option<Dockerd>>,
    sshd: Mutex<Option<EngineSshd>>,
}

impl ExtraEngine {
    /// Creates the namespace, certificates and keys, starts dockerd (and sshd) and waits until
    /// they answer. The first start of a process also runs [`sweep_stale`].
    pub fn try_start(options: EngineOptions) -> Result<ExtraEngine> {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(sweep_stale);
        let netns = Netns::create()?;
        let id = netns.name.trim_start_matches(netns::PREFIX).to_string();
        let mut engine = ExtraEngine {
            dir: Path::new(BASE_DIR).join(id),
            netns,
            options,
            tls: None,
            dockerd: Mutex::new(None),
            sshd: Mutex::new(None),
        };
        // From here on, a failure drops `engine`, which removes what was made. A directory of
        // this name can only be an earlier process's with the same pid.
        cleanup::remove_dir(&engine.dir);
        std::fs::create_dir_all(&engine.dir)
            .with_context(|| format!("creating {}", engine.dir.display()))?;
        std::fs::write(engine.dir.join("daemon.json"), "{}\n").context("daemon.json")?;
        if options.tls {
            engine.tls = Some(TlsFiles::make(&engine.dir.join("tls"), engine.netns.ip)?);
        }
        let d = Dockerd::new(
            &engine.dir,
            &engine.netns,
            options.live_restore,
            engine.tls.as_ref(),
        );
        engine.dockerd_lock().insert(d).start(&engine.netns)?;
        if options.ssh {
            let sshd = EngineSshd::start(&engine.dir.join("ssh"), &engine.netns, &engine.socket())?;
            *engine.sshd_lock() = Some(sshd);
        }
        Ok(engine)
    }

    /// [`ExtraEngine::try_start`] for tests.
    pub fn start(options: EngineOptions) -> ExtraEngine {
        ok(ExtraEngine::try_start(options))
    }

    /// Starts one Engine per entry, all at once (a pool's members).
    pub fn start_all(options: &[EngineOptions]) -> Vec<ExtraEngine> {
        let started: Vec<Result<ExtraEngine>> = std::thread::scope(|s| {
            let handles: Vec<_> = options
                .iter()
                .map(|o| s.spawn(move || ExtraEngine::try_start(*o)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("start panicked")))
                })
                .collect()
        });
        ok(started.into_iter().collect())
    }

    fn dockerd_lock(&self) -> MutexGuard<'_, Option<Dockerd>> {
        self.dockerd.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sshd_lock(&self) -> MutexGuard<'_, Option<EngineSshd>> {
        self.sshd.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The namespace's name, `mcitest-<pid>-<n>`.
    pub fn name(&self) -> &str {
        &self.netns.name
    }

    /// The options it was started with.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// The namespace's address, where the TLS listener and sshd are.
    pub fn ip(&self) -> Ipv4Addr {
        self.netns.ip
    }

    /// The host's address on the link to the namespace.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.netns.host_ip
    }

    /// Its directory: roots, sockets, logs, certificates and keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix://<socket>`, for `DOCKER_HOST` or a `[[engine]] host`.
    pub fn unix_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The TLS listener's address (`<ns ip>:2376`; listening only with `tls`).
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::from((self.netns.ip, TLS_PORT))
    }

    /// `tcp://<ns ip>:2376`.
    pub fn tcp_host(&self) -> String {
        format!("tcp://{}", self.tcp_addr())
    }

    /// The certificates, when started with `tls`.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    #[track_caller]
    fn tls_files(&self) -> &TlsFiles {
        match &self.tls {
            Some(t) => t,
            None => panic!("{} was started without tls", self.name()),
        }
    }

    /// The CA the Engine trusts and its server certificate is signed by (panics without tls).
    pub fn ca(&self) -> &Path {
        &self.tls_files().ca
    }

    /// A client certificate the Engine accepts.
    pub fn client_cert(&self) -> &Path {
        &self.tls_files().client_cert
    }

    /// Its key.
    pub fn client_key(&self) -> &Path {
        &self.tls_files().client_key
    }

    /// A client certificate from a foreign CA, which the Engine refuses.
    pub fn wrong_cert(&self) -> &Path {
        &self.tls_files().wrong_cert
    }

    /// Its key.
    pub fn wrong_key(&self) -> &Path {
        &self.tls_files().wrong_key
    }

    #[track_caller]
    fn ssh_field<T>(&self, f: impl FnOnce(&EngineSshd) -> T) -> T {
        match self.sshd_lock().as_ref() {
            Some(s) => f(s),
            None => panic!("{} was started without ssh", self.name()),
        }
    }

    /// `USER@<ns ip>` (port 22), for `ssh://…` (panics without ssh).
    pub fn ssh_destination(&self) -> String {
        self.ssh_field(|s| s.destination.clone())
    }

    /// sshd's port on [`ExtraEngine::ip`]: 22.
    pub fn ssh_port(&self) -> u16 {
        22
    }

    /// The client's private key, authorised for [`ExtraEngine::ssh_destination`].
    pub fn ssh_key(&self) -> PathBuf {
        self.ssh_field(|s| s.key.clone())
    }

    /// A known_hosts file with the host key of `<ns ip>`.
    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_field(|s| s.known_hosts.clone())
    }

    /// The `docker` CLI aimed at this Engine (and only at it).
    pub fn docker_command(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.unix_host())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        cmd
    }

    /// `docker ARGS` against this Engine; its trimmed stdout, or an error with its stderr.
    pub fn try_docker(&self, args: &[&str]) -> Result<String> {
        run(self.docker_command().args(args))
    }

    /// [`ExtraEngine::try_docker`] for tests.
    pub fn docker(&self, args: &[&str]) -> String {
        ok(self.try_docker(args))
    }

    /// Loads `image` from the host's Engine into this one (the tar is saved once per process).
    pub fn try_load_image(&self, image: &str) -> Result<()> {
        let tar = images::saved(image)?;
        run(self.docker_command().arg("load").arg("-i").arg(&tar)).map(drop)
    }

    /// [`ExtraEngine::try_load_image`] for tests.
    pub fn load_image(&self, image: &str) {
        ok(self.try_load_image(image))
    }

    /// Whether dockerd answers `/_ping` on its Unix socket now.
    pub fn ping(&self) -> bool {
        dockerd::ping(&self.socket())
    }

    /// dockerd's pid while it runs.
    pub fn dockerd_pid(&self) -> Option<u32> {
        self.dockerd_lock().as_mut().and_then(Dockerd::pid)
    }

    /// The pid of dockerd's own containerd, while it runs.
    pub fn containerd_pid(&self) -> Option<u32> {
        self.dockerd_lock()
            .as_ref()
            .and_then(Dockerd::containerd_pid)
    }

    /// sshd's pid while it runs.
    pub fn sshd_pid(&self) -> Option<u32> {
        self.sshd_lock().as_mut().and_then(EngineSshd::pid)
    }

    /// SIGKILLs dockerd (a crash). Its containerd goes too; containers keep running with
    /// live restore, and come back under the Engine after [`ExtraEngine::restart`].
    pub fn kill(&self) {
        if let Some(d) = self.dockerd_lock().as_mut() {
            d.kill();
        }
    }

    /// Stops dockerd with SIGTERM (live-restore containers keep running).
    pub fn stop(&self) {
        if let Some(d) = self.dockerd_lock().as_mut() {
            d.stop();
        }
    }

    /// Starts dockerd again on the same roots, sockets and listeners; waits for `/_ping`.
    pub fn try_restart(&self) -> Result<()> {
        match self.dockerd_lock().as_mut() {
            Some(d) => d.start(&self.netns),
            None => bail!("{} has no dockerd", self.name()),
        }
    }

    /// [`ExtraEngine::try_restart`] for tests.
    pub fn restart(&self) {
        ok(self.try_restart())
    }

    /// Cuts the namespace's side of the link: TCP to [`ExtraEngine::tcp_addr`] and SSH time
    /// out (the Unix socket still answers).
    pub fn partition(&self) {
        ok(self.netns.partition())
    }

    /// Restores the link cut by [`ExtraEngine::partition`].
    pub fn heal(&self) {
        ok(self.netns.heal())
    }

    /// The end of dockerd's log and sshd's log, for assertion messages.
    pub fn log(&self) -> String {
        let dockerd = self.dockerd_lock().as_ref().map(Dockerd::log_tail);
        let sshd = self.sshd_lock().as_ref().map(EngineSshd::log);
        format!(
            "dockerd:\n{}\nsshd:\n{}",
            dockerd.unwrap_or_default(),
            sshd.unwrap_or_default()
        )
    }
}

impl Drop for ExtraEngine {
    /// Removes its containers through its socket, stops sshd and dockerd, kills whatever is
    /// left in the namespace (containerd, shims, containers), unmounts what is left under its
    /// directory, deletes the namespace and the link, and removes the directory.
    fn drop(&mut self) {
        if let Some(mut s) = self.sshd_lock().take() {
            s.stop();
        }
        if self.ping()
            && let Ok(ids) = self.try_docker(&["ps", "-aq"])
        {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = self.try_docker(&[&["rm", "-f"][..], &ids[..]].concat());
            }
        }
        if let Some(mut d) = self.dockerd_lock().take() {
            d.stop();
        }
        cleanup::kill_namespace(&self.netns.name);
        cleanup::remove_cgroups(&self.netns.name);
        cleanup::remove_dir(&self.dir);
        self.netns.destroy();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<ExtraEngine>();
    }

    #[test]
    fn engines_live_restore_by_default() {
        let o = EngineOptions::default();
        assert!(o.live_restore && !o.tls && !o.ssh);
    }
}
