//! The `?` overlay: every key.

use super::super::model::Model;
use super::{accent, centered};
use ratatui::Frame;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

/// Every key, as shown by `?`.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ ↓ j k", "move / scroll"),
    ("PgUp PgDn", "page"),
    ("g G", "first / last (G in a job: follow)"),
    ("Enter", "open the job"),
    ("s", "cycle the status filter"),
    ("R", "filter by repository"),
    ("/", "search text"),
    ("x", "clear filters"),
    ("f", "follow the log (job view)"),
    ("c", "cancel the job (asks y/n)"),
    ("r", "retry the job"),
    ("n", "new run: pick repository, type ref"),
    ("a", "the job's artifacts"),
    ("q Esc", "back; q on the list quits"),
    ("Ctrl-C", "quit"),
    ("?", "this help (any key closes)"),
];

/// Draws the help box in the middle of the screen.
pub fn render(m: &Model, f: &mut Frame) {
    let area = centered(f.area(), 56, KEYS.len() as u16 + 2);
    let lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<10} {what}")))
        .collect();
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ").title_style(accent(m))),
        area,
    );
}
