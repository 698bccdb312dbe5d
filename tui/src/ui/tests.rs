//! `update` sequences and `view` renders into a `TestBackend` at 80x24.

use super::model::{Command, Conn, LOG_READ, Model, Overlay, Tag};
use super::update::{Msg, update};
use super::view::view;
use crate::testing::job;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use microci_proto::{DaemonStatus, Event, Job, JobStatus, LogChunk, Reply, Request};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

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
            }),
        ),
    );
    m
}

fn screen(m: &Model) -> (Vec<String>, ratatui::buffer::Buffer) {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view(m, f)).unwrap();
    let buf = t.backend().buffer().clone();
    let rows = (0..24)
        .map(|y| (0..80).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect();
    (rows, buf)
}

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

fn chunk(offset: u64, data: &str) -> LogChunk {
    LogChunk {
        id: 5,
        offset,
        next_offset: offset + data.len() as u64,
        data: data.into(),
    }
}

#[test]
fn job_view_follows_from_the_tail_and_pages_up() {
    let mut m = connected();
    m.jobs[0].log_size = 1_000_000;
    m.jobs[0].status = JobStatus::Started;
    let cmds = update(&mut m, key(KeyCode::Enter));
    let [Command::Send(Tag::Follow { generation }, Request::FollowLog { job: 5, offset })] =
        cmds.as_slice()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(*offset, 1_000_000 - LOG_READ);
    let g = *generation;
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("line {i}\n"));
    }
    update(
        &mut m,
        Msg::Event(
            Tag::Follow { generation: g },
            Event::Log(chunk(*offset, &text)),
        ),
    );
    let v = m.job_view.as_ref().unwrap();
    assert_eq!(v.log.line_count(), 100);
    assert!(v.follow);
    // Up stops following; PgUp near the top of the window asks for the part above it.
    update(&mut m, key(KeyCode::Up));
    assert!(!m.job_view.as_ref().unwrap().follow);
    let mut cmds = Vec::new();
    for _ in 0..10 {
        cmds.extend(update(&mut m, key(KeyCode::PageUp)));
    }
    let [Command::Send(Tag::LogOlder { .. }, Request::ReadLog { offset: o, max, .. })] =
        cmds.as_slice()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(*o + *max as u64, 1_000_000 - LOG_READ);
    let above = "older a\nolder b\npartial ";
    let start = 1_000_000 - LOG_READ - above.len() as u64;
    update(
        &mut m,
        Msg::Reply(
            Tag::LogOlder { generation: g },
            Reply::Log(chunk(start, above)),
        ),
    );
    let v = m.job_view.as_ref().unwrap();
    assert_eq!(v.top, 2);
    assert_eq!(v.log.lines[2], "partial line 0");
    // Live output while scrolled up is kept, the view does not move; G follows again.
    update(
        &mut m,
        Msg::Event(
            Tag::Follow { generation: g },
            Event::Log(chunk(1_000_000 - LOG_READ + text.len() as u64, "new\n")),
        ),
    );
    let v = m.job_view.as_ref().unwrap();
    assert_eq!(v.top, 2);
    assert_eq!(v.log.line_count(), 103);
    update(&mut m, ch('G'));
    assert!(m.job_view.as_ref().unwrap().follow);
    // Events of an older follow generation are ignored; q goes back to the list.
    update(
        &mut m,
        Msg::Event(
            Tag::Follow {
                generation: g + 100,
            },
            Event::Log(chunk(0, "zzz")),
        ),
    );
    assert_eq!(m.job_view.as_ref().unwrap().log.line_count(), 103);
    // Leaving the job ends its follow subscription.
    assert_eq!(
        update(&mut m, ch('q')),
        [Command::Unsubscribe(Tag::Follow { generation: g })]
    );
    assert!(m.job_view.is_none());
    // Its answer (or a not-found from a race with the follow's own end) shows nothing.
    update(&mut m, Msg::Reply(Tag::Unsubscribe, Reply::Done));
    update(
        &mut m,
        Msg::Failed(Tag::Unsubscribe, "no open subscription".into()),
    );
    assert_eq!(m.message, None);
}

#[test]
fn cancel_asks_first() {
    let mut m = connected();
    m.jobs[0].status = JobStatus::Started;
    assert!(update(&mut m, ch('c')).is_empty());
    assert!(
        matches!(m.overlay, Overlay::ConfirmCancel { job: 5, .. }),
        "{:?}",
        m.overlay
    );
    assert_eq!(screen(&m).0[22].trim_end(), "Cancel job 5? y/n");
    assert!(update(&mut m, ch('n')).is_empty());
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.message.as_deref(), Some("not cancelled"));
    update(&mut m, ch('c'));
    assert_eq!(
        update(&mut m, ch('y')),
        [Command::Send(Tag::Action, Request::Cancel { job: 5 })]
    );
    // Finished jobs are not offered for cancel.
    update(&mut m, ch('j'));
    update(&mut m, ch('c'));
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.message.as_deref(), Some("job 4 is already SUCCEED"));
    assert_eq!(
        update(&mut m, ch('r')),
        [Command::Send(Tag::Action, Request::Retry { job: 4 })]
    );
}

