//! Answers as they go on the wire: a failed request's code and sentence, and the `subscribed`
//! reply that opens a subscription.

use crate::jobs::{CancelError, CreateError, ReadError};
use crate::store::StoreError;
use microci_proto::{ErrorCode, Reply, ServerMessage};
use tokio::sync::mpsc;

/// A failed request, as sent to the client.
pub(super) struct Failure(pub ErrorCode, pub String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure(ErrorCode::Internal, e.to_string())
    }
}

impl From<CreateError> for Failure {
    fn from(e: CreateError) -> Failure {
        let code = match e {
            CreateError::NotFound(_) => ErrorCode::NotFound,
            CreateError::Invalid(_) => ErrorCode::Invalid,
            CreateError::Store(_) => ErrorCode::Internal,
        };
        Failure(code, e.to_string())
    }
}

impl From<CancelError> for Failure {
    fn from(e: CancelError) -> Failure {
        let code = match e {
            CancelError::NotFound(_) => ErrorCode::NotFound,
            CancelError::Finished(..) => ErrorCode::Conflict,
            CancelError::Store(_) => ErrorCode::Internal,
        };
        Failure(code, e.to_string())
    }
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        let code = match e {
            ReadError::NotFound(_) => ErrorCode::NotFound,
            ReadError::Store(_) | ReadError::Log(_) => ErrorCode::Internal,
        };
        Failure(code, e.to_string())
    }
}

impl From<crate::artifacts::ArtifactError> for Failure {
    fn from(e: crate::artifacts::ArtifactError) -> Failure {
        let code = match e {
            crate::artifacts::ArtifactError::NotFound(..) => ErrorCode::NotFound,
            crate::artifacts::ArtifactError::Io(_) => ErrorCode::Internal,
        };
        Failure(code, e.to_string())
    }
}

/// Tells the client its subscription `id` is open; false when the client is gone.
pub(super) async fn subscribed(out: &mpsc::Sender<ServerMessage>, id: u64) -> bool {
    out.send(ServerMessage::Ok {
        id,
        reply: Reply::Subscribed,
    })
    .await
    .is_ok()
}
