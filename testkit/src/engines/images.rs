//! Images for the extra Engines, which cannot pull: `docker save` from the host's Engine once
//! per process into `BASE_DIR/<pid>-images/` (removed by [`super::sweep_stale`] after the
//! process is gone), then `docker load` into each Engine.

use super::command::run;
use super::netns::BASE_DIR;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Saved tars by image name; the lock also keeps two threads from saving the same image.
static SAVED: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);

/// The tar of `image` saved from the host's Engine, made on first use.
pub fn saved(image: &str) -> Result<PathBuf> {
    let mut guard = SAVED.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(path) = map.get(image) {
        return Ok(path.clone());
    }
    let dir = PathBuf::from(format!("{BASE_DIR}/{}-images", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file: String = image
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{file}.tar"));
    run(Command::new("docker")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .args(["save", "-o"])
        .arg(&path)
        .arg(image))
    .with_context(|| {
        format!(
            "saving {image} from the host's Engine (scripts/test-image.sh builds the test images)"
        )
    })?;
    map.insert(image.to_string(), path.clone());
    Ok(path)
}
