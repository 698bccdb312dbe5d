//! `POST /hooks/<forge>`: read the body within the size limit, verify the signature, decide
//! whether the delivery builds anything, and commit the job before answering.

// Handlers return a finished response as their error value: it is built once, on the way out.
#![allow(clippy::result_large_err)]

use super::{error, json};
use crate::forge::{self, Forge, HookError, Outcome};
use crate::jobs::Jobs;
use crate::runner::Engine;
use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

/// Handles one delivery and counts how it was answered (`microci_webhooks_total`).
pub(super) async fn handle<S, B, E>(
    route: String,
    headers: HeaderMap,
    body: S,
    jobs: Arc<Jobs<E>>,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
    E: Engine,
{
    // A fixed set of label values: the forge's name, never the route as sent.
    let forge = Forge::from_route(&route).map_or("unknown", Forge::name);
    let response = answer(route, headers, body, jobs.clone()).await;
    jobs.metrics.webhook(forge, outcome(response.status()));
    response
}

/// The outcome label of a webhook answer.
fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        202 => "accepted",
        // Ignored deliveries, redeliveries and pull request closes: nothing new was queued.
        200 => "not_queued",
        401 => "unauthorized",
        403 => "forbidden",
        500..=599 => "unavailable",
        _ => "invalid",
    }
}

/// Answers one delivery.
async fn answer<S, B, E>(route: String, headers: HeaderMap, body: S, jobs: Arc<Jobs<E>>) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
    E: Engine,
{
    let Some(forge) = Forge::from_route(&route) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown forge {route:?}; use gogs, gitea, forgejo, github, gitlab or bitbucket"
            ),
        );
    };
    let config = &jobs.config();
    let read = read_limited(&headers, body, config.http.max_body);
    let raw = match tokio::time::timeout(config.http.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(resp)) => return resp,
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {}",
                    humantime::format_duration(config.http.body_timeout)
                ),
            );
        }
    };
    let payload = match payload(forge, &headers, &raw) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let delivery = match forge::inspect(forge, &headers, &payload) {
        Ok(d) => d,
        Err(e) => return hook_error(e),
    };
    let secret = config.secret_for(delivery.repo.as_deref()).expose();
    if !(secret.is_empty() && config.webhook.allow_unsigned) {
        // No secret applies (an unlisted repository, and every listed one has its own): check
        // against a key nobody has, so the answer is the same 401 a wrong signature gets and
        // does not tell which repositories are configured.
        let key = if secret.is_empty() {
            unguessable()
        } else {
            secret
        };
        // GitHub and Bitbucket sign the bytes on the wire; Gogs-family forges sign the JSON.
        let signed: &[u8] = match forge {
            Forge::Github | Forge::Bitbucket => &raw,
            _ => &payload,
        };
        if let Err(e) = forge::verify(forge, &headers, signed, key) {
            tracing::warn!(forge = forge.name(), "rejected delivery: {e}");
            return hook_error(e);
        }
    }
    let listed = delivery
        .repo
        .as_deref()
        .is_some_and(|r| config.is_listed(r));
    if !listed && !config.webhook.allow_unlisted && delivery.repo.is_some() {
        return error(StatusCode::FORBIDDEN, "repository not configured");
    }
    let pushes = match forge::interpret(forge, &delivery, &payload) {
        Ok(Outcome::Build(push)) => vec![push],
        Ok(Outcome::Builds(pushes)) => pushes,
        Ok(Outcome::Closed { repo, git_ref }) => {
            return super::builds::close(&jobs, &repo, &git_ref).await;
        }
        Ok(Outcome::Ignore(reason)) => {
            return json(StatusCode::OK, &serde_json::json!({ "ignored": reason }));
        }
        Err(e) => return hook_error(e),
    };
    // Every push of one delivery is of the same repository, from the same URL.
    if let Some(push) = pushes.first()
        && !config.is_listed(&push.repo)
    {
        let url = config.clone_url_for(&push.repo, &push.clone_url, push.ssh_url.as_deref());
        if !config.webhook.allow_unlisted {
            return error(StatusCode::FORBIDDEN, "repository not configured");
        }
        if !config.webhook.clone_host_allowed(&url) {
            tracing::warn!(repo = %push.repo, url = %url, "refused a clone URL outside webhook.clone_hosts");
            return error(
                StatusCode::FORBIDDEN,
                "the clone URL's host is not in webhook.clone_hosts",
            );
        }
    }
    super::builds::submit(&jobs, config, forge, delivery.delivery_id, pushes).await
}

/// A key no forge can sign with: 32 random bytes, fixed for the life of the process.
fn unguessable() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use std::io::Read;
        let mut bytes = [0u8; 32];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if read.is_err() {
            // No /dev/urandom: the address of a fresh allocation and the clock, hashed.
            use sha2::Digest;
            let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
            bytes.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
        }
        hex::encode(bytes)
    })
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
    // Grows with what arrives: a Content-Length is a claim, not memory to hand out up front.
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(8192).min(limit).min(8192) as usize);
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
