//! The one way this engine runs a helper container (the trusted `docker.helper_image`, never a
//! job's): clean-up of a workspace and the job caches' copies and measures alike. Root with only
//! the capabilities asked for, no network, a read-only root, the job's limits, a deadline, and
//! removed whatever happens.

use super::{Container, DockerEngine, docker_message, engine_error};
use crate::runner::{Engine, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

/// Most bytes of a helper's output kept (it prints a few lines).
const MAX_OUTPUT: usize = 64 * 1024;

/// What a helper runs, and with what.
pub(super) struct Helper<'a> {
    /// Its name in errors (`clean-up`, `cache helper`).
    pub(super) what: &'a str,
    /// Its role label (see [`DockerEngine::labels`]).
    pub(super) role: &'a str,
    /// Run by `/bin/sh -c`.
    pub(super) script: &'a str,
    /// Binds, in the Engine's syntax.
    pub(super) binds: Vec<String>,
    /// The capabilities it keeps (all others are dropped).
    pub(super) caps: &'a [&'a str],
}

impl DockerEngine {
    /// Runs `h` to its end within `docker.helper_timeout`: its output (bounded) when it exits
    /// 0, else an error naming it with its exit code and output.
    pub(super) async fn run_helper_container(&self, h: Helper<'_>) -> Result<String, EngineError> {
        let s = &self.settings();
        let image = s.helper_image.clone();
        self.ensure_image(&image).await?;
        let docker = self.client().await?;
        let what = h.what;
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec![h.script.to_string()]),
            // Root, to reach what a job's root wrote; only the capabilities that takes.
            user: Some("0:0".into()),
            labels: Some(self.labels(h.role)),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds: Some(h.binds),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(h.caps.iter().map(|c| c.to_string()).collect()),
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
            .map_err(|e| engine_error(&format!("cannot create the {what} container"), e))?;
        // A helper, not a job: no services to look for at its removal.
        let c = Container {
            id: created.id,
            job: 0,
            services: Some(Vec::new()),
            network: None,
            copied: None,
        };
        let run = async {
            docker
                .start_container(&c.id, None)
                .await
                .map_err(|e| engine_error(&format!("cannot start the {what} container"), e))?;
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
                code if text.trim().is_empty() => Err(EngineError::Engine(format!(
                    "the {what} container exited with code {code}"
                ))),
                code => Err(EngineError::Engine(format!(
                    "the {what} container exited with code {code}: {}",
                    text.trim()
                ))),
            }
        };
        let deadline = s.helper_timeout;
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Engine(format!(
                "the {what} container did not finish within {}",
                humantime::format_duration(deadline)
            ))),
        };
        let _ = self.teardown(&c).await;
        result
    }
}
