//! Validation of the untrusted values in webhook bodies (repository names, refs, commit ids, clone URLs) and
//! UTF-8-safe truncation, so nothing from a forge reaches a path, a shell or a log unchecked.

use super::HookError;

/// Longest repository full name accepted, in bytes.
pub const MAX_REPO_NAME: usize = 200;
/// Longest full ref accepted, in bytes.
pub const MAX_REF: usize = 1024;
/// Longest URL accepted, in bytes.
pub const MAX_URL: usize = 2048;
/// Commit messages are cut to this many bytes (16 KiB) so one push cannot bloat the job table.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Author names are cut to this many bytes.
pub const MAX_AUTHOR: usize = 256;
/// How much of a bad value an error message quotes.
const QUOTE: usize = 100;

/// The kind of a full ref: only branches and tags are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// `refs/heads/...`
    Branch,
    /// `refs/tags/...`
    Tag,
}

impl RefKind {
    /// `"branch"` or `"tag"`, for ignore reasons.
    pub fn word(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
        }
    }

    /// The ref prefix for this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            RefKind::Branch => "refs/heads/",
            RefKind::Tag => "refs/tags/",
        }
    }
}

/// Cuts `s` to at most `max` bytes without splitting a UTF-8 character (never panics).
pub fn truncate_on_char_boundary(mut s: String, max: usize) -> String {
    let end = floor_char_boundary(&s, max);
    s.truncate(end);
    s
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncated_str(s: &str, max: usize) -> &str {
    &s[..floor_char_boundary(s, max)]
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A bad value quoted for an error message: cut short and escaped (`{:?}`), so it cannot forge log lines.
pub(crate) fn quote(value: &str) -> String {
    let short = truncated_str(value, QUOTE);
    if short.len() < value.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

/// True for a repository full name microci accepts: segments of `[A-Za-z0-9._-]` joined by `/`, none empty,
/// none starting with `.` (so no `.` or `..`), at most [`MAX_REPO_NAME`] bytes; exactly two segments
/// (`owner/name`), or two or more when `subgroups` (GitLab `group/sub/name`).
pub fn is_valid_repo_name(name: &str, subgroups: bool) -> bool {
    if name.is_empty() || name.len() > MAX_REPO_NAME {
        return false;
    }
    let mut count = 0;
    for segment in name.split('/') {
        count += 1;
        if segment.is_empty()
            || segment.starts_with('.')
            || !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return false;
        }
    }
    if subgroups { count >= 2 } else { count == 2 }
}

/// Returns the name if [`is_valid_repo_name`], else `BadRequest` naming `field` and the value.
pub fn validate_repo_name(field: &str, name: &str, subgroups: bool) -> Result<String, HookError> {
    if is_valid_repo_name(name, subgroups) {
        Ok(name.to_owned())
    } else {
        Err(HookError::BadRequest(format!(
            "{field} {} is not a valid repository name",
            quote(name)
        )))
    }
}

/// True when `sha` is all zeros: git's "no commit", which forges send as `after` on deletions.
pub fn is_zero_commit(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A 40-hex commit id, lowercased; anything else is `BadRequest` naming `field`. The all-zero id
/// is refused too: it is git's "no commit", never one to build (callers that read it as a
/// deletion check [`is_zero_commit`] first).
pub fn validate_commit(field: &str, sha: &str) -> Result<String, HookError> {
    if sha.len() == 40 && is_zero_commit(sha) {
        Err(HookError::BadRequest(format!(
            "field \"{field}\" is the all-zero commit id: there is no commit to build"
        )))
    } else if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(HookError::BadRequest(format!(
            "field \"{field}\" {} is not a 40-hex commit id",
            quote(sha)
        )))
    }
}

/// A commit id of 7 to 40 hex digits, lowercased: Bitbucket's pull request events abbreviate the
/// head commit (12 digits in practice). The job resolves it to the full id when it fetches.
pub fn validate_commit_prefix(field: &str, sha: &str) -> Result<String, HookError> {
    if sha.len() == 40 {
        return validate_commit(field, sha);
    }
    if (7..40).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(HookError::BadRequest(format!(
            "field \"{field}\" {} is not a commit id (7 to 40 hex digits)",
            quote(sha)
        )))
    }
}

/// Checks a full ref against a subset of `git check-ref-format`: non-empty, at most [`MAX_REF`] bytes, no
/// control characters, spaces, `..`, `~^:?*[\`, `@{` or `//`, no component starting with `.` or ending with
/// `.lock`, not ending with `/` or `.`. Git itself refuses such refs, so no real push is rejected.
pub fn validate_ref(field: &str, git_ref: &str) -> Result<(), HookError> {
    let bad = git_ref.is_empty()
        || git_ref.len() > MAX_REF
        || git_ref.chars().any(|c| {
            c.is_control() || c.is_whitespace() || is_bidi_control(c) || "~^:?*[\\".contains(c)
        })
        || git_ref.contains("..")
        || git_ref.contains("@{")
        || git_ref.contains("//")
        || git_ref.ends_with('/')
        || git_ref.ends_with('.')
        || git_ref.starts_with('/')
        || git_ref
            .split('/')
            .any(|c| c.starts_with('.') || c.ends_with(".lock"));
    if bad {
        Err(HookError::BadRequest(format!(
            "field \"{field}\" {} is not a valid git ref",
            quote(git_ref)
        )))
    } else {
        Ok(())
    }
}

/// Unicode's bidirectional formatting characters: they make text display in another order than
/// it is stored (`main\u{202E}exe.sh` shows as `mainhs.exe`), so a name could look like another.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether a full ref is a branch or a tag (with a non-empty name), or neither.
pub fn ref_kind(git_ref: &str) -> Option<RefKind> {
    [RefKind::Branch, RefKind::Tag].into_iter().find(|k| {
        git_ref
            .strip_prefix(k.prefix())
            .is_some_and(|rest| !rest.is_empty())
    })
}

/// Turns the short name that `create`/`delete` events carry (`v1.0`) into a full ref (`refs/tags/v1.0`);
/// a name that is already a full ref is kept.
pub fn expand_ref(name: &str, kind: RefKind) -> String {
    if name.starts_with("refs/") {
        name.to_owned()
    } else {
        format!("{}{name}", kind.prefix())
    }
}

/// An HTTP(S) clone URL: scheme `http`/`https`, a host, no whitespace or control characters, at most
/// [`MAX_URL`] bytes. Other schemes (`file://`, `ext::`, local paths) could make a clone read the host.
pub fn validate_clone_url(field: &str, url: &str) -> Result<String, HookError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        ""
    };
    let ok = !rest.is_empty()
        && !rest.starts_with('/')
        && url.len() <= MAX_URL
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(url.to_owned())
    } else {
        Err(HookError::BadRequest(format!(
            "{field} {} is not an http(s) URL",
            quote(url)
        )))
    }
}

