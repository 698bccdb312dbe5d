//! The bottom line: daemon version, connection state, running/queued, Docker, the engines that
//! are down, and a marker when the daemon reports settings that weaken it (the full sentences
//! are in `microci-tui status`).

use super::super::model::{Conn, Model};
use crate::format;
use crate::sanitize::one_line;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

const HELP: &str = "  ? help";

/// Draws the status bar into `area` (one row).
pub fn render(m: &Model, f: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let warn = if m.no_color {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    };
    match &m.conn {
        Conn::Connecting => spans.push(Span::raw(" connecting…")),
        Conn::Connected { version } => {
            spans.push(Span::raw(format!(" microcid {}", one_line(version))));
            if let Some(s) = &m.status {
                spans.push(Span::raw(format!(
                    " · {}/{} running · {} queued · ",
                    s.running, s.max_jobs, s.queued
                )));
                if s.docker_reachable {
                    spans.push(Span::raw("docker ok"));
                } else {
                    spans.push(Span::styled("docker UNREACHABLE", warn));
                }
                if !s.engines_down.is_empty() {
                    spans.push(Span::raw(" · "));
                    spans.push(Span::styled(engines_down(&s.engines_down), warn));
                }
                // The most pressing first: jobs waiting for disk, a refused reload, then the
                // settings that weaken the daemon; `status` has them all.
                let notes: Vec<String> = s
                    .disk_low
                    .as_ref()
                    .map(|_| "disk low".to_string())
                    .into_iter()
                    .chain(s.reload_error.as_ref().map(|_| "reload failed".to_string()))
                    .chain(s.warnings.iter().map(|w| one_line(w)))
                    .collect();
                if let Some(first) = notes.first() {
                    let used: usize = spans.iter().map(|s| format::width(&s.content)).sum();
                    let room = (area.width as usize).saturating_sub(used + HELP.len() + 5);
                    let more = match notes.len() {
                        1 => String::new(),
                        n => format!(" (+{})", n - 1),
                    };
                    let text = format!("{first}{more}");
                    spans.push(Span::raw(" · "));
                    spans.push(Span::styled(
                        format!("⚠ {}", format::truncate(&text, room)),
                        warn,
                    ));
                }
            }
        }
        Conn::Disconnected { retry_in, .. } => spans.push(Span::styled(
            format!(" disconnected — retrying in {retry_in}s"),
            warn,
        )),
    }
    spans.push(Span::raw(HELP));
    let style = if m.no_color {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().bg(Color::DarkGray).fg(Color::White)
    };
    f.render_widget(Paragraph::new(Line::from(spans)).style(style), area);
}

/// `engine b DOWN`, `engines b, c DOWN`: the names cut short so the bar keeps its other parts
/// (`microci-tui engines` has them all, with why).
fn engines_down(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| one_line(n)).collect();
    let which = if list.len() == 1 { "engine" } else { "engines" };
    format!("{which} {} DOWN", format::truncate(&list.join(", "), 24))
}
