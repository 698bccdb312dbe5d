//! The overlays: the keys that open them, shared by both screens (`?` help, `c` cancel, `n` new
//! run, `a` artifacts, and `r` retry, which needs none), and what their answers do. Their keys are handled by
//! the [`prompt`](super::super::prompt) components; here is only what an answer means.

use super::super::model::{Command, Model, Overlay, PromptKind, Tag};
use super::super::prompt::{Confirm, Pick, Prompt, Step};
use super::list;
use crossterm::event::{KeyCode, KeyEvent};
use microci_proto::{Job, RepoInfo, Request};

/// A key while an overlay is open; `None` when there is none and the screen takes the key.
pub(super) fn key(m: &mut Model, k: KeyEvent) -> Option<Vec<Command>> {
    // Taken out, and put back only while it stays open.
    let cmds = match std::mem::take(&mut m.overlay) {
        Overlay::None => return None,
        // Any key closes the help.
        Overlay::Help => Vec::new(),
        Overlay::ConfirmCancel { job, confirm } => match confirm.key(k) {
            Step::Accept(()) => vec![Command::Send(Tag::Action, Request::Cancel { job })],
            Step::Open | Step::Cancel => {
                m.message = Some("not cancelled".into());
                Vec::new()
            }
        },
        Overlay::Prompt { kind, mut prompt } => match prompt.key(k) {
            Step::Open => {
                m.overlay = Overlay::Prompt { kind, prompt };
                Vec::new()
            }
            Step::Accept(value) => answer(m, kind, value),
            Step::Cancel => Vec::new(),
        },
        Overlay::PickRepo(mut pick) => match pick.key(k) {
            Step::Open => {
                m.overlay = Overlay::PickRepo(pick);
                Vec::new()
            }
            Step::Accept(RepoInfo {
                name,
                default_branch,
                ..
            }) => {
                // The second step of a new run: the ref, starting from the default branch.
                m.overlay = prompt(PromptKind::Ref { repo: name }, &default_branch);
                Vec::new()
            }
            Step::Cancel => Vec::new(),
        },
        Overlay::Artifacts { job, mut pick } => match pick.key(k) {
            Step::Open => {
                m.overlay = Overlay::Artifacts { job, pick };
                Vec::new()
            }
            Step::Accept(a) => {
                // Downloads are the command line's: it writes files, checked, where asked.
                m.message = Some(format!(
                    "download: microci-tui artifacts {job} --get {:?}",
                    a.name
                ));
                Vec::new()
            }
            Step::Cancel => Vec::new(),
        },
    };
    Some(cmds)
}

/// Cancel / retry / run / help keys, shared by both screens; `None` for other keys.
pub(super) fn action_key(
    m: &mut Model,
    code: KeyCode,
    target: Option<&Job>,
) -> Option<Vec<Command>> {
    let needs_conn = matches!(code, KeyCode::Char('c' | 'r' | 'n' | 'a'));
    if needs_conn && !m.connected() {
        m.message = Some("not connected".into());
        return Some(Vec::new());
    }
    match code {
        KeyCode::Char('?') => m.overlay = Overlay::Help,
        KeyCode::Char('c') => match target {
            Some(j) if !j.status.is_final() => {
                m.overlay = Overlay::ConfirmCancel {
                    job: j.id,
                    confirm: Confirm::new(format!("Cancel job {}?", j.id)),
                }
            }
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
        KeyCode::Char('a') => {
            if let Some(j) = target {
                m.overlay = Overlay::Artifacts {
                    job: j.id,
                    pick: Pick::loading(),
                };
                return Some(vec![Command::Send(
                    Tag::Artifacts,
                    Request::ListArtifacts { job: j.id },
                )]);
            }
        }
        KeyCode::Char('n') => {
            m.overlay = Overlay::PickRepo(Pick::loading());
            return Some(vec![Command::Send(Tag::Repos, Request::ListRepos)]);
        }
        _ => return None,
    }
    Some(Vec::new())
}

/// The prompt overlay for `kind`, its text starting as `text` for the person to edit.
pub(super) fn prompt(kind: PromptKind, text: &str) -> Overlay {
    let label = match &kind {
        PromptKind::Search => "search: ".to_string(),
        PromptKind::Repo => "repository (empty: all): ".to_string(),
        PromptKind::Ref { repo } => format!("run {repo} at ref: "),
        PromptKind::Params { .. } => "parameters (KEY=VALUE …, empty: none): ".to_string(),
    };
    Overlay::Prompt {
        kind,
        prompt: Prompt::new(label, text),
    }
}

/// What an accepted prompt does: set a filter (`None` clears it) and reload, or start the run
/// (`None`: the default branch).
fn answer(m: &mut Model, kind: PromptKind, value: Option<String>) -> Vec<Command> {
    match kind {
        PromptKind::Search => {
            m.filter.search = value;
            list::reload(m)
        }
        PromptKind::Repo => {
            m.filter.repo = value;
            list::reload(m)
        }
        PromptKind::Ref { repo } => {
            m.overlay = prompt(
                PromptKind::Params {
                    repo,
                    git_ref: value,
                },
                "",
            );
            Vec::new()
        }
        PromptKind::Params { repo, git_ref } => {
            let text = value.unwrap_or_default();
            match params(&text) {
                Ok(env) => vec![Command::Send(
                    Tag::Action,
                    Request::Run { repo, git_ref, env },
                )],
                Err(e) => {
                    // Said, and asked again with what was typed, to mend.
                    m.message = Some(e);
                    m.overlay = prompt(PromptKind::Params { repo, git_ref }, &text);
                    Vec::new()
                }
            }
        }
    }
}

/// `A=1 "B=two words"` → {A: 1, B: two words}, split as a shell would.
fn params(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let words = shlex::split(text).ok_or_else(|| "unbalanced quotes".to_string())?;
    words.iter().map(|w| crate::cli::parse_param(w)).collect()
}
