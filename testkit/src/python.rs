//! The Python the notification and metrics tests run: the venv `scripts/test-deps.sh` fills with
//! aiosmtpd (a real SMTP server) and prometheus_client (Prometheus' own exposition parser), at
//! `$MICROCI_TEST_VENV` or `/var/cache/microci-test/venv`.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The venv's interpreter; an error naming the set-up script when it is missing.
pub fn try_python() -> Result<PathBuf> {
    let venv = std::env::var_os("MICROCI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/microci-test/venv"));
    let python = venv.join("bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run scripts/test-deps.sh (it installs aiosmtpd and prometheus_client)",
            python.display()
        );
    }
    Ok(python)
}

/// One sample of an exposition: its name, its labels (sorted by name) and its value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// Parses an OpenMetrics exposition with `prometheus_client.openmetrics.parser` (strict: a
/// malformed text is an error) and returns every sample as `(name, labels, value)`.
pub fn try_parse_openmetrics(text: &str) -> Result<Vec<Sample>> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, sorted(s.labels.items()), s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new(try_python()?)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start the parser")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the exposition does not parse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the parser's JSON")
}

/// [`try_parse_openmetrics`] for tests.
pub fn parse_openmetrics(text: &str) -> Vec<Sample> {
    crate::ok(try_parse_openmetrics(text))
}
