//! `GET /jobs/{id}/artifacts/{name}`: one file a job kept, as a download. Seen exactly when the
//! job is (`http.pages`, the repository's visibility), served only if the job's manifest names
//! it, as `application/octet-stream` with `Content-Disposition: attachment`, `nosniff` and a
//! sandboxing CSP: a job's file never renders as a page of this site.

use super::{internal, not_found, visible_job};
use crate::artifacts::ArtifactError;
use crate::http::stream::FileBody;
use crate::jobs::Jobs;
use crate::runner::Engine;
use std::sync::Arc;
use warp::http::HeaderValue;
use warp::reply::Response;

/// What stays as it is in a path segment or an RFC 8187 value: letters, digits and `-._~`.
const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `GET /jobs/{id}/artifacts/{name}` (`name` percent-encoded, `/` between its parts).
pub async fn serve<E: Engine>(id: String, name: String, jobs: Arc<Jobs<E>>) -> Response {
    let j = match visible_job(&id, &jobs).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let Ok(name) = percent_encoding::percent_decode_str(&name).decode_utf8() else {
        return not_found("artifact");
    };
    let name = name.into_owned();
    let store = jobs.artifacts.clone();
    let located = tokio::task::spawn_blocking(move || store.locate(j.id, &name)).await;
    let (path, artifact) = match located {
        Ok(Ok(found)) => found,
        Ok(Err(ArtifactError::NotFound(..))) => return not_found("artifact"),
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_found("artifact"),
        Err(e) => return internal(e),
    };
    let size = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return internal(e),
    };
    let mut resp = Response::new(Default::default());
    if size > 0 {
        resp.extensions_mut().insert(FileBody::new(file, size));
    }
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("content-length", HeaderValue::from(size));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(&artifact.name)) {
        h.insert("content-disposition", v);
    }
    if let Ok(v) = HeaderValue::from_str(&artifact.sha256) {
        h.insert("x-artifact-sha256", v);
    }
    resp
}

/// `attachment` with the name's last part: an ASCII fallback (anything else becomes `_`) and
/// the exact name percent-encoded (RFC 6266 / 8187).
fn disposition(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let ascii: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(base, KEEP);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

/// A link to artifact `name` of the job at `job_url`: each part of the name percent-encoded.
pub fn href(job_url: &str, name: &str) -> String {
    let parts: Vec<String> = name
        .split('/')
        .map(|p| percent_encoding::utf8_percent_encode(p, KEEP).to_string())
        .collect();
    format!("{job_url}/artifacts/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_for_headers_and_links() {
        assert_eq!(
            disposition("target/debian/a b\"é.deb"),
            "attachment; filename=\"a_b__.deb\"; filename*=UTF-8''a%20b%22%C3%A9.deb"
        );
        assert_eq!(
            href("/jobs/3", "target/a b.deb"),
            "/jobs/3/artifacts/target/a%20b.deb"
        );
    }
}
