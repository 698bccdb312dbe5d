//! GitLab deliveries: `Push Hook` and `Tag Push Hook` build `checkout_sha`, `Merge Request Hook`
//! builds a merge request's head; deletions (after all zeros or `checkout_sha: null`) and every
//! other hook are ignored. GitLab authenticates with a plain token.

use serde::{Deserialize, Deserializer};

use super::names::{self, RefKind};
use super::{HookError, Outcome, Push, common, parse_json, unsupported};

#[derive(Debug, Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
    web_url: Option<String>,
    git_http_url: Option<String>,
    http_url: Option<String>,
    git_ssh_url: Option<String>,
    default_branch: Option<String>,
    /// 0 private, 10 internal (any signed-in user), 20 public.
    visibility_level: Option<i64>,
}

impl Project {
    /// The validated full path (subgroups allowed).
    fn name(&self) -> Result<String, HookError> {
        let path = self
            .path_with_namespace
            .as_deref()
            .ok_or_else(|| HookError::missing("project.path_with_namespace"))?;
        names::validate_repo_name("project path_with_namespace", path, true)
    }

    /// The validated HTTP(S) clone URL (`git_http_url`, else `http_url`).
    fn clone_url(&self) -> Result<String, HookError> {
        let url = self
            .git_http_url
            .as_deref()
            .or(self.http_url.as_deref())
            .ok_or_else(|| HookError::missing("project.git_http_url"))?;
        names::validate_clone_url("project git_http_url", url)
    }

