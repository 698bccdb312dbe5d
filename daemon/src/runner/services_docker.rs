//! A job's services on the Docker Engine. Each job with services gets a bridge network of its
//! own, `internal` (nothing on it reaches beyond it, nothing is published), named after this
//! installation and the job. Every service runs on it under its name (a network alias), with
//! the job's limits and labels plus `microci.service=<name>`, and nothing of the job's: no
//! workspace, no environment but its own. The job's container joins that network beside the
//! one `docker.network` gives it (or instead of none, with `docker.network = "none"`), so it
//! keeps whatever reach it had and also finds `db` by name.

use super::docker::{
    Container, DockerEngine, JOB_LABEL, OWNER_LABEL, docker_message, engine_error, remove,
};
use super::services::{ServiceExit, ServiceSpec, TAIL_LINES, bounded_tail};
use super::{EngineError, JobSpec};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig,
};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, LogsOptions};
use futures_util::{FutureExt, StreamExt};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Label naming the service a container runs (its job is in `microci.job`).
pub const SERVICE_LABEL: &str = "microci.service";

/// How long reading a failed service's last lines may take.
const TAIL_DEADLINE: Duration = Duration::from_secs(5);

/// One created service container.
pub struct ServiceContainer {
    /// The service's name.
    pub name: String,
    /// The Engine's id for its container.
    pub id: String,
}

impl DockerEngine {
    /// The name of job `job`'s network: this installation's, so two daemons sharing an Engine
    /// never meet.
    pub(super) fn network_name(&self, job: i64) -> String {
        format!("microci-{}-job-{job}", self.owner)
    }

    /// Creates the job's network and its services' containers (not started), recorded in `c` as
    /// they are made so a failure midway is torn down; points the job's `body` at the network.
    /// Returns the network the job's container must join once created, if it joins it beside
    /// another.
    pub(super) async fn prepare_services(
        &self,
        spec: &JobSpec,
        body: &mut ContainerCreateBody,
        c: &mut Container,
    ) -> Result<Option<String>, EngineError> {
        if spec.services.is_empty() {
            return Ok(None);
        }
        let network = self.network_name(spec.id);
        let host = body.host_config.get_or_insert_with(HostConfig::default);
        let joins = match host.network_mode.as_deref() {
            Some("none") => {
                host.network_mode = Some(network.clone());
                None
            }
            Some(mode) if mode == "host" || mode.starts_with("container:") => {
                return Err(EngineError::Engine(format!(
                    "services need a network of the job's own, which docker.network = \
                     {mode:?} does not allow"
                )));
            }
            _ => Some(network.clone()),
        };
        for s in &spec.services {
            self.ensure_image(&s.image)
                .await
                .map_err(|e| EngineError::Engine(format!("service {}: {e}", s.name)))?;
        }
        let docker = self.client().await?;
        let request = NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            labels: Some(self.labels(&spec.id.to_string())),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map_err(|e| engine_error("cannot create the job's network", e))?;
        c.network = Some(network.clone());
        for s in &spec.services {
            let created = docker
                .create_container(None, self.service_body(body, spec.id, s, &network))
                .await
                .map_err(|e| engine_error(&format!("service {}: cannot create it", s.name), e))?;
            if let Some(made) = c.services.as_mut() {
                made.push(ServiceContainer {
                    name: s.name.clone(),
                    id: created.id,
                });
            }
        }
        Ok(joins)
    }

