//! `kind = "email"`: one message (plain text and HTML alternatives) to the entry's recipients
//! through its SMTP relay, with STARTTLS and AUTH when configured. A relay that cannot be reached
//! or answers 4xx is tried again; a 5xx answer (an address refused for good) gives up.

use super::Failure;
use super::message::Message;
use crate::config::Email;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// How long one conversation with the relay may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `m` as the entry `e` says.
pub(super) async fn send(e: &Email, m: &Message) -> Result<(), Failure> {
    let bad = |what: &str, err: String| Failure::Permanent(format!("{what}: {err}"));
    let from: Mailbox = e.from.parse().map_err(|x| bad("from", format!("{x}")))?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(m.subject())
        .header(header::MIME_VERSION_1_0);
    for to in &e.to {
        builder = builder.to(to.parse().map_err(|x| bad("to", format!("{x}")))?);
    }
    let mail = builder
        .multipart(MultiPart::alternative_plain_html(m.text(), m.html()))
        .map_err(|x| bad("message", x.to_string()))?;
    let transport = transport(e).map_err(Failure::Retry)?;
    // lettre's own timeout bounds the connection; a relay that stops answering mid-conversation
    // must not hold every later notification up, so the whole exchange is bounded too.
    let sent = tokio::time::timeout(TIMEOUT, transport.send(mail))
        .await
        .map_err(|_| {
            Failure::Retry(format!(
                "relay {}:{}: no answer within {}",
                e.host,
                e.port,
                humantime::format_duration(TIMEOUT)
            ))
        })?;
    match sent {
        Ok(_) => Ok(()),
        Err(x) if x.is_permanent() => Err(Failure::Permanent(format!(
            "the relay {}:{} refused it: {}",
            e.host,
            e.port,
            crate::status::chain(&x)
        ))),
        Err(x) => Err(Failure::Retry(format!(
            "relay {}:{}: {}",
            e.host,
            e.port,
            crate::status::chain(&x)
        ))),
    }
}

/// The transport for one delivery: plain SMTP, or STARTTLS required (the relay's certificate is
/// verified against the system's roots).
fn transport(e: &Email) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut b = if e.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host)
            .map_err(|x| format!("STARTTLS to {}: {x}", e.host))?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host)
    };
    b = b.port(e.port).timeout(Some(TIMEOUT));
    if let Some((user, password)) = &e.auth {
        b = b.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(b.build())
}
