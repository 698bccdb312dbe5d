//! The `"artifacts"` globs of `.microci.json`: checked when the file is read (relative, inside
//! `/repo`, valid), and matched against the paths of the archive the engine sends back.

use glob::{MatchOptions, Pattern};

/// Most globs one job may list.
pub const MAX_PATTERNS: usize = 32;
/// Longest glob accepted.
const MAX_PATTERN_LEN: usize = 256;

/// A job's artifact globs, checked.
#[derive(Debug, Clone)]
pub struct Patterns {
    globs: Vec<(String, Pattern)>,
}

/// How paths are matched: `*` and `?` stay inside one path component, `**` crosses them, and
/// dot files are matched like any other (a job names what it wants).
const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Patterns {
    /// Checks the globs as `.microci.json` gives them; the error names the bad one and says why.
    pub fn parse(globs: &[String]) -> Result<Patterns, String> {
        if globs.len() > MAX_PATTERNS {
            return Err(format!(
                "\"artifacts\" lists {} globs, more than {MAX_PATTERNS}",
                globs.len()
            ));
        }
        let mut checked = Vec::with_capacity(globs.len());
        for g in globs {
            let bad = |why: &str| format!("\"artifacts\" glob {g:?} {why}");
            if g.is_empty() || g.len() > MAX_PATTERN_LEN {
                return Err(bad("must be 1 to 256 characters long"));
            }
            if g.chars().any(char::is_control) {
                return Err(bad("contains a control character"));
            }
            if g.starts_with('/') {
                return Err(bad("must be relative to /repo, not absolute"));
            }
            let mut parts = g.trim_end_matches('/').split('/');
            if parts.any(|c| c.is_empty() || c == "." || c == "..") {
                return Err(bad("must not contain empty, \".\" or \"..\" components"));
            }
            let pattern = Pattern::new(g.trim_end_matches('/'))
                .map_err(|e| bad(&format!("is not a valid glob: {}", e.msg)))?;
            checked.push((g.clone(), pattern));
        }
        Ok(Patterns { globs: checked })
    }

    /// No globs: nothing is collected.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// The globs as the job wrote them.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.globs.iter().map(|(s, _)| s.as_str())
    }

    /// Which glob (by index) wants `path` (relative to `/repo`, `/`-separated): the first that
    /// matches it, or matches one of its directories (`"dist"` keeps all of `dist/`).
    pub fn matching(&self, path: &str) -> Option<usize> {
        let mut candidate = path;
        loop {
            if let Some(i) = self
                .globs
                .iter()
                .position(|(_, p)| p.matches_with(candidate, OPTIONS))
            {
                return Some(i);
            }
            candidate = candidate.rsplit_once('/')?.0;
        }
    }

    /// Whether some glob reaches below `dir` (a path relative to `/repo`): `target/debian/*.deb`
    /// reaches below `target` and `target/debian`. A symbolic link there would be a way out.
    pub fn reaches_below(&self, dir: &str) -> bool {
        let depth = dir.split('/').count();
        self.globs.iter().any(|(source, _)| {
            let parts: Vec<&str> = source.trim_end_matches('/').split('/').collect();
            parts.len() > depth
                && Pattern::new(&parts[..depth].join("/"))
                    .is_ok_and(|p| p.matches_with(dir, OPTIONS))
        })
    }

    /// The directories of `/repo` (relative, `""` for `/repo` itself) whose archives hold every
    /// match. Each is a direct child of `/repo` (or `/repo`): the engine follows symlinks in a
    /// path's directories but not its last component, so asking for a direct child never reads
    /// through a symlink the job planted, and symlink entries in the archive are refused.
    pub fn roots(&self) -> Vec<String> {
        let mut roots: Vec<String> = Vec::new();
        for (source, _) in &self.globs {
            let first = source.split('/').next().unwrap_or_default();
            let root = if first.contains(['*', '?', '[', ']']) {
                String::new()
            } else {
                first.to_string()
            };
            if root.is_empty() {
                return vec![String::new()];
            }
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        roots
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(globs: &[&str]) -> Result<Patterns, String> {
        Patterns::parse(&globs.iter().map(|g| g.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn globs_match_within_and_across_directories() {
        let pats = p(&["target/debian/*.deb", "report.html", "dist", "**/*.log"]).unwrap();
        assert_eq!(pats.matching("target/debian/app_1.0.deb"), Some(0));
        assert_eq!(pats.matching("target/debian/sub/x.deb"), None);
        assert_eq!(pats.matching("target/debian/app.txt"), None);
        assert_eq!(pats.matching("report.html"), Some(1));
        assert_eq!(pats.matching("dist/a/b.js"), Some(2));
        assert_eq!(pats.matching("distx"), None);
        assert_eq!(pats.matching("a/b/c.log"), Some(3));
        assert_eq!(pats.matching("c.log"), Some(3));
    }

    #[test]
    fn globs_reach_below_their_directories() {
        let pats = p(&["target/debian/*.deb", "*/x/y"]).unwrap();
        assert!(pats.reaches_below("target"));
        assert!(pats.reaches_below("target/debian"));
        assert!(!pats.reaches_below("target/debian/a.deb"));
        assert!(pats.reaches_below("other/x"));
        assert!(!pats.reaches_below("other/z"));
    }

    #[test]
    fn roots_are_direct_children_of_repo_or_repo() {
        assert_eq!(
            p(&["target/debian/*.deb", "report.html", "target/x"])
                .unwrap()
                .roots(),
            ["target", "report.html"]
        );
        assert_eq!(p(&["a/b", "*.deb"]).unwrap().roots(), [""]);
        assert!(p(&[]).unwrap().roots().is_empty());
    }

    #[test]
    fn bad_globs_are_refused_by_name() {
        for (g, why) in [
            ("/etc/passwd", "absolute"),
            ("../x", "\"..\""),
            ("a/../../x", "\"..\""),
            ("a//b", "empty"),
            ("./a", "\".\""),
            ("", "1 to 256"),
            ("a[", "valid glob"),
            ("a\nb", "control"),
        ] {
            let e = p(&[g]).unwrap_err();
            assert!(e.contains(&format!("{g:?}")) && e.contains(why), "{g}: {e}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("f{i}")).collect();
        assert!(Patterns::parse(&many).unwrap_err().contains("more than 32"));
        assert!(p(&["dist/"]).is_ok());
    }
}
