//! The control protocol's framing, on either side of the socket: bytes arrive in arbitrary
//! pieces; every message that decodes re-encodes and decodes to the same value; a length prefix
//! over `MAX_FRAME` is refused as soon as its four bytes are in, before any body is buffered;
//! nothing panics.

#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use microci_fuzz::split_knobs;
use microci_proto::{ClientCodec, FrameError, MAX_FRAME, ServerCodec};
use std::fmt::Debug;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Arbitrary, Debug)]
struct Knobs {
    /// Decode as a client (server messages) instead of as the daemon (client messages).
    client_side: bool,
    /// Sizes of the pieces the bytes arrive in, cycled (0 counts as 1); none: all at once.
    pieces: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Some((knobs, wire)) = split_knobs::<Knobs>(data) else {
        return;
    };
    if knobs.client_side {
        feed(
            ClientCodec::default(),
            ClientCodec::default,
            ServerCodec::default(),
            &knobs.pieces,
            wire,
        );
    } else {
        feed(
            ServerCodec::default(),
            ServerCodec::default,
            ClientCodec::default(),
            &knobs.pieces,
            wire,
        );
    }
});

/// Feeds `wire` to `decoder` piece by piece. Each decoded message is encoded by `peer` (the other
/// side, which sends that type) and decoded again by a fresh decoder from `fresh`.
fn feed<M, D, P>(mut decoder: D, fresh: fn() -> D, mut peer: P, pieces: &[u8], wire: &[u8])
where
    M: Clone + Debug + PartialEq,
    D: Decoder<Item = M, Error = FrameError>,
    P: Encoder<M, Error = FrameError>,
{
    let mut buf = BytesMut::new();
    let mut rest = wire;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let n = match sizes.next() {
            Some(&n) => usize::from(n.max(1)).min(rest.len()),
            None => rest.len(),
        };
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(message)) => round_trip(&message, fresh(), &mut peer),
                Ok(None) => {
                    if buf.len() >= 4 {
                        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                        assert!(len <= MAX_FRAME, "waits for the body of a {len}-byte frame");
                        assert!(
                            buf.len() < 4 + len,
                            "a whole frame is buffered but not decoded"
                        );
                    }
                    break;
                }
                Err(FrameError::TooLarge(len)) => {
                    assert!(len > MAX_FRAME, "refused a {len}-byte frame");
                    assert!(
                        buf.capacity() <= 2 * (4 + MAX_FRAME).max(wire.len()),
                        "buffered {} bytes for a frame it refuses",
                        buf.capacity()
                    );
                    // The connection is dropped here.
                    return;
                }
                // A bad frame closes the connection too.
                Err(_) => return,
            }
        }
    }
}

fn round_trip<M, D, P>(message: &M, mut decoder: D, peer: &mut P)
where
    M: Clone + Debug + PartialEq,
    D: Decoder<Item = M, Error = FrameError>,
    P: Encoder<M, Error = FrameError>,
{
    let mut wire = BytesMut::new();
    peer.encode(message.clone(), &mut wire)
        .expect("a decoded message encodes");
    let again = decoder
        .decode(&mut wire)
        .expect("a re-encoded message decodes");
    assert_eq!(
        again.as_ref(),
        Some(message),
        "the message changed on a round trip"
    );
    assert!(wire.is_empty(), "{} bytes left after one frame", wire.len());
}