/// Keeps a repository's web address (`html_url`, GitLab `web_url`) only if it is a plain
/// http(s) URL with no character that could mislead a reader; it is optional (links in `show` and
/// on the pages), so anything else becomes `None`. Without a trailing `/`.
pub fn sanitize_web_url(url: Option<String>) -> Option<String> {
    let url = url?;
    let url = url.trim_end_matches('/');
    let clean = validate_clone_url("web URL", url).is_ok()
        && !url
            .chars()
            .any(|c| is_bidi_control(c) || "\"'<>`\\".contains(c));
    clean.then(|| url.to_string())
}

/// Keeps an SSH clone URL only if it looks like one (`ssh://...` or scp-like `[user@]host:path`) with no
/// whitespace or control characters and no leading `-`; it is optional, so anything else becomes `None`.
pub fn sanitize_ssh_url(url: Option<String>) -> Option<String> {
    let url = url?;
    if url.is_empty()
        || url.len() > MAX_URL
        || url.starts_with('-')
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ssh://") || lower.starts_with("git+ssh://") {
        return Some(url);
    }
    let (host, path) = url.split_once(':')?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    (host_ok && !path.is_empty() && !path.starts_with(':')).then_some(url)
}

/// Keeps a default branch name only if `refs/heads/<name>` is a valid ref; it is informational.
pub fn sanitize_branch(name: Option<String>) -> Option<String> {
    let name = name?;
    validate_ref("default_branch", &format!("refs/heads/{name}"))
        .ok()
        .map(|()| name)
}

