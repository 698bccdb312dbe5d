//! Framing: a 4-byte big-endian length, then that many bytes of JSON. Frames over
//! [`MAX_FRAME`] are refused before any of their body is buffered, so a hostile or broken peer
//! cannot make the other side allocate without bound.

use crate::message::{ClientMessage, ServerMessage};
use bytes::{Buf, BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body either side accepts (1 MiB). Log reads are capped well below this.
pub const MAX_FRAME: usize = 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// The body is not the JSON message expected.
    #[error("frame is not a valid message: {0}")]
    Json(#[from] serde_json::Error),
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes frames into `In` and encodes `Out` into frames.
#[derive(Debug)]
pub struct FrameCodec<In, Out> {
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        FrameCodec {
            _types: PhantomData,
        }
    }
}

/// The daemon's side: reads client messages, writes server messages.
pub type ServerCodec = FrameCodec<ClientMessage, ServerMessage>;
/// A client's side: reads server messages, writes client messages.
pub type ClientCodec = FrameCodec<ServerMessage, ClientMessage>;

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let body = src.split_to(len);
        Ok(Some(serde_json::from_slice(&body)?))
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, item: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let body = serde_json::to_vec(&item)?;
        if body.len() > MAX_FRAME {
            return Err(FrameError::TooLarge(body.len()));
        }
        dst.reserve(4 + body.len());
        dst.put_u32(body.len() as u32);
        dst.extend_from_slice(&body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Reply, Request};

    fn frame(body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(body.len() as u32);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn round_trip_through_both_sides() {
        let mut client = ClientCodec::default();
        let mut server = ServerCodec::default();
        let mut wire = BytesMut::new();
        let msg = ClientMessage {
            id: 1,
            request: Request::Status,
        };
        client.encode(msg.clone(), &mut wire).unwrap();
        assert_eq!(server.decode(&mut wire).unwrap(), Some(msg));
        assert!(wire.is_empty());

        let reply = ServerMessage::Ok {
            id: 1,
            reply: Reply::Created { job: 2 },
        };
        server.encode(reply.clone(), &mut wire).unwrap();
        assert_eq!(client.decode(&mut wire).unwrap(), Some(reply));
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut server = ServerCodec::default();
        let full = frame(br#"{"id":1,"type":"status"}"#);
        let mut wire = BytesMut::from(&full[..6]);
        assert!(server.decode(&mut wire).unwrap().is_none());
        wire.extend_from_slice(&full[6..]);
        assert!(server.decode(&mut wire).unwrap().is_some());
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let mut server = ServerCodec::default();
        let mut wire = BytesMut::new();
        wire.put_u32((MAX_FRAME + 1) as u32);
        match server.decode(&mut wire) {
            Err(FrameError::TooLarge(n)) => assert_eq!(n, MAX_FRAME + 1),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn garbage_body_is_a_json_error() {
        let mut server = ServerCodec::default();
        let mut wire = frame(b"\xff\xfenot json");
        assert!(matches!(server.decode(&mut wire), Err(FrameError::Json(_))));
    }
}
