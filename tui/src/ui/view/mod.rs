//! `view(&Model, &mut Frame)`: draws the model, nothing else. The screen is the list or the open
//! job, a message line, and the status bar; overlays (help, confirm, prompts, repo picker) are
//! drawn on top.

mod help;
mod job;
mod list;
pub mod log_line;
mod overlays;
mod status_bar;

use super::model::Model;
use crate::sanitize::one_line;
use microci_proto::JobStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

/// Draws the whole screen.
pub fn view(m: &Model, f: &mut Frame) {
    let [main, msg, bar] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    match &m.job_view {
        Some(v) => job::render(m, v, f, main),
        None => list::render(m, f, main),
    }
    if let Some(text) = &m.message {
        f.render_widget(Paragraph::new(one_line(text)), msg);
    }
    status_bar::render(m, f, bar);
    overlays::render(m, f, msg);
}

/// A rectangle of at most `w`×`h` in the middle of `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The style of a job state's word.
pub(crate) fn status_style(m: &Model, s: JobStatus) -> Style {
    if m.no_color {
        return match s {
            JobStatus::Failed | JobStatus::Errored => Style::new().add_modifier(Modifier::BOLD),
            _ => Style::new(),
        };
    }
    let c = match s {
        JobStatus::Pending => Color::DarkGray,
        JobStatus::Started => Color::Yellow,
        JobStatus::Succeed => Color::Green,
        JobStatus::Failed => Color::Red,
        JobStatus::Errored => Color::Magenta,
        JobStatus::Canceled => Color::Gray,
    };
    Style::new().fg(c)
}

/// The highlighted row.
pub(crate) fn highlight(m: &Model) -> Style {
    if m.no_color {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new().bg(Color::Blue).fg(Color::White)
    }
}

/// Titles and prompts.
pub(crate) fn accent(m: &Model) -> Style {
    if m.no_color {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}

/// Key hints in one line, e.g. for empty screens.
pub(crate) fn hint(text: &str) -> Line<'static> {
    Line::from(text.to_string()).style(Style::new().add_modifier(Modifier::DIM))
}
