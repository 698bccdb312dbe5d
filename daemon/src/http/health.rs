//! `GET /healthz`: 200 `ok`, or 503 with one line per problem (`store: …`, `docker: …`,
//! `disk: …`) for a monitor to alert on. The Engine's answer is cached briefly
//! ([`crate::health`]).

use super::text;
use crate::jobs::Jobs;
use crate::runner::Engine;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

/// Answers one health check.
pub(super) async fn handle<E: Engine>(jobs: Arc<Jobs<E>>) -> Response {
    let problems = crate::health::problems(&jobs).await;
    if problems.is_empty() {
        text(StatusCode::OK, "ok\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", problems.join("\n")),
        )
    }
}
