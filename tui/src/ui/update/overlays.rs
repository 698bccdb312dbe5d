//! The overlays' keys (help, cancel confirmation, text prompts, the repository picker), and the
//! keys both screens share that open them (`?`, `c`, `n`) or act at once (`r`).

use super::super::model::{Command, Model, Overlay, PromptKind, Tag};
use super::list;
use crossterm::event::{KeyCode, KeyEvent};
use microci_proto::{Job, Request};

/// A key while an overlay is open; `None` when there is none and the screen takes the key.
pub(super) fn key(m: &mut Model, k: KeyEvent) -> Option<Vec<Command>> {
    let cmds = match m.overlay.clone() {
        Overlay::None => return None,
        Overlay::Help => {
            m.overlay = Overlay::None;
            Vec::new()
        }
        Overlay::ConfirmCancel(id) => {
            m.overlay = Overlay::None;
            if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                return Some(vec![Command::Send(
                    Tag::Action,
                    Request::Cancel { job: id },
                )]);
            }
            m.message = Some("not cancelled".into());
            Vec::new()
        }
        Overlay::Prompt { kind, mut text } => {
            match k.code {
                KeyCode::Esc => m.overlay = Overlay::None,
                KeyCode::Enter => {
                    m.overlay = Overlay::None;
                    let value = (!text.trim().is_empty()).then(|| text.trim().to_string());
                    return Some(match kind {
                        PromptKind::Search => {
                            m.filter.search = value;
                            list::reload(m)
                        }
                        PromptKind::Repo => {
                            m.filter.repo = value;
                            list::reload(m)
                        }
                        PromptKind::Ref { repo } => vec![Command::Send(
                            Tag::Action,
                            Request::Run {
                                repo,
                                git_ref: value,
                            },
                        )],
                    });
                }
                KeyCode::Backspace => {
                    text.pop();
                    m.overlay = Overlay::Prompt { kind, text };
                }
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 200 => {
                    text.push(c);
                    m.overlay = Overlay::Prompt { kind, text };
                }
                _ => {}
            }
            Vec::new()
        }
        Overlay::PickRepo { repos, selected } => {
            match k.code {
                KeyCode::Esc | KeyCode::Char('q') => m.overlay = Overlay::None,
                KeyCode::Up | KeyCode::Char('k') => {
                    m.overlay = Overlay::PickRepo {
                        selected: selected.saturating_sub(1),
                        repos,
                    }
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    m.overlay = Overlay::PickRepo {
                        selected: (selected + 1).min(repos.len().saturating_sub(1)),
                        repos,
                    }
                }
                KeyCode::Enter => {
                    if let Some(r) = repos.get(selected) {
                        m.overlay = Overlay::Prompt {
                            kind: PromptKind::Ref {
                                repo: r.name.clone(),
                            },
                            text: r.default_branch.clone(),
                        };
                    }
                }
                _ => {}
            }
            Vec::new()
        }
    };
    Some(cmds)
}

/// Cancel / retry / run keys, shared by both screens.
pub(super) fn action_key(
    m: &mut Model,
    code: KeyCode,
    target: Option<&Job>,
) -> Option<Vec<Command>> {
    let needs_conn = matches!(code, KeyCode::Char('c' | 'r' | 'n'));
    if needs_conn && !m.connected() {
        m.message = Some("not connected".into());
        return Some(Vec::new());
    }
    match code {
        KeyCode::Char('?') => m.overlay = Overlay::Help,
        KeyCode::Char('c') => match target {
            Some(j) if !j.status.is_final() => m.overlay = Overlay::ConfirmCancel(j.id),
            Some(j) => m.message = Some(format!("job {} is already {}", j.id, j.status)),
            None => {}
        },
        KeyCode::Char('r') => {
            if let Some(j) = target {
                return Some(vec![Command::Send(
                    Tag::Action,
                    Request::Retry { job: j.id },
                )]);
            }
        }
        KeyCode::Char('n') => {
            m.overlay = Overlay::PickRepo {
                repos: Vec::new(),
                selected: 0,
            };
            return Some(vec![Command::Send(Tag::Repos, Request::ListRepos)]);
        }
        _ => return None,
    }
    Some(Vec::new())
}
