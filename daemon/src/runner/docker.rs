//! The local (or remote) Docker Engine through bollard. Every container carries the labels
//! `microci.job=<id>`, `microci.owner=<installation>` and `microci.instance=<daemon run>` so a
//! restarted daemon, and the tests, can find what microci started; a job's services and their
//! network carry them too (see `services_docker`).

mod connect;
mod helper;
mod ssh;
mod tls;
mod volumes;

use super::{
    ArchiveStream, Engine, EngineError, Found, JobSpec, Mount, OutputStream, Piece, Resume, Volume,
};
use crate::config::{DockerSettings, WorkspaceMode};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    ListContainersOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
    UploadToContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Label holding the job id.
pub const JOB_LABEL: &str = "microci.job";
/// Label holding the daemon run (process) that started the container.
pub const INSTANCE_LABEL: &str = "microci.instance";
/// Label naming the daemon installation (stable across restarts): only its own containers are
/// ever reaped, even when several daemons share one Engine.
pub const OWNER_LABEL: &str = "microci.owner";

/// A Docker Engine and the limits every job gets. The connection is made on first use and
/// again after a failure, so the daemon starts (and keeps serving) while Docker is down.
pub struct DockerEngine {
    docker: tokio::sync::Mutex<Option<Docker>>,
    /// Replaced by a reload; read once per container created.
    settings: std::sync::RwLock<std::sync::Arc<DockerSettings>>,
    /// Where the Engine is and how it is reached: fixed for the life of the process.
    host: crate::config::EngineHost,
    /// Bind-mount or copy the checkout: the engine's own (`[[engine]] workspace`).
    workspace: WorkspaceMode,
    instance: String,
    pub(super) owner: String,
}

/// A created container.
pub struct Container {
    pub(super) id: String,
    /// The job it runs.
    pub(super) job: i64,
    /// The job's services, as prepared; `None` for an adopted container (found by label then).
    pub(super) services: Option<Vec<super::services_docker::ServiceContainer>>,
    /// The job's network, once created for its services.
    pub(super) network: Option<String>,
    /// How the checkout was copied in (`workspace = "copy"`), for the job's log.
    pub(super) copied: Option<String>,
}

impl DockerEngine {
    /// The engine `engine` describes, with `settings` for every container; nothing is sent
    /// until the first call. `owner` names this installation (see [`OWNER_LABEL`]), `instance`
    /// this run of it.
    pub fn new(
        settings: DockerSettings,
        engine: &crate::config::EngineSettings,
        owner: String,
        instance: String,
    ) -> DockerEngine {
        DockerEngine {
            docker: tokio::sync::Mutex::new(None),
            host: engine.host.clone(),
            workspace: engine.workspace,
            settings: std::sync::RwLock::new(std::sync::Arc::new(settings)),
            instance,
            owner,
        }
    }

    /// Engine `engine` of a config, named after this installation (the host and the state
    /// directory, hashed: stable across restarts, different for two daemons sharing an Engine)
    /// and this run of it.
    pub fn for_config(
        config: &crate::config::Config,
        engine: &crate::config::EngineSettings,
    ) -> DockerEngine {
        use sha2::Digest;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let state =
            std::fs::canonicalize(&config.state_dir).unwrap_or_else(|_| config.state_dir.clone());
        let digest =
            sha2::Sha256::digest(format!("{}\0{}", host.trim(), state.display()).as_bytes());
        let instance = format!(
            "{}-{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp()
        );
        DockerEngine::new(
            config.docker.clone(),
            engine,
            hex::encode(&digest[..8]),
            instance,
        )
    }

