//! The HTTP listener's accept loop: hyper with a deadline for request headers (which also ends
//! idle keep-alive connections), a bounded header buffer, a cap on open connections, and a
//! graceful stop. warp's own `serve` has neither deadline nor cap, so a few hundred clients
//! trickling bytes could hold the box; webhook bodies get their own deadline in `hooks`.

use crate::config::HttpSettings;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::Response;

/// Largest request head (start line and headers) accepted; real webhook heads are ~2 KiB.
const MAX_HEAD: usize = 64 * 1024;
/// How long open requests get to finish once the daemon stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `routes` on `listener` until `shutdown`, then lets open requests finish (for up to a
/// few seconds) before returning.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    limits: &HttpSettings,
    shutdown: CancellationToken,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(100);
    loop {
        // Past the cap, stop accepting: further clients wait in the kernel's backlog instead of
        // costing memory here.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!("http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let warp = hyper_util::service::TowerToHyperService::new(warp::service(routes.clone()));
        // Responses that stream a file get their body here (see `stream`).
        let service = hyper::service::service_fn(move |req| {
            use hyper::service::Service;
            let answer = warp.call(req);
            async move { answer.await.map(super::stream::attach) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("http connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("http: requests still open after {DRAIN:?}; closing them");
    }
}
