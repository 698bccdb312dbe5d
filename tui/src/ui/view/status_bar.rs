//! The bottom line: daemon version, connection state, running/queued, Docker.

use super::super::model::{Conn, Model};
use crate::format;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Draws the status bar into `area` (one row).
pub fn render(m: &Model, f: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    let warn = if m.no_color {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    };
    match &m.conn.0 {
        Conn::Connecting => spans.push(Span::raw(" connecting…")),
        Conn::Connected { version } => {
            spans.push(Span::raw(format!(" microcid {}", format::clean(version))));
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
            }
        }
        Conn::Disconnected { retry_in, .. } => spans.push(Span::styled(
            format!(" disconnected — retrying in {retry_in}s"),
            warn,
        )),
    }
    spans.push(Span::raw("  ? help"));
    let style = if m.no_color {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().bg(Color::DarkGray).fg(Color::White)
    };
    f.render_widget(Paragraph::new(Line::from(spans)).style(style), area);
}