    /// The settings now.
    pub(super) fn settings(&self) -> std::sync::Arc<DockerSettings> {
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn labels(&self, job: &str) -> HashMap<String, String> {
        let mut labels = self.settings().labels.clone();
        labels.insert(JOB_LABEL.to_string(), job.to_string());
        labels.insert(INSTANCE_LABEL.to_string(), self.instance.clone());
        labels.insert(OWNER_LABEL.to_string(), self.owner.clone());
        labels
    }

    /// The client, connecting (and agreeing on an API version: an older Engine is spoken to in
    /// its own) when there is none yet.
    pub(super) async fn client(&self) -> Result<Docker, EngineError> {
        let mut slot = self.docker.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let docker = connect::connect(&self.host)?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| connect::classify(&connect::cannot_reach(&self.host), e))?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// Forgets the connection after a transport failure, so the next call reconnects.
    async fn forget(&self, e: &DockerError) {
        if !matches!(
            e,
            DockerError::DockerResponseServerError { .. }
                | DockerError::DockerContainerWaitError { .. }
        ) {
            *self.docker.lock().await = None;
        }
    }

    pub(super) async fn ensure_image(&self, image: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => {
                self.forget(&e).await;
                return Err(engine_error(
                    &format!("the Docker Engine could not look up image {image:?}"),
                    e,
                ));
            }
        }
        tracing::info!("pulling image {image}");
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        };
        docker
            .create_image(Some(options), None, None)
            .try_for_each(|_| async { Ok(()) })
            .await
            .map_err(|e| EngineError::Image {
                image: image.to_string(),
                detail: docker_message(&e),
            })
    }

    pub(super) fn container_body(&self, spec: &JobSpec) -> ContainerCreateBody {
        let s = &self.settings();
        let labels = self.labels(&spec.id.to_string());
        let mut binds = (self.workspace == WorkspaceMode::Bind)
            .then(|| vec![format!("{}:/repo", spec.workspace.display())]);
        if !spec.mounts.is_empty() {
            binds
                .get_or_insert_with(Vec::new)
                .extend(spec.mounts.iter().map(volumes::bind));
        }
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(spec.argv.clone()),
            env: Some(
                std::iter::once("CI=true".to_string())
                    .chain(std::iter::once(format!("MICROCI_JOB={}", spec.id)))
                    .chain(spec.env.iter().map(|(k, v)| format!("{k}={v}")))
                    .chain(
                        spec.secret_env
                            .iter()
                            .filter_map(|(k, v)| v.text().map(|t| format!("{k}={t}"))),
                    )
                    .collect(),
            ),
            working_dir: Some("/repo".into()),
            labels: Some(labels),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            open_stdin: Some(false),
            host_config: Some(HostConfig {
                binds,
                memory: (s.memory > 0).then_some(s.memory),
                nano_cpus: (s.nano_cpus > 0).then_some(s.nano_cpus),
                pids_limit: (s.pids > 0).then_some(s.pids),
                privileged: Some(false),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_add: (!s.cap_add.is_empty()).then(|| s.cap_add.clone()),
                cap_drop: (!s.cap_drop.is_empty()).then(|| s.cap_drop.clone()),
                network_mode: s.network.clone(),
                // The daemon reads output through attach and keeps its own log; the Engine's
                // copy is only a bounded tail, so a 1 GB log is not stored twice.
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    config: Some(HashMap::from([
                        ("max-size".to_string(), "16m".to_string()),
                        ("max-file".to_string(), "1".to_string()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Sends the checkout into the container at `/repo`; returns the archive's size.
    async fn copy_workspace(&self, container: &str, workspace: &Path) -> Result<u64, EngineError> {
        let dir = workspace.to_path_buf();
        let tarball = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let mut file = tempfile::tempfile()?;
            {
                let mut builder = tar::Builder::new(&mut file);
                builder.follow_symlinks(false);
                builder.append_dir_all("repo", &dir)?;
                builder.finish()?;
            }
            use std::io::Seek;
            file.rewind()?;
            Ok(file)
        })
        .await
        .map_err(|e| EngineError::Engine(format!("cannot pack the workspace: {e}")))?
        .map_err(|e| EngineError::Engine(format!("cannot pack the workspace: {e}")))?;
        let size = tarball.metadata().map(|m| m.len()).unwrap_or(0);
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(tarball));
        let docker = self.client().await?;
        let options = UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        docker
            .upload_to_container(container, Some(options), bollard::body_try_stream(stream))
            .await
            .map_err(|e| engine_error("cannot copy the workspace into the container", e))?;
        Ok(size)
    }
}

impl DockerEngine {
    /// Puts the job's secret files into the created container, under `/run/secrets/`, through
    /// the Engine's archive API: they never touch the host's disk outside the container's own
    /// layer (removed with it), and never the workspace.
    async fn copy_secret_files(&self, container: &str, spec: &JobSpec) -> Result<(), EngineError> {
        let docker = self.client().await?;
        // Readable by the image's user only: root's own when it runs as root, else world-readable
        // (the container holds nothing but the job).
        let user = docker
            .inspect_image(&spec.image)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.user)
            .unwrap_or_default();
        let as_root = user.is_empty() || user == "root" || user == "0" || user.starts_with("0:");
        let tarball = super::secret_files::archive(&spec.secret_files, as_root)
            .map_err(|e| EngineError::Engine(format!("cannot pack the secret files: {e}")))?;
        let options = UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        docker
            .upload_to_container(container, Some(options), bollard::body_full(tarball.into()))
            .await
            .map_err(|e| engine_error("cannot copy the secret files into the container", e))
    }
}

impl Engine for DockerEngine {
    type Handle = Container;

    async fn prepare(&self, spec: &JobSpec) -> Result<Container, EngineError> {
        self.ensure_image(&spec.image).await?;
        let mut body = self.container_body(spec);
        let mut container = Container {
            id: String::new(),
            job: spec.id,
            services: Some(Vec::new()),
            network: None,
            copied: None,
        };
        // The services and their network first; the job's container then joins it.
        let joins = match self.prepare_services(spec, &mut body, &mut container).await {
            Ok(joins) => joins,
            Err(e) => {
                let _ = self.teardown(&container).await;
                return Err(e);
            }
        };
        let created = match self.client().await?.create_container(None, body).await {
            Ok(created) => created,
            Err(e) => {
                let _ = self.teardown(&container).await;
                let message = docker_message(&e);
                let hint = if self.workspace == WorkspaceMode::Bind
                    && workspace_refused(&message, &spec.workspace)
                {
                    WORKSPACE_REFUSED
                } else {
                    ""
                };
                return Err(EngineError::Engine(format!(
                    "cannot create the container: {message}{hint}"
                )));
            }
        };
        container.id = created.id;
        if let Some(network) = joins
            && let Err(e) = self.join_network(&container.id, &network).await
        {
            let _ = self.teardown(&container).await;
            return Err(e);
        }
        if self.workspace == WorkspaceMode::Copy {
            let began = std::time::Instant::now();
            match self.copy_workspace(&container.id, &spec.workspace).await {
                Ok(size) => {
                    container.copied = Some(format!(
                        "workspace copied to the engine: {} in {:.1} s",
                        crate::caches::size_text(size),
                        began.elapsed().as_secs_f64()
                    ))
                }
                Err(e) => {
                    let _ = self.teardown(&container).await;
                    return Err(e);
                }
            }
        }
        if !spec.secret_files.is_empty()
            && let Err(e) = self.copy_secret_files(&container.id, spec).await
        {
            let _ = self.teardown(&container).await;
            return Err(e);
        }
        Ok(container)
    }

    async fn start(&self, c: &Container) -> Result<OutputStream, EngineError> {
        // Attach before starting, with `logs`, so not one byte of early output is missed.
        // Known race (seen once, on a slow test engine with `vfs` storage): the Engine may
        // subscribe the attach streams before it has replayed the (still empty) log, so output
        // written during that replay can arrive twice. Reading with `logs` + `follow` instead would
        // not duplicate, but could lose what a flooding job rotates away before it is read.
        let options = AttachContainerOptions {
            stream: true,
            logs: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let docker = self.client().await?;
        let attached = docker
            .attach_container(&c.id, Some(options))
            .await
            .map_err(|e| engine_error("cannot attach to the container", e))?;
        docker
            .start_container(&c.id, None)
            .await
            .map_err(|e| engine_error("cannot start the container", e))?;
        Ok(attached
            .output
            .map_ok(|o| Piece::Output(o.into_bytes()))
            .map_err(|e| engine_error("lost the container's output", e))
            .boxed())
    }

    fn container_id(&self, c: &Container) -> String {
        c.id.clone()
    }

    fn adopt(&self, job: i64, container: &str) -> Container {
        Container {
            id: container.to_string(),
            job,
            services: None,
            network: None,
            copied: None,
        }
    }

    async fn resume(&self, c: &Container, from: Resume) -> Result<OutputStream, EngineError> {
        // The Engine's own copy of the output, each entry stamped with when it was written,
        // then live; the attach stream cannot replay, this can.
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        let entries = self
            .client()
            .await?
            .logs(&c.id, Some(options))
            .map_ok(|o| o.into_bytes())
            .map_err(|e| engine_error("lost the container's output", e));
        Ok(super::resume::skip_logged(entries, from))
    }

    async fn containers(&self) -> Result<Vec<Found>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{OWNER_LABEL}={}", self.owner)],
            )])),
            ..Default::default()
        };
        let found = self
            .client()
            .await?
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error("cannot list containers", e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let job = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(JOB_LABEL))
                    .and_then(|j| j.parse().ok());
                let service = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(super::services_docker::SERVICE_LABEL))
                    .cloned();
                Some(Found {
                    container: c.id?,
                    job,
                    service,
                })
            })
            .collect())
    }

    async fn wait(&self, c: &Container) -> Result<i64, EngineError> {
        let docker = self.client().await?;
        let mut waits = docker.wait_container(&c.id, None);
        match waits.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(engine_error("lost the Docker Engine while the job ran", e)),
            None => Err(EngineError::Engine(
                "the Docker Engine ended the wait without an exit code".into(),
            )),
        }
    }

    async fn stop(&self, c: &Container, grace: Duration) -> Result<(), EngineError> {
        let options = StopContainerOptions {
            t: Some(grace.as_secs().min(i32::MAX as u64) as i32),
            ..Default::default()
        };
        match self
            .client()
            .await?
            .stop_container(&c.id, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            // Already stopped or gone: that is what we wanted.
            Err(DockerError::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(engine_error("cannot stop the container", e)),
        }
    }

    async fn teardown(&self, c: &Container) -> Result<(), EngineError> {
        let docker = self.client().await?;
        // The job's container first: the network cannot go while it is attached.
        let job = if c.id.is_empty() {
            Ok(())
        } else {
            remove(&docker, &c.id).await
        };
        let services = self.teardown_services(&docker, c).await;
        job.and(services)
    }

    async fn start_service(&self, c: &Container, name: &str) -> Result<(), EngineError> {
        self.start_service_container(c, name).await
    }

    async fn service_exit(&self, c: &Container) -> super::ServiceExit {
        self.first_service_exit(c).await
    }

    async fn sweep(&self, keep: &std::collections::HashSet<i64>) -> Result<(), EngineError> {
        self.sweep_networks(keep).await
    }

    async fn scrub(&self, dir: &Path) -> Result<(), EngineError> {
        // Deleting what a job's root wrote takes these capabilities, no more.
        self.run_helper_container(helper::Helper {
            what: "clean-up",
            role: "scrub",
            script: "rm -rf /repo/* /repo/.[!.]* /repo/..?*",
            binds: vec![format!("{}:/repo", dir.display())],
            caps: &["DAC_OVERRIDE", "FOWNER"],
        })
        .await
        .map(|_| ())
    }

    async fn archive(
        &self,
        c: &Container,
        path: &str,
    ) -> Result<Option<ArchiveStream>, EngineError> {
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let mut stream = self
            .client()
            .await?
            .download_from_container(&c.id, Some(options))
            .boxed();
        // The Engine answers a missing path with 404 before any of the archive.
        let first = match stream.next().await {
            None => bytes::Bytes::new(),
            Some(Ok(b)) => b,
            Some(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => return Ok(None),
            Some(Err(e)) => return Err(engine_error(&format!("cannot read {path}"), e)),
        };
        let rest = stream.map_err(|e| engine_error("lost the archive stream", e));
        Ok(Some(
            futures_util::stream::once(async move { Ok(first) })
                .chain(rest)
                .boxed(),
        ))
    }

    async fn volumes(&self, label: &str) -> Result<Vec<Volume>, EngineError> {
        self.list_volumes(label).await
    }

    async fn create_volume(
        &self,
        _job: i64,
        suffix: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        self.new_volume(suffix, labels).await
    }

    async fn remove_volume(&self, name: &str) -> Result<bool, EngineError> {
        self.drop_volume(name).await
    }

    async fn helper(&self, script: &str, mounts: &[Mount]) -> Result<String, EngineError> {
        self.run_helper(script, mounts).await
    }

    fn reconfigure(&self, settings: &DockerSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            std::sync::Arc::new(settings.clone());
    }

    async fn version(&self) -> Result<String, EngineError> {
        let v = self
            .client()
            .await?
            .version()
            .await
            .map_err(|e| engine_error("the engine does not tell its version", e))?;
        let podman = v
            .components
            .iter()
            .flatten()
            .any(|c| c.name.contains("Podman"));
        let product = if podman { "Podman" } else { "Docker" };
        Ok(format!(
            "{product} {}",
            v.version.as_deref().unwrap_or("(unknown version)")
        ))
    }

    async fn has_image(&self, image: &str) -> bool {
        match self.client().await {
            Ok(docker) => docker.inspect_image(image).await.is_ok(),
            Err(_) => false,
        }
    }

    fn prepared_note(&self, c: &Container) -> Option<String> {
        c.copied.clone()
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let docker = self.client().await?;
        match docker.ping().await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.forget(&e).await;
                Err(engine_error("the Docker Engine does not answer", e))
            }
        }
    }
}

