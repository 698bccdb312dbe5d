//! The daemon's `config.toml`: `Config::parse` never panics; a config it accepts is usable and its
//! `Debug` form never depends on a secret's value; a config it refuses is explained in one line
//! that quotes no secret and no control character (messages reach the journal and
//! `microcid check-config`'s output).

#![no_main]

use libfuzzer_sys::fuzz_target;
use microci_fuzz::assert_no_control;
use microcid::config::{Config, Secret, SystemdDirs};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(Path::new(PATH), text, &SystemdDirs::default()) {
        Ok(config) => check_accepted(config),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "multi-line message {message:?}");
            assert_no_control("refusal message", &message);
            // Every message names the file: a secret that is part of its path is no leak.
            for secret in secret_values(text)
                .into_iter()
                .filter(|s| !PATH.contains(s))
            {
                assert!(
                    !message.contains(secret),
                    "the refusal quotes the secret {secret:?}: {message}"
                );
            }
        }
    }
});

fn check_accepted(config: Config) {
    assert!(
        config.docker.max_jobs >= 1,
        "max_jobs {}",
        config.docker.max_jobs
    );
    assert!(config.docker.pids >= 0, "pids {}", config.docker.pids);
    assert!(config.docker.memory >= 0, "memory {}", config.docker.memory);
    assert!(
        (0..=1_024_000_000_000).contains(&config.docker.nano_cpus),
        "nano_cpus {}",
        config.docker.nano_cpus
    );
    assert!(
        !config.repos.keys().any(|k| k.is_empty()),
        "a repo without a name"
    );
    assert!(
        !config
            .docker
            .labels
            .keys()
            .any(|k| k.starts_with("microci.")),
        "a label in the daemon's namespace"
    );
    let shown = format!("{:?}", config.webhook.secret);
    assert!(
        shown == "<redacted>" || shown == "<none>",
        "webhook secret shown as {shown:?}"
    );
    // Same config with every secret and token replaced: its Debug must read the same.
    let mut blank = config.clone();
    for r in blank.repos.values_mut() {
        r.secret = r.secret.as_ref().map(|_| Secret::new("x".into()));
        r.token = r.token.as_ref().map(|_| "x".into());
        r.status_token = r.status_token.as_ref().map(|_| Secret::new("x".into()));
    }
    blank.git.token = blank.git.token.as_ref().map(|_| "x".into());
    for f in blank.forges.values_mut() {
        f.token = f.token.as_ref().map(|_| Secret::new("x".into()));
    }
    assert_eq!(
        format!("{config:?}"),
        format!("{blank:?}"),
        "Debug shows a secret"
    );
}

/// The file every message names.
const PATH: &str = "/etc/microci/config.toml";

/// Values of `secret = "…"`, `token = "…"` and `status_token = "…"` lines (basic strings, no escapes) of 8 characters
/// or more: long enough that finding one in a message is not a coincidence. A value that also
/// occurs elsewhere in the file (say, as a table's name) may rightly be quoted from there: not
/// counted.
fn secret_values(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            if !matches!(key.trim(), "secret" | "token" | "status_token") {
                return None;
            }
            let value = value.trim().strip_prefix('"')?;
            let value = &value[..value.find('"')?];
            (value.len() >= 8 && !value.contains('\\') && text.matches(value).count() == 1)
                .then_some(value)
        })
        .collect()
}
