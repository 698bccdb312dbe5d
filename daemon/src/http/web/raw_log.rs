//! `GET /jobs/{id}/log`: the raw log, streamed from its file whatever its size (see
//! [`crate::http::stream`]), as `text/plain`. A single `Range: bytes=…` is honoured (206 with
//! `Content-Range`; 416 when it starts past the end); `?offset=N` is `bytes=N-` for older
//! clients. `X-Log-Size` is the log's size when the request came (a running job's log grows on),
//! `X-Log-Next-Offset` where to ask next.

use super::{bad_param, internal, visible_job};
use crate::http::stream::FileBody;
use crate::jobs::Jobs;
use crate::runner::Engine;
use std::sync::Arc;
use tokio::io::AsyncSeekExt;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// A `Range` header's one range, in the three forms of RFC 9110.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// `bytes=A-B` (B inclusive) or `bytes=A-`.
    From(u64, Option<u64>),
    /// `bytes=-N`: the last N bytes.
    Last(u64),
}

/// The range asked for, or `None` for the whole file: a header that does not parse, or asks
/// for several ranges, is ignored as RFC 9110 allows.
fn parse_range(h: &str) -> Option<Range> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().map(Range::Last);
    }
    let a: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(Range::From(a, None));
    }
    let b: u64 = b.parse().ok()?;
    (b >= a).then_some(Range::From(a, Some(b)))
}

/// `[start, end)` of a log of `size` bytes, or `None` when the range cannot be satisfied.
fn resolve(r: Range, size: u64) -> Option<(u64, u64)> {
    match r {
        Range::From(a, _) if a >= size => None,
        Range::From(a, b) => Some((a, b.map_or(size, |b| b.saturating_add(1).min(size)))),
        Range::Last(n) if n == 0 || size == 0 => None,
        Range::Last(n) => Some((size.saturating_sub(n), size)),
    }
}

/// `GET /jobs/{id}/log`.
pub async fn serve<E: Engine>(
    id: String,
    query: String,
    range: Option<String>,
    jobs: Arc<Jobs<E>>,
) -> Response {
    let mut offset = None;
    for (k, v) in super::query_pairs(&query) {
        if k == "offset" {
            match v.parse::<u64>() {
                Ok(o) => offset = Some(o),
                Err(_) => return bad_param("offset", &v, "a byte offset (a whole number from 0)"),
            }
        }
    }
    let j = match visible_job(&id, &jobs).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let path = jobs.logs.dir().join(format!("{}.log", j.id));
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return internal(e),
    };
    let size = match &file {
        Some(f) => match f.metadata().await {
            Ok(m) => m.len(),
            Err(e) => return internal(e),
        },
        None => 0,
    };
    let asked = range.as_deref().and_then(parse_range);
    let (status, start, end) = match asked {
        Some(r) => match resolve(r, size) {
            Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e),
            None => {
                let mut resp = super::error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the range is outside the log's {size} bytes"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert("content-range", v);
                }
                return resp;
            }
        },
        None => (StatusCode::OK, offset.unwrap_or(0).min(size), size),
    };
    let mut resp = Response::new(Default::default());
    *resp.status_mut() = status;
    if let (Some(mut f), true) = (file, end > start) {
        if let Err(e) = f.seek(std::io::SeekFrom::Start(start)).await {
            return internal(e);
        }
        resp.extensions_mut().insert(FileBody::new(f, end - start));
    }
    let h = resp.headers_mut();
    let num = |n: u64| HeaderValue::from(n);
    h.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert("content-length", num(end - start));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("x-log-size", num(size));
    h.insert("x-log-next-offset", num(end));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        h.insert("content-range", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(parse_range("bytes=0-99"), Some(Range::From(0, Some(99))));
        assert_eq!(parse_range("bytes=100-"), Some(Range::From(100, None)));
        assert_eq!(parse_range("bytes=-10"), Some(Range::Last(10)));
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,4-5",
            "lines=1-2",
            "bytes=x-",
            "bytes=",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
        assert_eq!(resolve(Range::From(0, Some(99)), 50), Some((0, 50)));
        assert_eq!(resolve(Range::From(10, None), 50), Some((10, 50)));
        assert_eq!(resolve(Range::Last(10), 50), Some((40, 50)));
        assert_eq!(resolve(Range::Last(100), 50), Some((0, 50)));
        assert_eq!(resolve(Range::From(50, None), 50), None);
        assert_eq!(resolve(Range::Last(0), 50), None);
        assert_eq!(resolve(Range::Last(5), 0), None);
    }
}
