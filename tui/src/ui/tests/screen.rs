//! The whole screen: the status bar, a lost connection, `NO_COLOR`.

use super::{ch, connected, screen};
use crate::ui::model::{Conn, Tag};
use crate::ui::update::{Msg, update};
use microci_proto::{Event, JobStatus, Reply};
use ratatui::style::Color;

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
    assert!(matches!(m.conn, Conn::Disconnected { .. }));
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
fn a_stopping_daemon_is_said_until_the_connection_is_back() {
    let mut m = connected();
    update(&mut m, Msg::Event(Tag::Watch, Event::Stopping));
    update(
        &mut m,
        Msg::Disconnected {
            error: "the daemon closed the connection".into(),
            retry_in: 1,
        },
    );
    let (rows, _) = screen(&m);
    assert!(
        rows[22].contains("the daemon is stopping (a restart or an upgrade): reconnecting"),
        "{}",
        rows[22]
    );
    assert!(rows[2].contains("commit number 5"), "the list stays");
    update(
        &mut m,
        Msg::Connected {
            version: "0.1.1".into(),
        },
    );
    assert_eq!(m.message, None);
}

#[test]
fn low_disk_and_a_failed_reload_show_in_the_status_bar() {
    let mut m = connected();
    if let Some(s) = &mut m.status {
        s.disk_low = Some("waiting for disk space: 3 MiB free".into());
        s.reload_error = Some("bad key".into());
    }
    let (rows, _) = screen(&m);
    assert!(
        rows[23].contains("docker ok · ⚠ disk low (+1)  ? help"),
        "{}",
        rows[23]
    );
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
fn the_status_bar_says_which_engines_are_down() {
    let mut m = connected();
    if let Some(s) = &mut m.status {
        s.engines_down = vec!["b\x1b[2J".into()];
    }
    let (rows, _) = screen(&m);
    assert!(
        rows[23].starts_with(
            " microcid 0.1.0 · 1/2 running · 2 queued · docker ok · engine b DOWN  ? help"
        ),
        "{}",
        rows[23]
    );
    if let Some(s) = &mut m.status {
        s.engines_down = vec!["b".into(), "arm".into()];
        s.warnings = vec!["unsigned webhooks are accepted".into()];
    }
    let (rows, _) = screen(&m);
    assert!(
        // At 80 columns the down engines come first; the warning is only marked.
        rows[23].contains("docker ok · engines b, arm DOWN · ⚠"),
        "{}",
        rows[23]
    );
    if let Some(s) = &mut m.status {
        s.engines_down.clear();
    }
    let (rows, _) = screen(&m);
    assert!(!rows[23].contains("DOWN"), "{}", rows[23]);
}
