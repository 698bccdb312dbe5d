//! The list screen's keys, and the list's requests: a fresh first page when the filter changes,
//! older pages as the highlight nears the end of what is loaded.

use super::super::model::{Command, Model, PromptKind, Tag};
use super::{job, overlays};
use crossterm::event::{KeyCode, KeyEvent};
use microci_proto::{JobStatus, Request};

/// A key on the list screen.
pub(super) fn key(m: &mut Model, k: KeyEvent) -> Vec<Command> {
    let target = m.jobs.get(m.selected).cloned();
    if let Some(cmds) = overlays::action_key(m, k.code, target.as_ref()) {
        return cmds;
    }
    let last = m.jobs.len().saturating_sub(1);
    let page = m.list_rows().max(1);
    match k.code {
        KeyCode::Char('q') => return vec![Command::Quit],
        KeyCode::Down | KeyCode::Char('j') => m.selected = (m.selected + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => m.selected = m.selected.saturating_sub(1),
        KeyCode::PageDown => m.selected = (m.selected + page).min(last),
        KeyCode::PageUp => m.selected = m.selected.saturating_sub(page),
        KeyCode::Home | KeyCode::Char('g') => m.selected = 0,
        KeyCode::End | KeyCode::Char('G') => m.selected = last,
        KeyCode::Enter => {
            if let Some(j) = target {
                return job::open(m, j);
            }
        }
        KeyCode::Char('s') => {
            m.filter.status = match m.filter.status {
                None => Some(JobStatus::ALL[0]),
                Some(s) => JobStatus::ALL
                    .iter()
                    .position(|x| *x == s)
                    .and_then(|i| JobStatus::ALL.get(i + 1).copied()),
            };
            return reload(m);
        }
        KeyCode::Char('/') => {
            let text = m.filter.search.as_deref().unwrap_or_default();
            m.overlay = overlays::prompt(PromptKind::Search, text);
        }
        KeyCode::Char('R') => {
            let text = m.filter.repo.as_deref().unwrap_or_default();
            m.overlay = overlays::prompt(PromptKind::Repo, text);
        }
        KeyCode::Char('x') | KeyCode::Esc => {
            if m.filter != Default::default() {
                m.filter = Default::default();
                return reload(m);
            }
        }
        _ => return Vec::new(),
    }
    maybe_page(m)
}

/// Starts the list over with the current filter.
pub(super) fn reload(m: &mut Model) -> Vec<Command> {
    m.list_generation += 1;
    m.loading = true;
    m.more_older = true;
    let generation = m.list_generation;
    vec![Command::Send(
        Tag::Jobs {
            generation,
            older: false,
        },
        Request::ListJobs(m.filter.query(None)),
    )]
}

/// Asks for the next older page when the highlight nears the end of what is loaded.
fn maybe_page(m: &mut Model) -> Vec<Command> {
    if m.loading || !m.more_older || !m.connected() || m.selected + 10 < m.jobs.len() {
        return Vec::new();
    }
    m.loading = true;
    let before = m.jobs.last().map(|j| j.id);
    vec![Command::Send(
        Tag::Jobs {
            generation: m.list_generation,
            older: true,
        },
        Request::ListJobs(m.filter.query(before)),
    )]
}
