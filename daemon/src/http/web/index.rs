//! `GET /` and `GET /repos/{owner}/{repo}`: the newest job of each branch, then jobs newest
//! first, filtered by state (and, on a repository's page, by repository) through plain links,
//! paged by keyset links (`?before=ID` / `?after=ID`, never an offset).

use super::layout::{
    Base, Text, first_line, page, query_value, respond, short_ref, state, web_url, when,
};
use super::{bad_param, internal, not_found, pages_on, query_pairs, repo_visible};
use crate::jobs::Jobs;
use crate::runner::Engine;
use crate::store::{BranchRow, JobPage, PageQuery};
use maud::{Markup, html};
use microci_proto::{Job, JobStatus};
use std::sync::Arc;
use time::OffsetDateTime;
use warp::http::StatusCode;
use warp::reply::Response;

/// Jobs per page: with the branches, the style sheet and the script, a page stays under 50 KB.
const PER_PAGE: u32 = 30;
/// Branches listed at most on the front page (those with the newest jobs); a repository's page
/// lists up to [`REPO_BRANCHES`] of its own.
const BRANCHES: u32 = 20;
/// Branches listed at most on a repository's page.
const REPO_BRANCHES: u32 = 40;

/// The validated query of a list page.
#[derive(Debug, Default, PartialEq)]
struct ListQuery {
    status: Option<JobStatus>,
    before: Option<i64>,
    after: Option<i64>,
}

