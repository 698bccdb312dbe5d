//! `GET /jobs/{id}`: a job's details, the files it kept (download links), then its log (the last part of a large one, with a link
//! to the whole raw log) in its build colours. While the job runs, the page's script appends
//! what the job prints from `/jobs/{id}/events` and updates the state, duration and end in
//! place; without JavaScript the page refreshes itself every few seconds instead.

use super::layout::{Base, Text, page, respond, short_ref, state, web_url, when};
use super::{ages, log_html, visible_job};
use crate::jobs::Jobs;
use crate::runner::Engine;
use maud::{Markup, PreEscaped, html};
use microci_proto::Job;
use std::sync::Arc;
use time::OffsetDateTime;
use warp::http::StatusCode;
use warp::reply::Response;

/// How much of the log's end the page shows (the rest is one link away): a screenful of lines
/// many times over, and the page with its assets stays near 50 KB.
pub const PAGE_TAIL: u64 = 32 * 1024;

/// `GET /jobs/{id}`.
pub async fn show<E: Engine>(id: String, jobs: Arc<Jobs<E>>) -> Response {
    let j = match visible_job(&id, &jobs).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let base = Base(jobs.config().http.base_path.clone());
    let start = j.log_size.saturating_sub(PAGE_TAIL);
    let (mut text, next) = match jobs.logs.chunk(j.id, start, PAGE_TAIL as u32).await {
        Ok(c) => (c.data, c.next_offset),
        Err(e) => (format!("[microci] {e}\n"), start),
    };
    if start > 0 {
        // Start the tail at a whole line.
        if let Some(nl) = text.find('\n') {
            text.drain(..=nl);
        }
    }
    let kept = jobs.artifacts.list(j.id).await;
    let now = OffsetDateTime::now_utc();
    let running = !j.status.is_final();
    let body = html! {
        div #job data-events=(format!("{}/events?offset={next}", base.job(j.id)))
            data-final=(if running { "0" } else { "1" })
            data-started=(j.started_at.clone().unwrap_or_default()) {
            h1 { span #state { (state(j.status)) } " " (Text(&j.repo)) " #" (j.id) }
            (details(&base, &j, now))
            @if !kept.is_empty() {
                (artifacts(&base, j.id, &kept))
            }
            @if start > 0 {
                p.note { "The last " (PAGE_TAIL / 1024) " KiB of " (j.log_size / 1024) " KiB. "
                    a href=(format!("{}/log", base.job(j.id))) { "The whole log" } }
            } @else {
                p.note { a href=(format!("{}/log", base.job(j.id))) { "Raw log" } }
            }
            pre #log .log { (PreEscaped(log_html::render(&text))) }
        }
    };
    let title = format!("#{} {} · microci", j.id, j.repo);
    respond(StatusCode::OK, page(&base, &title, running, body))
}

fn details(base: &Base, j: &Job, now: OffsetDateTime) -> Markup {
    let dash = || html! { "—" };
    let duration = ages::duration(j.started_at.as_deref(), j.finished_at.as_deref(), now);
    html! {
        dl.meta {
            dt { "repository" } dd { a href=(base.repo(&j.repo)) { (Text(&j.repo)) } }
            dt { "ref" } dd.mono {
                (Text(&short_ref(&j.git_ref)))
                @if let Some(u) = web_url(&j.pull_url) {
                    " · " a href=(u) rel="noopener noreferrer" { "pull request" }
                }
            }
            dt { "commit" } dd.mono {
                @if let Some(u) = web_url(&j.commit_url) {
                    a href=(u) rel="noopener noreferrer" { (Text(&j.commit)) }
                } @else { (Text(&j.commit)) }
            }
            dt { "author" } dd { (Text(&j.author)) }
            dt { "message" } dd.message {
                @for (i, line) in j.message.lines().enumerate() {
                    @if i > 0 { "\n" }
                    (Text(line))
                }
            }
            dt { "created" } dd { (when(&j.created_at, now)) }
            dt { "started" } dd { @match &j.started_at { Some(t) => (when(t, now)), None => (dash()) } }
            dt { "finished" } dd #finished title=(j.finished_at.as_deref().map(ages::exact).unwrap_or_default()) {
                @match &j.finished_at { Some(t) => (ages::age(t, now)), None => "—" }
            }
            dt { "duration" } dd #duration { (duration.unwrap_or_else(|| "—".into())) }
            dt { "exit code" } dd #exit { @match j.exit_code { Some(c) => (c), None => "—" } }
            dt { "reason" } dd #reason { @match &j.reason { Some(r) => (Text(r)), None => "—" } }
            @if let Some(w) = &j.waiting {
                dt { "queue" } dd { (Text(w)) }
            }
            @if j.untrusted {
                dt { "trust" } dd { "untrusted: a fork's pull request" }
            }
            @if j.log_dropped > 0 {
                dt { "log" } dd { (j.log_dropped) " bytes of output over the limit were not kept" }
            }
        }
    }
}

/// The files the job kept, each a download link with its size and SHA-256.
fn artifacts(base: &Base, id: i64, kept: &[microci_proto::Artifact]) -> Markup {
    html! {
        h2 { "Artifacts" }
        ul #artifacts .artifacts {
            @for a in kept {
                li {
                    a href=(super::artifact::href(&base.job(id), &a.name)) download { (Text(&a.name)) }
                    " " span.note { (a.size) " bytes · sha256 " code { (a.sha256) } }
                }
            }
        }
    }
}

/// The state event's JSON: what the page's script updates in place.
pub fn state_json(j: &Job) -> serde_json::Value {
    let now = OffsetDateTime::now_utc();
    serde_json::json!({
        "status": j.status.as_str(),
        "state": state(j.status).into_string(),
        "final": j.status.is_final(),
        "started": j.started_at,
        "finished": j.finished_at.as_deref().map(|t| ages::age(t, now)),
        "finished_title": j.finished_at.as_deref().map(ages::exact),
        "duration": ages::duration(j.started_at.as_deref(), j.finished_at.as_deref(), now),
        "exit_code": j.exit_code.map(|c| c.to_string()),
        "reason": j.reason.as_deref().map(microci_proto::sanitize::one_line),
    })
}
