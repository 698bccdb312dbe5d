//! Volumes of this installation (the job caches) and the helper containers that copy and measure
//! them: created, listed and removed by label, like the containers.

use super::{Container, DockerEngine, OWNER_LABEL, docker_message, engine_error};
use crate::runner::{Engine, EngineError, Mount, Volume};
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptions, LogsOptions, RemoveVolumeOptions};
use futures_util::StreamExt;
use std::collections::HashMap;

/// Most bytes of a helper's output kept (it prints a few lines).
const MAX_OUTPUT: usize = 64 * 1024;

/// `volume:/path[:ro]`, the Engine's bind syntax for a named volume.
pub(super) fn bind(m: &Mount) -> String {
    let ro = if m.read_only { ":ro" } else { "" };
    format!("{}:{}{ro}", m.volume, m.path)
}

impl DockerEngine {
    pub(super) async fn list_volumes(&self, label: &str) -> Result<Vec<Volume>, EngineError> {
        let options = ListVolumesOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{OWNER_LABEL}={}", self.owner), label.to_string()],
            )])),
        };
        let list = self
            .client()
            .await?
            .list_volumes(Some(options))
            .await
            .map_err(|e| engine_error("cannot list volumes", e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Volume {
                name: v.name,
                labels: v.labels,
            })
            .collect())
    }

    pub(super) async fn new_volume(
        &self,
        suffix: &str,
        extra: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let mut labels = self.settings().labels.clone();
        labels.extend(extra);
        labels.insert(OWNER_LABEL.to_string(), self.owner.clone());
        let request = VolumeCreateRequest {
            name: Some(format!("microci-{}-{suffix}", self.owner)),
            labels: Some(labels),
            ..Default::default()
        };
        let created = self
            .client()
            .await?
            .create_volume(request)
            .await
            .map_err(|e| engine_error("cannot create a volume", e))?;
        Ok(created.name)
    }

    pub(super) async fn drop_volume(&self, name: &str) -> Result<bool, EngineError> {
        let docker = self.client().await?;
        match docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => Ok(true),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(true),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(e) => Err(engine_error("cannot remove a volume", e)),
        }
    }

    pub(super) async fn run_helper(
        &self,
        script: &str,
        mounts: &[Mount],
    ) -> Result<String, EngineError> {
        let s = &self.settings();
        let image = s.helper_image.clone();
        self.ensure_image(&image).await?;
        let docker = self.client().await?;
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec![script.to_string()]),
            // Root, to read and copy what a job's root wrote, owners and modes kept; only the
            // capabilities that takes.
            user: Some("0:0".into()),
            labels: Some(self.labels("cache")),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds: Some(mounts.iter().map(bind).collect()),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(vec![
                    "CHOWN".into(),
                    "DAC_OVERRIDE".into(),
                    "FOWNER".into(),
                    "FSETID".into(),
                ]),
                readonly_rootfs: Some(true),
                network_mode: Some("none".into()),
                memory: (s.memory > 0).then_some(s.memory),
                nano_cpus: (s.nano_cpus > 0).then_some(s.nano_cpus),
                pids_limit: Some(if s.pids > 0 { s.pids.min(64) } else { 64 }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(None, body)
            .await
            .map_err(|e| engine_error("cannot create the cache helper container", e))?;
        // A helper, not a job: no services to look for at its removal.
        let c = Container {
            id: created.id,
            job: 0,
            services: Some(Vec::new()),
            network: None,
        };
        let run = async {
            docker
                .start_container(&c.id, None)
                .await
                .map_err(|e| engine_error("cannot start the cache helper container", e))?;
            let code = self.wait(&c).await?;
            let mut output = Vec::new();
            let options = LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            };
            let mut logs = docker.logs(&c.id, Some(options));
            while let Some(piece) = logs.next().await {
                match piece {
                    Ok(p) if output.len() < MAX_OUTPUT => output.extend_from_slice(&p.into_bytes()),
                    Ok(_) => {}
                    Err(e) => return Err(EngineError::Engine(docker_message(&e))),
                }
            }
            let text = String::from_utf8_lossy(&output).into_owned();
            match code {
                0 => Ok(text),
                code => Err(EngineError::Engine(format!(
                    "the cache helper container exited with code {code}: {}",
                    text.trim()
                ))),
            }
        };
        let deadline = s.helper_timeout;
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Engine(format!(
                "the cache helper container did not finish within {}",
                humantime::format_duration(deadline)
            ))),
        };
        let _ = self.teardown(&c).await;
        result
    }
}
