//! Bitbucket Cloud deliveries: `repo:push` builds every branch or tag change that has a new commit
//! (pull request events are in `bitbucket_pulls`); pushes that only delete, and every other
//! event, are ignored. The body has no clone URL: it is built.

use serde::Deserialize;

use super::names::{self, RefKind};
use super::{HookError, Outcome, Push, parse_json, unsupported};

#[derive(Debug, Deserialize)]
pub(super) struct Named {
    pub(super) name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Repository {
    pub(super) full_name: Option<String>,
    pub(super) links: Option<Links>,
    pub(super) mainbranch: Option<Named>,
    pub(super) is_private: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Links {
    pub(super) html: Option<Href>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Href {
    pub(super) href: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Actor {
    pub(super) nickname: Option<String>,
    pub(super) username: Option<String>,
    pub(super) display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Target {
    hash: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefState {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    target: Option<Target>,
}

#[derive(Debug, Deserialize)]
struct Change {
    new: Option<RefState>,
    old: Option<RefState>,
}

#[derive(Debug, Deserialize)]
struct PushBody {
    changes: Option<Vec<Change>>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    push: Option<PushBody>,
    repository: Option<Repository>,
    actor: Option<Actor>,
}

fn kind_of(state: &RefState) -> Option<RefKind> {
    match state.kind.as_deref() {
        Some("branch") => Some(RefKind::Branch),
        Some("tag") => Some(RefKind::Tag),
        _ => None,
    }
}

/// What every Bitbucket delivery says about its repository, validated once.
pub(super) struct Base {
    repo: String,
    author: String,
    web_url: Option<String>,
    default_branch: Option<String>,
    public: Option<bool>,
}

impl Base {
    /// Reads `repository` (required) and `actor` (optional).
    pub(super) fn read(
        repository: Option<Repository>,
        actor: Option<Actor>,
    ) -> Result<Base, HookError> {
        let repository = repository.ok_or_else(|| HookError::missing("repository"))?;
        let full_name = repository
            .full_name
            .ok_or_else(|| HookError::missing("repository.full_name"))?;
        let repo = names::validate_repo_name("repository full_name", &full_name, false)?;
        let author = match actor {
            Some(a) => names::pick_author([a.nickname, a.username, a.display_name]),
            None => String::new(),
        };
        Ok(Base {
            repo,
            author,
            web_url: names::sanitize_web_url(repository.links.and_then(|l| l.html?.href)),
            default_branch: names::sanitize_branch(repository.mainbranch.and_then(|m| m.name)),
            public: repository.is_private.map(|p| !p),
        })
    }

    /// The repository's name, validated.
    pub(super) fn repo(&self) -> &str {
        &self.repo
    }

    /// A build of `commit` at `git_ref` in this repository. Bitbucket sends no clone URL: it is
    /// `https://bitbucket.org/{repo}.git` (SSH `git@bitbucket.org:{repo}.git`), and its push
    /// events list no files.
    pub(super) fn push(&self, git_ref: String, commit: String, message: String) -> Push {
        let repo = &self.repo;
        Push {
            clone_url: format!("https://bitbucket.org/{repo}.git"),
            ssh_url: Some(format!("git@bitbucket.org:{repo}.git")),
            repo: repo.clone(),
            git_ref,
            commit,
            message: names::truncate_on_char_boundary(message, names::MAX_MESSAGE),
            author: self.author.clone(),
            default_branch: self.default_branch.clone(),
            public: self.public,
            changed_files: None,
            pull: None,
            web_url: self.web_url.clone(),
            source: None,
        }
    }
}

/// Decides a Bitbucket delivery.
///
/// - `repo:push`: every entry of `push.changes` whose `new` is not null is built, each its own job:
///   `new.target.hash` at `refs/heads/<new.name>` (type `branch`) or `refs/tags/<new.name>` (type
///   `tag`); deletions and other types (Mercurial `named_branch`, `bookmark`) are skipped. Nothing
///   left: "branch deletion", "tag deletion", "branch and tag deletion", "push to a … (not a
///   branch or tag)", or "push without changes".
///   Author `actor.nickname`, else `actor.username`, else `actor.display_name`.
/// - `pullrequest:*`: see [`bitbucket_pulls::interpret`](super::bitbucket_pulls::interpret).
/// - anything else -> `unsupported event "<name>"`.
pub(crate) fn interpret(event: &str, body: &[u8]) -> Result<Outcome, HookError> {
    if let Some(action) = event.strip_prefix("pullrequest:") {
        return super::bitbucket_pulls::interpret(action, body);
    }
    if event != "repo:push" {
        return Ok(unsupported(event));
    }
    let p: Payload = parse_json(body)?;
    let base = Base::read(p.repository, p.actor)?;
    let changes = p
        .push
        .ok_or_else(|| HookError::missing("push"))?
        .changes
        .ok_or_else(|| HookError::missing("push.changes"))?;

    let mut deleted = (false, false);
    let mut other = None;
    let mut pushes = Vec::new();
    for change in changes {
        let Some(new) = change.new else {
            match change.old.as_ref().and_then(kind_of) {
                Some(RefKind::Branch) => deleted.0 = true,
                Some(RefKind::Tag) => deleted.1 = true,
                None => {}
            }
            continue;
        };
        let Some(kind) = kind_of(&new) else {
            other.get_or_insert(match &new.kind {
                Some(t) => format!("push to a {} (not a branch or tag)", names::quote(t)),
                None => "push to a ref without a type".to_owned(),
            });
            continue;
        };
        let name = new
            .name
            .ok_or_else(|| HookError::missing("push.changes[].new.name"))?;
        let git_ref = format!("{}{name}", kind.prefix());
        names::validate_ref("push.changes[].new.name", &git_ref)?;
        let target = new
            .target
            .ok_or_else(|| HookError::missing("push.changes[].new.target"))?;
        let hash = target
            .hash
            .ok_or_else(|| HookError::missing("push.changes[].new.target.hash"))?;
        let commit = names::validate_commit("push.changes[].new.target.hash", &hash)?;
        pushes.push(base.push(git_ref, commit, target.message.unwrap_or_default()));
    }
    match pushes.len() {
        0 => Ok(Outcome::Ignore(other.unwrap_or_else(|| {
            match deleted {
                (true, false) => "branch deletion",
                (false, true) => "tag deletion",
                (true, true) => "branch and tag deletion",
                (false, false) => "push without changes",
            }
            .to_owned()
        }))),
        1 => Ok(Outcome::Build(pushes.remove(0))),
        _ => Ok(Outcome::Builds(pushes)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const H: &str = "141977FEDF5CF35AA290AC87D4B5177AC4CD9DE1";

    fn change(new: Option<(&str, &str)>, old: Option<(&str, &str)>) -> String {
        let state = |s: Option<(&str, &str)>| match s {
            Some((kind, name)) => format!(
                r#"{{"type":"{kind}","name":"{name}","target":{{"type":"commit","hash":"{H}","message":"Update README\n"}}}}"#
            ),
            None => "null".to_owned(),
        };
        format!(
            r#"{{"new":{},"old":{},"created":{},"closed":{}}}"#,
            state(new),
            state(old),
            old.is_none(),
            new.is_none()
        )
    }

    fn body(changes: &[String]) -> String {
        format!(
            r#"{{"push":{{"changes":[{}]}},
            "repository":{{"full_name":"team/repo","mainbranch":{{"name":"main"}},
              "links":{{"html":{{"href":"https://bitbucket.org/team/repo"}}}}}},
            "actor":{{"display_name":"Ann Example","nickname":"ann"}}}}"#,
            changes.join(",")
        )
    }

    fn build(o: Outcome) -> Push {
        match o {
            Outcome::Build(p) => p,
            other => panic!("expected Build, got {other:?}"),
        }
    }

    #[test]
    fn branch_push_builds() {
        let b = body(&[change(Some(("branch", "main")), Some(("branch", "main")))]);
        let p = build(interpret("repo:push", b.as_bytes()).unwrap());
        assert_eq!(p.repo, "team/repo");
        assert_eq!(p.clone_url, "https://bitbucket.org/team/repo.git");
        assert_eq!(
            p.ssh_url.as_deref(),
            Some("git@bitbucket.org:team/repo.git")
        );
        assert_eq!(p.git_ref, "refs/heads/main");
        assert_eq!(p.commit, H.to_ascii_lowercase());
        assert_eq!(p.message, "Update README\n");
        assert_eq!(p.author, "ann");
        assert_eq!(p.default_branch.as_deref(), Some("main"));
    }

    #[test]
    fn every_updated_ref_builds_and_deletions_are_skipped() {
        let b = body(&[
            change(None, Some(("branch", "old"))),
            change(Some(("tag", "release/1")), None),
            change(Some(("named_branch", "hg")), None),
            change(Some(("branch", "other")), None),
        ]);
        let Outcome::Builds(pushes) = interpret("repo:push", b.as_bytes()).unwrap() else {
            panic!("expected one build per updated ref");
        };
        let refs: Vec<&str> = pushes.iter().map(|p| p.git_ref.as_str()).collect();
        assert_eq!(refs, ["refs/tags/release/1", "refs/heads/other"]);
        assert!(pushes.iter().all(|p| p.commit == H.to_lowercase()));
    }

    #[test]
    fn author_fallbacks() {
        let b = body(&[change(Some(("branch", "main")), None)]).replace(r#","nickname":"ann""#, "");
        assert_eq!(
            build(interpret("repo:push", b.as_bytes()).unwrap()).author,
            "Ann Example"
        );
    }

    #[test]
    fn ignored() {
        let b = body(&[change(None, Some(("branch", "dev")))]);
        assert_eq!(
            interpret("repo:push", b.as_bytes()).unwrap(),
            Outcome::Ignore("branch deletion".into())
        );
        let b = body(&[change(None, Some(("tag", "v1")))]);
        assert_eq!(
            interpret("repo:push", b.as_bytes()).unwrap(),
            Outcome::Ignore("tag deletion".into())
        );
        let b = body(&[
            change(None, Some(("tag", "v1"))),
            change(None, Some(("branch", "x"))),
        ]);
        assert_eq!(
            interpret("repo:push", b.as_bytes()).unwrap(),
            Outcome::Ignore("branch and tag deletion".into())
        );
        let b = body(&[]);
        assert_eq!(
            interpret("repo:push", b.as_bytes()).unwrap(),
            Outcome::Ignore("push without changes".into())
        );
        let b = body(&[change(Some(("bookmark", "x")), None)]);
        assert!(matches!(
            interpret("repo:push", b.as_bytes()).unwrap(),
            Outcome::Ignore(_)
        ));
        assert_eq!(
            interpret("repo:fork", b"{}").unwrap(),
            Outcome::Ignore("unsupported event \"repo:fork\"".into())
        );
    }

    #[test]
    fn bad_requests() {
        let m = interpret("repo:push", br#"{"push":{"changes":[]}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(m, "missing field \"repository\"");
        let m = interpret("repo:push", br#"{"repository":{"full_name":"a/b"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(m, "missing field \"push\"");
        let b =
            body(&[change(Some(("branch", "main")), None)]).replace("team/repo", "team/../repo");
        let m = interpret("repo:push", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("is not a valid repository name"), "{m}");
        let b = body(&[change(Some(("branch", "a b")), None)]);
        let m = interpret("repo:push", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("not a valid git ref"), "{m}");
        let b = body(&[change(Some(("branch", "main")), None)]).replace(H, &"0".repeat(40));
        let m = interpret("repo:push", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("all-zero commit"), "{m}");
    }
}