#[test]
fn new_run_picks_repo_then_ref() {
    let mut m = connected();
    assert_eq!(
        update(&mut m, ch('n')),
        [Command::Send(Tag::Repos, Request::ListRepos)]
    );
    let repos = ["alice/app", "bob/lib"].map(|n| microci_proto::RepoInfo {
        name: n.into(),
        default_branch: "main".into(),
        clone_url: String::new(),
    });
    update(
        &mut m,
        Msg::Reply(
            Tag::Repos,
            Reply::Repos {
                repos: repos.to_vec(),
            },
        ),
    );
    update(&mut m, ch('j'));
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(screen(&m).0[22].trim_end(), "run bob/lib at ref: main");
    for _ in 0..4 {
        update(&mut m, key(KeyCode::Backspace));
    }
    for c in "dev".chars() {
        update(&mut m, ch(c));
    }
    let cmds = update(&mut m, key(KeyCode::Enter));
    assert_eq!(
        cmds,
        [Command::Send(
            Tag::Action,
            Request::Run {
                repo: "bob/lib".into(),
                git_ref: Some("dev".into())
            }
        )]
    );
}

#[test]
fn search_and_repository_prompts_set_the_filter() {
    let mut m = connected();
    assert!(update(&mut m, ch('/')).is_empty());
    for c in " fix ".chars() {
        assert!(update(&mut m, ch(c)).is_empty());
    }
    assert_eq!(screen(&m).0[22].trim_end(), "search:  fix");
    let cmds = update(&mut m, key(KeyCode::Enter));
    let [Command::Send(_, Request::ListJobs(q))] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(q.search.as_deref(), Some("fix"));
    assert_eq!(m.filter.search.as_deref(), Some("fix"));
    assert_eq!(m.overlay, Overlay::None);
    // `R` starts from the current filter; Esc leaves it as it was.
    update(&mut m, ch('R'));
    update(&mut m, ch('x'));
    assert!(update(&mut m, key(KeyCode::Esc)).is_empty());
    assert_eq!(m.filter.repo, None);
    update(&mut m, ch('R'));
    for c in "bob/lib".chars() {
        update(&mut m, ch(c));
    }
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(m.filter.repo.as_deref(), Some("bob/lib"));
    update(&mut m, ch('R'));
    assert_eq!(
        screen(&m).0[22].trim_end(),
        "repository (empty: all): bob/lib"
    );
    // Emptied, it clears the filter again.
    for _ in 0..7 {
        update(&mut m, key(KeyCode::Backspace));
    }
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(m.filter.repo, None);
    assert_eq!(m.filter.search.as_deref(), Some("fix"));
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
fn status_bar_marks_daemon_warnings() {
    let mut m = connected();
    let mut status = m.status.clone().unwrap();
    status.warnings = vec![
        "unsigned webhooks are accepted (webhook.allow_unsigned)\x1b]0;t\x07".into(),
        "second".into(),
    ];
    update(&mut m, Msg::Reply(Tag::Status, Reply::Status(status)));
    let (rows, _) = screen(&m);
    assert!(
        rows[23].starts_with(" microcid 0.1.0 · 1/2 running · 2 queued · docker ok · ⚠ unsigned"),
        "{}",
        rows[23]
    );
    assert!(rows[23].trim_end().ends_with("…  ? help"), "{}", rows[23]);
    assert!(!rows[23].contains('\x1b'));
}

#[test]
fn disconnect_keeps_the_screen_and_says_so() {
    let mut m = connected();
    update(
        &mut m,
        Msg::Disconnected {
            error: "the daemon closed the connection".into(),
            retry_in: 4,
        },
    );
    assert!(matches!(m.conn.0, Conn::Disconnected { .. }));
    let (rows, _) = screen(&m);
    assert!(rows[2].contains("commit number 5"));
    assert!(rows[22].contains("connection lost: the daemon closed the connection"));
    assert!(
        rows[23].starts_with(" disconnected — retrying in 4s"),
        "{}",
        rows[23]
    );
    assert_eq!(update(&mut m, ch('r')), []);
    assert_eq!(m.message.as_deref(), Some("not connected"));
}

#[test]
fn hostile_log_leaves_the_screen_intact() {
    let mut m = connected();
    m.jobs[0].log_size = 0;
    let cmds = update(&mut m, key(KeyCode::Enter));
    let [Command::Send(tag, _)] = cmds.as_slice() else {
        panic!()
    };
    let long = "L".repeat(5000);
    let log = format!(
        "\x1b[2Jcleared?\n\x1b]0;pwned\x07title\n\x1b[10;10Hmoved\n{long}\nbad \u{FFFD}\u{FFFD} bytes\n\x1b[31mred\x1b[0m plain\n"
    );
    update(&mut m, Msg::Event(tag.clone(), Event::Log(chunk(0, &log))));
    let (rows, buf) = screen(&m);
    let body: Vec<&str> = rows[6..12].iter().map(|r| r.trim_end()).collect();
    assert_eq!(body[0], "cleared?");
    assert_eq!(body[1], "title");
    assert_eq!(body[2], "moved");
    assert_eq!(body[3], "L".repeat(80));
    assert_eq!(body[4], "bad \u{FFFD}\u{FFFD} bytes");
    assert_eq!(body[5], "red plain");
    assert_eq!(buf[(0, 11)].fg, Color::Red);
    assert_eq!(buf[(4, 11)].fg, Color::Reset);
    assert!(!rows.concat().contains("pwned"));
    assert!(rows[0].contains("job 5"), "{}", rows[0]);
    assert!(rows[23].starts_with(" microcid"), "status bar intact");
}

#[test]
fn no_color_draws_without_colours() {
    let mut m = connected();
    m.no_color = true;
    m.jobs[0].status = JobStatus::Failed;
    let (_, buf) = screen(&m);
    for y in 0..24 {
        for x in 0..80 {
            assert_eq!(buf[(x, y)].fg, Color::Reset, "({x},{y})");
            assert_eq!(buf[(x, y)].bg, Color::Reset, "({x},{y})");
        }
    }
}

#[test]
fn help_lists_keys() {
    let mut m = connected();
    update(&mut m, ch('?'));
    let (rows, _) = screen(&m);
    let all = rows.concat();
    for k in ["Enter", "cancel", "retry", "new run", "follow", "filter"] {
        assert!(all.contains(k), "{k} missing from help");
    }
    update(&mut m, ch('x'));
    assert_eq!(m.overlay, Overlay::None);
}

#[test]
fn log_window_stays_bounded() {
    use super::model::{LOG_CAP, LogWindow};
    let mut w = LogWindow::at(0);
    let line = "y".repeat(1023) + "\n";
    let mut at = 0;
    let mut removed = 0;
    for _ in 0..3000 {
        assert!(w.push_back(chunk(at, &line)));
        at += line.len() as u64;
        removed += w.trim_front();
        assert!(w.bytes() <= LOG_CAP + 1024);
    }
    assert_eq!(w.end(), 3000 * 1024);
    assert_eq!(removed + w.line_count(), 3000);
    assert!(w.lines.iter().take(w.line_count()).all(|l| l.len() == 1023));
    // Repeats and gaps are refused.
    assert!(!w.push_back(chunk(at - 1024, &line)));
    assert!(!w.push_back(chunk(at + 10, &line)));
}

#[test]
fn g_jumps_to_the_real_start_and_g_back_to_the_live_tail() {
    let mut m = connected();
    m.jobs[0].log_size = 10_000_000;
    m.jobs[0].status = JobStatus::Started;
    let cmds = update(&mut m, key(KeyCode::Enter));
    let [Command::Send(follow_tag, Request::FollowLog { offset, .. })] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    let tail = "t\n".repeat(50);
    update(
        &mut m,
        Msg::Event(follow_tag.clone(), Event::Log(chunk(*offset, &tail))),
    );
    let cmds = update(&mut m, ch('g'));
    let [Command::Send(tag @ Tag::LogNewer { .. }, Request::ReadLog { offset: 0, .. })] =
        cmds.as_slice()
    else {
        panic!("{cmds:?}")
    };
    update(
        &mut m,
        Msg::Reply(tag.clone(), Reply::Log(chunk(0, &"head\n".repeat(40)))),
    );
    let v = m.job_view.as_ref().unwrap();
    assert_eq!((v.top, v.follow, v.log.detached), (0, false, true));
    assert_eq!(v.log.lines[0], "head");
    // Live output is not mixed into a window at the start of the log.
    update(
        &mut m,
        Msg::Event(follow_tag.clone(), Event::Log(chunk(10_000_000, "live\n"))),
    );
    assert_eq!(m.job_view.as_ref().unwrap().log.line_count(), 40);
    // Scrolling to the bottom of the window reads on.
    let mut cmds = Vec::new();
    for _ in 0..5 {
        cmds.extend(update(&mut m, key(KeyCode::PageDown)));
    }
    assert!(
        matches!(
            cmds.as_slice(),
            [Command::Send(
                Tag::LogNewer { .. },
                Request::ReadLog { offset: 200, .. }
            )]
        ),
        "{cmds:?}"
    );
    // G goes back to the tail with a new follow from the furthest known offset, ending the old.
    let cmds = update(&mut m, ch('G'));
    let [
        Command::Unsubscribe(old),
        Command::Send(Tag::Follow { .. }, Request::FollowLog { offset, .. }),
    ] = cmds.as_slice()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(old, follow_tag);
    assert_eq!(*offset, 10_000_005 - LOG_READ);
    assert!(m.job_view.as_ref().unwrap().follow);
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
