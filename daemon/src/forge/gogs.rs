//! Gogs deliveries: `push` builds, `create` of a tag builds the tag's commit (Gogs sends no push for tags),
//! branch creation and all deletions are ignored.

use super::common::{self, PushRules, RefPayload};
use super::names::{self, RefKind};
use super::{HookError, Outcome, Push, parse_json, unsupported};

/// Gogs test deliveries are pushes with `before == after`.
const RULES: PushRules = PushRules {
    before_equals_after_is_test: true,
};

/// Decides a Gogs delivery.
///
/// - `push`: `before == after` -> "test delivery"; `after` all zeros -> "branch deletion"/"tag deletion";
///   otherwise build `after`.
/// - `create` with `ref_type: tag` -> build `sha` at `refs/tags/<ref>` (the only event Gogs sends for a new
///   tag). A tag `create` without `sha` (older Gogs) is a BadRequest `missing field "sha"`: there is no
///   commit to build, and a 400 shows up in the forge's delivery log rather than vanishing.
/// - `create` with `ref_type: branch` -> "branch creation (the push event builds it)".
/// - `delete` -> "branch deletion" / "tag deletion".
/// - anything else -> `unsupported event "<name>"`.
pub(crate) fn interpret(event: &str, body: &[u8]) -> Result<Outcome, HookError> {
    match event {
        "push" => common::interpret_push(parse_json(body)?, &RULES),
        "create" => create(parse_json(body)?),
        "delete" => {
            let p: RefPayload = parse_json(body)?;
            Ok(common::deletion(common::ref_type_kind(
                p.ref_type.as_deref(),
            )))
        }
        _ => Ok(unsupported(event)),
    }
}

