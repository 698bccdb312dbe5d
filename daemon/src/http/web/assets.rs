//! The pages' only two assets, compiled into the binary: one style sheet and one small script
//! (no build step, no CDN, no web font). Their URLs carry the daemon's version, so a browser may
//! cache them for a day and still fetch new ones after an upgrade.

use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

/// Where the style sheet is served (under `http.base_path`).
pub const CSS_PATH: &str = concat!("/assets/app.css?v=", env!("CARGO_PKG_VERSION"));
/// Where the script is served (under `http.base_path`).
pub const JS_PATH: &str = concat!("/assets/app.js?v=", env!("CARGO_PKG_VERSION"));

/// The style sheet.
pub const CSS: &str = include_str!("assets/app.css");
/// The script: live logs and states through the job's event stream.
pub const JS: &str = include_str!("assets/app.js");

/// `GET /assets/{name}`.
pub fn serve(name: &str) -> Response {
    use warp::Reply;
    let (body, kind) = match name {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return super::not_found("asset"),
    };
    let mut r = warp::reply::with_status(body, StatusCode::OK).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(kind));
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}
