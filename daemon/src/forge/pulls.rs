//! Pull requests of the GitHub-shaped forges (GitHub, Gitea, Forgejo): opening, reopening and new
//! commits build the head commit at `refs/pull/<n>/head` (which the base repository serves, for a
//! fork's pull request too); closing cancels what is still queued for it.

use serde::Deserialize;

use super::common::{self, Repository, User};
use super::names;
use super::{HookError, Outcome, Pull, Push};

#[derive(Debug, Deserialize)]
struct Side {
    sha: Option<String>,
    repo: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    full_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    number: Option<u64>,
    title: Option<String>,
    head: Option<Side>,
    base: Option<Side>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<PullRequest>,
    repository: Option<Repository>,
    sender: Option<User>,
}

/// Decides a `pull_request` delivery: `opened`, `reopened`, `synchronize` (GitHub) or
/// `synchronized` (Gitea) build the head commit; `closed` closes; any other action is ignored.
/// The pull request is a fork's when its head repository is not the base one (or is gone).
pub(crate) fn interpret(body: &[u8]) -> Result<Outcome, HookError> {
    let p: Payload = super::parse_json(body)?;
    let action = p.action.ok_or_else(|| HookError::missing("action"))?;
    let pr = p
        .pull_request
        .ok_or_else(|| HookError::missing("pull_request"))?;
    let number = pr
        .number
        .or(p.number)
        .filter(|n| *n > 0)
        .ok_or_else(|| HookError::missing("pull_request.number"))?;
    let repo = common::repo_fields(p.repository)?;
    let git_ref = format!("refs/pull/{number}/head");
    match action.as_str() {
        "opened" | "reopened" | "synchronize" | "synchronized" => {}
        "closed" => {
            return Ok(Outcome::Closed {
                repo: repo.name,
                git_ref,
            });
        }
        other => {
            return Ok(Outcome::Ignore(format!(
                "pull request action {}",
                names::quote(other)
            )));
        }
    }
    let head = pr
        .head
        .ok_or_else(|| HookError::missing("pull_request.head"))?;
    let sha = head
        .sha
        .ok_or_else(|| HookError::missing("pull_request.head.sha"))?;
    let commit = names::validate_commit("pull_request.head.sha", &sha)?;
    let name_of = |s: Option<Named>| s.and_then(|n| n.full_name);
    let base_name = pr.base.and_then(|b| name_of(b.repo));
    let head_name = name_of(head.repo);
    let fork = match (&head_name, &base_name) {
        (Some(h), Some(b)) => h != b,
        (Some(h), None) => *h != repo.name,
        (None, _) => true,
    };
    let author = common::author_of(None, p.sender);
    let title = pr.title.unwrap_or_default();
    Ok(Outcome::Build(Push {
        pull: Some(Pull { number, fork }),
        ..repo.push(git_ref, commit, title, author)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef01234567";

    fn body(action: &str, head_repo: &str) -> String {
        format!(
            r#"{{"action":"{action}","number":7,"pull_request":{{"number":7,"title":"Add it",
            "head":{{"sha":"{H}","ref":"feature","repo":{{"full_name":"{head_repo}"}}}},
            "base":{{"sha":"{H}","ref":"main","repo":{{"full_name":"org/app"}}}}}},
            "repository":{{"full_name":"org/app","clone_url":"https://forge.example/org/app.git"}},
            "sender":{{"login":"carol"}}}}"#
        )
    }

    #[test]
    fn a_pull_request_builds_its_head_and_knows_a_fork() {
        for action in ["opened", "reopened", "synchronize", "synchronized"] {
            let Outcome::Build(p) = interpret(body(action, "org/app").as_bytes()).unwrap() else {
                panic!("{action} should build");
            };
            assert_eq!(p.git_ref, "refs/pull/7/head");
            assert_eq!(p.commit, H);
            assert_eq!(p.message, "Add it");
            assert_eq!(p.author, "carol");
            assert_eq!(
                p.pull,
                Some(Pull {
                    number: 7,
                    fork: false
                })
            );
        }
        let Outcome::Build(p) = interpret(body("opened", "mallory/app").as_bytes()).unwrap() else {
            panic!("a fork's pull request is still a build to decide on");
        };
        assert_eq!(
            p.pull,
            Some(Pull {
                number: 7,
                fork: true
            })
        );
    }

    #[test]
    fn closing_closes_and_other_actions_are_ignored() {
        assert_eq!(
            interpret(body("closed", "org/app").as_bytes()).unwrap(),
            Outcome::Closed {
                repo: "org/app".into(),
                git_ref: "refs/pull/7/head".into()
            }
        );
        assert_eq!(
            interpret(body("labeled", "org/app").as_bytes()).unwrap(),
            Outcome::Ignore("pull request action \"labeled\"".into())
        );
        let bad = body("opened", "org/app").replace(H, "nothex");
        assert!(interpret(bad.as_bytes()).is_err());
    }
}
