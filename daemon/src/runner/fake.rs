//! An [`Engine`] without Docker, for the scheduler's unit tests: a "container" runs a tiny
//! script given as its command (`["print:hello", "sleep:200", "exit:3"]`), and the engine records
//! what was asked of it.
//!
//! Script words: `print:TEXT` (a line of output), `sleep:MS`, `hang` (until stopped), `exit:CODE`
//! (default 0). An image named `absent` cannot be prepared. A stopped container exits 137.

use super::{Engine, EngineError, Found, JobSpec, OutputStream, Piece, Resume};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The fake engine; see the module documentation.
#[derive(Default)]
pub struct FakeEngine {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    /// Containers not torn down yet: handle → job id.
    alive: HashMap<u64, i64>,
    /// What happened, in order: `start 3`, `stop 3`, `teardown 3`, `reap 3`.
    log: Vec<String>,
    running: usize,
    max_running: usize,
}

/// A prepared fake container.
pub struct FakeContainer {
    handle: u64,
    job: i64,
    script: Vec<String>,
    stop: watch::Sender<bool>,
    exit: tokio::sync::Mutex<Option<watch::Receiver<Option<i64>>>>,
}

impl FakeEngine {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the engine was asked to do, in order.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// The most containers that ran at once.
    pub fn max_running(&self) -> usize {
        self.state().max_running
    }

    /// Leaves a container of job `id` behind, as a daemon that crashed would; returns its id.
    pub fn leave_container(&self, id: i64) -> String {
        let mut s = self.state();
        s.next += 1;
        let handle = s.next;
        s.alive.insert(handle, id);
        format!("fake-{handle}")
    }

    fn note(&self, what: String) {
        self.state().log.push(what);
    }
}

impl Engine for FakeEngine {
    type Handle = FakeContainer;

    async fn prepare(&self, spec: &JobSpec) -> Result<FakeContainer, EngineError> {
        if spec.image == "absent" {
            return Err(EngineError::Image {
                image: spec.image.clone(),
                detail: "no such image".into(),
            });
        }
        let handle = {
            let mut s = self.state();
            s.next += 1;
            let h = s.next;
            s.alive.insert(h, spec.id);
            h
        };
        Ok(FakeContainer {
            handle,
            job: spec.id,
            script: spec.argv.clone(),
            stop: watch::channel(false).0,
            exit: tokio::sync::Mutex::new(None),
        })
    }

    async fn start(&self, c: &FakeContainer) -> Result<OutputStream, EngineError> {
        {
            let mut s = self.state();
            s.running += 1;
            s.max_running = s.max_running.max(s.running);
            s.log.push(format!("start {}", c.job));
        }
        let (out, rx) = mpsc::channel(16);
        let (exit_tx, exit_rx) = watch::channel(None);
        *c.exit.lock().await = Some(exit_rx);
        let mut stopped = c.stop.subscribe();
        let script = c.script.clone();
        tokio::spawn(async move {
            let mut code = 0;
            for word in script {
                let (verb, arg) = word.split_once(':').unwrap_or((word.as_str(), ""));
                let pause = match verb {
                    "print" => {
                        let line = Bytes::from(format!("{arg}\n"));
                        let _ = out.send(Ok(Piece::Output(line))).await;
                        continue;
                    }
                    "exit" => {
                        code = arg.parse().unwrap_or(1);
                        break;
                    }
                    "sleep" => Duration::from_millis(arg.parse().unwrap_or(0)),
                    "hang" => Duration::from_secs(3600),
                    _ => continue,
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.wait_for(|s| *s) => {
                        code = 137;
                        break;
                    }
                }
            }
            drop(out);
            let _ = exit_tx.send(Some(code));
        });
        Ok(tokio_stream(rx))
    }

    fn container_id(&self, c: &FakeContainer) -> String {
        format!("fake-{}", c.handle)
    }

    /// An adopted fake container has already ended, with code 0 and no more output.
    fn adopt(&self, job: i64, container: &str) -> FakeContainer {
        let handle = container
            .strip_prefix("fake-")
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        let (exit_tx, exit_rx) = watch::channel(Some(0));
        drop(exit_tx);
        FakeContainer {
            handle,
            job,
            script: Vec::new(),
            stop: watch::channel(false).0,
            exit: tokio::sync::Mutex::new(Some(exit_rx)),
        }
    }

    async fn resume(&self, c: &FakeContainer, _from: Resume) -> Result<OutputStream, EngineError> {
        {
            let mut s = self.state();
            s.running += 1;
            s.log.push(format!("resume {}", c.job));
        }
        Ok(futures_util::stream::empty().boxed())
    }

    async fn containers(&self) -> Result<Vec<Found>, EngineError> {
        Ok(self
            .state()
            .alive
            .iter()
            .map(|(h, j)| Found {
                container: format!("fake-{h}"),
                job: Some(*j),
                service: None,
            })
            .collect())
    }

    async fn wait(&self, c: &FakeContainer) -> Result<i64, EngineError> {
        let rx = c.exit.lock().await.clone();
        let Some(mut rx) = rx else {
            return Err(EngineError::Engine("not started".into()));
        };
        let code = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|e| EngineError::Engine(e.to_string()))?
            .unwrap_or(0);
        let mut s = self.state();
        s.running = s.running.saturating_sub(1);
        Ok(code)
    }

    async fn stop(&self, c: &FakeContainer, _grace: Duration) -> Result<(), EngineError> {
        self.note(format!("stop {}", c.job));
        let _ = c.stop.send(true);
        Ok(())
    }

    async fn teardown(&self, c: &FakeContainer) -> Result<(), EngineError> {
        let mut s = self.state();
        s.alive.remove(&c.handle);
        s.log.push(format!("teardown {}", c.job));
        Ok(())
    }

    async fn scrub(&self, _dir: &std::path::Path) -> Result<(), EngineError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), EngineError> {
        Ok(())
    }
}

fn tokio_stream(mut rx: mpsc::Receiver<Result<Piece, EngineError>>) -> OutputStream {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