    /// A service's container: its image, command and environment, the job's limits and labels,
    /// on the job's network under its name, nothing published, nothing mounted.
    fn service_body(
        &self,
        job: &ContainerCreateBody,
        id: i64,
        s: &ServiceSpec,
        network: &str,
    ) -> ContainerCreateBody {
        let limits = job.host_config.clone().unwrap_or_default();
        let mut labels = self.labels(&id.to_string());
        labels.insert(SERVICE_LABEL.to_string(), s.name.clone());
        ContainerCreateBody {
            image: Some(s.image.clone()),
            cmd: s.argv.clone(),
            env: Some(
                s.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .chain(
                        s.secret_env
                            .iter()
                            .filter_map(|(k, v)| v.text().map(|t| format!("{k}={t}"))),
                    )
                    .collect(),
            ),
            hostname: Some(s.name.clone()),
            labels: Some(labels),
            tty: Some(false),
            open_stdin: Some(false),
            host_config: Some(HostConfig {
                memory: limits.memory,
                nano_cpus: limits.nano_cpus,
                pids_limit: limits.pids_limit,
                privileged: Some(false),
                security_opt: limits.security_opt,
                cap_add: limits.cap_add,
                cap_drop: limits.cap_drop,
                log_config: limits.log_config,
                network_mode: Some(network.to_string()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings {
                        aliases: Some(vec![s.name.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }

    /// Connects the job's container to its network (before it starts).
    pub(super) async fn join_network(
        &self,
        container: &str,
        network: &str,
    ) -> Result<(), EngineError> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: None,
        };
        self.client()
            .await?
            .connect_network(network, request)
            .await
            .map_err(|e| engine_error("cannot join the job's container to its network", e))
    }

    /// Starts the prepared service `name`.
    pub(super) async fn start_service_container(
        &self,
        c: &Container,
        name: &str,
    ) -> Result<(), EngineError> {
        let Some(s) = c
            .services
            .as_ref()
            .and_then(|v| v.iter().find(|s| s.name == name))
        else {
            return Err(EngineError::Engine(format!(
                "service {name} was not prepared"
            )));
        };
        self.client()
            .await?
            .start_container(&s.id, None)
            .await
            .map_err(|e| engine_error(&format!("cannot start service {name}"), e))
    }

    /// The first of the job's services to end, with its last lines; pending for ever when the
    /// job has none (or they cannot be found: the job's own end then decides).
    pub(super) async fn first_service_exit(&self, c: &Container) -> ServiceExit {
        let services: Vec<(String, String)> = match &c.services {
            Some(v) => v.iter().map(|s| (s.name.clone(), s.id.clone())).collect(),
            None => self.service_containers(c.job).await.unwrap_or_else(|e| {
                tracing::warn!(job_id = c.job, "cannot find the job's services: {e}");
                Vec::new()
            }),
        };
        let docker = match self.client().await {
            Ok(d) if !services.is_empty() => d,
            _ => return std::future::pending().await,
        };
        let waits = services.iter().map(|(name, id)| {
            let docker = docker.clone();
            async move { (name, id, ended(&docker, id).await) }.boxed()
        });
        let ((name, id, ended), _, _) = futures_util::future::select_all(waits).await;
        ServiceExit {
            name: name.clone(),
            ended,
            tail: tail(&docker, id).await,
        }
    }

    /// The job's service containers, by label: `(name, id)`.
    async fn service_containers(&self, job: i64) -> Result<Vec<(String, String)>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![
                    format!("{OWNER_LABEL}={}", self.owner),
                    format!("{JOB_LABEL}={job}"),
                    SERVICE_LABEL.to_string(),
                ],
            )])),
            ..Default::default()
        };
        let found = self
            .client()
            .await?
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error("cannot list the job's services", e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let name = c.labels.as_ref()?.get(SERVICE_LABEL)?.clone();
                Some((name, c.id?))
            })
            .collect())
    }

    /// Removes the job's services, then its network; idempotent.
    pub(super) async fn teardown_services(
        &self,
        docker: &Docker,
        c: &Container,
    ) -> Result<(), EngineError> {
        let ids: Vec<String> = match &c.services {
            Some(v) => v.iter().map(|s| s.id.clone()).collect(),
            None => self
                .service_containers(c.job)
                .await?
                .into_iter()
                .map(|(_, id)| id)
                .collect(),
        };
        let mut result = Ok(());
        for id in ids {
            if let Err(e) = remove(docker, &id).await {
                result = result.and(Err(e));
            }
        }
        // An adopted container's job may have a network: its name says where.
        if c.network.is_some() || c.services.is_none() {
            let network = c
                .network
                .clone()
                .unwrap_or_else(|| self.network_name(c.job));
            if let Err(e) = remove_network(docker, &network).await {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Removes this installation's job networks whose job is not in `keep`.
    pub(super) async fn sweep_networks(&self, keep: &HashSet<i64>) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{OWNER_LABEL}={}", self.owner)],
            )])),
        };
        let networks = docker
            .list_networks(Some(options))
            .await
            .map_err(|e| engine_error("cannot list networks", e))?;
        for n in networks {
            let job = n
                .labels
                .as_ref()
                .and_then(|l| l.get(JOB_LABEL))
                .and_then(|j| j.parse::<i64>().ok());
            if job.is_some_and(|j| keep.contains(&j)) {
                continue;
            }
            let Some(name) = n.name.or(n.id) else {
                continue;
            };
            tracing::info!(network = %name, job = ?job, "removing a network no job runs on");
            if let Err(e) = remove_network(&docker, &name).await {
                tracing::warn!("cannot remove leftover network {name}: {e}");
            }
        }
        Ok(())
    }
}

/// How a service container ended: its exit code, or why the Engine cannot say.
async fn ended(docker: &Docker, id: &str) -> Result<i64, String> {
    let mut waits = docker.wait_container(id, None);
    match waits.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(docker_message(&e)),
        None => Err("the Docker Engine ended the wait without an exit code".into()),
    }
}

/// The last lines a service wrote, bounded in lines, bytes and time.
async fn tail(docker: &Docker, id: &str) -> bytes::Bytes {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: TAIL_LINES.to_string(),
        ..Default::default()
    };
    let mut out: Vec<u8> = Vec::new();
    let mut logs = docker.logs(id, Some(options));
    let read = async {
        while let Some(Ok(o)) = logs.next().await {
            out.extend_from_slice(&o.into_bytes());
            if out.len() > 64 * 1024 {
                out.drain(..out.len() - 64 * 1024);
            }
        }
    };
    let _ = tokio::time::timeout(TAIL_DEADLINE, read).await;
    bounded_tail(&out)
}

/// Removes a network; one already gone is fine.
async fn remove_network(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(engine_error(
            &format!("cannot remove the job's network {name}"),
            e,
        )),
    }
}
