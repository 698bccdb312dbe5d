//! From a verified delivery's pushes to jobs: each push (one per updated ref) is checked against
//! `[skip ci]` and its repository's `branches`, `tags` and `paths`, and the rest are queued, each
//! under a delivery id of its own so that a redelivery finds every one of them again.

use super::{error, json};
use crate::config::{Config, PullRequests, skips_ci};
use crate::forge::{Forge, Push};
use crate::jobs::Jobs;
use crate::runner::Engine;
use warp::http::StatusCode;
use warp::reply::Response;

/// The ignore reason of a push whose head commit asks for no build.
const SKIP_CI: &str = "skip ci";

/// Queues what `pushes` ask for and answers the forge: for a delivery of one push, `202
/// {"job_id", "status"}`, `200 {"job_id", "status", "duplicate": true}` or `200 {"ignored"}`; for
/// one of several, `"jobs"` (one entry per queued ref) and `"ignored"` (one per skipped ref).
pub(super) async fn submit<E: Engine>(
    jobs: &Jobs<E>,
    config: &Config,
    forge: Forge,
    delivery_id: Option<String>,
    pushes: Vec<Push>,
) -> Response {
    let many = pushes.len() > 1;
    let mut ignored = Vec::new();
    let mut queued = Vec::new();
    let mut new = false;
    for push in pushes {
        if let Some(reason) = refusal(config, &push) {
            ignored.push(serde_json::json!({ "ref": push.git_ref, "reason": reason }));
            continue;
        }
        let git_ref = push.git_ref.clone();
        // Each ref of a batched delivery is its own delivery for redelivery detection.
        let id = match (&delivery_id, many) {
            (Some(d), true) => Some(format!("{d}:{git_ref}")),
            (d, _) => d.clone(),
        };
        match jobs.submit_push(forge.name(), id, push).await {
            Ok(ins) => {
                if !ins.duplicate {
                    new = true;
                    tracing::info!(job_id = ins.job.id, repo = %ins.job.repo, commit = %ins.job.commit, "queued");
                    supersede(jobs, config, &ins.job).await;
                }
                queued.push(serde_json::json!({
                    "job_id": ins.job.id,
                    "ref": git_ref,
                    "status": ins.job.status,
                    "duplicate": ins.duplicate,
                }));
            }
            Err(e) => {
                tracing::error!("cannot record a job: {e}");
                // Nothing of this ref was stored (a full disk, most likely); what was stored
                // before it is found again when the forge delivers it again.
                let mut response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot record the job; try again later",
                );
                response
                    .headers_mut()
                    .insert("retry-after", warp::http::HeaderValue::from_static("60"));
                return response;
            }
        }
    }
    let status = if new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    if many {
        let mut body = serde_json::json!({ "jobs": queued, "ignored": ignored });
        if let Some(first) = queued.first() {
            body["job_id"] = first["job_id"].clone();
        }
        return json(status, &body);
    }
    match (queued.pop(), ignored.pop()) {
        (Some(mut job), _) => {
            let duplicate = job["duplicate"] == true;
            if let Some(o) = job.as_object_mut() {
                o.remove("ref");
                if !duplicate {
                    o.remove("duplicate");
                }
            }
            json(status, &job)
        }
        (None, Some(i)) => json(
            StatusCode::OK,
            &serde_json::json!({ "ignored": i["reason"] }),
        ),
        (None, None) => json(
            StatusCode::OK,
            &serde_json::json!({ "ignored": "nothing to build" }),
        ),
    }
}

/// A new push to a ref cancels that ref's older jobs still queued, and those running that are
/// `"interruptible"`, where `[[repo]] cancel_superseded` says so.
async fn supersede<E: Engine>(jobs: &Jobs<E>, config: &Config, job: &microci_proto::Job) {
    if !config.cancel_superseded(&job.repo, &job.git_ref) {
        return;
    }
    match jobs
        .reader
        .superseded(job.repo.clone(), job.git_ref.clone(), job.id)
        .await
    {
        Ok(older) if !older.is_empty() => {
            jobs.supersede(&older, job.id).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(job_id = job.id, "cannot look for superseded jobs: {e}"),
    }
}

/// A pull request was closed: what is still queued for it is canceled; `200 {"canceled": [ids]}`
/// (what already runs finishes).
pub(super) async fn close<E: Engine>(jobs: &Jobs<E>, repo: &str, git_ref: &str) -> Response {
    let pending = match jobs.reader.pending_at(repo.into(), git_ref.into()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("cannot read a closed pull request's jobs: {e}");
            return error(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    let mut canceled = Vec::new();
    for id in pending {
        match jobs
            .cancel_because(id, "canceled: the pull request was closed")
            .await
        {
            Ok(_) => canceled.push(id),
            Err(e) => tracing::debug!(job_id = id, "not canceled: {e}"),
        }
    }
    json(StatusCode::OK, &serde_json::json!({ "canceled": canceled }))
}

/// Why `push` builds nothing: its head commit says so, or its repository's filter does.
fn refusal(config: &Config, push: &Push) -> Option<String> {
    if skips_ci(&push.message) {
        return Some(SKIP_CI.into());
    }
    if let Some(pull) = push.pull {
        match config.pull_requests(&push.repo) {
            PullRequests::None => {
                return Some("pull requests do not build (pull_requests = \"none\")".into());
            }
            PullRequests::SameRepo if pull.fork => {
                return Some(format!(
                    "pull request {} comes from a fork (pull_requests = \"all\" builds those)",
                    pull.number
                ));
            }
            _ => {}
        }
    }
    config.repos.get(&push.repo).and_then(|r| {
        r.filter
            .refuses(&push.git_ref, push.changed_files.as_deref())
    })
}
