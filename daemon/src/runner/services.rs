//! Service containers beside a job, as every backend sees them: what to run ([`ServiceSpec`]),
//! and how one that ended before the job says so ([`ServiceExit`]): the job ends ERRORED naming
//! it, and its last lines go into the job's log.

use super::Sink;
use crate::repo_services::Service;
use bytes::Bytes;

/// Most lines of a failed service's output the job's log shows.
pub const TAIL_LINES: usize = 20;
/// Most bytes of them: a service printing one huge line must not flood the job's log.
pub const TAIL_BYTES: usize = 4096;

/// One service a backend runs beside a job, reachable from it by `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Host name on the job's network.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Its argv; `None` keeps the image's own command.
    pub argv: Option<Vec<String>>,
    /// Its own `env`, nothing of the job's.
    pub env: Vec<(String, String)>,
    /// The secrets it lists, when its job is given them (their `Debug` hides the values).
    pub secret_env: Vec<(String, crate::secrets::Value)>,
}

impl From<&Service> for ServiceSpec {
    fn from(s: &Service) -> ServiceSpec {
        ServiceSpec {
            name: s.name.clone(),
            image: s.image.clone(),
            argv: s.command.as_ref().map(|c| c.argv()),
            env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            secret_env: Vec::new(),
        }
    }
}

/// A service that ended while its job still ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceExit {
    /// The service's name.
    pub name: String,
    /// Its exit code, or why the engine cannot say.
    pub ended: Result<i64, String>,
    /// The end of its output (at most [`TAIL_LINES`] lines and [`TAIL_BYTES`] bytes).
    pub tail: Bytes,
}

impl std::fmt::Display for ServiceExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ended {
            Ok(code) => write!(f, "service {} exited with code {code}", self.name),
            Err(why) => write!(f, "service {} was lost: {why}", self.name),
        }
    }
}

/// The last [`TAIL_BYTES`] of `bytes`, starting at a line where one starts within them.
pub fn bounded_tail(bytes: &[u8]) -> Bytes {
    if bytes.len() <= TAIL_BYTES {
        return Bytes::copy_from_slice(bytes);
    }
    let cut = &bytes[bytes.len() - TAIL_BYTES..];
    let start = cut
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
        .min(cut.len());
    Bytes::copy_from_slice(&cut[start..])
}

impl Sink<'_> {
    /// Says in the log which service ended and how, then its last lines (kept like the job's
    /// own output: readers sanitise both alike). The bytes are the daemon's, amid the job's
    /// output, so where the output starts is noted again.
    pub(super) fn service_ended(&mut self, exit: &ServiceExit) {
        if self.error.is_some() {
            return;
        }
        let text = if exit.tail.is_empty() {
            format!("[microci] {exit}; it wrote nothing")
        } else {
            let tail = String::from_utf8_lossy(&exit.tail);
            format!(
                "[microci] {exit}; its last lines:\n{}",
                tail.strip_suffix('\n').unwrap_or(&tail)
            )
        };
        // A service gets no secret, but its output is masked like the job's all the same.
        let text = if self.masker.is_active() {
            let mut masked = self.masker.feed(text.as_bytes()).text;
            masked.extend(self.masker.finish().text);
            String::from_utf8_lossy(&masked).into_owned()
        } else {
            text
        };
        let before = self.log.size();
        if let Ok(size) = self.log.line(&text) {
            (self.noted)(size - before);
            self.bus
                .publish(crate::events::BusEvent::Log { id: self.id, size });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_bounded_at_a_line() {
        assert_eq!(&bounded_tail(b"a\nb\n")[..], b"a\nb\n");
        let long: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let tail = bounded_tail(&long);
        assert!(tail.len() <= TAIL_BYTES);
        assert!(tail.ends_with(b"1999\n"));
        // It starts with a whole line.
        let first = tail.split(|&b| b == b'\n').next().unwrap_or_default();
        let n: u32 = std::str::from_utf8(first)
            .unwrap_or("x")
            .parse()
            .unwrap_or(0);
        assert!(n > 1000, "{n}");
    }

    #[test]
    fn an_exit_names_the_service() {
        let exit = |ended| ServiceExit {
            name: "db".into(),
            ended,
            tail: Bytes::new(),
        };
        assert_eq!(exit(Ok(3)).to_string(), "service db exited with code 3");
        assert_eq!(
            exit(Err("gone".into())).to_string(),
            "service db was lost: gone"
        );
    }
}
