//! The HTTP listener: forge webhooks (`/hooks/<forge>`), `/healthz` and the read-only web
//! pages (`web`). Handlers only verify, parse, insert and notify; the scheduler does everything
//! after that.

mod builds;
mod health;
mod hooks;
mod metrics;
mod server;
pub mod stream;
pub mod web;

pub use server::serve;

use crate::jobs::Jobs;
use crate::runner::Engine;
use std::convert::Infallible;
use std::sync::Arc;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

/// Every route, ready for [`serve`]. `stop` ends the pages' event streams when the daemon stops
/// (a browser then reconnects and resumes where it was).
pub fn routes<E: Engine>(
    jobs: Arc<Jobs<E>>,
    stop: tokio_util::sync::CancellationToken,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with = warp::any().map(move || jobs.clone());
    let hooks = warp::post()
        .and(warp::path("hooks"))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(with.clone())
        .then(hooks::handle::<_, _, E>);
    let health = warp::get()
        .and(warp::path("healthz"))
        .and(warp::path::end())
        .and(with.clone())
        .then(health::handle::<E>);
    let metrics = warp::get()
        .and(warp::path("metrics"))
        .and(warp::path::end())
        .and(with.clone())
        .then(metrics::handle::<E>);
    // Ids and queries are parsed by the handlers, so a bad one gets 404 or 400 naming it
    // rather than whatever rejection warp would rank first.
    let query = || warp::query::raw().or(warp::any().map(String::new)).unify();
    let index = warp::get()
        .and(warp::path::end())
        .and(query())
        .and(with.clone())
        .then(web::index::front::<E>);
    // Repository names may have more than two segments (GitLab subgroups): the whole tail.
    let repo = warp::get()
        .and(warp::path("repos"))
        .and(warp::path::tail())
        .map(|t: warp::path::Tail| t.as_str().to_string())
        .and(query())
        .and(with.clone())
        .then(web::index::repo::<E>);
    let job = warp::get()
        .and(warp::path!("jobs" / String))
        .and(with.clone())
        .then(web::job::show::<E>);
    let log = warp::get()
        .and(warp::path!("jobs" / String / "log"))
        .and(query())
        .and(warp::header::optional::<String>("range"))
        .and(with.clone())
        .then(web::raw_log::serve::<E>);
    let artifact = warp::get()
        .and(warp::path("jobs"))
        .and(warp::path::param::<String>())
        .and(warp::path("artifacts"))
        .and(warp::path::tail())
        .map(|id: String, t: warp::path::Tail| (id, t.as_str().to_string()))
        .untuple_one()
        .and(with.clone())
        .then(web::artifact::serve::<E>);
    let events = warp::get()
        .and(warp::path!("jobs" / String / "events"))
        .and(query())
        .and(warp::header::optional::<String>("last-event-id"))
        .and(with.clone())
        .and(warp::any().map(move || stop.clone()))
        .then(web::events::follow::<E>);
    let badge = warp::get()
        .and(warp::path("badge"))
        .and(warp::path::tail())
        .map(|t: warp::path::Tail| t.as_str().to_string())
        .and(query())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(with.clone())
        .then(web::badge::serve::<E>);
    let assets = warp::get()
        .and(warp::path!("assets" / String))
        .map(|name: String| web::assets::serve(&name));
    let pages = index
        .or(repo)
        .unify()
        .or(job)
        .unify()
        .or(log)
        .unify()
        .or(artifact)
        .unify()
        .or(events)
        .unify()
        .or(badge)
        .unify()
        .or(assets)
        .unify();
    hooks
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .or(pages)
        .unify()
        .recover(
            |rejection: warp::Rejection| async move { Ok::<_, Infallible>(rejected(rejection)) },
        )
        .unify()
}

/// A JSON reply.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    use warp::Reply;
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// A plain-text reply.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    use warp::Reply;
    warp::reply::with_status(
        warp::reply::with_header(body.into(), "content-type", "text/plain; charset=utf-8"),
        status,
    )
    .into_response()
}

/// `{"error": "..."}` with a status.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(status, &serde_json::json!({ "error": message.into() }))
}

fn rejected(r: warp::Rejection) -> Response {
    if r.is_not_found() {
        error(StatusCode::NOT_FOUND, "not found")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if r.find::<warp::reject::InvalidQuery>().is_some() {
        error(StatusCode::BAD_REQUEST, "invalid query string")
    } else {
        error(StatusCode::BAD_REQUEST, format!("{r:?}"))
    }
}
