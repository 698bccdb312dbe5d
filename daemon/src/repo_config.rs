//! `.microci.json`, read from the repository root at the built commit. Compatible with the first
//! microci (`dockerimg`, `command`), plus `env`, `timeout`, `interruptible`, the secrets a job
//! asks for (`secrets`, `secret_files`), `services` (see [`crate::repo_services`]), `artifacts`
//! `cache`/`cache_scope`, `concurrency` and `runs_on`. Unknown keys are refused by name: a typo must not silently run the
//! wrong thing.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The keys the file may hold, named when it holds another.
const KNOWN_KEYS: &[&str] = &[
    "dockerimg",
    "command",
    "env",
    "timeout",
    "interruptible",
    "secrets",
    "secret_files",
    "services",
    "artifacts",
    "cache",
    "cache_scope",
    "concurrency",
    "runs_on",
];

/// The most labels `"runs_on"` may name.
const MAX_LABELS: usize = 16;

/// The file name, at the repository root.
pub const FILE_NAME: &str = ".microci.json";
/// What runs when the file names no command (the first microci's convention).
pub const DEFAULT_COMMAND: &str = "/bin/sh microci.sh";
/// Largest `.microci.json` read.
const MAX_SIZE: u64 = 64 * 1024;

/// Why the file cannot be used; each message is shown to the person as the job's reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RepoConfigError {
    /// Not JSON, or JSON of the wrong shape.
    #[error(".microci.json: {0}")]
    Invalid(String),
    /// Could not be read.
    #[error(".microci.json: cannot read: {0}")]
    Read(String),
}

/// The command: a string for `/bin/sh -c`, or an argument vector run as is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Command {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Exec form.
    Exec(Vec<String>),
}

impl Command {
    /// The container's argv.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            Command::Exec(v) => v.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dockerimg: Option<String>,
    command: Option<serde_json::Value>,
    env: Option<BTreeMap<String, String>>,
    timeout: Option<String>,
    interruptible: Option<bool>,
    secrets: Option<Vec<String>>,
    secret_files: Option<Vec<String>>,
    services: Option<serde_json::Value>,
    artifacts: Option<Vec<String>>,
    cache: Option<Vec<String>>,
    cache_scope: Option<crate::caches::Scope>,
    concurrency: Option<String>,
    runs_on: Option<Vec<String>>,
}

/// The job's settings after defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// Image to run.
    pub image: String,
    /// What to run in it.
    pub command: Command,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Time limit, when the file sets one.
    pub timeout: Option<Duration>,
    /// Whether a newer push to the same ref may stop it while it runs (`cancel_superseded`).
    pub interruptible: bool,
    /// Secrets it asks for as environment variables (`[[repo]] secrets` names).
    pub secrets: Vec<String>,
    /// Secrets it asks for as files under `/run/secrets/`.
    pub secret_files: Vec<String>,
    /// Containers started before the job on a network of its own (`"services"`).
    pub services: Vec<crate::repo_services::Service>,
    /// Globs of files under `/repo` kept after the job, checked (relative, no `..`).
    pub artifacts: Vec<String>,
    /// Directories kept from one job to the next (`"cache"`), checked by
    /// [`crate::caches::paths`].
    pub cache: Vec<String>,
    /// Whether each branch keeps its own cache or the repository shares one (`"cache_scope"`).
    pub cache_scope: crate::caches::Scope,
    /// The concurrency group: jobs sharing it run one at a time, in job order, across
    /// repositories. `[[repo]] concurrency` in the daemon's config wins over it.
    pub concurrency: Option<String>,
    /// Labels an engine must carry, every one, to run the job (`[[engine]] labels`).
    pub runs_on: Vec<String>,
}