    /// A build of `commit` at `git_ref` in this project, named `repo` and cloned from
    /// `clone_url` (both validated by the caller, in the order its errors are reported).
    fn push(
        self,
        (repo, clone_url): (String, String),
        git_ref: String,
        commit: String,
        message: String,
        author: String,
    ) -> Push {
        Push {
            repo,
            clone_url,
            ssh_url: names::sanitize_ssh_url(self.git_ssh_url),
            git_ref,
            commit,
            message: names::truncate_on_char_boundary(message, names::MAX_MESSAGE),
            author,
            default_branch: names::sanitize_branch(self.default_branch),
            public: self.visibility_level.map(|level| level == 20),
            changed_files: None,
            pull: None,
            web_url: names::sanitize_web_url(self.web_url),
            source: None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: Option<String>,
    message: Option<String>,
    #[serde(flatten)]
    files: common::Files,
}

#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    /// Outer `None`: absent (old GitLab; use `after`). `Some(None)`: explicitly null (deletion).
    #[serde(default, deserialize_with = "present")]
    checkout_sha: Option<Option<String>>,
    user_username: Option<String>,
    user_name: Option<String>,
    /// The annotated tag's message on `Tag Push Hook`.
    message: Option<String>,
    commits: Option<Vec<Commit>>,
    project: Option<Project>,
}

#[derive(Debug, Deserialize)]
struct MergeRequest {
    iid: Option<u64>,
    action: Option<String>,
    title: Option<String>,
    oldrev: Option<String>,
    source_project_id: Option<i64>,
    target_project_id: Option<i64>,
    last_commit: Option<Commit>,
}

#[derive(Debug, Deserialize)]
struct User {
    username: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MergeRequestPayload {
    object_attributes: Option<MergeRequest>,
    project: Option<Project>,
    user: Option<User>,
}

/// A `Merge Request Hook`; see [`interpret`].
fn merge_request(body: &[u8]) -> Result<Outcome, HookError> {
    let p: MergeRequestPayload = parse_json(body)?;
    let mr = p
        .object_attributes
        .ok_or_else(|| HookError::missing("object_attributes"))?;
    let project = p.project.ok_or_else(|| HookError::missing("project"))?;
    let repo = project.name()?;
    let iid = mr
        .iid
        .filter(|n| *n > 0)
        .ok_or_else(|| HookError::missing("object_attributes.iid"))?;
    let git_ref = format!("refs/merge-requests/{iid}/head");
    let action = mr.action.unwrap_or_default();
    match action.as_str() {
        "open" | "reopen" => {}
        "update" if mr.oldrev.is_some() => {}
        "update" => {
            return Ok(Outcome::Ignore(
                "merge request update without new commits".into(),
            ));
        }
        "close" | "merge" => return Ok(Outcome::Closed { repo, git_ref }),
        other => {
            return Ok(Outcome::Ignore(format!(
                "merge request action {}",
                names::quote(other)
            )));
        }
    }
    let clone_url = project.clone_url()?;
    let head = mr
        .last_commit
        .and_then(|c| c.id)
        .ok_or_else(|| HookError::missing("object_attributes.last_commit.id"))?;
    let commit = names::validate_commit("object_attributes.last_commit.id", &head)?;
    let fork = match (mr.source_project_id, mr.target_project_id) {
        (Some(s), Some(t)) => s != t,
        // Not said: a stranger's until shown otherwise.
        _ => true,
    };
    let author = names::pick_author(p.user.map_or([None, None], |u| [u.username, u.name]));
    let title = mr.title.unwrap_or_default();
    Ok(Outcome::Build(Push {
        pull: Some(super::Pull { number: iid, fork }),
        ..project.push((repo, clone_url), git_ref, commit, title, author)
    }))
}

/// Deserializes a field that is present (even as `null`) into `Some(..)`, so absent and null differ.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Decides a GitLab delivery.
///
/// - `Push Hook` / `Tag Push Hook`: `after` all zeros -> "branch deletion"/"tag deletion";
///   `checkout_sha: null` -> the same (GitLab's other sign of a deletion); otherwise build `checkout_sha`
///   (the commit an annotated tag points at; `after` when the field is absent). Repository
///   `project.path_with_namespace` (subgroups allowed), clone URL `project.git_http_url`, author
///   `user_username`, else `user_name`. Message: the `commits[]` entry for the built commit, else the tag
///   message, else empty. GitLab's "Test" button sends an ordinary push with sample data, which builds.
/// - `Merge Request Hook`: `open`, `reopen`, and `update` with new commits (`oldrev`) build
///   `object_attributes.last_commit.id` at `refs/merge-requests/<iid>/head` (which the target
///   project serves, for a fork's too); `close` and `merge` close it; other actions are ignored.
/// - anything else (`System Hook`, ...) -> `unsupported event "<name>"`.
pub(crate) fn interpret(event: &str, body: &[u8]) -> Result<Outcome, HookError> {
    let expected = match event {
        "Push Hook" => RefKind::Branch,
        "Tag Push Hook" => RefKind::Tag,
        "Merge Request Hook" => return merge_request(body),
        _ => return Ok(unsupported(event)),
    };
    let p: PushPayload = parse_json(body)?;
    let project = p.project.ok_or_else(|| HookError::missing("project"))?;
    let repo = project.name()?;
    let clone_url = project.clone_url()?;
    let after = p.after.ok_or_else(|| HookError::missing("after"))?;
    let git_ref = p.git_ref.ok_or_else(|| HookError::missing("ref"))?;
    names::validate_ref("ref", &git_ref)?;
    let kind = names::ref_kind(&git_ref);

    let (field, sha) = match p.checkout_sha {
        _ if names::is_zero_commit(&after) => return Ok(common::deletion(kind.or(Some(expected)))),
        Some(None) => return Ok(common::deletion(kind.or(Some(expected)))),
        Some(Some(sha)) => ("checkout_sha", sha),
        None => ("after", after),
    };
    if kind.is_none() {
        return Ok(common::not_branch_or_tag(&git_ref));
    }
    let commit = names::validate_commit(field, &sha)?;
    let commits = p.commits.unwrap_or_default();
    let changed = common::changed_files(commits.iter().map(|c| &c.files));
    let message = commits
        .into_iter()
        .find(|c| {
            c.id.as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(&commit))
        })
        .and_then(|c| c.message)
        .or(p.message)
        .unwrap_or_default();
    let author = names::pick_author([p.user_username, p.user_name]);
    Ok(Outcome::Build(Push {
        changed_files: changed,
        ..project.push((repo, clone_url), git_ref, commit, message, author)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &str = "95790bf891e76fee5e1747ab589903a6a1f80f22";
    const B: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn body(git_ref: &str, after: &str, checkout: &str) -> String {
        format!(
            r#"{{"object_kind":"push","ref":"{git_ref}","before":"{A}","after":"{after}",
            "checkout_sha":{checkout},"user_name":"Jane Doe","user_username":"jdoe",
            "project":{{"path_with_namespace":"grp/sub/app","git_http_url":"https://gl.local/grp/sub/app.git",
              "git_ssh_url":"git@gl.local:grp/sub/app.git","default_branch":"main"}},
            "commits":[{{"id":"{A}","message":"first"}},{{"id":"{B}","message":"second"}}],
            "total_commits_count":2}}"#
        )
    }

    fn build(o: Outcome) -> Push {
        match o {
            Outcome::Build(p) => p,
            other => panic!("expected Build, got {other:?}"),
        }
    }

    #[test]
    fn push_hook_builds_checkout_sha() {
        let b = body("refs/heads/main", B, &format!("\"{B}\""));
        let p = build(interpret("Push Hook", b.as_bytes()).unwrap());
        assert_eq!(p.repo, "grp/sub/app");
        assert_eq!(p.clone_url, "https://gl.local/grp/sub/app.git");
        assert_eq!(p.ssh_url.as_deref(), Some("git@gl.local:grp/sub/app.git"));
        assert_eq!(p.commit, B);
        assert_eq!(p.message, "second");
        assert_eq!(p.author, "jdoe");
        assert_eq!(p.default_branch.as_deref(), Some("main"));
    }

    #[test]
    fn annotated_tag_builds_the_commit_not_the_tag_object() {
        let b =
            body("refs/tags/v1", A, &format!("\"{B}\"")).replace(r#""user_username":"jdoe","#, "");
        let p = build(interpret("Tag Push Hook", b.as_bytes()).unwrap());
        assert_eq!(p.git_ref, "refs/tags/v1");
        assert_eq!(p.commit, B);
        assert_eq!(p.author, "Jane Doe");
    }

    #[test]
    fn absent_checkout_sha_uses_after() {
        let b = body("refs/heads/main", B, "0").replace(r#""checkout_sha":0,"#, "");
        assert_eq!(
            build(interpret("Push Hook", b.as_bytes()).unwrap()).commit,
            B
        );
    }

    #[test]
    fn deletions_and_other_hooks_are_ignored() {
        let del = interpret("Push Hook", body("refs/heads/f", Z, "null").as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        let del = interpret("Tag Push Hook", body("refs/tags/v1", Z, "null").as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("tag deletion".into()));
        let del = interpret("Push Hook", body("refs/heads/f", B, "null").as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        assert_eq!(
            interpret("System Hook", b"{}").unwrap(),
            Outcome::Ignore("unsupported event \"System Hook\"".into())
        );
    }

    #[test]
    fn bad_requests() {
        let m = interpret("Push Hook", br#"{"after":"x"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(m, "missing field \"project\"");
        let b = body("refs/heads/main", B, "null").replace("grp/sub/app\"", "grp/../app\"");
        let m = interpret("Push Hook", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("is not a valid repository name"), "{m}");
        let b = body("refs/heads/main", B, "\"nothex\"");
        let m = interpret("Push Hook", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("\"checkout_sha\""), "{m}");
        // The all-zero checkout_sha beside a real `after` is no commit to build.
        let b = body("refs/heads/main", B, &format!("\"{Z}\""));
        let m = interpret("Push Hook", b.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.contains("all-zero commit"), "{m}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod merge_request_tests {
    use super::*;
    use crate::forge::Pull;

    const H: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";

    fn body(action: &str, source: i64, oldrev: bool) -> String {
        let oldrev = if oldrev {
            r#""oldrev":"ffffffffffffffffffffffffffffffffffffffff","#
        } else {
            ""
        };
        format!(
            r#"{{"object_kind":"merge_request","user":{{"username":"root","name":"Admin"}},
            "project":{{"path_with_namespace":"group/app","git_http_url":"https://gl.example/group/app.git",
              "visibility_level":0}},
            "object_attributes":{{"iid":4,"action":"{action}",{oldrev}"title":"MS-Viewport",
              "source_project_id":{source},"target_project_id":14,
              "last_commit":{{"id":"{H}","message":"fixed readme"}}}}}}"#
        )
    }

    #[test]
    fn merge_requests_build_their_head_close_and_skip_the_rest() {
        for (action, oldrev) in [("open", false), ("reopen", false), ("update", true)] {
            let Outcome::Build(p) =
                interpret("Merge Request Hook", body(action, 14, oldrev).as_bytes()).unwrap()
            else {
                panic!("{action} should build");
            };
            assert_eq!(p.git_ref, "refs/merge-requests/4/head");
            assert_eq!((p.commit.as_str(), p.message.as_str()), (H, "MS-Viewport"));
            assert_eq!(
                p.pull,
                Some(Pull {
                    number: 4,
                    fork: false
                })
            );
        }
        let Outcome::Build(p) =
            interpret("Merge Request Hook", body("open", 99, false).as_bytes()).unwrap()
        else {
            panic!("a fork's merge request is a build to decide on");
        };
        assert!(p.pull.is_some_and(|p| p.fork));
        for action in ["close", "merge"] {
            assert_eq!(
                interpret("Merge Request Hook", body(action, 14, false).as_bytes()).unwrap(),
                Outcome::Closed {
                    repo: "group/app".into(),
                    git_ref: "refs/merge-requests/4/head".into()
                }
            );
        }
        assert!(matches!(
            interpret("Merge Request Hook", body("update", 14, false).as_bytes()).unwrap(),
            Outcome::Ignore(_)
        ));
    }
}
