//! `GET /badge/{owner}/{repo}.svg[?branch=B]` (`{repo}` may hold GitLab subgroups): a shields-style badge of the newest finished job
//! of a branch (without `branch`: the default branch, see [`Jobs::badge_job`]), for a README.
//! `unknown` when there is none. Served only for repositories the pages may show (404 for the
//! rest, like every page). `Cache-Control: no-cache` with an ETag: image proxies (GitHub's
//! camo) ask again every time and get 304 while nothing changed.

use super::{internal, not_found, pages_on, repo_visible};
use crate::jobs::Jobs;
use crate::runner::Engine;
use maud::{Markup, html};
use microci_proto::JobStatus;
use microci_proto::sanitize::one_line;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// What a badge says and its colour, for a finished state (or none).
pub fn face(s: Option<JobStatus>) -> (&'static str, &'static str) {
    match s {
        Some(JobStatus::Succeed) => ("passing", "#1a7f37"),
        Some(JobStatus::Failed) => ("failing", "#cf222e"),
        Some(JobStatus::Errored) => ("error", "#9a6700"),
        Some(JobStatus::Canceled) => ("canceled", "#6e7781"),
        Some(JobStatus::Started) => ("running", "#0969da"),
        Some(JobStatus::Pending) => ("pending", "#6e7781"),
        None => ("unknown", "#6e7781"),
    }
}

/// Width of `s` in Verdana 11 px, roughly (as shields.io measures), in pixels.
fn text_width(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | '!' | '|' | '\'' => 3,
            'f' | 't' | 'r' | 'I' | ' ' | '(' | ')' | '/' => 5,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum()
}

/// The badge's SVG for `repo` showing `label` and `status`.
pub fn svg(repo: &str, label: &str, status: Option<JobStatus>) -> Markup {
    let (message, colour) = face(status);
    let lw = text_width(label) + 12;
    let mw = text_width(message) + 12;
    let w = lw + mw;
    let title = format!("{}: {label} {message}", one_line(repo));
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height="20" role="img"
            aria-label=(title) {
            title { (title) }
            linearGradient id="s" x2="0" y2="100%" {
                stop offset="0" stop-color="#bbb" stop-opacity=".1" {}
                stop offset="1" stop-opacity=".1" {}
            }
            clipPath id="r" { rect width=(w) height="20" rx="3" fill="#fff" {} }
            g clip-path="url(#r)" {
                rect width=(lw) height="20" fill="#555" {}
                rect x=(lw) width=(mw) height="20" fill=(colour) {}
                rect width=(w) height="20" fill="url(#s)" {}
            }
            g fill="#fff" text-anchor="middle"
                font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11" {
                text x=(lw / 2) y="14" { (label) }
                text x=(lw + mw / 2) y="14" { (message) }
            }
        }
    }
}

/// `GET /badge/{path}` where `path` is `{owner}/{repo}.svg` (more segments for GitLab subgroups).
pub async fn serve<E: Engine>(
    path: String,
    query: String,
    if_none_match: Option<String>,
    jobs: Arc<Jobs<E>>,
) -> Response {
    use warp::Reply;
    if let Err(r) = pages_on(&jobs) {
        return r;
    }
    let Some(repo) = path
        .strip_suffix(".svg")
        .filter(|r| crate::forge::names::is_valid_repo_name(r, true))
    else {
        return not_found("badge");
    };
    let repo = repo.to_string();
    match repo_visible(&repo, &jobs).await {
        Ok(true) => {}
        Ok(false) => return not_found("repository"),
        Err(r) => return r,
    }
    let branch = super::query_pairs(&query)
        .into_iter()
        .find(|(k, _)| k == "branch")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let status = match jobs.badge_job(&repo, branch).await {
        Ok(j) => j.map(|j| j.status),
        Err(e) => return internal(e),
    };
    let body = svg(&repo, "build", status).into_string();
    let tag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..20]
    );
    let fresh = if_none_match
        .as_deref()
        .is_some_and(|h| h.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        warp::reply::with_status(body, StatusCode::OK).into_response()
    };
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("image/svg+xml"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert("etag", v);
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hostile_repository_names_stay_text_in_the_svg() {
        for s in [None, Some(JobStatus::Succeed), Some(JobStatus::Failed)] {
            let name = "a<b>&\"'/x]]><script>alert(1)</script>\u{202E}";
            let text = svg(name, "build", s).into_string();
            let doc = roxmltree::Document::parse(&text).unwrap();
            let title = doc
                .descendants()
                .find(|n| n.has_tag_name("title"))
                .and_then(|n| n.text())
                .unwrap();
            assert!(title.starts_with("a<b>&\"'/x]]><script>alert(1)</script><U+202E>: build"));
            assert!(!doc.descendants().any(|n| n.has_tag_name("script")));
        }
    }
}