impl RepoConfig {
    /// Reads the file from a checkout; a missing file means all defaults.
    pub fn load(workspace: &Path, default_image: &str) -> Result<RepoConfig, RepoConfigError> {
        let path = workspace.join(FILE_NAME);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return RepoConfig::parse(b"{}", default_image);
            }
            Err(e) => return Err(RepoConfigError::Read(e.to_string())),
        };
        if !meta.is_file() {
            return Err(RepoConfigError::Invalid("is not a regular file".into()));
        }
        if meta.len() > MAX_SIZE {
            return Err(RepoConfigError::Invalid(format!(
                "is {} bytes, over the {MAX_SIZE}-byte limit",
                meta.len()
            )));
        }
        let bytes = std::fs::read(&path).map_err(|e| RepoConfigError::Read(e.to_string()))?;
        RepoConfig::parse(&bytes, default_image)
    }

    /// Parses the file's bytes.
    pub fn parse(bytes: &[u8], default_image: &str) -> Result<RepoConfig, RepoConfigError> {
        let invalid = |m: String| RepoConfigError::Invalid(m);
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| invalid(describe(&e)))?;
        let command = match raw.command {
            None => Command::Shell(DEFAULT_COMMAND.into()),
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Command::Shell(s),
            Some(serde_json::Value::Array(items)) if !items.is_empty() => Command::Exec(
                items
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Ok(s),
                        other => Err(invalid(format!(
                            "\"command\" array items must be strings, found {other}"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => {
                return Err(invalid(
                    "\"command\" must be a non-empty string or a non-empty array of strings".into(),
                ));
            }
        };
        let image = match raw.dockerimg {
            None => default_image.to_string(),
            Some(s) if valid_image(&s) => s,
            Some(s) => return Err(invalid(format!("\"dockerimg\" {s:?} is not an image name"))),
        };
        let env = raw.env.unwrap_or_default();
        for k in env.keys() {
            check_variable(k).map_err(|e| invalid(format!("\"env\" key {e}")))?;
        }
        let timeout = match raw.timeout {
            None => None,
            Some(t) => Some(humantime::parse_duration(&t).map_err(|_| {
                invalid(format!("\"timeout\" {t:?} is not a duration like \"15m\""))
            })?),
        };
        let secrets = secret_names("secrets", raw.secrets)?;
        let secret_files = secret_names("secret_files", raw.secret_files)?;
        if let Some(k) = secrets.iter().find(|k| env.contains_key(*k)) {
            return Err(invalid(format!(
                "{k:?} is in both \"env\" and \"secrets\": name it once"
            )));
        }
        let services = match raw.services {
            None => Vec::new(),
            Some(v) => crate::repo_services::parse(v)?,
        };
        crate::repo_services::check_secrets(&services, &secrets)?;
        let artifacts = raw.artifacts.unwrap_or_default();
        crate::artifacts::Patterns::parse(&artifacts).map_err(invalid)?;
        let cache = crate::caches::paths(raw.cache.unwrap_or_default()).map_err(invalid)?;
        if let Some(g) = &raw.concurrency {
            crate::config::check_group(g).map_err(|m| invalid(format!("\"concurrency\" {m}")))?;
        }
        let mut runs_on = raw.runs_on.unwrap_or_default();
        if runs_on.len() > MAX_LABELS {
            return Err(invalid(format!(
                "\"runs_on\" names {} labels, over the limit of {MAX_LABELS}",
                runs_on.len()
            )));
        }
        for l in &runs_on {
            crate::config::check_label(l).map_err(|m| invalid(format!("\"runs_on\" {m}")))?;
        }
        runs_on.sort();
        runs_on.dedup();
        Ok(RepoConfig {
            runs_on,
            concurrency: raw.concurrency,
            image,
            command,
            env,
            timeout,
            interruptible: raw.interruptible.unwrap_or(false),
            secrets,
            secret_files,
            services,
            artifacts,
            cache,
            cache_scope: raw.cache_scope.unwrap_or_default(),
        })
    }
}

/// Whether `key` may name a variable a job sets (`env`) or is given (a run's parameters): a
/// name the container's environment can hold, and not one of microci's own. The error reads
/// after the word "key", e.g. `"CI" is set by microci …`.
pub fn check_variable(key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(format!("{key:?} is not a variable name"));
    }
    if is_reserved(key) {
        return Err(format!(
            "{key:?} is set by microci and cannot be overridden (CI and MICROCI_* are reserved)"
        ));
    }
    Ok(())
}

/// The names of `"secrets"` or `"secret_files"`: variable names, not reserved, each once.
fn secret_names(key: &str, names: Option<Vec<String>>) -> Result<Vec<String>, RepoConfigError> {
    let names = names.unwrap_or_default();
    let invalid = |m: String| Err(RepoConfigError::Invalid(m));
    for (i, name) in names.iter().enumerate() {
        if !crate::secrets::is_variable_name(name) {
            return invalid(format!(
                "\"{key}\": {name:?} is not a secret name (letters, digits and _)"
            ));
        }
        if is_reserved(name) {
            return invalid(format!(
                "\"{key}\": {name:?} is set by microci (CI and MICROCI_* are reserved)"
            ));
        }
        if names[..i].contains(name) {
            return invalid(format!("\"{key}\": {name:?} is listed twice"));
        }
    }
    Ok(names)
}

/// Variables microci sets itself: a job must not be able to pretend it runs elsewhere or as
/// another job.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.eq_ignore_ascii_case("CI") || key.to_ascii_uppercase().starts_with("MICROCI_")
}

