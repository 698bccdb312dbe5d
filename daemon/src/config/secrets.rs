//! `[[repo]] secrets` (name → where its value is read from) and `secret_branches` (which jobs
//! may have them). Each value is read once here, so a missing file is a config error naming its
//! key, and read again when a job starts, so a rotated file is picked up; it is never kept.

use super::credentials::KeyError;
use super::filter::{Globs, globs};
use crate::secrets::Source;
use std::collections::BTreeMap;

/// A repository's secrets and who may have them; holds no value.
#[derive(Debug, Clone, Default)]
pub struct RepoSecrets {
    /// Where each secret's value is read from, by name.
    pub sources: BTreeMap<String, Source>,
    /// `secret_branches` as written (for messages); `None`: every trusted job.
    written: Option<Vec<String>>,
    /// Its patterns matched against a branch's name.
    branches: Option<Globs>,
    /// Its patterns that start with `refs/`, matched against the whole ref (tags, pull requests).
    refs: Option<Globs>,
}

impl RepoSecrets {
    /// Why a job of `git_ref` gets no secrets, or `None` when it may have them: a fork's pull
    /// request never does; with `secret_branches` set, only a branch it names (or a ref matching
    /// one of its `refs/...` patterns) does.
    pub fn withheld(&self, git_ref: &str, untrusted: bool) -> Option<String> {
        if untrusted {
            return Some("a fork's pull request gets none".into());
        }
        let written = self.written.as_ref()?;
        let branch_ok = git_ref
            .strip_prefix("refs/heads/")
            .zip(self.branches.as_ref())
            .is_some_and(|(b, g)| g.is_match(b));
        let ref_ok = self.refs.as_ref().is_some_and(|g| g.is_match(git_ref));
        if branch_ok || ref_ok {
            return None;
        }
        Some(match git_ref.strip_prefix("refs/heads/") {
            Some(b) => format!("branch {b:?} is not in secret_branches {written:?}"),
            None => format!("{git_ref} is not in secret_branches {written:?}"),
        })
    }
}

/// Validates `secrets` and `secret_branches` of `[[repo]]` number `key` (`repo[2]`), reading
/// each value once to check it can be.
pub(super) fn repo_secrets(
    key: &str,
    secrets: Option<BTreeMap<String, String>>,
    secret_branches: Option<Vec<String>>,
) -> Result<RepoSecrets, KeyError> {
    let mut sources = BTreeMap::new();
    for (name, written) in secrets.unwrap_or_default() {
        let k = format!("{key}.secrets.{name}");
        if !crate::secrets::is_variable_name(&name) {
            return Err((
                format!("{key}.secrets"),
                format!("{name:?} is not a variable name (letters, digits and _)"),
            ));
        }
        if crate::repo_config::is_reserved(&name) {
            return Err((
                k,
                "is set by microci and cannot be a secret (CI and MICROCI_* are reserved)".into(),
            ));
        }
        let source = Source::parse(&written).map_err(|m| (k.clone(), m))?;
        source.read().map_err(|m| (k.clone(), m))?;
        sources.insert(name, source);
    }
    let (branches, refs) = match &secret_branches {
        None => (None, None),
        Some(list) => {
            let k = format!("{key}.secret_branches");
            globs(&k, list.clone())?;
            let (refs, names): (Vec<String>, Vec<String>) =
                list.iter().cloned().partition(|p| p.starts_with("refs/"));
            let compile = |l: Vec<String>| (!l.is_empty()).then(|| globs(&k, l)).transpose();
            (compile(names)?, compile(refs)?)
        }
    };
    Ok(RepoSecrets {
        sources,
        written: secret_branches,
        branches,
        refs,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_branches(list: &[&str]) -> RepoSecrets {
        let list = list.iter().map(|s| s.to_string()).collect();
        repo_secrets("repo[0]", None, Some(list)).unwrap()
    }

    #[test]
    fn who_gets_secrets() {
        let all = RepoSecrets::default();
        assert_eq!(all.withheld("refs/heads/anything", false), None);
        assert_eq!(all.withheld("refs/tags/v1", false), None);
        assert_eq!(all.withheld("refs/pull/3/head", false), None);
        assert_eq!(
            all.withheld("refs/pull/3/head", true).as_deref(),
            Some("a fork's pull request gets none")
        );
        let some = with_branches(&["main", "release/*", "refs/tags/v*"]);
        assert_eq!(some.withheld("refs/heads/main", false), None);
        assert_eq!(some.withheld("refs/heads/release/1.0", false), None);
        assert_eq!(some.withheld("refs/tags/v1.2", false), None);
        assert_eq!(
            some.withheld("refs/heads/feature", false).as_deref(),
            Some(
                "branch \"feature\" is not in secret_branches \
                 [\"main\", \"release/*\", \"refs/tags/v*\"]"
            )
        );
        assert!(some.withheld("refs/tags/nightly", false).is_some());
        assert!(some.withheld("refs/pull/3/head", false).is_some());
        assert!(some.withheld("refs/heads/main", true).is_some());
    }

    #[test]
    fn bad_entries_name_their_key() {
        let one = |name: &str, value: &str| {
            let m = BTreeMap::from([(name.to_string(), value.to_string())]);
            repo_secrets("repo[1]", Some(m), None).unwrap_err()
        };
        let (k, m) = one("DEPLOY_KEY", "hunter2-literal-value");
        assert_eq!(k, "repo[1].secrets.DEPLOY_KEY");
        assert!(
            m.contains("never written in the config") && !m.contains("hunter2"),
            "{m}"
        );
        let (k, m) = one("DEPLOY_KEY", "file:/nonexistent/microci/key");
        assert_eq!(k, "repo[1].secrets.DEPLOY_KEY");
        assert!(m.contains("/nonexistent/microci/key"), "{m}");
        let (k, m) = one("BAD-NAME", "env:PATH");
        assert_eq!(k, "repo[1].secrets");
        assert!(m.contains("\"BAD-NAME\" is not a variable name"), "{m}");
        let (k, m) = one("MICROCI_TOKEN", "env:PATH");
        assert_eq!(k, "repo[1].secrets.MICROCI_TOKEN");
        assert!(m.contains("reserved"), "{m}");
        let (k, _) = repo_secrets("repo[0]", None, Some(vec![])).unwrap_err();
        assert_eq!(k, "repo[0].secret_branches");
        let (k, _) = repo_secrets("repo[0]", None, Some(vec!["a[".into()])).unwrap_err();
        assert_eq!(k, "repo[0].secret_branches");
    }
}
