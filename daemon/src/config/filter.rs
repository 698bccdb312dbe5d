//! What builds, per `[[repo]]`: `branches` (globs), `tags`, and `paths` (globs over the files a
//! push changed, where the forge lists them). Manual runs and retries do not go through here.

use super::credentials::KeyError;
use glob::{MatchOptions, Pattern};
use serde::Deserialize;

/// Which pull requests build (`[[repo]] pull_requests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullRequests {
    /// None.
    None,
    /// Those whose head is in the repository itself (the default): a fork's code is a
    /// stranger's.
    #[default]
    SameRepo,
    /// Forks' too; their jobs are marked untrusted.
    All,
}

/// A repository's build filter; the default builds everything.
#[derive(Debug, Clone)]
pub struct BuildFilter {
    /// Branch names that build (`None`: all).
    branches: Option<Globs>,
    /// Whether tags build.
    tags: bool,
    /// Changed paths that make a push build (`None`: any).
    paths: Option<Globs>,
}

/// Patterns as written (for messages) and compiled.
#[derive(Debug, Clone)]
pub(super) struct Globs {
    written: Vec<String>,
    patterns: Vec<Pattern>,
}

impl Globs {
    /// `*` stays within one `/` level, `**` crosses them; case matters.
    pub(super) fn is_match(&self, text: &str) -> bool {
        let options = MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.patterns.iter().any(|p| p.matches_with(text, options))
    }
}

impl Default for BuildFilter {
    fn default() -> Self {
        BuildFilter {
            branches: None,
            tags: true,
            paths: None,
        }
    }
}

impl BuildFilter {
    /// Validates the three keys of `[[repo]]` number `key` (`repo[2]`).
    pub(super) fn parse(
        key: &str,
        branches: Option<Vec<String>>,
        tags: Option<bool>,
        paths: Option<Vec<String>>,
    ) -> Result<BuildFilter, KeyError> {
        Ok(BuildFilter {
            branches: branches
                .map(|b| globs(&format!("{key}.branches"), b))
                .transpose()?,
            tags: tags.unwrap_or(true),
            paths: paths
                .map(|p| globs(&format!("{key}.paths"), p))
                .transpose()?,
        })
    }

    /// Why a push of `git_ref` that changed `changed` (when the forge listed them) builds
    /// nothing; `None` when it builds.
    pub fn refuses(&self, git_ref: &str, changed: Option<&[String]>) -> Option<String> {
        if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
            if !self.tags {
                return Some(format!("tag {tag:?}: tags do not build (tags = false)"));
            }
        } else if let (Some(branch), Some(globs)) =
            (git_ref.strip_prefix("refs/heads/"), &self.branches)
            && !globs.is_match(branch)
        {
            return Some(format!(
                "branch {branch:?} is not in branches {:?}",
                globs.written
            ));
        }
        match (&self.paths, changed) {
            (Some(globs), Some(files))
                if !files.is_empty() && !files.iter().any(|f| globs.is_match(f)) =>
            {
                Some(format!("no changed file matches paths {:?}", globs.written))
            }
            _ => None,
        }
    }
}

/// Compiles the patterns of `key`, naming the first bad one.
pub(super) fn globs(key: &str, written: Vec<String>) -> Result<Globs, KeyError> {
    if written.is_empty() {
        return Err((
            key.into(),
            "must name at least one pattern (or leave it out)".into(),
        ));
    }
    let patterns = written
        .iter()
        .map(|p| {
            Pattern::new(p).map_err(|e| (key.to_string(), format!("{p:?} is not a glob: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Globs { written, patterns })
}

/// Whether a commit message asks for no build: `[skip ci]` or `[ci skip]` anywhere, or a
/// `skip-checks: true` trailer line (GitHub's), in any letter case.
pub fn skips_ci(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("[skip ci]")
        || lower.contains("[ci skip]")
        || lower.lines().any(|l| {
            l.trim()
                .strip_prefix("skip-checks:")
                .is_some_and(|v| v.trim() == "true")
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter(branches: Option<&[&str]>, tags: bool, paths: Option<&[&str]>) -> BuildFilter {
        let list = |v: Option<&[&str]>| v.map(|v| v.iter().map(|s| s.to_string()).collect());
        BuildFilter::parse("repo[0]", list(branches), Some(tags), list(paths)).unwrap()
    }

    #[test]
    fn branches_tags_and_paths_decide_what_builds() {
        let files = |f: &[&str]| Some(f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let main_release = Some(&["main", "release/*"][..]);
        let src = Some(&["src/**", "Cargo.toml"][..]);
        // (filter, ref, changed files, builds?)
        let cases: Vec<(BuildFilter, &str, Option<Vec<String>>, bool)> = vec![
            (filter(None, true, None), "refs/heads/anything", None, true),
            (
                filter(main_release, true, None),
                "refs/heads/main",
                None,
                true,
            ),
            (
                filter(main_release, true, None),
                "refs/heads/release/1.0",
                None,
                true,
            ),
            (
                filter(main_release, true, None),
                "refs/heads/release/1/2",
                None,
                false,
            ),
            (
                filter(main_release, true, None),
                "refs/heads/feature",
                None,
                false,
            ),
            (filter(main_release, true, None), "refs/tags/v1", None, true),
            (filter(None, false, None), "refs/tags/v1", None, false),
            (filter(None, false, None), "refs/heads/main", None, true),
            (
                filter(None, true, src),
                "refs/heads/main",
                files(&["src/a/b.rs"]),
                true,
            ),
            (
                filter(None, true, src),
                "refs/heads/main",
                files(&["README.md", "Cargo.toml"]),
                true,
            ),
            (
                filter(None, true, src),
                "refs/heads/main",
                files(&["README.md"]),
                false,
            ),
            (
                filter(None, true, src),
                "refs/heads/main",
                files(&["docs/src/x"]),
                false,
            ),
            // The forge did not list the files (or listed none): build.
            (filter(None, true, src), "refs/heads/main", None, true),
            (filter(None, true, src), "refs/heads/main", files(&[]), true),
        ];
        for (i, (f, git_ref, changed, builds)) in cases.into_iter().enumerate() {
            let refused = f.refuses(git_ref, changed.as_deref());
            assert_eq!(
                refused.is_none(),
                builds,
                "case {i}: {git_ref} {changed:?}: {refused:?}"
            );
        }
        let why = filter(main_release, true, None).refuses("refs/heads/feature", None);
        assert_eq!(
            why.as_deref(),
            Some("branch \"feature\" is not in branches [\"main\", \"release/*\"]")
        );
    }

    #[test]
    fn bad_globs_name_their_key() {
        let err = BuildFilter::parse("repo[1]", Some(vec!["a[".into()]), None, None).unwrap_err();
        assert_eq!(err.0, "repo[1].branches");
        let err = BuildFilter::parse("repo[1]", None, None, Some(vec![])).unwrap_err();
        assert_eq!(err.0, "repo[1].paths");
    }

    #[test]
    fn skip_ci_markers() {
        for m in [
            "fix [skip ci]",
            "[CI SKIP] docs",
            "x\n\nSkip-Checks: true\n",
            "a [skip ci]\nb",
        ] {
            assert!(skips_ci(m), "{m:?}");
        }
        for m in [
            "skip ci",
            "[skip-ci]",
            "skip-checks: false",
            "notskip-checks: true x",
        ] {
            assert!(!skips_ci(m), "{m:?}");
        }
    }
}
