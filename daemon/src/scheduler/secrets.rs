//! Which secrets a starting job gets: those its `.microci.json` asks for, read now from where
//! `[[repo]] secrets` says (a rotated file is picked up), unless the job may have none (a fork's
//! pull request, a ref outside `secret_branches`); and the masker that hides every secret of the
//! repository in its output.

use crate::config::Config;
use crate::repo_config::RepoConfig;
use crate::secrets::Value;
use crate::secrets::mask::Masker;
use crate::store::JobRecord;

/// What a job is given.
#[derive(Debug, Default)]
pub(super) struct Granted {
    /// As environment variables.
    pub(super) env: Vec<(String, Value)>,
    /// As files under `/run/secrets/`.
    pub(super) files: Vec<(String, Value)>,
    /// The line the job's log says about them, if any.
    pub(super) note: Option<String>,
}

/// The secrets a job asked for, or why it cannot run: a secret the repository does not
/// configure, or one that cannot be read (the reason names it, never its value).
pub(super) fn grant(
    config: &Config,
    rec: &JobRecord,
    wants: &RepoConfig,
) -> Result<Granted, String> {
    let mut asked: Vec<&String> = wants.secrets.iter().chain(&wants.secret_files).collect();
    asked.sort();
    asked.dedup();
    if asked.is_empty() {
        return Ok(Granted::default());
    }
    let names = asked
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let default = crate::config::RepoSecrets::default();
    let repo = config
        .repos
        .get(&rec.job.repo)
        .map_or(&default, |r| &r.secrets);
    if let Some(why) = repo.withheld(&rec.job.git_ref, rec.job.untrusted) {
        return Ok(Granted {
            note: Some(format!("secrets withheld: {why} (asked for {names})")),
            ..Granted::default()
        });
    }
    let read = |name: &String| -> Result<Value, String> {
        let source = repo.sources.get(name).ok_or_else(|| {
            format!(
                ".microci.json: secret {name:?} is not configured for {} ([[repo]] secrets)",
                rec.job.repo
            )
        })?;
        source.read().map_err(|e| format!("secret {name}: {e}"))
    };
    let mut granted = Granted::default();
    for name in &wants.secrets {
        let value = read(name)?;
        if value.text().is_none() {
            return Err(format!(
                "secret {name}: is not UTF-8 text without NUL bytes, so it cannot be an \
                 environment variable (ask for it in \"secret_files\")"
            ));
        }
        granted.env.push((name.clone(), value));
    }
    for name in &wants.secret_files {
        granted.files.push((name.clone(), read(name)?));
    }
    let mut given: Vec<String> = granted.env.iter().map(|(n, _)| n.clone()).collect();
    given.extend(
        granted
            .files
            .iter()
            .map(|(n, _)| format!("{}/{n}", crate::secrets::FILES_DIR)),
    );
    granted.note = Some(format!("secrets: {}", given.join(", ")));
    Ok(granted)
}

/// A masker for every secret of the job's repository that can be read now, and those given:
/// a secret the job did not ask for is hidden too (it may have found it some other way).
pub(super) fn masker(config: &Config, repo: &str, given: &Granted) -> Masker {
    let mut values: Vec<Value> = given
        .env
        .iter()
        .chain(&given.files)
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(r) = config.repos.get(repo) {
        for (name, source) in &r.secrets.sources {
            match source.read() {
                Ok(v) => values.push(v),
                Err(e) => tracing::warn!("secret {name} of {repo} cannot be read to mask it: {e}"),
            }
        }
    }
    Masker::new(values.iter().map(Value::trimmed))
}
