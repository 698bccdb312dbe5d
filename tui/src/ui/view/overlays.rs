//! What sits on top of the screen: the help box, or an input component (a question or a prompt
//! over the message line, the repository picker or a job's artifacts in the middle), each drawn by its own
//! [`prompt`](super::super::prompt) type.

use super::super::model::{Model, Overlay};
use super::{accent, centered, help, highlight};
use crate::sanitize::one_line;
use ratatui::Frame;
use ratatui::layout::Rect;

/// Draws the open overlay, if any; `msg` is the message line's row.
pub fn render(m: &Model, f: &mut Frame, msg: Rect) {
    match &m.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(m, f),
        Overlay::ConfirmCancel { confirm, .. } => confirm.render(f, msg, accent(m)),
        Overlay::Prompt { prompt, .. } => prompt.render(f, msg, accent(m)),
        Overlay::PickRepo(pick) => {
            let rows = (pick.items().len() as u16).saturating_add(2).clamp(3, 16);
            let area = centered(f.area(), 60, rows);
            let title = " New run: repository (Enter, Esc) ";
            pick.render(f, area, title, highlight(m), |r| one_line(&r.name));
        }
        Overlay::Artifacts { job, pick } => {
            let rows = (pick.items().len() as u16).saturating_add(2).clamp(3, 16);
            let area = centered(f.area(), 72, rows);
            let title = format!(" Artifacts of job {job} (Enter: how to download, Esc) ");
            pick.render(f, area, &title, highlight(m), |a| {
                format!("{}  {} bytes", one_line(&a.name), a.size)
            });
        }
    }
}