fn create(p: RefPayload) -> Result<Outcome, HookError> {
    match common::ref_type_kind(p.ref_type.as_deref()) {
        Some(RefKind::Tag) => {}
        Some(RefKind::Branch) => {
            return Ok(Outcome::Ignore(
                "branch creation (the push event builds it)".to_owned(),
            ));
        }
        None => {
            return Ok(Outcome::Ignore(match p.ref_type {
                Some(t) => format!("creation of a {}", names::quote(&t)),
                None => "creation of a ref without ref_type".to_owned(),
            }));
        }
    }
    let repo = common::repo_fields(p.repository)?;
    let short = p.git_ref.ok_or_else(|| HookError::missing("ref"))?;
    let git_ref = names::expand_ref(&short, RefKind::Tag);
    names::validate_ref("ref", &git_ref)?;
    let sha = p.sha.ok_or_else(|| HookError::missing("sha"))?;
    let commit = names::validate_commit("sha", &sha)?;
    let default_branch = names::sanitize_branch(p.default_branch).or(repo.default_branch.clone());
    let author = common::author_of(None, p.sender);
    Ok(Outcome::Build(Push {
        default_branch,
        // A create event carries no commit message.
        ..repo.push(git_ref, commit, String::new(), author)
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn push(git_ref: &str, before: &str, after: &str) -> String {
        format!(
            r#"{{"ref":"{git_ref}","before":"{before}","after":"{after}",
            "commits":[{{"id":"{B}","message":"older"}},{{"id":"{after}","message":"fix the thing\n"}}],
            "repository":{{"full_name":"alice/app","clone_url":"http://git.local/alice/app.git",
              "ssh_url":"git@git.local:alice/app.git","default_branch":"main"}},
            "pusher":{{"login":"","username":"alice","full_name":"Alice"}},
            "sender":{{"login":"alice2"}}}}"#
        )
    }

    fn build(o: Outcome) -> Push {
        match o {
            Outcome::Build(p) => p,
            other => panic!("expected Build, got {other:?}"),
        }
    }

    fn bad(r: Result<Outcome, HookError>) -> String {
        match r {
            Err(HookError::BadRequest(m)) => m,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn push_builds_after() {
        let p = build(interpret("push", push("refs/heads/main", A, B).as_bytes()).unwrap());
        assert_eq!(p.repo, "alice/app");
        assert_eq!(p.clone_url, "http://git.local/alice/app.git");
        assert_eq!(p.ssh_url.as_deref(), Some("git@git.local:alice/app.git"));
        assert_eq!(p.git_ref, "refs/heads/main");
        assert_eq!(p.commit, B);
        assert_eq!(p.message, "older", "first commits[] entry with id == after");
        assert_eq!(p.author, "alice", "empty login falls back to username");
        assert_eq!(p.default_branch.as_deref(), Some("main"));
    }

    #[test]
    fn push_message_matches_after() {
        let body = push("refs/heads/main", B, A);
        let p = build(interpret("push", body.as_bytes()).unwrap());
        assert_eq!(p.message, "fix the thing\n");
        assert_eq!(p.commit, A);
    }

    #[test]
    fn push_uppercase_commit_is_lowercased() {
        let upper = "ABCDEF0123456789ABCDEF0123456789ABCDEF01";
        let p = build(interpret("push", push("refs/heads/main", A, upper).as_bytes()).unwrap());
        assert_eq!(p.commit, upper.to_ascii_lowercase());
        assert_eq!(p.message, "fix the thing\n");
    }

    #[test]
    fn push_ignores_deletions_and_tests() {
        let del = interpret("push", push("refs/heads/x", A, Z).as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("branch deletion".into()));
        let del = interpret("push", push("refs/tags/v1", A, Z).as_bytes()).unwrap();
        assert_eq!(del, Outcome::Ignore("tag deletion".into()));
        let test = interpret("push", push("refs/heads/main", A, A).as_bytes()).unwrap();
        assert_eq!(test, Outcome::Ignore("test delivery".into()));
        // Test delivery on an empty repository: both all zeros.
        let test = interpret("push", push("refs/heads/main", Z, Z).as_bytes()).unwrap();
        assert_eq!(test, Outcome::Ignore("test delivery".into()));
    }

    #[test]
    fn push_bad_requests_name_the_field() {
        assert_eq!(
            bad(interpret("push", br#"{"ref":"refs/heads/m","after":"x"}"#)),
            "missing field \"repository\""
        );
        let no_after = r#"{"ref":"refs/heads/m","repository":{"full_name":"a/b","clone_url":"http://h/a/b.git"}}"#;
        assert_eq!(
            bad(interpret("push", no_after.as_bytes())),
            "missing field \"after\""
        );
        let m = bad(interpret("push", b"{not json"));
        assert!(m.starts_with("body is not valid JSON: "), "{m}");
        let m = bad(interpret(
            "push",
            push("refs/heads/main", A, "nothex").as_bytes(),
        ));
        assert!(m.contains("\"after\""), "{m}");
        let m = bad(interpret("push", push("refs/heads/a b", A, B).as_bytes()));
        assert!(m.contains("not a valid git ref"), "{m}");
        for name in ["../etc", "a/b;rm -rf", "a", "a//b", ".hidden/x"] {
            let body = push("refs/heads/main", A, B).replace("alice/app\"", &format!("{name}\""));
            let m = bad(interpret("push", body.as_bytes()));
            assert!(m.contains("is not a valid repository name"), "{name}: {m}");
        }
        let body = push("refs/heads/main", A, B).replace("http://git.local", "file://");
        assert!(bad(interpret("push", body.as_bytes())).contains("not an http(s) URL"));
    }

    #[test]
    fn long_multibyte_message_is_cut_on_a_boundary() {
        let long = "é😀漢".repeat(2000); // 9 bytes per repeat, 18,000 bytes
        let body = push("refs/heads/main", A, B).replace("older", &long);
        let p = build(interpret("push", body.as_bytes()).unwrap());
        assert!(p.message.len() <= names::MAX_MESSAGE);
        assert!(p.message.len() > names::MAX_MESSAGE - 4);
        assert!(long.starts_with(&p.message));
    }

    #[test]
    fn two_thousand_multibyte_chars() {
        // 2000 four-byte chars (8,000 bytes) fit in a message but not in an author (256 bytes).
        let emoji = "😀".repeat(2000);
        let body = push("refs/heads/main", A, B)
            .replace("older", &emoji)
            .replace(
                r#""login":"","#,
                &format!(r#""login":"{}","#, "漢".repeat(2000)),
            );
        let p = build(interpret("push", body.as_bytes()).unwrap());
        assert_eq!(p.message, emoji);
        assert_eq!(p.author.len(), 255);
        assert_eq!(p.author, "漢".repeat(85));
    }

    #[test]
    fn create_tag_builds_its_sha() {
        let body = format!(
            r#"{{"ref":"v1.0","ref_type":"tag","sha":"{A}","default_branch":"main",
            "repository":{{"full_name":"alice/app","clone_url":"https://git.local/alice/app.git"}},
            "sender":{{"login":"alice"}}}}"#
        );
        let p = build(interpret("create", body.as_bytes()).unwrap());
        assert_eq!(p.git_ref, "refs/tags/v1.0");
        assert_eq!(p.commit, A);
        assert_eq!(p.author, "alice");
        assert_eq!(p.message, "");
        assert_eq!(p.default_branch.as_deref(), Some("main"));

        let no_sha = body.replace(&format!(r#""sha":"{A}","#), "");
        assert_eq!(
            bad(interpret("create", no_sha.as_bytes())),
            "missing field \"sha\""
        );
        // Found by fuzz/fuzz_targets/webhook_gogs.rs: the all-zero sha was built.
        let zero_sha = body.replace(A, Z);
        assert_eq!(
            bad(interpret("create", zero_sha.as_bytes())),
            "field \"sha\" is the all-zero commit id: there is no commit to build"
        );
    }

    #[test]
    fn other_events_are_ignored() {
        let branch = br#"{"ref":"feature","ref_type":"branch","repository":{"full_name":"a/b"}}"#;
        assert_eq!(
            interpret("create", branch).unwrap(),
            Outcome::Ignore("branch creation (the push event builds it)".into())
        );
        assert_eq!(
            interpret("delete", branch).unwrap(),
            Outcome::Ignore("branch deletion".into())
        );
        let tag = br#"{"ref":"v1","ref_type":"tag"}"#;
        assert_eq!(
            interpret("delete", tag).unwrap(),
            Outcome::Ignore("tag deletion".into())
        );
        assert_eq!(
            interpret("issues", b"{}").unwrap(),
            Outcome::Ignore("unsupported event \"issues\"".into())
        );
    }
}