/// A plausible image reference: no whitespace or control characters, not empty, bounded.
pub(crate) fn valid_image(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('-')
        && s.chars().all(|c| c.is_ascii_graphic())
}

/// serde_json's message without its "at line 1 column 5" noise where that is clearer.
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // serde quotes the key as is; the key is everything up to serde's own "`, expected".
        // Escaped ({:?}): the key comes from the pushed commit, and the message becomes the
        // job's reason, so a key like "\u001b[2J" must not reach a terminal or a log raw.
        let key = rest.rsplit_once("`, expected").map_or(rest, |(key, _)| key);
        return format!(
            "unknown key {key:?} (known keys: {})",
            KNOWN_KEYS.join(", ")
        );
    }
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("is not valid JSON: {msg}")
        }
        _ => msg,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RepoConfig, RepoConfigError> {
        RepoConfig::parse(s.as_bytes(), "debian:stable-slim")
    }

    #[test]
    fn first_microci_file_still_works() {
        let c = parse(r#"{"dockerimg": "alpine:3", "command": "/bin/sh microci.sh"}"#).unwrap();
        assert_eq!(c.image, "alpine:3");
        assert_eq!(c.command.argv(), ["/bin/sh", "-c", "/bin/sh microci.sh"]);
    }

    #[test]
    fn defaults_apply() {
        let c = parse("{}").unwrap();
        assert_eq!(c.image, "debian:stable-slim");
        assert_eq!(c.command, Command::Shell(DEFAULT_COMMAND.into()));
        assert_eq!(c.timeout, None);
        assert!(!c.interruptible);
        assert!(parse(r#"{"interruptible": true}"#).unwrap().interruptible);
        let e = parse(r#"{"interruptible": "yes"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("interruptible") || e.contains("boolean"), "{e}");
    }

    #[test]
    fn exec_form_env_and_timeout() {
        let c =
            parse(r#"{"command": ["make", "test"], "env": {"A": "1"}, "timeout": "15m"}"#).unwrap();
        assert_eq!(c.command.argv(), ["make", "test"]);
        assert_eq!(c.env["A"], "1");
        assert_eq!(c.timeout, Some(Duration::from_secs(900)));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse(r#"{"dockerimage": "x"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown key \"dockerimage\""), "{e}");
    }

    #[test]
    fn unknown_key_is_quoted_escaped_and_whole() {
        // Found by fuzz/fuzz_targets/repo_config.rs: the key reached the reason raw.
        let e = parse(r#"{"\u001b[2J\n": 1}"#).unwrap_err().to_string();
        assert_eq!(
            e,
            r#".microci.json: unknown key "\u{1b}[2J\n" (known keys: dockerimg, command, env, timeout, interruptible, secrets, secret_files, services, artifacts, cache, cache_scope, concurrency, runs_on)"#
        );
        let e = parse(r#"{"a`b": 1}"#).unwrap_err().to_string();
        assert!(e.contains("unknown key \"a`b\" "), "{e}");
    }

    #[test]
    fn bad_files_say_why() {
        let e = parse("{not json").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse(r#"{"command": 5}"#).unwrap_err().to_string();
        assert!(e.contains("\"command\""), "{e}");
        let e = parse(r#"{"command": ["ok", 1]}"#).unwrap_err().to_string();
        assert!(e.contains("must be strings"), "{e}");
        let e = parse(r#"{"env": {"A": 1}}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
        let e = parse(r#"{"timeout": "soon"}"#).unwrap_err().to_string();
        assert!(e.contains("\"timeout\""), "{e}");
        let e = parse(r#"{"dockerimg": "a b"}"#).unwrap_err().to_string();
        assert!(e.contains("\"dockerimg\""), "{e}");
        let e = parse("[]").unwrap_err().to_string();
        assert!(e.contains(".microci.json"), "{e}");
    }

    #[test]
    fn secrets_and_secret_files_name_what_the_job_asks_for() {
        let c = parse(r#"{"secrets": ["API_TOKEN"], "secret_files": ["DEPLOY_KEY", "API_TOKEN"]}"#)
            .unwrap();
        assert_eq!(c.secrets, ["API_TOKEN"]);
        assert_eq!(c.secret_files, ["DEPLOY_KEY", "API_TOKEN"]);
        assert!(parse("{}").unwrap().secrets.is_empty());
        for (json, want) in [
            (
                r#"{"secrets": ["A-B"]}"#,
                "\"secrets\": \"A-B\" is not a secret name",
            ),
            (
                r#"{"secret_files": ["../x"]}"#,
                "\"secret_files\": \"../x\" is not",
            ),
            (r#"{"secrets": ["MICROCI_JOB"]}"#, "reserved"),
            (r#"{"secrets": ["A", "A"]}"#, "listed twice"),
            (r#"{"secrets": "A"}"#, "invalid type"),
            (r#"{"secrets": ["A"], "env": {"A": "1"}}"#, "in both"),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn cache_paths_and_scope() {
        let c = parse(r#"{"cache": ["/root/.cargo/registry", "/app/node_modules/"]}"#).unwrap();
        assert_eq!(c.cache, ["/root/.cargo/registry", "/app/node_modules"]);
        assert_eq!(c.cache_scope, crate::caches::Scope::Repo);
        let c = parse(r#"{"cache": ["/c"], "cache_scope": "branch"}"#).unwrap();
        assert_eq!(c.cache_scope, crate::caches::Scope::Branch);
        assert!(parse("{}").unwrap().cache.is_empty());
        for (json, says) in [
            (r#"{"cache": ["relative/dir"]}"#, "absolute"),
            (r#"{"cache": ["/"]}"#, "\"/\""),
            (r#"{"cache": ["/repo"]}"#, "/repo"),
            (r#"{"cache": ["/repo/target"]}"#, "/repo"),
            (r#"{"cache": ["/a/../repo"]}"#, ".."),
            (r#"{"cache": ["/proc/x"]}"#, "/proc"),
            (r#"{"cache": ["/a", "/a/b"]}"#, "inside"),
            (r#"{"cache": ["/a", "/a"]}"#, "twice"),
            (r#"{"cache": ["/a:ro"]}"#, "character"),
            (r#"{"cache": "/a"}"#, "invalid type"),
            (r#"{"cache_scope": "tag"}"#, "unknown variant"),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(e.contains(says), "{json}: {e}");
        }
        let many: Vec<String> = (0..9).map(|i| format!("\"/c{i}\"")).collect();
        let e = parse(&format!(r#"{{"cache": [{}]}}"#, many.join(",")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 8"), "{e}");
    }

    #[test]
    fn reserved_variables_cannot_be_overridden() {
        for key in ["CI", "ci", "MICROCI_JOB", "microci_anything"] {
            let e = parse(&format!(r#"{{"env": {{"{key}": "x"}}}}"#))
                .unwrap_err()
                .to_string();
            assert!(e.contains("reserved") && e.contains(key), "{key}: {e}");
        }
        assert!(parse(r#"{"env": {"CIRCLE": "1", "MY_MICROCI_X": "2"}}"#).is_ok());
    }

    #[test]
    fn services_are_read_and_checked() {
        assert!(parse("{}").unwrap().services.is_empty());
        let c = parse(r#"{"services": [{"name": "db", "image": "postgres:16"}]}"#).unwrap();
        assert_eq!(c.services[0].name, "db");
        let e = parse(r#"{"services": [{"name": "db", "image": "x", "port": 1}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"services\"[0]: unknown key \"port\""), "{e}");
        // A service's secrets are among the job's own.
        let c = parse(
            r#"{"secrets": ["DB_PASSWORD"],
                "services": [{"name": "db", "image": "x", "secrets": ["DB_PASSWORD"]}]}"#,
        )
        .unwrap();
        assert_eq!(c.services[0].secrets, ["DB_PASSWORD"]);
        let e = parse(r#"{"services": [{"name": "db", "image": "x", "secrets": ["API"]}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("lists the secret \"API\""), "{e}");
    }

    #[test]
    fn artifacts_are_relative_globs() {
        let c = parse(r#"{"artifacts": ["target/debian/*.deb", "report.html"]}"#).unwrap();
        assert_eq!(c.artifacts, ["target/debian/*.deb", "report.html"]);
        assert!(parse("{}").unwrap().artifacts.is_empty());
        for bad in [
            r#"["/etc/passwd"]"#,
            r#"["../x"]"#,
            r#"["a/../../b"]"#,
            r#"["a["]"#,
        ] {
            let e = parse(&format!(r#"{{"artifacts": {bad}}}"#))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(".microci.json: \"artifacts\" glob"),
                "{bad}: {e}"
            );
        }
        let e = parse(r#"{"artifacts": "x"}"#).unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn concurrency_group_is_read_and_checked() {
        assert_eq!(parse("{}").unwrap().concurrency, None);
        let c = parse(r#"{"concurrency": "deploy"}"#).unwrap();
        assert_eq!(c.concurrency.as_deref(), Some("deploy"));
        for bad in [r#""""#, r#""de ploy""#, r#""a\u001b[2J""#, "5"] {
            let e = parse(&format!(r#"{{"concurrency": {bad}}}"#))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("concurrency") || e.contains("invalid type"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn runs_on_labels_are_checked_sorted_and_listed_once() {
        assert!(parse("{}").unwrap().runs_on.is_empty());
        let c = parse(r#"{"runs_on": ["big", "arm64", "big"]}"#).unwrap();
        assert_eq!(c.runs_on, vec!["arm64".to_string(), "big".to_string()]);
        let cases = [
            (r#"[""]"#, r#""runs_on" label "" is not 1 to 64"#),
            (r#"["a b"]"#, r#""runs_on" label "a b" is not"#),
            (
                r#"["a\u001b[2J"]"#,
                r#""runs_on" label "a\u{1b}[2J" is not"#,
            ),
            (r#""arm64""#, "invalid type"),
            ("[1]", "invalid type"),
        ];
        for (bad, want) in cases {
            let e = parse(&format!(r#"{{"runs_on": {bad}}}"#))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"l{i}\"")).collect();
        let e = parse(&format!(r#"{{"runs_on": [{}]}}"#, many.join(",")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("names 17 labels, over the limit of 16"), "{e}");
    }
}
