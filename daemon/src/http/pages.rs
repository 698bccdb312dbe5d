//! The read-only status pages: recent jobs, one job with its log, and the raw log. Everything
//! from a job (names, messages, output) is untrusted and HTML-escaped. They are public: by
//! default (`http.pages = "public"`) they show only jobs of public repositories, and a private
//! repository's job answers 404 as if it did not exist.

// Handlers return a finished response as their error value: it is built once, on the way out.
#![allow(clippy::result_large_err)]

use super::{error, text};
use crate::config::Pages;
use crate::jobs::Jobs;
use crate::runner::Engine;
use microci_proto::{Job, JobQuery};
use std::fmt::Write;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;

/// Largest slice of log one `GET /jobs/{id}/log` returns; ask again from `X-Log-Next-Offset`.
const LOG_PAGE: u64 = 4 * 1024 * 1024;
/// How much of the log's end the job page shows.
const PAGE_TAIL: u64 = 256 * 1024;

/// Escapes text for HTML element content and attribute values. Bidirectional controls are
/// written out as `<U+202E>`: they would otherwise reorder what the reader sees.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if crate::forge::names::is_bidi_control(c) => {
                out.push_str(&format!("&lt;U+{:04X}&gt;", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The job a public request may see: `Err` is the 404 (or 500) to answer. A job id that is not
/// a number, a job that does not exist and a private repository's job all look the same.
async fn visible_job<E: Engine>(id: &str, jobs: &Jobs<E>) -> Result<Job, Response> {
    let not_found = || error(StatusCode::NOT_FOUND, "no such job");
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found());
    };
    let job = match jobs.job(id).await {
        Ok(Some(j)) => j,
        Ok(None) => return Err(not_found()),
        Err(e) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    };
    match jobs.config().http.pages {
        Pages::Off => Err(not_found()),
        Pages::All => Ok(job),
        Pages::Public => match jobs.is_public(&job.repo).await {
            Ok(true) => Ok(job),
            Ok(false) => Err(not_found()),
            Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        },
    }
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    use warp::Reply;
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>body{{font-family:sans-serif;margin:1em}}td,th{{padding:.2em .6em;text-align:left}}\
         pre{{background:#111;color:#ddd;padding:1em;overflow:auto}}</style></head><body>{body}</body></html>",
        escape(title)
    );
    warp::reply::with_status(warp::reply::html(page), status).into_response()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// `GET /`: the newest jobs the pages may show.
pub(super) async fn index<E: Engine>(jobs: Arc<Jobs<E>>) -> Response {
    let q = JobQuery {
        limit: 100,
        ..JobQuery::default()
    };
    let listed = match jobs.config().http.pages {
        Pages::Off => return error(StatusCode::NOT_FOUND, "not found"),
        Pages::All => jobs.list(q).await,
        Pages::Public => jobs.list_public(q).await,
    };
    let jobs = match listed {
        Ok(j) => j,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut body = String::from(
        "<h1>microci</h1><table><tr><th>job</th><th>status</th><th>repository</th><th>ref</th>\
         <th>commit</th><th>message</th><th>author</th><th>created</th></tr>",
    );
    for j in &jobs {
        let _ = write!(
            body,
            "<tr><td><a href=\"/jobs/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            j.status,
            escape(&j.repo),
            escape(&j.git_ref),
            escape(j.commit.get(..10).unwrap_or(&j.commit)),
            escape(first_line(&j.message)),
            escape(&j.author),
            escape(&j.created_at),
            id = j.id,
        );
    }
    body.push_str("</table>");
    html(StatusCode::OK, "microci", &body)
}

fn job_summary(j: &Job) -> String {
    let row = |k: &str, v: &str| format!("<tr><th>{k}</th><td>{}</td></tr>", escape(v));
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    // The forge's pages, when the webhook said where the repository lives (http(s) only, checked
    // when it arrived; escaped like everything else).
    let linked = |k: &str, text: &str, url: &Option<String>| match url {
        Some(u)
            if ["https://", "http://"]
                .iter()
                .any(|p| u.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p))) =>
        {
            format!(
                "<tr><th>{k}</th><td><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></td></tr>",
                escape(u),
                escape(text)
            )
        }
        _ => row(k, text),
    };
    let pull = j.pull_url.as_ref().map(|_| {
        linked(
            "pull request",
            j.pull_url.as_deref().unwrap_or_default(),
            &j.pull_url,
        )
    });
    [
        row("status", j.status.as_str()),
        row("reason", &opt(&j.reason)),
        row(
            "exit code",
            &j.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        row("repository", &j.repo),
        row("ref", &j.git_ref),
        pull.unwrap_or_default(),
        linked("commit", &j.commit, &j.commit_url),
        row("author", &j.author),
        row("message", &j.message),
        row("created", &j.created_at),
        row("started", &opt(&j.started_at)),
        row("finished", &opt(&j.finished_at)),
    ]
    .concat()
}

/// `GET /jobs/{id}`: one job and the end of its log.
pub(super) async fn job<E: Engine>(id: String, jobs: Arc<Jobs<E>>) -> Response {
    let j = match visible_job(&id, &jobs).await {
        Ok(j) => j,
        Err(resp) => return resp,
    };
    let j = &j;
    let id = j.id;
    let start = j.log_size.saturating_sub(PAGE_TAIL);
    let log = match jobs.logs.chunk(id, start, PAGE_TAIL as u32).await {
        Ok(c) => c.data,
        Err(e) => format!("[microci] {e}"),
    };
    let cut = if start > 0 {
        format!(
            "<p>(showing the last {PAGE_TAIL} bytes; <a href=\"/jobs/{id}/log\">full log</a>)</p>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p><a href=\"/\">all jobs</a></p><h1>job {id}</h1><table>{}</table>{cut}<pre>{}</pre>",
        job_summary(j),
        escape(&log)
    );
    html(StatusCode::OK, &format!("microci job {id}"), &body)
}

/// `?offset=N` (a byte offset, default 0); anything else in the query is ignored.
fn offset_of(query: &str) -> Result<u64, Response> {
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "offset") {
        None => Ok(0),
        Some((_, v)) => v.parse::<u64>().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "offset {:?} is not a byte offset (a whole number from 0)",
                    crate::forge::names::truncated_str(&v, 40)
                ),
            )
        }),
    }
}

