//! `kind = "webhook"`: one POST of JSON to the entry's URL, shaped by its `format`, signed with
//! `X-Microci-Signature: sha256=<hex HMAC-SHA256 of the body>` when it has a secret. Bodies are
//! built with `serde_json`, so job text can never break out of its string. A 2xx is delivered;
//! a network error, 408, 429 or 5xx is tried again; any other answer gives up.

use super::Failure;
use super::message::Message;
use crate::config::{Webhook, WebhookFormat};
use crate::status::Client;
use hmac::{KeyInit, Mac};

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "x-microci-signature";

/// POSTs `m` as the entry `w` says.
pub(super) async fn send(client: &Client, w: &Webhook, m: &Message) -> Result<(), Failure> {
    let body = body(w, m).to_string().into_bytes();
    let mut headers = vec![("x-microci-event", m.event.clone())];
    if let Some(secret) = &w.secret {
        headers.push((SIGNATURE_HEADER, sign(secret.expose(), &body)));
    }
    use crate::status::{Answer, judge};
    match crate::status::post(client, &w.url, &headers, body).await {
        Ok((status, text)) => match judge(status, &text) {
            Answer::Accepted => Ok(()),
            Answer::Refused(error) => Err(Failure::Permanent(error)),
            Answer::Retry(error) => Err(Failure::Retry(error)),
        },
        Err(e) => Err(Failure::Retry(format!("cannot reach {}: {e}", w.url))),
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body for `w.format`.
fn body(w: &Webhook, m: &Message) -> serde_json::Value {
    let line = |m: &Message| {
        let mut s = format!("{} — {}", m.subject(), m.short_commit());
        if let Some(u) = &m.url {
            s.push_str(&format!(" {u}"));
        }
        s
    };
    match w.format {
        WebhookFormat::Json => m.document(),
        WebhookFormat::Slack => serde_json::json!({ "text": line(m) }),
        WebhookFormat::Matrix => serde_json::json!({
            "text": line(m),
            "html": m.html_line(),
        }),
        WebhookFormat::Ntfy => serde_json::json!({
            "topic": w.topic,
            "title": m.subject(),
            "message": m.text(),
            "tags": [match m.event.as_str() {
                "failed" | "errored" => "x",
                "started" => "hourglass",
                _ => "white_check_mark",
            }],
            "click": m.url,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
