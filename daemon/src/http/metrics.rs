//! `GET /metrics`: the Prometheus metrics ([`crate::metrics`]) in the OpenMetrics text format,
//! which Prometheus scrapes as it is. `http.metrics = "off"` answers 404; the repository labels
//! follow `http.metrics` when jobs end (private repositories as `(private)` by default).

use crate::config::MetricsAccess;
use crate::jobs::Jobs;
use crate::metrics::Scrape;
use crate::runner::Engine;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

/// The media type of the exposition.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers one scrape.
pub(super) async fn handle<E: Engine>(jobs: Arc<Jobs<E>>) -> Response {
    use warp::Reply;
    if jobs.config().http.metrics == MetricsAccess::Off {
        return super::error(StatusCode::NOT_FOUND, "not found");
    }
    let (queued, running) = match jobs.counts().await {
        Ok(c) => c,
        Err(e) => {
            return super::text(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}\n"));
        }
    };
    let docker_up = jobs.health.docker(jobs.engine.as_ref()).await.is_ok();
    let body = jobs.metrics.encode(Scrape {
        engines: jobs.engine.engines().await,
        running,
        queued,
        disk_free: jobs.disk.free().ok(),
        docker_up,
    });
    warp::reply::with_header(body, "content-type", CONTENT_TYPE).into_response()
}
