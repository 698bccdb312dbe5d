//! The job view: details on top, the log below (sanitised, only the visible lines are drawn).

use super::super::model::{HEADER_ROWS, JobView, Model};
use super::log_line::log_line;
use super::{accent, hint, status_style};
use crate::format::{self, Fields};
use crate::sanitize::one_line;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Draws the job details and the visible part of its log into `area`.
pub fn render(m: &Model, v: &JobView, f: &mut Frame, area: Rect) {
    let [head, body] =
        Layout::vertical([Constraint::Length(HEADER_ROWS), Constraint::Fill(1)]).areas(area);
    let j = &v.job;
    let body_width = area.width as usize;
    let now = time::OffsetDateTime::now_utc();
    let mut status = vec![
        Span::raw(" "),
        Span::styled(j.status.as_str(), status_style(m, j.status)),
    ];
    if let Some(r) = &j.reason {
        status.push(Span::raw(format!(" — {}", one_line(r))));
    }
    if let Some(c) = j.exit_code {
        status.push(Span::raw(format!(" (exit {c})")));
    }
    if let Some(w) = &j.waiting {
        status.push(Span::raw(format!(" — {}", one_line(w))));
    }
    let lines = vec![
        Line::from(status),
        Line::from({
            let mut place = vec![Span::raw(format!(
                " {} @ {}  {}",
                one_line(&j.repo),
                Fields::Clean.short_ref(&j.git_ref),
                Fields::Clean.short_commit(&j.commit)
            ))];
            if j.untrusted {
                place.push(Span::styled(
                    "  untrusted fork",
                    status_style(m, microci_proto::JobStatus::Errored),
                ));
            }
            if let Some(r) = &j.status_report {
                place.push(Span::raw(format!("  report: {}", one_line(r))));
            }
            if let Some(n) = j.notifications.last() {
                place.push(Span::raw(format!(
                    "  notify {}: {}",
                    one_line(&n.target),
                    one_line(&n.state)
                )));
            }
            place
        }),
        Line::from(format!(
            " {} — {}",
            format::truncate(&one_line(&j.author), 100),
            format::truncate(&Fields::Clean.first_line(&j.message), body_width)
        )),
        Line::from(format!(
            " created {} · ran {} · {}{}{} · log {} bytes",
            format::age(&j.created_at, now),
            format::job_duration(j, now),
            one_line(&j.trigger),
            params(j),
            engine(j),
            j.log_size.max(v.log.live_end)
        )),
    ];
    let follow = if v.follow {
        " following "
    } else {
        " f: follow "
    };
    let block = Block::bordered()
        .title(Line::from(format!(" job {} ", j.id)).style(accent(m)))
        .title(Line::from(follow).right_aligned());
    f.render_widget(Paragraph::new(lines).block(block), head);

    let rows = body.height as usize;
    let count = v.log.line_count();
    if count == 0 || (count == 1 && v.log.lines[0].is_empty()) {
        let text = if v.log.start() > 0 || v.log.pending_older {
            hint(" loading…")
        } else if j.status.is_final() {
            hint(" (empty log)")
        } else {
            hint(" waiting for output…")
        };
        f.render_widget(Paragraph::new(text), body);
        return;
    }
    let bottom = count.saturating_sub(rows);
    let top = if v.follow { bottom } else { v.top.min(bottom) };
    let width = body.width as usize;
    let shown: Vec<Line<'static>> = v.log.lines[top..(top + rows).min(count)]
        .iter()
        .map(|l| log_line(l, m.no_color, width))
        .collect();
    f.render_widget(Paragraph::new(shown), body);
}

/// ` · on NAME`: the engine the job's container ran on, once placed.
fn engine(j: &microci_proto::Job) -> String {
    match &j.engine {
        Some(e) => format!(" · on {}", format::truncate(&one_line(e), 24)),
        None => String::new(),
    }
}

/// ` KEY=VALUE …` after the trigger of a run given parameters (cleaned; they are shown where the
/// person can see them, not on the public pages).
fn params(j: &microci_proto::Job) -> String {
    j.params
        .iter()
        .map(|(k, v)| format!(" {}={}", one_line(k), one_line(v)))
        .collect()
}
