//! The protocol's size limits, in one place for the daemon, its clients and their tests: a peer
//! that asks for more gets at most this much.

/// Largest log window one `read_log` reply (or one `follow_log` event) carries, in bytes.
pub const MAX_LOG_READ: u32 = 256 * 1024;

/// Most jobs one `list_jobs` reply carries.
pub const MAX_JOB_LIST: u32 = 1000;

/// Largest artifact window one `read_artifact` reply carries, in bytes (a third more once
/// base64-encoded: well inside a frame).
pub const MAX_ARTIFACT_READ: u32 = 512 * 1024;
