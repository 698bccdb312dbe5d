//! The microci control protocol: the messages `microcid` and its clients exchange over the Unix
//! control socket, and the length-prefixed framing that carries them. Types only — no runtime, no
//! daemon logic — so the daemon and every client share one definition and cannot drift apart.
//! `PROTOCOL.md` beside this crate is the specification.

pub mod artifact;
pub mod codec;
pub mod job;
pub mod limits;
pub mod message;
pub mod sanitize;

pub use artifact::{Artifact, ArtifactChunk};
pub use codec::{ClientCodec, FrameCodec, FrameError, MAX_FRAME, ServerCodec};
pub use job::{Job, JobStatus, LogChunk, Notification, RepoInfo};
pub use limits::{MAX_ARTIFACT_READ, MAX_JOB_LIST, MAX_LOG_READ};
pub use message::{
    CacheInfo, ClientMessage, DaemonStatus, EngineInfo, ErrorCode, Event, JobQuery, PruneReport,
    Reply, Request, ServerMessage,
};

/// Protocol version spoken by this crate. The daemon announces it in its hello; a client that
/// speaks another version says so and stops, instead of failing later in a confusing way.
pub const PROTOCOL_VERSION: u32 = 1;
