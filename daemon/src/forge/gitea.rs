//! Gitea and Forgejo deliveries (same payloads): only `push` builds, including tag pushes; `create` and
//! `delete` are ignored because Gitea also sends a `push` for every tag created or deleted.

use super::common::{self, PushRules};
use super::{HookError, Outcome, parse_json, unsupported};

/// Gitea and Forgejo test deliveries are pushes with `before == after` (a fake all-zero commit nowadays).
const RULES: PushRules = PushRules {
    before_equals_after_is_test: true,
};

/// Decides a Gitea/Forgejo delivery.
///
/// - `push`: `before == after` -> "test delivery"; `after` all zeros -> "branch deletion"/"tag deletion";
///   otherwise build `after` (a tag push has `commits: []`; its message comes from `head_commit`).
/// - `create` -> "tag creation (the push event builds it)" / "branch creation (the push event builds it)".
/// - `delete` -> "branch deletion" / "tag deletion".
/// - `pull_request` -> see [`super::pulls`].
/// - anything else -> `unsupported event "<name>"`.
pub(crate) fn interpret(event: &str, body: &[u8]) -> Result<Outcome, HookError> {
    match event {
        "push" => common::interpret_push(parse_json(body)?, &RULES),
        "create" => common::ignore_creation(body),
        "delete" => common::ignore_deletion(body),
        "pull_request" => super::pulls::interpret(body),
        _ => Ok(unsupported(event)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::forge::Push;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn push(git_ref: &str, before: &str, after: &str, commits: &str) -> String {
        format!(
            r#"{{"ref":"{git_ref}","before":"{before}","after":"{after}","total_commits":1,
            "commits":{commits},
            "head_commit":{{"id":"{after}","message":"head message"}},
            "repository":{{"full_name":"org/svc","clone_url":"https://gitea.local/org/svc.git",
              "ssh_url":"ssh://git@gitea.local:2222/org/svc.git","default_branch":"main"}},
            "pusher":{{"login":"bob","username":"bob"}},"sender":{{"login":"bob"}}}}"#
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
        let commits = format!(r#"[{{"id":"{B}","message":"entry message"}}]"#);
        let p =
            build(interpret("push", push("refs/heads/main", A, B, &commits).as_bytes()).unwrap());
        assert_eq!(p.repo, "org/svc");
        assert_eq!(p.git_ref, "refs/heads/main");
        assert_eq!(p.commit, B);
        assert_eq!(p.message, "head message");
        assert_eq!(p.author, "bob");
        assert_eq!(
            p.ssh_url.as_deref(),
            Some("ssh://git@gitea.local:2222/org/svc.git")
        );
    }

    #[test]
    fn message_from_commits_without_head_commit() {
        let body = format!(
            r#"{{"ref":"refs/heads/main","before":"{A}","after":"{B}",
            "commits":[{{"id":"{B}","message":"entry message"}}],
            "repository":{{"full_name":"org/svc","clone_url":"https://gitea.local/org/svc.git"}},
            "pusher":{{"login":"bob"}}}}"#
        );
        assert_eq!(
            build(interpret("push", body.as_bytes()).unwrap()).message,
            "entry message"
        );
    }

    #[test]
    fn tag_push_builds_and_create_is_ignored() {
        let p = build(interpret("push", push("refs/tags/v2", Z, A, "[]").as_bytes()).unwrap());
        assert_eq!(p.git_ref, "refs/tags/v2");
        assert_eq!(p.commit, A);
        assert_eq!(p.message, "head message");
        let create = format!(r#"{{"ref":"v2","ref_type":"tag","sha":"{A}"}}"#);
        assert_eq!(
            interpret("create", create.as_bytes()).unwrap(),
            Outcome::Ignore("tag creation (the push event builds it)".into())
        );
    }

    #[test]
    fn deletions_and_tests_are_ignored() {
        let del = interpret("push", push("refs/tags/v2", A, Z, "[]").as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("tag deletion".into()));
        let del = interpret("delete", br#"{"ref":"v2","ref_type":"tag"}"#).unwrap();
        assert_eq!(del, Outcome::Ignore("tag deletion".into()));
        let del = interpret("delete", br#"{"ref":"f","ref_type":"branch"}"#).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        let test = interpret("push", push("refs/heads/main", Z, Z, "[]").as_bytes()).unwrap();
        assert_eq!(test, Outcome::Ignore("test delivery".into()));
        assert_eq!(
            interpret("issues", b"{}").unwrap(),
            Outcome::Ignore("unsupported event \"issues\"".into())
        );
        // A pull request event is read as one (and must say what it is about).
        assert!(interpret("pull_request", b"{}").is_err());
    }

    #[test]
    fn non_branch_refs_are_ignored() {
        let o = interpret("push", push("refs/pull/1/head", A, B, "[]").as_bytes()).unwrap();
        assert!(matches!(o, Outcome::Ignore(r) if r.contains("neither a branch nor a tag")));
    }
}
