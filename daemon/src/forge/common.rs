//! Payload pieces shared by the GitHub-shaped forges (Gogs, Gitea, Forgejo, GitHub): the `push` body and the
//! short-ref `create`/`delete` bodies, and the one function that turns a push into an [`Outcome`].

use serde::Deserialize;

use super::names::{self, RefKind};
use super::{HookError, Outcome, Push};

/// `repository` in Gogs/Gitea/GitHub bodies.
#[derive(Debug, Deserialize)]
pub(crate) struct Repository {
    pub full_name: Option<String>,
    pub html_url: Option<String>,
    pub clone_url: Option<String>,
    pub ssh_url: Option<String>,
    pub default_branch: Option<String>,
    pub private: Option<bool>,
}

/// `pusher` / `sender`: Gogs/Gitea users have `login`, `username`, `full_name`; GitHub's pusher has `name`.
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub login: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub full_name: Option<String>,
}

/// One entry of `commits[]`, or `head_commit`.
#[derive(Debug, Deserialize)]
pub(crate) struct Commit {
    pub id: Option<String>,
    pub message: Option<String>,
    #[serde(flatten)]
    pub files: Files,
}

/// The files one commit changed, as Gogs, Gitea, GitHub and GitLab list them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Files {
    added: Option<Vec<String>>,
    removed: Option<Vec<String>>,
    modified: Option<Vec<String>>,
}

/// Most changed paths kept for `[[repo]] paths`; past it the list counts as unknown.
const MAX_CHANGED: usize = 10_000;

/// Every file the pushed commits changed, once each; `None` (build whatever `paths` says) when
/// a commit does not list its files, the list is too long, or a path is absurd.
pub(crate) fn changed_files<'a>(
    commits: impl IntoIterator<Item = &'a Files>,
) -> Option<Vec<String>> {
    let mut all = std::collections::BTreeSet::new();
    let mut any = false;
    for f in commits {
        any = true;
        if f.added.is_none() && f.removed.is_none() && f.modified.is_none() {
            return None;
        }
        for path in [&f.added, &f.removed, &f.modified]
            .into_iter()
            .flatten()
            .flatten()
        {
            if path.is_empty() || path.len() > 4096 || all.len() >= MAX_CHANGED {
                return None;
            }
            all.insert(path.clone());
        }
    }
    any.then(|| all.into_iter().collect())
}

/// A `push` body.
#[derive(Debug, Deserialize)]
pub(crate) struct PushPayload {
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// GitHub only.
    pub deleted: Option<bool>,
    pub commits: Option<Vec<Commit>>,
    /// Gitea (newer) and GitHub.
    pub head_commit: Option<Commit>,
    pub repository: Option<Repository>,
    pub pusher: Option<User>,
    pub sender: Option<User>,
}

/// A `create` / `delete` body: short ref name plus `ref_type`; Gogs/Gitea `create` also has `sha`.
#[derive(Debug, Deserialize)]
pub(crate) struct RefPayload {
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub ref_type: Option<String>,
    pub sha: Option<String>,
    pub default_branch: Option<String>,
    pub repository: Option<Repository>,
    pub sender: Option<User>,
}

/// How [`interpret_push`] behaves for one forge.
pub(crate) struct PushRules {
    /// Gogs and Gitea test deliveries are pushes with `before == after`.
    pub before_equals_after_is_test: bool,
}

/// Validated repository fields.
pub(crate) struct RepoFields {
    pub name: String,
    pub web_url: Option<String>,
    pub clone_url: String,
    pub ssh_url: Option<String>,
    pub default_branch: Option<String>,
    pub public: Option<bool>,
}

impl RepoFields {
    /// A build of `commit` at `git_ref` in this repository (the message cut to
    /// [`names::MAX_MESSAGE`]); callers add what only they know with struct update syntax.
    pub(crate) fn push(
        self,
        git_ref: String,
        commit: String,
        message: String,
        author: String,
    ) -> Push {
        Push {
            repo: self.name,
            clone_url: self.clone_url,
            ssh_url: self.ssh_url,
            git_ref,
            commit,
            message: names::truncate_on_char_boundary(message, names::MAX_MESSAGE),
            author,
            default_branch: self.default_branch,
            public: self.public,
            changed_files: None,
            pull: None,
            web_url: self.web_url,
            source: None,
        }
    }
}

/// Requires `repository`, `repository.full_name` (valid) and `repository.clone_url` (http/https).
pub(crate) fn repo_fields(repo: Option<Repository>) -> Result<RepoFields, HookError> {
    let repo = repo.ok_or_else(|| HookError::missing("repository"))?;
    let full_name = repo
        .full_name
        .ok_or_else(|| HookError::missing("repository.full_name"))?;
    let name = names::validate_repo_name("repository full_name", &full_name, false)?;
    let clone_url = repo
        .clone_url
        .ok_or_else(|| HookError::missing("repository.clone_url"))?;
    let clone_url = names::validate_clone_url("repository clone_url", &clone_url)?;
    Ok(RepoFields {
        name,
        web_url: names::sanitize_web_url(repo.html_url),
        clone_url,
        ssh_url: names::sanitize_ssh_url(repo.ssh_url),
        default_branch: names::sanitize_branch(repo.default_branch),
        public: repo.private.map(|p| !p),
    })
}