fn parse_query(query: &str) -> Result<ListQuery, Response> {
    let mut q = ListQuery::default();
    let cursor = |k: &str, v: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad_param(k, v, "a job id (a whole number from 1)"))
    };
    for (k, v) in query_pairs(query) {
        match k.as_str() {
            "state" if !v.is_empty() => {
                q.status = Some(v.parse().map_err(|_| {
                    bad_param(
                        "state",
                        &v,
                        "a job state (pending, started, succeed, failed, errored, canceled)",
                    )
                })?);
            }
            "before" => q.before = Some(cursor("before", &v)?),
            "after" => q.after = Some(cursor("after", &v)?),
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /`.
pub async fn front<E: Engine>(query: String, jobs: Arc<Jobs<E>>) -> Response {
    list(None, query, jobs).await
}

/// `GET /repos/{owner}/{repo}` (`{repo}` may have more segments: GitLab subgroups).
pub async fn repo<E: Engine>(name: String, query: String, jobs: Arc<Jobs<E>>) -> Response {
    let name = name.trim_end_matches('/');
    if !crate::forge::names::is_valid_repo_name(name, true) {
        return not_found("repository");
    }
    list(Some(name.to_string()), query, jobs).await
}

async fn list<E: Engine>(repo: Option<String>, query: String, jobs: Arc<Jobs<E>>) -> Response {
    if let Err(r) = pages_on(&jobs) {
        return r;
    }
    let q = match parse_query(&query) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if let Some(name) = &repo {
        match repo_visible(name, &jobs).await {
            Ok(true) => {}
            Ok(false) => return not_found("repository"),
            Err(r) => return r,
        }
    }
    let limit = if repo.is_some() {
        REPO_BRANCHES
    } else {
        BRANCHES
    };
    let branches = match jobs.branches(repo.clone(), limit).await {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    if let Some(name) = &repo
        && branches.is_empty()
        && !jobs.config().repos.contains_key(name)
    {
        return not_found("repository");
    }
    let listed = jobs
        .page(PageQuery {
            status: q.status,
            repo: repo.clone(),
            before: q.before,
            after: q.after,
            limit: PER_PAGE,
            visible: jobs.page_filter(),
        })
        .await;
    let listed = match listed {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let base = Base(jobs.config().http.base_path.clone());
    let here = match &repo {
        Some(r) => base.repo(r),
        None => base.at("/"),
    };
    let now = OffsetDateTime::now_utc();
    let title = repo.clone().unwrap_or_else(|| "microci".into());
    let body = html! {
        h1 { @if let Some(r) = &repo { (Text(r)) } @else { "Builds" } }
        h2 { "Branches" }
        (branch_table(&base, &branches, now))
        h2 { "Jobs" }
        (filters(&base, &here, q.status, repo.is_none().then_some(&branches[..])))
        (job_table(&base, &listed.jobs, now))
        (pager(&here, q.status, &listed))
    };
    respond(StatusCode::OK, page(&base, &title, false, body))
}

fn branch_table(base: &Base, rows: &[BranchRow], now: OffsetDateTime) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "No builds yet." }
        } @else {
            table.jobs.branches {
                thead { tr { th { "state" } th { "repository" } th { "branch" } th { "commit" }
                    th.hide-s { "message" } th { "when" } } }
                tbody {
                    @for r in rows {
                        @let j = &r.job;
                        tr {
                            td { a href=(base.job(j.id)) { (state(j.status)) } }
                            td { a href=(base.repo(&j.repo)) { (Text(&j.repo)) } }
                            td { (git_ref(j)) }
                            td { (commit(j)) }
                            td.msg.hide-s { (Text(first_line(&j.message))) }
                            td.num { (when(&j.created_at, now)) }
                        }
                    }
                }
            }
        }
    }
}

/// The ref as shown: the pull request linked to the forge when there is one.
fn git_ref(j: &Job) -> Markup {
    let short = short_ref(&j.git_ref);
    html! {
        @if let Some(u) = web_url(&j.pull_url) {
            a href=(u) { (Text(&short)) }
        } @else {
            span.mono { (Text(&short)) }
        }
    }
}

/// The short commit, linked to the forge when the webhook said where.
fn commit(j: &Job) -> Markup {
    let short = j.commit.get(..8).unwrap_or(&j.commit);
    html! {
        @if let Some(u) = web_url(&j.commit_url) {
            a.mono href=(u) { (Text(short)) }
        } @else {
            span.mono title=(j.commit) { (Text(short)) }
        }
    }
}

fn filters(
    base: &Base,
    here: &str,
    status: Option<JobStatus>,
    repos: Option<&[BranchRow]>,
) -> Markup {
    let states = [
        (None, "all"),
        (Some(JobStatus::Started), "running"),
        (Some(JobStatus::Pending), "pending"),
        (Some(JobStatus::Succeed), "passed"),
        (Some(JobStatus::Failed), "failed"),
        (Some(JobStatus::Errored), "errored"),
        (Some(JobStatus::Canceled), "canceled"),
    ];
    let mut names: Vec<&str> = repos
        .unwrap_or_default()
        .iter()
        .map(|r| r.job.repo.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    html! {
        nav.filters aria-label="filter by state" {
            span { "state:" }
            @for (s, word) in states {
                @let href = match s {
                    Some(s) => format!("{here}?state={}", s.as_str().to_ascii_lowercase()),
                    None => here.to_string(),
                };
                a.on[s == status] href=(href) { (word) }
            }
        }
        @if !names.is_empty() {
            nav.filters aria-label="filter by repository" {
                span { "repository:" }
                @for n in names { a href=(base.repo(n)) { (Text(n)) } }
            }
        }
    }
}

fn job_table(base: &Base, jobs: &[Job], now: OffsetDateTime) -> Markup {
    html! {
        @if jobs.is_empty() {
            p.empty { "No jobs here." }
        } @else {
            table.jobs.list {
                thead { tr {
                    th { "#" } th { "state" } th { "repository" } th { "branch" } th { "commit" }
                    th { "message" } th { "author" } th { "when" } th { "took" }
                } }
                tbody {
                    @for j in jobs {
                        tr {
                            td.num { a href=(base.job(j.id)) { "#" (j.id) } }
                            td { a href=(base.job(j.id)) { (state(j.status)) } }
                            td { a href=(base.repo(&j.repo)) { (Text(&j.repo)) } }
                            td { (git_ref(j)) }
                            td { (commit(j)) }
                            td.msg { (Text(first_line(&j.message))) }
                            td.hide-s { (Text(&j.author)) }
                            td.num { (when(&j.created_at, now)) }
                            td.num { (super::ages::duration(j.started_at.as_deref(), j.finished_at.as_deref(), now).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn pager(here: &str, status: Option<JobStatus>, p: &JobPage) -> Markup {
    let state = status
        .map(|s| format!("state={}&", query_value(&s.as_str().to_ascii_lowercase())))
        .unwrap_or_default();
    let first = p.jobs.first().map(|j| j.id);
    let last = p.jobs.last().map(|j| j.id);
    html! {
        nav.pager aria-label="pages" {
            @if let (true, Some(id)) = (p.newer, first) {
                a rel="prev" href={ (here) "?" (state) "after=" (id) } { "← newer" }
            }
            @if let (true, Some(id)) = (p.older, last) {
                a rel="next" href={ (here) "?" (state) "before=" (id) } { "older →" }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked() {
        assert_eq!(
            parse_query("state=FAILED&before=10").unwrap(),
            ListQuery {
                status: Some(JobStatus::Failed),
                before: Some(10),
                after: None
            }
        );
        assert_eq!(parse_query("").unwrap(), ListQuery::default());
        for bad in ["state=done", "before=x", "after=-1", "before=0"] {
            assert_eq!(parse_query(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
