//! The job view: following the log, scrolling through it, and drawing hostile output inert.

use super::{ch, chunk, connected, key, screen};
use crate::ui::model::{Command, LOG_READ, Tag};
use crate::ui::update::{Msg, update};
use crossterm::event::KeyCode;
use microci_proto::{Event, JobStatus, Reply, Request};
use ratatui::style::Color;

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
fn a_forks_pull_request_is_marked_untrusted_with_its_status_report() {
    let mut m = connected();
    m.jobs[0].git_ref = "refs/pull/12/head".into();
    m.jobs[0].untrusted = true;
    m.jobs[0].status_report = Some("retrying (HTTP 502)".into());
    update(&mut m, key(KeyCode::Enter));
    let (rows, _) = screen(&m);
    let place = rows
        .iter()
        .find(|r| r.contains("alice/app @ pr/12"))
        .expect("the ref line");
    assert!(
        place.contains("untrusted fork  report: retrying (HTTP 502)"),
        "{place}"
    );
    // The list shows the pull request's number too.
    update(&mut m, key(KeyCode::Esc));
    let (rows, _) = screen(&m);
    assert!(rows.iter().any(|r| r.contains("pr/12")), "{rows:#?}");
}

#[test]
fn the_job_view_shows_the_latest_notification() {
    let mut m = connected();
    m.jobs[0].notifications = vec![
        microci_proto::Notification {
            target: "team".into(),
            event: "started".into(),
            state: "delivered".into(),
        },
        microci_proto::Notification {
            target: "chat\x1b[2J".into(),
            event: "failed".into(),
            state: "retrying (HTTP 502)".into(),
        },
    ];
    update(&mut m, key(KeyCode::Enter));
    let (rows, _) = screen(&m);
    let place = rows
        .iter()
        .find(|r| r.contains("alice/app @ main"))
        .expect("the ref line");
    assert!(place.contains("notify chat"), "{place}");
    assert!(place.contains(": retrying (HTTP 502)"), "{place}");
    assert!(!rows.concat().contains('\x1b'));
}

#[test]
fn the_job_view_says_which_engine_runs_the_job() {
    let mut m = connected();
    update(&mut m, key(KeyCode::Enter));
    let (rows, _) = screen(&m);
    assert!(!rows.concat().contains(" · on "), "{rows:#?}");
    update(&mut m, key(KeyCode::Esc));
    m.jobs[0].engine = Some("arm\x1b]0;t\x07".into());
    update(&mut m, key(KeyCode::Enter));
    let (rows, _) = screen(&m);
    let times = rows
        .iter()
        .find(|r| r.contains(" created "))
        .expect("the times line");
    assert!(times.contains(" · on arm · log "), "{times}");
    assert!(!rows.concat().contains('\x1b'));
}
