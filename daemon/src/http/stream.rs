//! Response bodies streamed from a file, which warp cannot build itself (its body type takes no
//! stream from outside). A handler answers with an ordinary warp response carrying a
//! [`FileBody`] extension; [`attach`], called by the server on every response, replaces the body
//! with the file's bytes, read 64 KiB at a time as the client takes them, so a log of any size
//! costs the same few kilobytes of memory.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use warp::reply::Response;

/// Any error a streamed body may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body the server sends: warp's, or a file's.
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;

/// Read size per frame.
const READ: usize = 64 * 1024;

/// `len` bytes of an open file from its current position, to be sent as the response body.
#[derive(Clone)]
pub struct FileBody(Arc<Mutex<Option<(tokio::fs::File, u64)>>>);

impl FileBody {
    /// The next `len` bytes of `file` (already positioned).
    pub fn new(file: tokio::fs::File, len: u64) -> FileBody {
        FileBody(Arc::new(Mutex::new(Some((file, len)))))
    }

    fn take(&self) -> Option<(tokio::fs::File, u64)> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

/// The response as the server sends it: with a [`FileBody`] extension, the file's bytes
/// replace warp's (empty) body.
pub fn attach(mut resp: Response) -> hyper::Response<OutBody> {
    let file = resp
        .extensions_mut()
        .remove::<FileBody>()
        .and_then(|f| f.take());
    let (parts, body) = resp.into_parts();
    let body = match file {
        Some((file, len)) => {
            let frames = ReaderStream::with_capacity(file.take(len), READ)
                .map(|r| r.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
            StreamBody::new(frames).boxed_unsync()
        }
        None => body.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
    };
    hyper::Response::from_parts(parts, body)
}
