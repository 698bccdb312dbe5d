//! The job list: newest first, status word in colour, live.

use super::super::model::Model;
use super::{accent, highlight, hint, status_style};
use crate::format::{self, Fields};
use crate::sanitize::one_line;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

/// Draws the title line and the table into `area`.
pub fn render(m: &Model, f: &mut Frame, area: Rect) {
    let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let mut spans = vec![Span::styled(" microci jobs", accent(m))];
    let fl = &m.filter;
    if let Some(s) = fl.status {
        spans.push(Span::raw(format!("  status={s}")));
    }
    if let Some(r) = &fl.repo {
        spans.push(Span::raw(format!("  repo={}", one_line(r))));
    }
    if let Some(q) = &fl.search {
        spans.push(Span::raw(format!("  search={:?}", one_line(q))));
    }
    if m.loading {
        spans.push(Span::raw("  loading…"));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), title);

    if m.jobs.is_empty() {
        let text = if m.loading {
            hint(" loading…")
        } else if *fl != Default::default() {
            hint(" no jobs match the filter (x clears it)")
        } else {
            hint(" no jobs yet (n starts a run, ? lists keys)")
        };
        f.render_widget(Paragraph::new(text), body);
        return;
    }

    // Narrow terminals drop the author and commit columns before squeezing the message.
    let wide = area.width >= 110;
    let now = time::OffsetDateTime::now_utc();
    let mut header = vec!["ID", "STATUS", "REPO", "BRANCH"];
    let mut widths = vec![
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Length(10),
    ];
    if wide {
        header.push("COMMIT");
        widths.push(Constraint::Length(7));
    }
    header.push("MESSAGE");
    widths.push(Constraint::Fill(1));
    if wide {
        header.push("AUTHOR");
        widths.push(Constraint::Length(12));
    }
    header.extend(["AGE", "TIME"]);
    widths.extend([Constraint::Length(8), Constraint::Length(6)]);

    // Only the rows that fit are built (the history may hold 100,000 jobs): the window that a
    // fresh TableState would scroll to, with the highlight on its last row once past the first
    // screen.
    let visible = (body.height as usize).saturating_sub(1).max(1);
    let first = m.selected.saturating_sub(visible - 1);
    let shown = &m.jobs[first.min(m.jobs.len())..(first + visible).min(m.jobs.len())];
    let rows = shown.iter().map(|j| {
        let fit = |s: String, w: usize| Cell::from(format::truncate(&s, w));
        let mut cells = vec![
            Cell::from(j.id.to_string()),
            Cell::from(Span::styled(j.status.as_str(), status_style(m, j.status))),
            fit(one_line(&j.repo), 14),
            fit(Fields::Clean.short_ref(&j.git_ref), 10),
        ];
        if wide {
            cells.push(Cell::from(one_line(
                &j.commit.chars().take(7).collect::<String>(),
            )));
        }
        // Cut to the screen: the table would cut it anyway, after laying out all of it.
        cells.push(fit(
            Fields::Clean.first_line(&j.message),
            area.width as usize,
        ));
        if wide {
            cells.push(fit(one_line(&j.author), 12));
        }
        let age = format::age(&j.created_at, now);
        cells.push(Cell::from(age.trim_end_matches(" ago").to_string()));
        cells.push(Cell::from(format::job_duration(j, now)));
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .row_highlight_style(highlight(m));
    let mut state = TableState::default().with_selected(Some(m.selected - first));
    f.render_stateful_widget(table, body, &mut state);
}
