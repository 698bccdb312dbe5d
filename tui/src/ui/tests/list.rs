//! The list: live updates, filters, paging, and how it is drawn.

use super::{ch, connected, jobs, key, screen};
use crate::ui::model::{Command, Model, Tag};
use crate::ui::update::{Msg, update};
use crossterm::event::KeyCode;
use microci_proto::{Event, JobStatus, Reply, Request};
use microci_testkit::fixtures::job;
use ratatui::style::Color;

#[test]
fn live_jobs_are_inserted_and_updated() {
    let mut m = connected();
    assert_eq!(
        m.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [5, 4, 3, 2, 1]
    );
    update(&mut m, ch('j'));
    assert_eq!(m.selected, 1);
    let mut new = job(6, JobStatus::Pending);
    update(
        &mut m,
        Msg::Event(Tag::Watch, Event::Job { job: new.clone() }),
    );
    assert_eq!(m.jobs[0].id, 6);
    assert_eq!(m.jobs[m.selected].id, 4, "highlight stays on the same job");
    new.status = JobStatus::Started;
    update(&mut m, Msg::Event(Tag::Watch, Event::Job { job: new }));
    assert_eq!(m.jobs.len(), 6);
    assert_eq!(m.jobs[0].status, JobStatus::Started);
}

#[test]
fn status_filter_reloads_and_drops_stale_pages() {
    let mut m = connected();
    let old_gen = m.list_generation;
    let cmds = update(&mut m, ch('s'));
    assert_eq!(m.filter.status, Some(JobStatus::Pending));
    let [Command::Send(tag, Request::ListJobs(q))] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(q.status, Some(JobStatus::Pending));
    // An answer to the old filter arrives late: ignored.
    let stale = Tag::Jobs {
        generation: old_gen,
        older: false,
    };
    update(
        &mut m,
        Msg::Reply(stale, Reply::Jobs { jobs: jobs(10..11) }),
    );
    assert_eq!(m.jobs.len(), 5);
    let mut p = job(7, JobStatus::Pending);
    p.message = "pending one".into();
    update(
        &mut m,
        Msg::Reply(tag.clone(), Reply::Jobs { jobs: vec![p] }),
    );
    assert_eq!(m.jobs.len(), 1);
    // A live job that does not match the filter is not added; one that stops matching leaves.
    update(
        &mut m,
        Msg::Event(
            Tag::Watch,
            Event::Job {
                job: job(8, JobStatus::Failed),
            },
        ),
    );
    assert_eq!(m.jobs.len(), 1);
    update(
        &mut m,
        Msg::Event(
            Tag::Watch,
            Event::Job {
                job: job(7, JobStatus::Started),
            },
        ),
    );
    assert!(m.jobs.is_empty());
    // Cycling past the last state clears the filter.
    for _ in 0..6 {
        update(&mut m, ch('s'));
    }
    assert_eq!(m.filter.status, None);
}

#[test]
fn scrolling_near_the_end_pages_older_jobs() {
    let mut m = Model::new((80, 24), false);
    update(
        &mut m,
        Msg::Connected {
            version: "x".into(),
        },
    );
    let tag = Tag::Jobs {
        generation: m.list_generation,
        older: false,
    };
    update(
        &mut m,
        Msg::Reply(
            tag,
            Reply::Jobs {
                jobs: jobs((101..=200).rev()),
            },
        ),
    );
    assert!(m.more_older);
    let cmds = update(&mut m, key(KeyCode::End));
    let [Command::Send(tag, Request::ListJobs(q))] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(q.before, Some(101));
    assert!(update(&mut m, ch('k')).is_empty(), "one page at a time");
    update(
        &mut m,
        Msg::Reply(
            tag.clone(),
            Reply::Jobs {
                jobs: jobs((91..=100).rev()),
            },
        ),
    );
    assert_eq!(m.jobs.len(), 110);
    assert!(!m.more_older);
}

#[test]
fn list_screen_reads_well() {
    let mut m = connected();
    m.jobs[1].status = JobStatus::Failed;
    m.jobs[1].message = "evil\x1b]0;pwned\x07 message".into();
    let (rows, buf) = screen(&m);
    assert!(rows[0].starts_with(" microci jobs"), "{rows:#?}");
    assert!(rows[1].starts_with("ID     STATUS   REPO"), "{rows:#?}");
    assert!(
        rows[2].starts_with("5      SUCCEED  alice/app      main       commit number 5"),
        "{rows:#?}"
    );
    assert!(rows[3].contains("FAILED"));
    assert!(!rows.concat().contains('\x1b'));
    assert!(rows[3].contains("evil message"), "{}", rows[3]);
    let x = rows[3].find("FAILED").unwrap() as u16;
    assert_eq!(buf[(x, 3)].fg, Color::Red);
    assert!(
        rows[23].starts_with(" microcid 0.1.0 · 1/2 running · 2 queued · docker ok"),
        "{}",
        rows[23]
    );
}

#[test]
fn a_long_list_draws_the_window_around_the_highlight() {
    let mut m = connected();
    m.jobs = jobs((1..=100_000).rev());
    m.selected = 50_000;
    let (rows, _) = screen(&m);
    // 24 rows: title, header, 20 jobs, message line, status bar; the highlight is the last job.
    let ids: Vec<&str> = rows[2..22]
        .iter()
        .map(|r| r.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(ids.first(), Some(&"50019"), "{rows:#?}");
    assert_eq!(ids.last(), Some(&"50000"), "{rows:#?}");
    m.selected = 3;
    let (rows, _) = screen(&m);
    assert!(rows[2].starts_with("100000"), "{rows:#?}");
}
