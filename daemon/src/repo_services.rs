//! The `"services"` key of `.microci.json`: containers (a database, a cache server) started
//! before the job on a network of the job's own, each reachable from the job by its name. Only
//! what is written here reaches a service: its image, its command, its own `env`, and the
//! secrets it lists (`"secrets"`, each one the job itself asks for).

use crate::repo_config::{Command, RepoConfigError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most services one job may ask for: each is a container with the job's limits.
pub const MAX_SERVICES: usize = 8;

/// One service a job wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its host name on the job's network: a lowercase DNS label, unique within the job.
    pub name: String,
    /// Image to run.
    pub image: String,
    /// What to run in it; `None` keeps the image's own command (a database image's server).
    pub command: Option<Command>,
    /// Its environment: this and the secrets below, nothing else (no `CI`, nothing of the job's).
    pub env: BTreeMap<String, String>,
    /// Secrets it gets as environment variables: names the job's own `"secrets"` lists, given
    /// only when the job is given them.
    pub secrets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Option<String>,
    image: Option<String>,
    command: Option<serde_json::Value>,
    env: Option<BTreeMap<String, String>>,
    secrets: Option<Vec<String>>,
}

/// The keys one service may have, for the refusal of an unknown one.
const KNOWN: &str = "name, image, env, command, secrets";

/// Parses the `"services"` value: an array of objects.
pub fn parse(value: serde_json::Value) -> Result<Vec<Service>, RepoConfigError> {
    let invalid = |m: String| RepoConfigError::Invalid(m);
    let serde_json::Value::Array(items) = value else {
        return Err(invalid(
            "\"services\" must be an array of objects like {\"name\": \"db\", \"image\": \"postgres:16\"}"
                .into(),
        ));
    };
    if items.len() > MAX_SERVICES {
        return Err(invalid(format!(
            "\"services\" lists {} services, over the limit of {MAX_SERVICES}",
            items.len()
        )));
    }
    let mut services: Vec<Service> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let service = one(i, item)?;
        if services.iter().any(|s| s.name == service.name) {
            return Err(invalid(format!(
                "\"services\": the name {:?} is used twice",
                service.name
            )));
        }
        services.push(service);
    }
    Ok(services)
}

/// Parses the `i`th service.
fn one(i: usize, item: serde_json::Value) -> Result<Service, RepoConfigError> {
    let at = |m: String| RepoConfigError::Invalid(format!("\"services\"[{i}]: {m}"));
    if !item.is_object() {
        return Err(at("must be an object with \"name\" and \"image\"".into()));
    }
    let raw: Raw = serde_json::from_value(item).map_err(|e| at(describe(&e)))?;
    let name = raw.name.ok_or_else(|| at("\"name\" is missing".into()))?;
    if !is_dns_label(&name) {
        return Err(at(format!(
            "\"name\" {name:?} is not a host name: use 1 to 63 lowercase letters, digits and \
             '-', not starting or ending with '-'"
        )));
    }
    let image = raw.image.ok_or_else(|| at("\"image\" is missing".into()))?;
    if !crate::repo_config::valid_image(&image) {
        return Err(at(format!("\"image\" {image:?} is not an image name")));
    }
    let command = match raw.command {
        None => None,
        Some(v) => Some(match serde_json::from_value::<Command>(v) {
            Ok(Command::Shell(s)) if !s.trim().is_empty() => Command::Shell(s),
            Ok(Command::Exec(v)) if !v.is_empty() => Command::Exec(v),
            _ => {
                return Err(at(
                    "\"command\" must be a non-empty string or a non-empty array of strings".into(),
                ));
            }
        }),
    };
    let env = raw.env.unwrap_or_default();
    if let Some(k) = env
        .keys()
        .find(|k| k.is_empty() || k.contains('=') || k.contains('\0'))
    {
        return Err(at(format!("\"env\" key {k:?} is not a variable name")));
    }
    let secrets = raw.secrets.unwrap_or_default();
    if let Some(k) = secrets.iter().find(|k| env.contains_key(*k)) {
        return Err(at(format!(
            "{k:?} is in both \"env\" and \"secrets\": name it once"
        )));
    }
    Ok(Service {
        name,
        image,
        command,
        env,
        secrets,
    })
}

/// Checks that every secret a service lists is one the job asks for as a variable (`job`): a
/// service gets nothing the job is not given.
pub fn check_secrets(services: &[Service], job: &[String]) -> Result<(), RepoConfigError> {
    for s in services {
        if let Some(k) = s.secrets.iter().find(|k| !job.contains(k)) {
            return Err(RepoConfigError::Invalid(format!(
                "\"services\": {:?} lists the secret {k:?}, which the job's own \"secrets\" does \
                 not: a service gets only secrets its job is given",
                s.name
            )));
        }
    }
    Ok(())
}

