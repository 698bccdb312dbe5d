//! Bitbucket Cloud pull requests. Bitbucket serves no `refs/pull/*`, and its events abbreviate
//! the head commit (12 hex digits), so a build names where the commit really is: the source
//! branch, in this repository or in a fork. The job fetches that branch and resolves the
//! abbreviation to the full id. The job's ref is still `refs/pull/<id>/head` (shown `pr/<id>`),
//! the key that closing the pull request cancels by.

use serde::Deserialize;

use super::bitbucket::{Actor, Base, Named, Repository};
use super::names;
use super::{HookError, Outcome, Pull, Source};

#[derive(Debug, Deserialize)]
struct Hash {
    hash: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Side {
    branch: Option<Named>,
    commit: Option<Hash>,
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    id: Option<u64>,
    title: Option<String>,
    source: Option<Side>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    pullrequest: Option<PullRequest>,
    repository: Option<Repository>,
    actor: Option<Actor>,
}

/// Decides a `pullrequest:<action>` delivery (`action` without the prefix): `created` and
/// `updated` build the source commit, `fulfilled` (merged) and `rejected` (declined) close, and
/// anything else (`approved`, `comment_created`, …) is ignored. The pull request is a fork's
/// when its source repository is not this one.
pub(crate) fn interpret(action: &str, body: &[u8]) -> Result<Outcome, HookError> {
    let p: Payload = super::parse_json(body)?;
    let base = Base::read(p.repository, p.actor)?;
    let pr = p
        .pullrequest
        .ok_or_else(|| HookError::missing("pullrequest"))?;
    let number = pr
        .id
        .filter(|n| *n > 0)
        .ok_or_else(|| HookError::missing("pullrequest.id"))?;
    let git_ref = format!("refs/pull/{number}/head");
    match action {
        "created" | "updated" => {}
        "fulfilled" | "rejected" => {
            return Ok(Outcome::Closed {
                repo: base.repo().to_string(),
                git_ref,
            });
        }
        other => {
            return Ok(Outcome::Ignore(format!(
                "pull request event {}",
                names::quote(other)
            )));
        }
    }
    let source = pr
        .source
        .ok_or_else(|| HookError::missing("pullrequest.source"))?;
    let branch = source
        .branch
        .and_then(|b| b.name)
        .ok_or_else(|| HookError::missing("pullrequest.source.branch.name"))?;
    let source_ref = format!("refs/heads/{branch}");
    names::validate_ref("pullrequest.source.branch.name", &source_ref)?;
    let hash = source
        .commit
        .and_then(|c| c.hash)
        .ok_or_else(|| HookError::missing("pullrequest.source.commit.hash"))?;
    let commit = names::validate_commit_prefix("pullrequest.source.commit.hash", &hash)?;
    // A deleted fork has no repository any more: nothing could be fetched, and it is not ours.
    let source_repo = match source.repository.and_then(|r| r.full_name) {
        Some(name) => {
            names::validate_repo_name("pullrequest.source.repository.full_name", &name, false)?
        }
        None => return Err(HookError::missing("pullrequest.source.repository")),
    };
    let fork = source_repo != base.repo();
    let mut push = base.push(git_ref, commit, pr.title.unwrap_or_default());
    push.pull = Some(Pull { number, fork });
    push.source = Some(Source {
        git_ref: source_ref,
        repo: fork.then_some(source_repo),
    });
    Ok(Outcome::Build(push))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(source_repo: &str, hash: &str) -> String {
        raw(&format!(r#"{{"full_name":"{source_repo}"}}"#), hash)
    }

    /// A delivery whose source repository is the JSON `source`.
    fn raw(source: &str, hash: &str) -> String {
        format!(
            r#"{{"actor":{{"nickname":"carol","display_name":"Carol"}},
            "repository":{{"full_name":"team/app","is_private":true,
              "links":{{"html":{{"href":"https://bitbucket.org/team/app"}}}}}},
            "pullrequest":{{"id":12,"title":"Add it","state":"OPEN",
              "source":{{"branch":{{"name":"feature/x"}},"commit":{{"hash":"{hash}"}},
                "repository":{source}}},
              "destination":{{"branch":{{"name":"main"}},"commit":{{"hash":"ce5965ddd289"}},
                "repository":{{"full_name":"team/app"}}}}}}}}"#
        )
    }

    #[test]
    fn a_pull_request_builds_its_source_branch() {
        for action in ["created", "updated"] {
            let Outcome::Build(p) =
                interpret(action, body("team/app", "D3022FC0CA3D").as_bytes()).unwrap()
            else {
                panic!("{action} should build");
            };
            assert_eq!(p.repo, "team/app");
            assert_eq!(p.git_ref, "refs/pull/12/head");
            assert_eq!(p.commit, "d3022fc0ca3d");
            assert_eq!(p.message, "Add it");
            assert_eq!(p.author, "carol");
            assert_eq!(p.public, Some(false));
            assert_eq!(
                p.pull,
                Some(Pull {
                    number: 12,
                    fork: false
                })
            );
            assert_eq!(
                p.source,
                Some(Source {
                    git_ref: "refs/heads/feature/x".into(),
                    repo: None
                })
            );
        }
    }

    #[test]
    fn a_fork_is_named_and_fetched_from_the_fork() {
        let Outcome::Build(p) =
            interpret("created", body("mallory/app", "d3022fc0ca3d").as_bytes()).unwrap()
        else {
            panic!("a fork's pull request is still a build to decide on");
        };
        assert_eq!(
            p.pull,
            Some(Pull {
                number: 12,
                fork: true
            })
        );
        assert_eq!(p.source.unwrap().repo.as_deref(), Some("mallory/app"));
    }

    #[test]
    fn merging_or_declining_closes_and_the_rest_is_ignored() {
        for action in ["fulfilled", "rejected"] {
            assert_eq!(
                interpret(action, body("team/app", "d3022fc0ca3d").as_bytes()).unwrap(),
                Outcome::Closed {
                    repo: "team/app".into(),
                    git_ref: "refs/pull/12/head".into()
                }
            );
        }
        assert_eq!(
            interpret("approved", body("team/app", "d3022fc0ca3d").as_bytes()).unwrap(),
            Outcome::Ignore("pull request event \"approved\"".into())
        );
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let err = |b: String| interpret("created", b.as_bytes()).unwrap_err().to_string();
        assert!(err(body("team/app", "d30")).contains("7 to 40 hex"));
        assert!(err(body("team/app", "d3022fc0ca3g")).contains("7 to 40 hex"));
        assert!(err(body("team/../app", "d3022fc0ca3d")).contains("not a valid repository"));
        let m = err(body("team/app", "d3022fc0ca3d").replace("feature/x", "a..b"));
        assert!(m.contains("not a valid git ref"), "{m}");
        let m = err(body("team/app", "d3022fc0ca3d").replace(r#""id":12,"#, ""));
        assert_eq!(m, "missing field \"pullrequest.id\"");
        assert_eq!(
            err(raw("null", "d3022fc0ca3d")),
            "missing field \"pullrequest.source.repository\""
        );
    }
}
