//! Prometheus metrics (`GET /metrics`): counters and histograms the daemon moves as things
//! happen, and gauges read when scraped (running and queued from the database, so they are right
//! after a restart; free space on `state_dir`; whether the Docker Engine answers). Counters start
//! at zero with each daemon, as Prometheus expects of a process.
//!
//! Label values come from fixed sets (states, forge routes, outcomes) or from the configuration
//! (repository names of `[[repo]]` tables); any other repository counts as `(unlisted)`, so no
//! webhook can grow the number of series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The repository label of a repository without a `[[repo]]` table.
pub const UNLISTED: &str = "(unlisted)";
/// The repository label of a repository the public pages may not show, with `http.metrics =
/// "public"`.
pub const PRIVATE: &str = "(private)";

/// A finished job's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Finished {
    state: String,
    repository: String,
}

/// A webhook delivery's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Hook {
    forge: String,
    outcome: String,
}

/// One label: an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

/// One label: an engine's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabel {
    engine: String,
}

/// A notification delivery's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Notice {
    kind: String,
    outcome: String,
}

/// Every metric of one daemon, shared through the job service.
pub struct Metrics {
    registry: Registry,
    finished: Family<Finished, Counter>,
    duration: Histogram,
    queue_wait: Histogram,
    webhooks: Family<Hook, Counter>,
    reports: Family<Outcome, Counter>,
    notifications: Family<Notice, Counter>,
    docker_errors: Counter,
    running: Gauge,
    queued: Gauge,
    disk_free: Gauge,
    docker_up: Gauge,
    engine_up: Family<EngineLabel, Gauge>,
    engine_drained: Family<EngineLabel, Gauge>,
    engine_jobs: Family<EngineLabel, Gauge>,
    engine_max_jobs: Family<EngineLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Bucket bounds in seconds for how long jobs run: a second to three hours (the longest
/// `docker.max_timeout` default).
const DURATION_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 10800.0,
];
/// Bucket bounds in seconds for how long jobs wait for a slot.
const WAIT_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
];

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let finished = Family::<Finished, Counter>::default();
        registry.register(
            "microci_jobs_finished",
            "Jobs that reached a final state, by state and repository",
            finished.clone(),
        );
        let duration = Histogram::new(DURATION_BUCKETS);
        registry.register(
            "microci_job_duration_seconds",
            "How long finished jobs ran, from start to end",
            duration.clone(),
        );
        let queue_wait = Histogram::new(WAIT_BUCKETS);
        registry.register(
            "microci_job_queue_wait_seconds",
            "How long jobs waited PENDING before they started",
            queue_wait.clone(),
        );
        let webhooks = Family::<Hook, Counter>::default();
        registry.register(
            "microci_webhooks",
            "Webhook deliveries answered, by forge route and outcome",
            webhooks.clone(),
        );
        let reports = Family::<Outcome, Counter>::default();
        registry.register(
            "microci_status_reports",
            "Commit status delivery attempts, by outcome (delivered, retry, gave_up)",
            reports.clone(),
        );
        let notifications = Family::<Notice, Counter>::default();
        registry.register(
            "microci_notifications",
            "Notification delivery attempts, by kind and outcome (delivered, retry, gave_up)",
            notifications.clone(),
        );
        let docker_errors = Counter::default();
        registry.register(
            "microci_docker_errors",
            "Jobs ended ERRORED because the Docker Engine failed them",
            docker_errors.clone(),
        );
        let running = Gauge::default();
        registry.register("microci_jobs_running", "Jobs STARTED now", running.clone());
        let queued = Gauge::default();
        registry.register("microci_jobs_queued", "Jobs PENDING now", queued.clone());
        let disk_free = Gauge::default();
        registry.register(
            "microci_state_dir_free_bytes",
            "Bytes free for the daemon on state_dir's file system",
            disk_free.clone(),
        );
        let docker_up = Gauge::default();
        registry.register(
            "microci_docker_up",
            "1 when the Docker Engine answered its last ping (cached a few seconds), else 0",
            docker_up.clone(),
        );
        let engine_up = Family::<EngineLabel, Gauge>::default();
        registry.register(
            "microci_engine_up",
            "1 when the engine answered its last ping (every docker.engine_ping), else 0",
            engine_up.clone(),
        );
        let engine_drained = Family::<EngineLabel, Gauge>::default();
        registry.register(
            "microci_engine_drained",
            "1 when the engine is drained (takes no new jobs), else 0",
            engine_drained.clone(),
        );
        let engine_jobs = Family::<EngineLabel, Gauge>::default();
        registry.register(
            "microci_engine_jobs",
            "Jobs placed on the engine now",
            engine_jobs.clone(),
        );
        let engine_max_jobs = Family::<EngineLabel, Gauge>::default();
        registry.register(
            "microci_engine_max_jobs",
            "The engine's max_jobs",
            engine_max_jobs.clone(),
        );
        registry.register(
            "microci_build",
            "The daemon's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            finished,
            duration,
            queue_wait,
            webhooks,
            reports,
            notifications,
            docker_errors,
            running,
            queued,
            disk_free,
            docker_up,
            engine_up,
            engine_drained,
            engine_jobs,
            engine_max_jobs,
        }
    }

    /// A job ended in `state`, after running `ran` seconds when it ran at all.
    pub fn job_finished(&self, state: &str, repository: &str, ran: Option<f64>) {
        self.finished
            .get_or_create(&Finished {
                state: state.to_string(),
                repository: repository.to_string(),
            })
            .inc();
        if let Some(s) = ran {
            self.duration.observe(s);
        }
    }

    /// A job started after waiting `seconds` in the queue.
    pub fn job_started(&self, seconds: f64) {
        self.queue_wait.observe(seconds);
    }

    /// A webhook delivery was answered.
    pub fn webhook(&self, forge: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&Hook {
                forge: forge.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A commit status delivery attempt ended so.
    pub fn status_report(&self, outcome: &str) {
        self.reports
            .get_or_create(&Outcome {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A notification delivery attempt ended so.
    pub fn notification(&self, kind: &str, outcome: &str) {
        self.notifications
            .get_or_create(&Notice {
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Docker Engine failed a job.
    pub fn docker_error(&self) {
        self.docker_errors.inc();
    }

    /// The text exposition, with the gauges read at scrape time set first.
    pub fn encode(&self, now: Scrape) -> String {
        for e in &now.engines {
            let label = EngineLabel {
                engine: e.name.clone(),
            };
            self.engine_up
                .get_or_create(&label)
                .set(i64::from(e.healthy));
            self.engine_drained
                .get_or_create(&label)
                .set(i64::from(e.drained));
            self.engine_jobs
                .get_or_create(&label)
                .set(e.running.min(i64::MAX as u64) as i64);
            self.engine_max_jobs
                .get_or_create(&label)
                .set(e.max_jobs.min(i64::MAX as u64) as i64);
        }
        self.running.set(now.running as i64);
        self.queued.set(now.queued as i64);
        self.disk_free
            .set(now.disk_free.map_or(-1, |b| b.min(i64::MAX as u64) as i64));
        self.docker_up.set(i64::from(now.docker_up));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("metrics: cannot encode: {e}");
        }
        out
    }
}

/// What is read when `/metrics` is scraped.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The engines as they are now.
    pub engines: Vec<microci_proto::EngineInfo>,
    /// Jobs STARTED.
    pub running: u64,
    /// Jobs PENDING.
    pub queued: u64,
    /// Free bytes on `state_dir`'s file system; `None` when it cannot be asked (shown as -1).
    pub disk_free: Option<u64>,
    /// Whether the Engine answered.
    pub docker_up: bool,
}

/// Seconds between two stored RFC 3339 timestamps, when both parse and `end` is not before.
pub fn seconds_between(start: &str, end: &str) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(start, &Rfc3339).ok()?;
    let b = time::OffsetDateTime::parse(end, &Rfc3339).ok()?;
    let d = (b - a).as_seconds_f64();
    (d >= 0.0).then_some(d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_are_in_the_text() {
        let m = Metrics::new();
        m.job_finished("FAILED", "alice/app", Some(3.0));
        m.webhook("gogs", "accepted");
        let engine = |name: &str, healthy: bool| microci_proto::EngineInfo {
            name: name.into(),
            host: "default".into(),
            healthy,
            error: None,
            down_since: None,
            drained: !healthy,
            running: 1,
            max_jobs: 3,
            labels: Vec::new(),
            workspace: "bind".into(),
            version: None,
        };
        let text = m.encode(Scrape {
            engines: vec![engine("a", true), engine("b", false)],
            running: 2,
            queued: 5,
            disk_free: Some(1024),
            docker_up: true,
        });
        assert!(
            text.contains(
                "microci_jobs_finished_total{state=\"FAILED\",repository=\"alice/app\"} 1"
            )
        );
        assert!(text.contains("microci_webhooks_total{forge=\"gogs\",outcome=\"accepted\"} 1"));
        assert!(text.contains("microci_jobs_running 2"));
        assert!(text.contains("microci_jobs_queued 5"));
        assert!(text.contains("microci_state_dir_free_bytes 1024"));
        assert!(text.contains("microci_job_duration_seconds_bucket{le=\"5.0\"} 1"));
        assert!(text.contains("microci_build_info{version="));
        assert!(
            text.contains("microci_engine_up{engine=\"a\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("microci_engine_up{engine=\"b\"} 0\n"));
        assert!(text.contains("microci_engine_drained{engine=\"b\"} 1\n"));
        assert!(text.contains("microci_engine_jobs{engine=\"a\"} 1\n"));
        assert!(text.contains("microci_engine_max_jobs{engine=\"a\"} 3\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn seconds_between_timestamps() {
        assert_eq!(
            seconds_between("2026-01-01T00:00:00Z", "2026-01-01T00:01:30Z"),
            Some(90.0)
        );
        assert_eq!(seconds_between("x", "2026-01-01T00:01:30Z"), None);
    }
}
