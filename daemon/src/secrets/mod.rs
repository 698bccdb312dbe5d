//! Job secrets (`[[repo]] secrets`): where each value is read from (`file:`, `env:`,
//! `credential:` for systemd's `LoadCredential=`), never the value itself; reading them when a job
//! starts (a rotated file is picked up); and masking them in the job's output ([`mask`]).
//! Values live in memory only while a job runs: never in the config, the database or a log.

pub mod mask;

use std::path::{Path, PathBuf};

/// Shortest value accepted: a shorter one would be masked all over ordinary output.
pub const MIN_LEN: usize = 4;
/// Largest value read (a key file is a few KiB; this bounds what a job's output is searched for).
pub const MAX_LEN: usize = 64 * 1024;
/// Where `"secret_files"` appear inside the container.
pub const FILES_DIR: &str = "/run/secrets";

/// Where a secret's value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `file:/path`: the file's content.
    File(PathBuf),
    /// `env:VAR`: the daemon's environment variable.
    Env(String),
    /// `credential:NAME`: `$CREDENTIALS_DIRECTORY/NAME` (systemd's `LoadCredential=`).
    Credential(String),
}

/// A secret's value. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Value(Vec<u8>);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Value {
    /// The value as read (a file keeps its last newline: a key file needs it).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value for an environment variable: without trailing line ends; UTF-8 without NUL.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.trimmed())
            .ok()
            .filter(|s| !s.contains('\0'))
    }

    /// What is masked: the value without trailing line ends (it is inside the untrimmed one).
    pub fn trimmed(&self) -> &[u8] {
        let end = self
            .0
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |i| i + 1);
        &self.0[..end]
    }
}

impl Source {
    /// Parses `file:/path`, `env:VAR` or `credential:NAME`. The error never repeats the text:
    /// a value written there by mistake is a secret.
    pub fn parse(written: &str) -> Result<Source, String> {
        let form = "must say where the value is read from: \"file:/absolute/path\", \
                    \"env:VARIABLE\" or \"credential:NAME\" (a value is never written in the config)";
        let Some((kind, rest)) = written.split_once(':') else {
            return Err(form.into());
        };
        match kind {
            "file" if Path::new(rest).is_absolute() => Ok(Source::File(PathBuf::from(rest))),
            "file" => Err("file: needs an absolute path".into()),
            "env" if is_variable_name(rest) => Ok(Source::Env(rest.into())),
            "env" => Err("env: needs an environment variable name".into()),
            "credential" if valid_credential(rest) => Ok(Source::Credential(rest.into())),
            "credential" => Err("credential: needs a credential name (no / or ..)".into()),
            _ => Err(form.into()),
        }
    }

    /// Reads the value now (`$CREDENTIALS_DIRECTORY` from the process environment).
    pub fn read(&self) -> Result<Value, String> {
        let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        self.read_with(creds.as_deref())
    }

    /// Reads the value, with systemd's credentials directory passed in (for tests).
    pub fn read_with(&self, credentials: Option<&Path>) -> Result<Value, String> {
        let bytes = match self {
            Source::File(path) => read_file(path)?,
            Source::Env(var) => std::env::var_os(var)
                .map(std::os::unix::ffi::OsStringExt::into_vec)
                .ok_or_else(|| format!("the environment variable {var} is not set"))?,
            Source::Credential(name) => {
                let dir = credentials.ok_or_else(|| {
                    format!(
                        "credential:{name} needs $CREDENTIALS_DIRECTORY, set by systemd for a \
                         unit with LoadCredential={name}:PATH"
                    )
                })?;
                read_file(&dir.join(name))?
            }
        };
        let value = Value(bytes);
        match value.trimmed().len() {
            0 => Err("is empty".into()),
            n if n < MIN_LEN => Err(format!(
                "is {n} bytes: too short to be masked in job output (at least {MIN_LEN})"
            )),
            n if n > MAX_LEN => Err(format!("is over {MAX_LEN} bytes")),
            _ => Ok(value),
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_LEN as u64 + 2 {
        return Err(format!("{}: is over {MAX_LEN} bytes", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A name usable as an environment variable and a file name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

fn valid_credential(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".." && !name.contains('\0')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_literal_values_are_refused_without_being_repeated() {
        assert_eq!(
            Source::parse("file:/etc/microci/k").unwrap(),
            Source::File("/etc/microci/k".into())
        );
        assert_eq!(
            Source::parse("env:TOKEN").unwrap(),
            Source::Env("TOKEN".into())
        );
        assert_eq!(
            Source::parse("credential:deploy").unwrap(),
            Source::Credential("deploy".into())
        );
        for bad in [
            "hunter2-literal",
            "ghp:abcdef0123",
            "file:relative",
            "env:A-B",
            "credential:../x",
        ] {
            let e = Source::parse(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn values_are_read_checked_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key-value\n").unwrap();
        std::fs::write(dir.path().join("short"), "ab\n").unwrap();
        let v = Source::File(dir.path().join("k")).read().unwrap();
        assert_eq!(v.bytes(), b"key-value\n");
        assert_eq!(v.text(), Some("key-value"));
        assert_eq!(format!("{v:?}"), "<redacted>");
        let e = Source::File(dir.path().join("short")).read().unwrap_err();
        assert!(e.contains("too short"), "{e}");
        let e = Source::File(dir.path().join("absent")).read().unwrap_err();
        assert!(e.contains("absent") && e.contains("No such file"), "{e}");
        let c = Source::Credential("k".into());
        assert_eq!(
            c.read_with(Some(dir.path())).unwrap().text(),
            Some("key-value")
        );
        let e = c.read_with(None).unwrap_err();
        assert!(e.contains("CREDENTIALS_DIRECTORY"), "{e}");
        let e = Source::Env("MICROCI_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(e.contains("not set"), "{e}");
    }

    #[test]
    fn variable_names() {
        for ok in ["A", "_x", "DEPLOY_KEY", "a1"] {
            assert!(is_variable_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A=B", "A B", "Ä"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }
}
