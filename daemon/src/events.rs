//! The in-process event bus: job changes and log growth are published once here; the control
//! socket, the web page and systemd status all subscribe. A slow subscriber lags and is told so
//! (it re-reads); it can never hold up a job.

use microci_proto::Job;
use tokio::sync::broadcast;

/// Events kept for subscribers that fall behind before they are told they lagged.
const CAPACITY: usize = 4096;

/// What happened.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// A job was created or changed state.
    Job(Box<Job>),
    /// Job `id`'s log grew to `size` bytes (subscribers read the bytes from the file).
    Log {
        /// Which job.
        id: i64,
        /// New size of its log.
        size: u64,
    },
}

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    /// A bus with no subscribers yet.
    pub fn new() -> Bus {
        Bus {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Publishes; nobody listening is fine.
    pub fn publish(&self, event: BusEvent) {
        let _ = self.tx.send(event);
    }

    /// Publishes a job's new state.
    pub fn job(&self, job: &Job) {
        self.publish(BusEvent::Job(Box::new(job.clone())));
    }

    /// A new subscription, starting now.
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }
}
