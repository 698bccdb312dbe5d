//! The pages' shell (head, style sheet, script, header) and the pieces every page shares: untrusted
//! text, a job's state as colour plus shape plus word, and links under `http.base_path`.

use super::assets;
use maud::{DOCTYPE, Escaper, Markup, PreEscaped, Render, html};
use microci_proto::JobStatus;
use microci_proto::sanitize::one_line;
use std::fmt::Write as _;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// The content security policy of every page: only our own style sheet and script run, so even
/// markup that slipped through could not execute anything or load from elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Untrusted text inside our markup (a name, a ref, a line of a message): escape sequences
/// removed, control characters replaced, bidirectional controls spelled out as `<U+202E>` (so
/// they cannot reorder what the reader sees), then HTML-escaped by maud.
pub struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        let _ = Escaper::new(buffer).write_str(&one_line(self.0));
    }
}

/// Links under the configured `http.base_path`.
#[derive(Clone, Debug)]
pub struct Base(pub String);

impl Base {
    /// `path` (which starts with `/`) under the base path.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// A repository's page.
    pub fn repo(&self, repo: &str) -> String {
        self.at(&format!("/repos/{}", segments(repo)))
    }

    /// A job's page.
    pub fn job(&self, id: i64) -> String {
        self.at(&format!("/jobs/{id}"))
    }
}

/// A repository name as URL path segments: each `/`-separated part percent-encoded.
pub fn segments(name: &str) -> String {
    name.split('/')
        .map(|seg| {
            let mut out = String::new();
            for b in seg.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b as char);
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A query string value, percent-encoded.
pub fn query_value(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A state's class suffix, shape and word: the shape and word carry the meaning for readers
/// who cannot tell the colours apart.
pub fn state_parts(s: JobStatus) -> (&'static str, &'static str, &'static str) {
    match s {
        JobStatus::Pending => ("pending", "○", "pending"),
        JobStatus::Started => ("started", "▶", "running"),
        JobStatus::Succeed => ("succeed", "✓", "passed"),
        JobStatus::Failed => ("failed", "✗", "failed"),
        JobStatus::Errored => ("errored", "!", "errored"),
        JobStatus::Canceled => ("canceled", "⊘", "canceled"),
    }
}

/// A job's state as a coloured label with its shape and word.
pub fn state(s: JobStatus) -> Markup {
    let (class, icon, word) = state_parts(s);
    html! {
        span class={ "st st-" (class) } {
            span.ic { (icon) } " " span.lb { (word) }
        }
    }
}

/// A time shown as its age, with the exact time on hover.
pub fn when(ts: &str, now: time::OffsetDateTime) -> Markup {
    html! {
        time title=(super::ages::exact(ts)) { (super::ages::age(ts, now)) }
    }
}

/// The short ref people use: `main` for `refs/heads/main`, `v1` for a tag, `pr/12` for a pull
/// (or merge) request's head.
pub fn short_ref(r: &str) -> String {
    let pull = r
        .strip_prefix("refs/pull/")
        .or_else(|| r.strip_prefix("refs/merge-requests/"))
        .and_then(|rest| rest.strip_suffix("/head"));
    if let Some(n) = pull {
        return format!("pr/{n}");
    }
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
        .to_string()
}

/// The first line of a commit message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Whether a forge URL may become a link: http(s) only (checked when it arrived, and again here).
pub fn web_url(u: &Option<String>) -> Option<&str> {
    u.as_deref().filter(|u| {
        ["https://", "http://"]
            .iter()
            .any(|p| u.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))
    })
}

/// A whole page: `title`, the shared header, `body`. `refresh` makes a browser without
/// JavaScript reload it every few seconds (a running job), since it cannot follow the events.
pub fn page(base: &Base, title: &str, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (Text(title)) }
                link rel="stylesheet" href=(base.at(assets::CSS_PATH));
                @if refresh {
                    noscript { meta http-equiv="refresh" content="5"; }
                }
                script src=(base.at(assets::JS_PATH)) defer {}
            }
            body {
                header.top {
                    a.brand href=(base.at("/")) { "microci" }
                }
                main { (body) }
            }
        }
    }
}

/// An HTML response with the pages' security headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    use warp::Reply;
    let PreEscaped(body) = markup;
    let mut r = warp::reply::with_status(warp::reply::html(body), status).into_response();
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_escaped_and_bidi_spelled_out() {
        let m = html! { p { (Text("<script>x</script>\u{202E}\x1b[31mred\n")) } };
        assert_eq!(
            m.into_string(),
            "<p>&lt;script&gt;x&lt;/script&gt;&lt;U+202E&gt;red\u{FFFD}</p>"
        );
    }

    #[test]
    fn repo_names_become_encoded_segments() {
        assert_eq!(segments("alice/app"), "alice/app");
        assert_eq!(segments("a b/\"x\"<"), "a%20b/%22x%22%3C");
    }
}
