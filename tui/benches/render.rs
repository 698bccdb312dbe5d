//! Frame render time: `view` of a model holding 100,000 jobs into a 120×40 `TestBackend`,
//! median (and p99) over 1000 frames, for the job list scrolled to the top, to the middle, and
//! for the job view with a full 1 MiB log window. Run with
//! `cargo bench -p microci-tui --bench render`.

#![allow(missing_docs, clippy::unwrap_used)]

use microci_proto::{Job, JobStatus, LogChunk};
use microci_tui::ui::model::{Conn, JobView, LogWindow, Model};
use microci_tui::ui::view::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, Instant};

const JOBS: i64 = 100_000;
const FRAMES: usize = 1000;

/// Varied jobs: every state, 85 repositories, distinct commits and messages.
fn job(id: i64) -> Job {
    let status = JobStatus::ALL[(id % 6) as usize];
    Job {
        repo: format!("team{}/service-{}", id % 17, id % 5),
        commit: format!("{:040x}", id * 7919),
        message: format!("Change number {id}: tidy the build and fix the flaky test\n\nbody"),
        log_size: 5120,
        ..microci_testkit::fixtures::job(id, status)
    }
}

fn measure(name: &str, m: &Model) {
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    for _ in 0..20 {
        term.draw(|f| view(m, f)).unwrap();
    }
    let mut times: Vec<Duration> = (0..FRAMES)
        .map(|_| {
            let t = Instant::now();
            term.draw(|f| view(m, f)).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name:<40} median {:>9.3} ms   p99 {:>9.3} ms   ({FRAMES} frames, 120x40)",
        times[FRAMES / 2].as_secs_f64() * 1e3,
        times[FRAMES * 99 / 100].as_secs_f64() * 1e3,
    );
}

fn main() {
    let mut m = Model::new((120, 40), false);
    m.conn = Conn::Connected {
        version: "0.1.0".into(),
    };
    m.jobs = (1..=JOBS).rev().map(job).collect();
    measure("list, 100k jobs, top", &m);
    m.selected = 50_000;
    measure("list, 100k jobs, row 50,000", &m);
    m.selected = (JOBS - 1) as usize;
    measure("list, 100k jobs, last row", &m);

    // The job view with a full window of coloured log lines.
    let mut log = LogWindow::at(0);
    let mut offset = 0;
    while offset < 1024 * 1024 {
        let mut data = String::new();
        for i in 0..100 {
            data.push_str(&format!(
                "\x1b[32m[ok]\x1b[0m step {offset}-{i}: compiling crate number {i} with flags -O2\n"
            ));
        }
        let next = offset + data.len() as u64;
        log.push_back(LogChunk {
            id: 1,
            offset,
            next_offset: next,
            data,
        });
        offset = next;
    }
    log.live_end = offset;
    m.job_view = Some(JobView {
        job: job(1),
        log,
        follow: true,
        top: 0,
        generation: 1,
    });
    measure("job view, 1 MiB log window, following", &m);
}
