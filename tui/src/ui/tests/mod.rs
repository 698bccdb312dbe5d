//! The UI without a terminal: `update` driven by messages, and `view` rendered into a
//! `TestBackend` at 80×24. One file per part of the UI, as in `update/` and `view/`; the helpers
//! (a connected model with jobs 5..1, keys, the drawn screen) are here.

mod job;
mod list;
mod overlays;
mod screen;

use super::model::{Command, Model, Tag};
use super::update::{Msg, update};
use super::view::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use microci_proto::{DaemonStatus, Job, JobStatus, LogChunk, Reply, Request};
use microci_testkit::fixtures::job;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

/// Succeeded jobs with these ids, each with its own message.
fn jobs(ids: impl Iterator<Item = i64>) -> Vec<Job> {
    ids.map(|id| {
        let mut j = job(id, JobStatus::Succeed);
        j.message = format!("commit number {id}");
        j
    })
    .collect()
}

/// A connected model showing jobs 5..1.
fn connected() -> Model {
    let mut m = Model::new((80, 24), false);
    let cmds = update(
        &mut m,
        Msg::Connected {
            version: "0.1.0".into(),
        },
    );
    assert_eq!(cmds.len(), 3);
    assert_eq!(cmds[1], Command::Send(Tag::Watch, Request::WatchJobs));
    let Command::Send(tag, Request::ListJobs(q)) = &cmds[2] else {
        panic!("{cmds:?}")
    };
    assert_eq!(q.before, None);
    update(
        &mut m,
        Msg::Reply(
            tag.clone(),
            Reply::Jobs {
                jobs: jobs((1..=5).rev()),
            },
        ),
    );
    update(
        &mut m,
        Msg::Reply(
            Tag::Status,
            Reply::Status(DaemonStatus {
                version: "0.1.0".into(),
                uptime_secs: 5,
                running: 1,
                queued: 2,
                max_jobs: 2,
                docker_reachable: true,
                docker_error: None,
                warnings: Vec::new(),
                reload_error: None,
                disk_low: None,
                engines_down: Vec::new(),
            }),
        ),
    );
    m
}

/// The rows drawn for `m`, and the buffer for styles.
fn screen(m: &Model) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view(m, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let rows = (0..24)
        .map(|y| (0..80).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect();
    (rows, buf)
}

/// A chunk of job 5's log at `offset`.
fn chunk(offset: u64, data: &str) -> LogChunk {
    LogChunk {
        id: 5,
        offset,
        next_offset: offset + data.len() as u64,
        data: data.into(),
    }
}
