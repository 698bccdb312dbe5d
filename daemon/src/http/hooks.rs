//! `POST /hooks/<forge>`: read the body within the size limit, verify the signature, decide
//! whether the delivery builds anything, and commit the job before answering.

// Handlers return a finished response as their error value: it is built once, on the way out.
#![allow(clippy::result_large_err)]

use super::{error, json};
use crate::forge::{self, Forge, HookError, Outcome};
use crate::state::Shared;
use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

/// Handles one delivery.
pub(super) async fn handle<S, B>(
    route: String,
    headers: HeaderMap,
    body: S,
    shared: Arc<Shared>,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let Some(forge) = Forge::from_route(&route) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown forge {route:?}; use gogs, gitea, forgejo, github, gitlab or bitbucket"
            ),
        );
    };
    let limit = shared.config.max_body;
    let raw = match read_limited(&headers, body, limit).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let payload = match payload(forge, &headers, &raw) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let delivery = match forge::inspect(forge, &headers, &payload) {
        Ok(d) => d,
        Err(e) => return hook_error(e),
    };
    let secret = shared.config.secret_for(delivery.repo.as_deref());
    if !secret.is_empty() {
        // GitHub and Bitbucket sign the bytes on the wire; Gogs-family forges sign the JSON.
        let signed: &[u8] = match forge {
            Forge::Github | Forge::Bitbucket => &raw,
            _ => &payload,
        };
        if let Err(e) = forge::verify(forge, &headers, signed, secret) {
            tracing::warn!(forge = forge.name(), "rejected delivery: {e}");
            return hook_error(e);
        }
    }
    let push = match forge::interpret(forge, &delivery, &payload) {
        Ok(Outcome::Build(push)) => push,
        Ok(Outcome::Ignore(reason)) => {
            return json(StatusCode::OK, &serde_json::json!({ "ignored": reason }));
        }
        Err(e) => return hook_error(e),
    };
    match shared
        .submit_push(forge.name(), delivery.delivery_id, push)
        .await
    {
        Ok(ins) if ins.duplicate => json(
            StatusCode::OK,
            &serde_json::json!({
                "job_id": ins.job.id,
                "status": ins.job.status,
                "duplicate": true,
            }),
        ),
        Ok(ins) => {
            tracing::info!(job = ins.job.id, repo = %ins.job.repo, "queued {}", ins.job.commit);
            json(
                StatusCode::ACCEPTED,
                &serde_json::json!({ "job_id": ins.job.id, "status": ins.job.status }),
            )
        }
        Err(e) => {
            tracing::error!("cannot record a job: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot record the job; try again",
            )
        }
    }
}

fn hook_error(e: HookError) -> Response {
    match e {
        HookError::Unauthorized(m) => error(StatusCode::UNAUTHORIZED, m),
        HookError::BadRequest(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

/// Reads the body, refusing (413) as soon as it is known to exceed `limit`: from the
/// Content-Length header before reading, or while reading a chunked body.
async fn read_limited<S, B>(headers: &HeaderMap, body: S, limit: u64) -> Result<BytesMut, Response>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is over the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(8192).min(limit) as usize);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?;
        if buf.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf)
}

/// The JSON document: the body itself, or the `payload` field of a form-encoded delivery
/// (Gogs, Gitea and Forgejo can send either).
fn payload(forge: Forge, headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, Response> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "" => Ok(raw.to_vec()),
        "application/x-www-form-urlencoded"
            if matches!(forge, Forge::Gogs | Forge::Gitea | Forge::Forgejo) =>
        {
            form_urlencoded::parse(raw)
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v.into_owned().into_bytes())
                .ok_or_else(|| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "form body has no \"payload\" field",
                    )
                })
        }
        other => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type {other:?} is not supported; set the webhook to send application/json"
            ),
        )),
    }
}
