//! `[retention]`: how much history the daemon keeps, and how much free disk it needs to start a
//! job. Pruning itself is [`crate::retention`].

use super::credentials::KeyError;
use super::docker::{duration, parse_bytes};
use serde::Deserialize;
use std::time::Duration;

/// Limits an operator can predict: what is older, beyond the count, or beyond the total log size
/// goes (oldest first), except the latest job of each branch and anything not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Finished jobs older than this go; so do git caches of repositories not pushed for as long.
    pub max_age: Duration,
    /// Finished jobs kept per repository (newest first).
    pub keep_per_repo: u64,
    /// All logs together (bytes); past it the oldest finished jobs go.
    pub max_log_bytes: u64,
    /// Free space `state_dir`'s file system must have for a job to start (bytes; 0: no check).
    pub min_free: u64,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub max_age: Option<String>,
    pub keep_per_repo: Option<u64>,
    pub max_log_bytes: Option<String>,
    pub min_free: Option<String>,
}

/// Validates `[retention]`.
pub(super) fn retention_settings(r: RawRetention) -> Result<RetentionSettings, KeyError> {
    let size = |key: &str, value: Option<String>, default: u64| match value.as_deref() {
        None => Ok(default),
        Some(m) => parse_bytes(m).map(|b| b as u64).ok_or_else(|| {
            (
                format!("retention.{key}"),
                format!("{m:?} is not a size like \"512m\" or \"2g\""),
            )
        }),
    };
    let max_age = duration(
        "retention.max_age",
        r.max_age,
        Duration::from_secs(90 * 24 * 3600),
    )?;
    if max_age.is_zero() {
        return Err(("retention.max_age".into(), "must be more than 0".into()));
    }
    let keep_per_repo = r.keep_per_repo.unwrap_or(500);
    if keep_per_repo == 0 {
        return Err((
            "retention.keep_per_repo".into(),
            "must be at least 1".into(),
        ));
    }
    Ok(RetentionSettings {
        max_age,
        keep_per_repo,
        max_log_bytes: size("max_log_bytes", r.max_log_bytes, 2 << 30)?,
        min_free: size("min_free", r.min_free, 1 << 30)?,
    })
}