/// A name the Engine's DNS (and a Kubernetes pod's) resolves as is: an RFC 1123 label, in
/// lowercase so that `DB` and `db` are not two services answering to one name.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// serde's message for one service, with an unknown key named (escaped: it comes from the
/// pushed commit and becomes the job's reason).
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.rsplit_once("`, expected").map_or(rest, |(key, _)| key);
        return format!("unknown key {key:?} (known keys: {KNOWN})");
    }
    msg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Vec<Service>, String> {
        parse(serde_json::from_str(s).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_service_with_every_key() {
        let s = parse_str(
            r#"[{"name": "db", "image": "postgres:16", "env": {"POSTGRES_PASSWORD": "x"},
                 "command": ["postgres", "-c", "fsync=off"]},
                {"name": "cache-1", "image": "redis:7", "command": "redis-server --save ''"}]"#,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "db");
        assert_eq!(s[0].image, "postgres:16");
        assert_eq!(s[0].env["POSTGRES_PASSWORD"], "x");
        assert_eq!(
            s[0].command.as_ref().unwrap().argv(),
            ["postgres", "-c", "fsync=off"]
        );
        assert_eq!(
            s[1].command.as_ref().unwrap().argv(),
            ["/bin/sh", "-c", "redis-server --save ''"]
        );
        let bare = parse_str(r#"[{"name": "db", "image": "postgres:16"}]"#).unwrap();
        assert_eq!(bare[0].command, None);
        assert!(bare[0].env.is_empty());
    }

    #[test]
    fn bad_services_say_which_and_why() {
        let cases = [
            (r#"{"name": "db"}"#, "must be an array"),
            (r#"["db"]"#, "[0]: must be an object"),
            (r#"[{"image": "x"}]"#, "[0]: \"name\" is missing"),
            (r#"[{"name": "db"}]"#, "[0]: \"image\" is missing"),
            (
                r#"[{"name": "DB", "image": "x"}]"#,
                "\"DB\" is not a host name",
            ),
            (r#"[{"name": "-db", "image": "x"}]"#, "not a host name"),
            (r#"[{"name": "db-", "image": "x"}]"#, "not a host name"),
            (r#"[{"name": "d_b", "image": "x"}]"#, "not a host name"),
            (r#"[{"name": "", "image": "x"}]"#, "not a host name"),
            (
                r#"[{"name": "db", "image": "a b"}]"#,
                "\"image\" \"a b\" is not",
            ),
            (r#"[{"name": "db", "image": "-x"}]"#, "is not an image name"),
            (
                r#"[{"name": "db", "image": "x", "command": ""}]"#,
                "\"command\"",
            ),
            (
                r#"[{"name": "db", "image": "x", "command": []}]"#,
                "\"command\"",
            ),
            (
                r#"[{"name": "db", "image": "x", "command": [1]}]"#,
                "\"command\"",
            ),
            (
                r#"[{"name": "db", "image": "x", "env": {"A=B": "1"}}]"#,
                "\"A=B\"",
            ),
            (
                r#"[{"name": "db", "image": "x", "env": {"A": 1}}]"#,
                "invalid type",
            ),
            (
                r#"[{"name": "db", "image": "x"}, {"name": "db", "image": "y"}]"#,
                "\"db\" is used twice",
            ),
            (
                r#"[{"name": "db", "image": "x", "ports": [5432]}]"#,
                "[0]: unknown key \"ports\" (known keys: name, image, env, command, secrets)",
            ),
            (
                r#"[{"name": "db", "image": "x"}, {"name": "q", "image": "x", "secrets": ["A"], "env": {"A": "1"}}]"#,
                "[1]: \"A\" is in both \"env\" and \"secrets\"",
            ),
            (
                r#"[{"name": "db", "image": "x", "secrets": "A"}]"#,
                "invalid type",
            ),
        ];
        for (input, expected) in cases {
            let e = parse_str(input).unwrap_err();
            assert!(e.starts_with(".microci.json: "), "{input}: {e}");
            assert!(e.contains(expected), "{input}: {e}");
        }
        let long = format!(r#"[{{"name": "{}", "image": "x"}}]"#, "a".repeat(64));
        assert!(parse_str(&long).unwrap_err().contains("not a host name"));
        let ok63 = format!(r#"[{{"name": "{}", "image": "x"}}]"#, "a".repeat(63));
        assert!(parse_str(&ok63).is_ok());
    }

    #[test]
    fn the_count_is_bounded() {
        let many = |n: usize| {
            let items: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"name": "s{i}", "image": "x"}}"#))
                .collect();
            format!("[{}]", items.join(","))
        };
        assert_eq!(parse_str(&many(MAX_SERVICES)).unwrap().len(), MAX_SERVICES);
        let e = parse_str(&many(MAX_SERVICES + 1)).unwrap_err();
        assert!(e.contains("over the limit of 8"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_escaped() {
        let e = parse_str(r#"[{"name": "db", "image": "x", "\u001b[2J": 1}]"#).unwrap_err();
        assert!(e.contains(r#"unknown key "\u{1b}[2J""#), "{e}");
        assert!(!e.contains('\u{1b}'), "{e}");
    }
}
