//! Commit statuses: every state a reported job enters is queued in the outbox (`status_reports`)
//! in the transaction that changes it; this task sends them to the forge's API, oldest first and
//! one at a time per job (a later state never overtakes an earlier one), retrying with backoff
//! for up to a day. A report never delays or fails a job, and the outbox survives restarts.

mod request;

pub use request::{Request, build};

use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::store::{Delivery, Report};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a report is tried before it is given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// One request's limit, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry's wait; each one after doubles it, up to [`MAX_BACKOFF`].
const BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// When attempt number `attempts + 1` is due after a failure: 1 s, doubling, at most an hour.
pub(crate) fn backoff(attempts: i64) -> Duration {
    BACKOFF
        .saturating_mul(1u32 << attempts.clamp(0, 20))
        .min(MAX_BACKOFF)
}
/// Reports read from the outbox at once.
const BATCH: usize = 32;

/// Starts the outbox task; it ends with `shutdown` (what is queued stays for the next start).
pub fn spawn<E: Engine>(
    jobs: Arc<Jobs<E>>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = run(&jobs) => {}
            () = shutdown.cancelled() => {}
        }
    })
}

/// The HTTP client: hyper's, with the system's TLS (the OpenSSL the daemon links for git already).
/// It follows no redirect: a token is for its API's address only.
pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_tls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// Largest answer body read (for the error a person sees).
const MAX_ANSWER: usize = 64 * 1024;

/// The client, made when the first report is due: TLS set-up (and the memory of the system's
/// root certificates) is not paid by a daemon that reports nothing.
pub(crate) fn client(slot: &mut Option<Client>) -> Client {
    if let Some(c) = slot {
        return c.clone();
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(TIMEOUT));
    let https = hyper_tls::HttpsConnector::new_with_connector(http);
    let c = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(https);
    *slot = Some(c.clone());
    c
}

/// POSTs `req`; the answer's status and (the start of) its body.
async fn send(client: &Client, req: &Request) -> Result<(u16, String), String> {
    let headers = [(req.auth.0, req.auth.1.clone())];
    post(
        client,
        &req.url,
        &headers,
        req.body.to_string().into_bytes(),
    )
    .await
}

/// POSTs a JSON `body` to `url` with extra `headers`, within the request deadline; the answer's
/// status and (the start of) its body. Redirects are not followed.
pub(crate) async fn post(
    client: &Client,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let mut request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("user-agent", concat!("microci/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let exchange = async {
        let resp = client.request(request).await.map_err(|e| chain(&e))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(TIMEOUT)
        )),
    }
}

async fn run<E: Engine>(jobs: &Jobs<E>) {
    let mut http = None;
    loop {
        match jobs.reader.due_reports(now_ms(), BATCH).await {
            Ok(due) if !due.is_empty() => {
                let client = client(&mut http);
                for report in due {
                    let outcome = deliver(jobs, &client, &report).await;
                    jobs.metrics.status_report(outcome.label());
                    if let Err(e) = jobs.writer.reported(report.id, outcome).await {
                        tracing::error!("commit statuses: cannot record a delivery: {e}");
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!("commit statuses: cannot read the outbox: {e}"),
        }
        idle(
            jobs.reader.next_report_ms().await.ok().flatten(),
            &jobs.reports,
        )
        .await;
    }
}

/// How an HTTP answer to a report or a notification counts, with the error in words.
pub(crate) enum Answer {
    /// 2xx.
    Accepted,
    /// Refused for good: a 4xx other than 408 and 429.
    Refused(String),
    /// Worth another try: a 5xx, 408, 429 or anything else.
    Retry(String),
}

/// Judges answer `status` with body `text` (its start names the problem for people).
pub(crate) fn judge(status: u16, text: &str) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Accepted;
    }
    let detail = crate::store::status_description(text);
    let error = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    if (400..500).contains(&status) && status != 408 && status != 429 {
        Answer::Refused(error)
    } else {
        Answer::Retry(error)
    }
}

/// Waits until the outbox's next row is due (`next`, Unix ms; at most a minute) or `wake` says
/// something was queued: the idle half of the status and notification senders' loops.
pub(crate) async fn idle(next: Option<i64>, wake: &tokio::sync::Notify) {
    let wait = next.map_or(60_000, |n| (n - now_ms()).clamp(0, 60_000)) as u64;
    tokio::select! {
        () = wake.notified() => {}
        () = tokio::time::sleep(Duration::from_millis(wait.max(10))) => {}
    }
}

/// One attempt at one report.
async fn deliver<E: Engine>(jobs: &Jobs<E>, client: &Client, r: &Report) -> Delivery {
    let config = jobs.config();
    let Some(to) = config.reporter(&r.repo, &r.forge) else {
        return Delivery::GaveUp {
            error: "no status token applies to this repository any more".into(),
        };
    };
    let target = config
        .http
        .public_url
        .as_ref()
        .map(|u| format!("{u}/jobs/{}", r.job_id));
    let req = build(&to, r, target.as_deref());
    let error = match send(client, &req)
        .await
        .map(|(status, text)| judge(status, &text))
    {
        Ok(Answer::Accepted) => {
            tracing::debug!(job_id = r.job_id, state = %r.state, "commit status delivered");
            return Delivery::Delivered;
        }
        // The forge refused it for good: a bad token, a missing repository, a bad request.
        Ok(Answer::Refused(error)) => {
            tracing::warn!(job_id = r.job_id, "commit status refused: {error}");
            return Delivery::GaveUp { error };
        }
        Ok(Answer::Retry(error)) => error,
        Err(e) => format!("cannot reach the forge: {e}"),
    };
    let age = Duration::from_millis((now_ms() - r.created_ms).max(0) as u64);
    if age >= GIVE_UP_AFTER {
        tracing::warn!(
            job_id = r.job_id,
            "commit status given up after a day: {error}"
        );
        return Delivery::GaveUp { error };
    }
    let backoff = backoff(r.attempts);
    Delivery::Retry {
        next_ms: now_ms() + backoff.as_millis() as i64,
        error,
    }
}

/// An error and its causes in words.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn now_ms() -> i64 {
    crate::store::now_ms()
}