/// Author fallbacks: pusher `login`, `username`, `name`, `full_name`, then the same for `sender`.
pub(crate) fn author_of(pusher: Option<User>, sender: Option<User>) -> String {
    let fields = |u: Option<User>| match u {
        Some(u) => [u.login, u.username, u.name, u.full_name],
        None => [None, None, None, None],
    };
    names::pick_author(fields(pusher).into_iter().chain(fields(sender)))
}

/// `"branch deletion"`, `"tag deletion"` or `"ref deletion"`.
pub(crate) fn deletion(kind: Option<RefKind>) -> Outcome {
    Outcome::Ignore(match kind {
        Some(kind) => format!("{} deletion", kind.word()),
        None => "ref deletion".to_owned(),
    })
}

/// Ignore reason for a ref that is neither a branch nor a tag.
pub(crate) fn not_branch_or_tag(git_ref: &str) -> Outcome {
    Outcome::Ignore(format!(
        "ref {} is neither a branch nor a tag",
        names::quote(git_ref)
    ))
}

/// Decides a GitHub-shaped `push`: required fields first (repository, after, ref), then test delivery,
/// deletion, non-branch refs, and finally the build. The message is `head_commit` when it is the pushed
/// commit, else the `commits[]` entry whose id is `after`, else `head_commit`, else the first commit.
pub(crate) fn interpret_push(p: PushPayload, rules: &PushRules) -> Result<Outcome, HookError> {
    let repo = repo_fields(p.repository)?;
    let after = p.after.ok_or_else(|| HookError::missing("after"))?;
    let git_ref = p.git_ref.ok_or_else(|| HookError::missing("ref"))?;
    names::validate_ref("ref", &git_ref)?;
    let kind = names::ref_kind(&git_ref);

    if rules.before_equals_after_is_test && p.before.as_deref() == Some(after.as_str()) {
        return Ok(Outcome::Ignore("test delivery".to_owned()));
    }
    if p.deleted == Some(true) || names::is_zero_commit(&after) {
        return Ok(deletion(kind));
    }
    if kind.is_none() {
        return Ok(not_branch_or_tag(&git_ref));
    }
    let commit = names::validate_commit("after", &after)?;

    let is_after = |c: &Commit| {
        c.id.as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(&commit))
    };
    let commits = p.commits.unwrap_or_default();
    let changed = changed_files(commits.iter().map(|c| &c.files));
    let message = match p.head_commit {
        Some(head) if head.id.is_none() || is_after(&head) => head.message,
        head => commits
            .iter()
            .find(|c| is_after(c))
            .and_then(|c| c.message.clone())
            .or_else(|| head.and_then(|h| h.message))
            .or_else(|| commits.first().and_then(|c| c.message.clone())),
    }
    .unwrap_or_default();

    let author = author_of(p.pusher, p.sender);
    Ok(Outcome::Build(Push {
        changed_files: changed,
        ..repo.push(git_ref, commit, message, author)
    }))
}

/// The kind named by `ref_type` in `create`/`delete` bodies.
pub(crate) fn ref_type_kind(ref_type: Option<&str>) -> Option<RefKind> {
    match ref_type {
        Some("branch") => Some(RefKind::Branch),
        Some("tag") => Some(RefKind::Tag),
        _ => None,
    }
}

/// A `create` event of a forge whose push event also fires for the new ref: nothing to build.
pub(crate) fn ignore_creation(body: &[u8]) -> Result<Outcome, HookError> {
    let p: RefPayload = super::parse_json(body)?;
    Ok(Outcome::Ignore(
        match ref_type_kind(p.ref_type.as_deref()) {
            Some(RefKind::Tag) => "tag creation (the push event builds it)",
            Some(RefKind::Branch) => "branch creation (the push event builds it)",
            None => "ref creation (the push event builds it)",
        }
        .to_owned(),
    ))
}

/// A `delete` event: nothing to build.
pub(crate) fn ignore_deletion(body: &[u8]) -> Result<Outcome, HookError> {
    let p: RefPayload = super::parse_json(body)?;
    Ok(deletion(ref_type_kind(p.ref_type.as_deref())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files(json: &str) -> Files {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn changed_files_are_the_union_or_unknown() {
        let a = files(r#"{"added":["src/a.rs"],"removed":[],"modified":["README.md"]}"#);
        let b = files(r#"{"added":[],"removed":["old.txt"],"modified":["src/a.rs"]}"#);
        assert_eq!(
            changed_files([&a, &b]),
            Some(vec![
                "README.md".into(),
                "old.txt".into(),
                "src/a.rs".into()
            ])
        );
        // A commit that does not list its files makes the whole list unknown.
        let silent = files("{}");
        assert_eq!(changed_files([&a, &silent]), None);
        // No commits (a tag pushed on an existing commit): unknown.
        assert_eq!(changed_files([]), None);
        let absurd = files(&format!(r#"{{"added":["{}"]}}"#, "x".repeat(5000)));
        assert_eq!(changed_files([&absurd]), None);
    }
}
