//! `GET /jobs/{id}/events`: a job's log and state as Server-Sent Events, for the job page's
//! script. Each `log` event carries the next piece of the log already rendered as HTML (escaped,
//! colours as classes) and has the byte offset just past it as its id, so a browser that
//! reconnects sends `Last-Event-ID` and resumes exactly there (`?offset=N` says where the first
//! connection starts). When the daemon stops, the stream ends without `end` and the browser's
//! reconnection resumes from the same byte. `state` events carry the job's state, duration and end; `end` closes the
//! stream once the job has ended and every byte was sent. Like the control socket's
//! `follow_log`, the bus only says "the log grew" and the bytes are read from the file, so a
//! follower that falls behind reads more at once and never misses or repeats a byte.

use super::job::state_json;
use super::log_html::LogHtml;
use super::{bad_param, visible_job};
use crate::events::BusEvent;
use crate::jobs::Jobs;
use crate::runner::Engine;
use futures_util::stream;
use microci_proto::Job;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use warp::reply::Response;
use warp::sse::Event;

/// Most log bytes in one event.
const EVENT_BYTES: u32 = 64 * 1024;

/// `GET /jobs/{id}/events[?offset=N]`, with `Last-Event-ID` taking precedence.
pub async fn follow<E: Engine>(
    id: String,
    query: String,
    last_event_id: Option<String>,
    jobs: Arc<Jobs<E>>,
    stop: CancellationToken,
) -> Response {
    use warp::Reply;
    let given = match last_event_id {
        Some(v) => Some(("Last-Event-ID", v)),
        None => super::query_pairs(&query)
            .into_iter()
            .find(|(k, _)| k == "offset")
            .map(|(_, v)| ("offset", v)),
    };
    let offset = match given {
        None => 0,
        Some((name, v)) => match v.trim().parse::<u64>() {
            Ok(o) => o,
            Err(_) => return bad_param(name, &v, "a byte offset (a whole number from 0)"),
        },
    };
    // Subscribe before the first read so nothing appended in between goes unnoticed.
    let events = jobs.bus.subscribe();
    let job = match visible_job(&id, &jobs).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let f = Follower {
        jobs,
        offset,
        html: LogHtml::new(),
        events,
        job,
        phase: Phase::Hello,
        stop,
    };
    let s = stream::unfold(f, |mut f| async move {
        f.next().await.map(|e| (Ok::<_, Infallible>(e), f))
    });
    let mut r = warp::sse::reply(
        warp::sse::keep_alive()
            .interval(Duration::from_secs(15))
            .stream(s),
    )
    .into_response();
    // Tell proxies (nginx) not to buffer the stream.
    r.headers_mut().insert(
        "x-accel-buffering",
        warp::http::HeaderValue::from_static("no"),
    );
    r
}

enum Phase {
    /// The current state first: the page may have been rendered a moment ago.
    Hello,
    /// Log and state as they come.
    Follow,
    /// The final state was sent: `end` next.
    Ending,
    Done,
}

struct Follower<E: Engine> {
    jobs: Arc<Jobs<E>>,
    offset: u64,
    html: LogHtml,
    events: broadcast::Receiver<BusEvent>,
    job: Job,
    phase: Phase,
    /// The daemon is stopping: the stream ends without `end`, so the browser reconnects.
    stop: CancellationToken,
}

impl<E: Engine> Follower<E> {
    fn state(&self) -> Event {
        Event::default()
            .event("state")
            .data(state_json(&self.job).to_string())
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Ending => {
                    self.phase = Phase::Done;
                    return Some(Event::default().event("end").data(""));
                }
                Phase::Hello => {
                    self.phase = Phase::Follow;
                    return Some(self.state());
                }
                Phase::Follow => {}
            }
            let id = self.job.id;
            let chunk = match self.jobs.logs.chunk(id, self.offset, EVENT_BYTES).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("job {id}: event stream: {e}");
                    self.phase = Phase::Done;
                    return None;
                }
            };
            if chunk.next_offset > self.offset {
                self.offset = chunk.next_offset;
                let mut out = String::with_capacity(chunk.data.len() + 64);
                self.html.push(&chunk.data, &mut out);
                return Some(
                    Event::default()
                        .event("log")
                        .id(self.offset.to_string())
                        .data(out),
                );
            }
            if self.job.status.is_final() {
                self.phase = Phase::Ending;
                return Some(self.state());
            }
            // Wait for this job's log to grow or its state to change.
            let event = tokio::select! {
                () = self.stop.cancelled() => {
                    self.phase = Phase::Done;
                    return None;
                }
                e = self.events.recv() => e,
            };
            match event {
                Ok(BusEvent::Log { id: j, .. }) if j == id => {}
                Ok(BusEvent::Job(j)) if j.id == id => {
                    let changed = j.status != self.job.status;
                    self.job = *j;
                    if changed && !self.job.status.is_final() {
                        return Some(self.state());
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    // Missed events: re-read the job; the file tells the rest.
                    if let Ok(Some(j)) = self.jobs.job(id).await {
                        self.job = j;
                    }
                }
                Err(RecvError::Closed) => {
                    self.phase = Phase::Done;
                    return None;
                }
            }
        }
    }
}
