//! The web pages' queries: a page of jobs by keyset (`id` below or above a cursor, never an
//! OFFSET), the newest job of each branch (from `branch_heads`, one row per branch), and a
//! branch's newest finished job for its badge. Each runs on an index whatever the history's size.

use super::read::row_to_record;
use super::schema::JOB_COLUMNS;
use super::{Reader, StoreError, Visible};
use microci_proto::{Job, JobStatus};
use rusqlite::{Connection, ToSql};

/// Which jobs a page lists.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Only this state.
    pub status: Option<JobStatus>,
    /// Only this repository.
    pub repo: Option<String>,
    /// Jobs older than this id (the "older" link), newest first.
    pub before: Option<i64>,
    /// Jobs newer than this id (the "newer" link); ignored with `before`.
    pub after: Option<i64>,
    /// Jobs per page.
    pub limit: u32,
    /// Only repositories the public pages may show (`None`: all).
    pub visible: Option<Visible>,
}

/// One page of jobs, newest first, and whether there are more on either side.
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Older jobs exist (link `before = last id`).
    pub older: bool,
    /// Newer jobs exist (link `after = first id`).
    pub newer: bool,
}

/// A branch and its newest job.
#[derive(Debug, Clone)]
pub struct BranchRow {
    /// The newest job of the repository and ref.
    pub job: Job,
}

/// `AND (…)` restricting `repo` (of table alias `t`) to what the public pages may show. The
/// column is written `+t.repo` so SQLite never answers it through the repository index (which
/// would gather every public job and sort them): the page walks ids newest first and stops
/// after one page.
fn visible_clause(t: &str, v: &Visible, args: &mut Vec<Box<dyn ToSql>>) -> String {
    let mut sql = format!(" AND (+{t}.repo IN (SELECT name FROM repos WHERE public = 1)");
    for name in &v.also {
        args.push(Box::new(name.clone()));
        sql.push_str(&format!(" OR +{t}.repo = ?{}", args.len()));
    }
    sql.push(')');
    for name in &v.never {
        args.push(Box::new(name.clone()));
        sql.push_str(&format!(" AND +{t}.repo != ?{}", args.len()));
    }
    sql
}

fn query_jobs(c: &Connection, sql: &str, args: &[Box<dyn ToSql>]) -> rusqlite::Result<Vec<Job>> {
    let mut st = c.prepare_cached(sql)?;
    let params: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    st.query_map(params.as_slice(), |r| row_to_record(r).map(|r| r.job))?
        .collect()
}

/// The SQL of one page (newest first, or oldest first for an `after` cursor) and its arguments.
pub(super) fn page_sql(q: &PageQuery) -> (String, Vec<Box<dyn ToSql>>) {
    let limit = q.limit.clamp(1, 500) as usize;
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE 1");
    if let Some(s) = q.status {
        args.push(Box::new(s.as_str()));
        sql.push_str(&format!(" AND j.status = ?{}", args.len()));
    }
    if let Some(r) = &q.repo {
        args.push(Box::new(r.clone()));
        sql.push_str(&format!(" AND j.repo = ?{}", args.len()));
    }
    if let Some(v) = &q.visible {
        sql.push_str(&visible_clause("j", v, &mut args));
    }
    let backwards = q.before.is_none() && q.after.is_some();
    if let Some(b) = q.before {
        args.push(Box::new(b));
        sql.push_str(&format!(" AND j.id < ?{}", args.len()));
    } else if let Some(a) = q.after {
        args.push(Box::new(a));
        sql.push_str(&format!(" AND j.id > ?{}", args.len()));
    }
    let order = if backwards { "ASC" } else { "DESC" };
    sql.push_str(&format!(" ORDER BY j.id {order} LIMIT {}", limit + 1));
    (sql, args)
}

fn page(c: &Connection, q: &PageQuery) -> rusqlite::Result<JobPage> {
    let limit = q.limit.clamp(1, 500) as usize;
    let backwards = q.before.is_none() && q.after.is_some();
    let (sql, args) = page_sql(q);
    let mut jobs = query_jobs(c, &sql, &args)?;
    let more = jobs.len() > limit;
    jobs.truncate(limit);
    if backwards {
        jobs.reverse();
    }
    Ok(JobPage {
        older: if backwards { true } else { more },
        newer: if backwards { more } else { q.before.is_some() },
        jobs,
    })
}

/// The SQL of the branches' newest jobs and its arguments.
pub(super) fn branches_sql(
    repo: Option<String>,
    visible: Option<&Visible>,
    limit: u32,
) -> (String, Vec<Box<dyn ToSql>>) {
    let cols = JOB_COLUMNS
        .split(", ")
        .map(|col| format!("j.{col}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut sql =
        format!("SELECT {cols} FROM branch_heads h JOIN jobs j ON j.id = h.job_id WHERE 1");
    if let Some(r) = repo {
        args.push(Box::new(r));
        sql.push_str(&format!(" AND h.repo = ?{}", args.len()));
    }
    if let Some(v) = visible {
        sql.push_str(&visible_clause("h", v, &mut args));
    }
    sql.push_str(&format!(" ORDER BY h.job_id DESC LIMIT {}", limit.max(1)));
    (sql, args)
}

impl Reader {
    /// One page of jobs; see [`PageQuery`].
    pub async fn page(&self, q: PageQuery) -> Result<JobPage, StoreError> {
        self.with(move |c| page(c, &q)).await
    }

    /// The newest job of each branch (each repository and ref), most recent first, at most
    /// `limit`; of one repository with `repo`.
    pub async fn branches(
        &self,
        repo: Option<String>,
        visible: Option<Visible>,
        limit: u32,
    ) -> Result<Vec<BranchRow>, StoreError> {
        self.with(move |c| {
            let (sql, args) = branches_sql(repo, visible.as_ref(), limit);
            Ok(query_jobs(c, &sql, &args)?
                .into_iter()
                .map(|job| BranchRow { job })
                .collect())
        })
        .await
    }

    /// The newest finished job of `repo` on one of `refs` (the first ref that has one wins
    /// only by being newer: the newest over all of them).
    pub async fn latest_finished(
        &self,
        repo: String,
        refs: Vec<String>,
    ) -> Result<Option<Job>, StoreError> {
        self.with(move |c| {
            let mut best: Option<Job> = None;
            for r in refs {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE repo = ?1 AND git_ref = ?2 \
                     AND status NOT IN ('PENDING', 'STARTED') ORDER BY id DESC LIMIT 1"
                );
                let args: Vec<Box<dyn ToSql>> = vec![Box::new(repo.clone()), Box::new(r)];
                if let Some(j) = query_jobs(c, &sql, &args)?.into_iter().next()
                    && best.as_ref().is_none_or(|b| j.id > b.id)
                {
                    best = Some(j);
                }
            }
            Ok(best)
        })
        .await
    }

    /// The default branch the forge last named for `repo`, if any.
    pub async fn forge_default_branch(&self, repo: String) -> Result<Option<String>, StoreError> {
        self.with(move |c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached("SELECT default_branch FROM repos WHERE name = ?1")?
                .query_row([repo], |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
        })
        .await
    }
}
