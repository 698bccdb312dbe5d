//! The bottom line: daemon version, connection state, running/queued, Docker, and a marker when
//! the daemon reports settings that weaken it (the full sentences are in `microci-tui status`).

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
                if s.disk_low.is_some() {
                    spans.push(Span::raw(" · "));
                    spans.push(Span::styled("⚠ disk low: jobs wait", warn));
                }
                if s.reload_error.is_some() {
                    spans.push(Span::raw(" · "));
                    spans.push(Span::styled("⚠ reload FAILED (see status)", warn));
                }
                if let Some(first) = s.warnings.first() {
                    let used: usize = spans.iter().map(|s| format::width(&s.content)).sum();
                    let room = (area.width as usize).saturating_sub(used + HELP.len() + 5);
                    let more = match s.warnings.len() {
                        1 => String::new(),
                        n => format!(" (+{})", n - 1),
                    };
                    let text = format!("{}{more}", one_line(first));
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