pub(super) async fn remove(docker: &Docker, id: &str) -> Result<(), EngineError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        // Removal already under way (e.g. two teardowns racing).
        Err(DockerError::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(engine_error("cannot remove the container", e)),
    }
}

/// Said after the Engine's refusal to mount a bound workspace: a rootless Podman runs as another
/// user, which cannot enter the daemon's state directory.
const WORKSPACE_REFUSED: &str = " (the Engine cannot reach the daemon's workspace: a rootless \
     Podman runs as another user; set workspace = \"copy\" for this engine)";

/// Whether the Engine's `message` says it may not enter `workspace` (or a directory above it).
fn workspace_refused(message: &str, workspace: &Path) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("permission denied")
        && workspace
            .ancestors()
            .filter(|a| a.components().count() > 2)
            .any(|a| message.contains(&a.display().to_string().to_ascii_lowercase()))
}

/// `what: why`: [`EngineError::Unreachable`] when the connection failed, else the engine's
/// answer as [`EngineError::Engine`].
pub(super) fn engine_error(what: &str, e: DockerError) -> EngineError {
    connect::classify(what, e)
}

/// The Engine's own sentence where there is one, else bollard's description.
pub(super) fn docker_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        DockerError::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::workspace_refused;
    use std::path::Path;

    #[test]
    fn a_refused_workspace_mount_is_recognised_by_its_path() {
        let ws = Path::new("/tmp/mciX/state/workspaces/1");
        // What rootless Podman 4.3 answers.
        let podman = "make cli opts(): making volume mountpoint for volume \
                      /tmp/mciX/state/workspaces/1: mkdir /tmp/mciX/state/workspaces: permission denied";
        assert!(workspace_refused(podman, ws));
        assert!(!workspace_refused("no such image", ws));
        assert!(!workspace_refused("open /etc/x: permission denied", ws));
    }
}