/// `GET /jobs/{id}/log[?offset=N]`: raw log text, at most 4 MiB per request; the
/// `X-Log-Next-Offset` and `X-Log-Size` headers say where to continue.
pub(super) async fn log<E: Engine>(id: String, query: String, jobs: Arc<Jobs<E>>) -> Response {
    let offset = match offset_of(&query) {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let id = match visible_job(&id, &jobs).await {
        Ok(j) => j.id,
        Err(resp) => return resp,
    };
    match jobs.logs.raw(id, offset, LOG_PAGE).await {
        Ok((bytes, size)) => {
            use warp::Reply;
            let next = offset.min(size) + bytes.len() as u64;
            let mut resp =
                warp::reply::with_header(bytes, "content-type", "text/plain; charset=utf-8")
                    .into_response();
            let h = resp.headers_mut();
            h.insert("x-log-next-offset", next.into());
            h.insert("x-log-size", size.into());
            resp
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use microci_proto::JobStatus;
    use microci_testkit::fixtures::job;

    #[test]
    fn forge_links_are_http_only_and_escaped() {
        let mut j = job(1, JobStatus::Succeed);
        j.commit_url = Some("Https://forge.example/o/r/commit/1?a=1&b=\"2\"".into());
        j.pull_url = Some("javascript:alert(1)".into());
        let html = job_summary(&j);
        assert!(
            html.contains(
                "<a href=\"Https://forge.example/o/r/commit/1?a=1&amp;b=&quot;2&quot;\" \
                 rel=\"noopener noreferrer\">"
            ),
            "{html}"
        );
        // Not a web address: shown as text, never as a link.
        assert!(html.contains("<td>javascript:alert(1)</td>"), "{html}");
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
    }
}