/// The first non-empty candidate without control or bidirectional characters, cut to
/// [`MAX_AUTHOR`] bytes; empty if none.
pub fn pick_author<I: IntoIterator<Item = Option<String>>>(candidates: I) -> String {
    let first: String = candidates
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    truncate_on_char_boundary(first, MAX_AUTHOR)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        for good in [
            "alice/app",
            "a-b/c.d_e",
            "Octocoders/Hello-World",
            "o/x.git",
        ] {
            assert!(is_valid_repo_name(good, false), "{good}");
        }
        assert!(is_valid_repo_name("grp/sub/app", true));
        assert!(!is_valid_repo_name("grp/sub/app", false));
        for bad in [
            "../etc",
            "a/b;rm -rf",
            "a",
            "a//b",
            ".hidden/x",
            "a/..",
            "a/.",
            "/a/b",
            "a/b/",
            "a/b c",
            "a/b\n",
            "ä/b",
            "",
        ] {
            assert!(!is_valid_repo_name(bad, true), "{bad:?}");
            let err = validate_repo_name("repository full_name", bad, true).unwrap_err();
            assert!(matches!(err, HookError::BadRequest(_)));
        }
        let long = format!("a/{}", "b".repeat(199));
        assert!(!is_valid_repo_name(&long, false));
        let just = format!("a/{}", "b".repeat(198));
        assert!(is_valid_repo_name(&just, false));
        assert_eq!(
            validate_repo_name("repository full_name", "../x", false)
                .unwrap_err()
                .to_string(),
            "repository full_name \"../x\" is not a valid repository name"
        );
    }

    #[test]
    fn commits() {
        let upper = "ABCDEF0123456789ABCDEF0123456789ABCDEF01";
        assert_eq!(
            validate_commit("after", upper).unwrap(),
            upper.to_ascii_lowercase()
        );
        assert!(validate_commit("after", "abc").is_err());
        assert!(validate_commit("after", &"g".repeat(40)).is_err());
        assert!(validate_commit("after", &format!("{}é", "a".repeat(38))).is_err());
        // Found by fuzz/fuzz_targets/webhook_gogs.rs: a tag `create` with `"sha": "000…0"` built
        // the all-zero commit.
        assert!(validate_commit("sha", &"0".repeat(40)).is_err());
        assert!(is_zero_commit(&"0".repeat(40)));
        assert!(!is_zero_commit(""));
        assert!(!is_zero_commit(upper));
    }

    #[test]
    fn refs() {
        for good in [
            "refs/heads/main",
            "refs/tags/v1.0.0",
            "refs/heads/feature/x-y_z",
        ] {
            assert!(validate_ref("ref", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "refs/heads/a b",
            "refs/heads/a..b",
            "refs/heads/a\u{7}",
            "refs/heads/a\n",
            "refs/heads/x.lock",
            "refs/heads/.x",
            "refs/heads/x/",
            "refs/heads/a~1",
            "refs/heads/a:b",
            "refs/heads//a",
            "refs/heads/main\u{202E}hs.exe",
            "refs/heads/\u{2066}x",
            "refs/tags/v1\u{200F}",
            "refs/heads/a\u{9b}2J",
        ] {
            assert!(validate_ref("ref", bad).is_err(), "{bad:?}");
        }
        assert!(validate_ref("ref", "refs/heads/fix-für-äöü").is_ok());
        assert_eq!(
            pick_author([Some("mal\u{202E}lory\x1b]0;x\x07".into())]),
            "mallory]0;x"
        );
        assert_eq!(ref_kind("refs/heads/main"), Some(RefKind::Branch));
        assert_eq!(ref_kind("refs/tags/v1"), Some(RefKind::Tag));
        assert_eq!(ref_kind("refs/heads/"), None);
        assert_eq!(ref_kind("refs/notes/x"), None);
        assert_eq!(expand_ref("v1", RefKind::Tag), "refs/tags/v1");
        assert_eq!(expand_ref("dev", RefKind::Branch), "refs/heads/dev");
        assert_eq!(expand_ref("refs/tags/v1", RefKind::Tag), "refs/tags/v1");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        // 4-byte emoji: 16 KiB is a multiple of 4, so shift by one ASCII byte to land mid-character.
        let msg = format!("x{}", "😀".repeat(2000));
        let cut = truncate_on_char_boundary(msg.clone(), 4097);
        assert_eq!(cut.len(), 4097);
        let cut = truncate_on_char_boundary(msg.clone(), 4096);
        assert_eq!(cut.len(), 4093);
        assert!(cut.ends_with('😀'));
        // 3-byte CJK, 2000 chars = 6000 bytes, cut at 256.
        let cjk = "漢".repeat(2000);
        let cut = truncate_on_char_boundary(cjk, MAX_AUTHOR);
        assert_eq!(cut.len(), 255);
        assert_eq!(cut.chars().count(), 85);
        // Short strings untouched; zero budget gives empty.
        assert_eq!(truncate_on_char_boundary("hé".into(), 10), "hé");
        assert_eq!(truncate_on_char_boundary("é".into(), 1), "");
        assert_eq!(truncated_str("ab", 0), "");
    }

    #[test]
    fn urls() {
        assert!(validate_clone_url("clone_url", "https://example.com/a/b.git").is_ok());
        assert!(validate_clone_url("clone_url", "HTTP://localhost:3000/a/b.git").is_ok());
        for bad in [
            "file:///etc",
            "ext::sh -c id",
            "/srv/git/a.git",
            "https://",
            "https:///x",
            "https://a b",
            "",
            "ht",
        ] {
            assert!(validate_clone_url("clone_url", bad).is_err(), "{bad:?}");
        }
        let ok = |s: &str| sanitize_ssh_url(Some(s.to_owned()));
        assert!(ok("git@example.com:a/b.git").is_some());
        assert!(ok("ssh://git@example.com:2222/a/b.git").is_some());
        assert!(ok("-oProxyCommand=x:y").is_none());
        assert!(ok("ext::sh").is_none());
        assert!(ok("git@h:a b").is_none());
        assert!(ok("noscheme").is_none());
        assert_eq!(
            sanitize_branch(Some("main".into())).as_deref(),
            Some("main")
        );
        assert_eq!(sanitize_branch(Some("a..b".into())), None);
    }

    #[test]
    fn authors() {
        assert_eq!(
            pick_author([None, Some(String::new()), Some("bob".into())]),
            "bob"
        );
        assert_eq!(pick_author([None]), "");
        assert_eq!(pick_author([Some("é".repeat(300))]).len(), 256);
    }

    #[test]
    fn quoting_escapes_and_cuts() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert!(quote(&"x".repeat(500)).ends_with("\"..."));
    }
}
