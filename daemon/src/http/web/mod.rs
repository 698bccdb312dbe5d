//! The read-only web pages: the front page and a repository's page (branches and jobs), one job
//! with its live log, the raw log, the log's event stream, badges and the pages' two assets.
//! Everything from a job (names, refs, messages, output) is untrusted: it reaches HTML only
//! through maud, which escapes it, and through [`layout::Text`], which also makes control and
//! bidirectional characters visible. The pages are public: with `http.pages = "public"` (the
//! default) only public repositories' jobs exist here, and anything else answers 404 as if it
//! did not exist.

// Handlers return a finished response as their error value: it is built once, on the way out.
#![allow(clippy::result_large_err)]

mod ages;
pub(super) mod artifact;
pub(super) mod assets;
pub(super) mod badge;
pub(super) mod events;
pub(super) mod index;
pub(super) mod job;
mod layout;
pub mod log_html;
pub(super) mod raw_log;

use super::error;
use crate::config::Pages;
use crate::jobs::Jobs;
use crate::runner::Engine;
use microci_proto::Job;
use warp::http::StatusCode;
use warp::reply::Response;

/// The 404 every hidden or missing thing answers.
fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no such {what}"))
}

/// Whether the pages are served at all (`http.pages` is not `off`).
fn pages_on<E: Engine>(jobs: &Jobs<E>) -> Result<(), Response> {
    match jobs.config().http.pages {
        Pages::Off => Err(error(StatusCode::NOT_FOUND, "not found")),
        Pages::All | Pages::Public => Ok(()),
    }
}

/// Whether the pages may show `repo`.
async fn repo_visible<E: Engine>(repo: &str, jobs: &Jobs<E>) -> Result<bool, Response> {
    match jobs.config().http.pages {
        Pages::Off => Ok(false),
        Pages::All => Ok(true),
        Pages::Public => jobs.is_public(repo).await.map_err(internal),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::warn!("web page: {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// The job a public request may see: `Err` is the 404 (or 500) to answer. A job id that is not
/// a number, a job that does not exist and a private repository's job all look the same.
async fn visible_job<E: Engine>(id: &str, jobs: &Jobs<E>) -> Result<Job, Response> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found("job"));
    };
    pages_on(jobs)?;
    let job = match jobs.job(id).await {
        Ok(Some(j)) => j,
        Ok(None) => return Err(not_found("job")),
        Err(e) => return Err(internal(e)),
    };
    if repo_visible(&job.repo, jobs).await? {
        Ok(job)
    } else {
        Err(not_found("job"))
    }
}

/// A query string's pairs, for handlers that validate each parameter themselves.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A 400 naming the parameter and (a short, debug-quoted form of) what was given.
fn bad_param(name: &str, value: &str, expected: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!(
            "{name} {:?} is not {expected}",
            crate::forge::names::truncated_str(value, 40)
        ),
    )
}
