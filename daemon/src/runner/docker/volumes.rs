//! Volumes of this installation (the job caches), created, listed and removed by label like the
//! containers, and the helper containers that copy and measure them (run by [`super::helper`]).

use super::{DockerEngine, OWNER_LABEL, engine_error};
use crate::runner::{EngineError, Mount, Volume};
use bollard::errors::Error as DockerError;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use std::collections::HashMap;

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
        // Copies keep owners and modes: the capabilities that takes.
        self.run_helper_container(super::helper::Helper {
            what: "cache helper",
            role: "cache",
            script,
            binds: mounts.iter().map(bind).collect(),
            caps: &["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"],
        })
        .await
    }
}
