//! GitHub deliveries: `push` builds (branches and tags alike), `ping` and deletions are ignored, and the
//! `create`/`delete` events are ignored because GitHub also sends a `push` for each.

use super::common::{self, PushRules};
use super::{HookError, Outcome, parse_json, unsupported};

/// GitHub has no `before == after` test delivery (its test is `ping`).
const RULES: PushRules = PushRules {
    before_equals_after_is_test: false,
};

/// Decides a GitHub delivery.
///
/// - `ping` -> "ping".
/// - `push`: `deleted: true` or `after` all zeros -> "branch deletion"/"tag deletion"; otherwise build
///   `after` with `head_commit.message`; author `pusher.name`, else `sender.login`.
/// - `create` -> "branch creation (the push event builds it)" / "tag creation (the push event builds it)".
/// - `delete` -> "branch deletion" / "tag deletion".
/// - `pull_request` -> see [`super::pulls`].
/// - anything else -> `unsupported event "<name>"`.
pub(crate) fn interpret(event: &str, body: &[u8]) -> Result<Outcome, HookError> {
    match event {
        "ping" => Ok(Outcome::Ignore("ping".to_owned())),
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

    const A: &str = "0123456789abcdef0123456789abcdef01234567";
    const B: &str = "89abcdef0123456789abcdef0123456789abcdef";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn push(git_ref: &str, before: &str, after: &str, deleted: bool) -> String {
        let head = if after == Z {
            "null".to_owned()
        } else {
            format!(r#"{{"id":"{after}","message":"Update README"}}"#)
        };
        format!(
            r#"{{"ref":"{git_ref}","before":"{before}","after":"{after}","created":false,
            "deleted":{deleted},"base_ref":null,"commits":[],"head_commit":{head},
            "repository":{{"id":1,"name":"Hello-World","full_name":"Octo/Hello-World",
              "clone_url":"https://github.com/Octo/Hello-World.git",
              "ssh_url":"git@github.com:Octo/Hello-World.git","default_branch":"main"}},
            "pusher":{{"name":"octocat","email":"o@example.com"}},"sender":{{"login":"octo-sender"}}}}"#
        )
    }

    fn build(o: Outcome) -> Push {
        match o {
            Outcome::Build(p) => p,
            other => panic!("expected Build, got {other:?}"),
        }
    }

    #[test]
    fn push_builds_after() {
        let p = build(interpret("push", push("refs/heads/main", A, B, false).as_bytes()).unwrap());
        assert_eq!(p.repo, "Octo/Hello-World");
        assert_eq!(p.clone_url, "https://github.com/Octo/Hello-World.git");
        assert_eq!(p.git_ref, "refs/heads/main");
        assert_eq!(p.commit, B);
        assert_eq!(p.message, "Update README");
        assert_eq!(p.author, "octocat");
        assert_eq!(p.default_branch.as_deref(), Some("main"));
    }

    #[test]
    fn tag_push_builds() {
        let p = build(interpret("push", push("refs/tags/v1", Z, A, false).as_bytes()).unwrap());
        assert_eq!(p.git_ref, "refs/tags/v1");
        assert_eq!(p.commit, A);
    }

    #[test]
    fn author_falls_back_to_sender() {
        let body = push("refs/heads/main", A, B, false).replace(r#""name":"octocat","#, "");
        assert_eq!(
            build(interpret("push", body.as_bytes()).unwrap()).author,
            "octo-sender"
        );
    }

    #[test]
    fn ignored() {
        assert_eq!(
            interpret("ping", br#"{"zen":"x"}"#).unwrap(),
            Outcome::Ignore("ping".into())
        );
        let del = interpret("push", push("refs/heads/f", A, Z, true).as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        let del = interpret("push", push("refs/tags/v1", A, Z, true).as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("tag deletion".into()));
        // `deleted: true` alone is enough.
        let del = interpret("push", push("refs/heads/f", A, B, true).as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        // No test-delivery rule on GitHub: before == after still builds.
        assert!(matches!(
            interpret("push", push("refs/heads/main", A, A, false).as_bytes()).unwrap(),
            Outcome::Build(_)
        ));
        let c = br#"{"ref":"v1","ref_type":"tag","master_branch":"main"}"#;
        assert_eq!(
            interpret("create", c).unwrap(),
            Outcome::Ignore("tag creation (the push event builds it)".into())
        );
        let d = br#"{"ref":"f","ref_type":"branch"}"#;
        assert_eq!(
            interpret("delete", d).unwrap(),
            Outcome::Ignore("branch deletion".into())
        );
        assert_eq!(
            interpret("issues", b"{}").unwrap(),
            Outcome::Ignore("unsupported event \"issues\"".into())
        );
    }

    #[test]
    fn bad_requests() {
        let m = interpret(
            "push",
            br#"{"ref":"refs/heads/main","after":"x","repository":{"full_name":"a/b"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(m, "missing field \"repository.clone_url\"");
        let m = interpret("push", br#"{"repository":{"full_name":5}}"#)
            .unwrap_err()
            .to_string();
        assert!(m.starts_with("body is not a valid webhook payload"), "{m}");
    }
}
