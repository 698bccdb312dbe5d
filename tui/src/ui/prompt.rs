//! The one input component every overlay is made of: a line of text ([`Prompt`]), a yes/no
//! question ([`Confirm`]) and a choice from a list ([`Pick`]). Each holds its own state, turns a
//! key into a [`Step`] and draws itself, so the rules are written once: Esc cancels, Enter
//! accepts, Backspace deletes a character, only printable characters are typed, a prompt holds at
//! most [`Prompt::MAX_CHARS`] typed characters, and a yes needs an explicit `y`. What an answer
//! means (a filter, a cancel, a new run) is `update`'s business, not theirs. Text that may be
//! untrusted (a repository name in a label, a default branch) is drawn through
//! [`crate::sanitize::one_line`].

use crate::format;
use crate::sanitize::one_line;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph};

/// What a key did to an open component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<T> {
    /// Still open: the key edited or moved it, or was ignored.
    Open,
    /// Closed with an answer.
    Accept(T),
    /// Closed without one.
    Cancel,
}

/// A line of text typed after a label, on the message line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What is asked, e.g. `search: `.
    label: String,
    /// Typed so far (or given to start with).
    text: String,
}

impl Prompt {
    /// The most characters typing can make the text hold (a filter or a ref, never long).
    pub const MAX_CHARS: usize = 200;

    /// A prompt showing `label`, its text starting as `text` (a filter's current value, a
    /// default branch) for the person to edit; that text is kept as given, the cap and the
    /// printable-only rule are for what is typed.
    pub fn new(label: impl Into<String>, text: &str) -> Prompt {
        Prompt {
            label: label.into(),
            text: text.to_string(),
        }
    }

    /// Esc cancels; Enter accepts the text without surrounding blanks (`None` when that is
    /// empty); Backspace deletes the last character; a printable character is appended while
    /// the text is under [`Prompt::MAX_CHARS`]; every other key is ignored.
    pub fn key(&mut self, k: KeyEvent) -> Step<Option<String>> {
        match k.code {
            KeyCode::Esc => return Step::Cancel,
            KeyCode::Enter => {
                let value = self.text.trim();
                return Step::Accept((!value.is_empty()).then(|| value.to_string()));
            }
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Char(c) if !c.is_control() && self.text.chars().count() < Self::MAX_CHARS => {
                self.text.push(c)
            }
            _ => {}
        }
        Step::Open
    }

    /// Draws the label and the text over `area` (one row) in `style`, with the cursor after
    /// the text.
    pub fn render(&self, f: &mut Frame, area: Rect, style: Style) {
        let line = one_line(&format!("{}{}", self.label, self.text));
        message_line(f, area, &line, style);
        let x = area.x + (format::width(&line) as u16).min(area.width.saturating_sub(1));
        f.set_cursor_position((x, area.y));
    }
}

/// A yes/no question on the message line. Only `y` (or `Y`) says yes: any other key, Enter and
/// Esc included, says no, so a slip of the finger never confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The question, without the `y/n`.
    question: String,
}

impl Confirm {
    /// Asks `question` (e.g. `Cancel job 5?`).
    pub fn new(question: impl Into<String>) -> Confirm {
        Confirm {
            question: question.into(),
        }
    }

    /// `Accept` for `y`/`Y`, `Cancel` for every other key; never `Open`: any key answers.
    pub fn key(&self, k: KeyEvent) -> Step<()> {
        match k.code {
            KeyCode::Char('y' | 'Y') => Step::Accept(()),
            _ => Step::Cancel,
        }
    }

    /// Draws `question y/n` over `area` (one row) in `style`.
    pub fn render(&self, f: &mut Frame, area: Rect, style: Style) {
        message_line(f, area, &one_line(&format!("{} y/n", self.question)), style);
    }
}

/// A choice from a list, in a box. Empty while its items load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick<T> {
    /// What can be chosen (empty: still loading).
    items: Vec<T>,
    /// The highlighted item.
    selected: usize,
}

impl<T: Clone> Pick<T> {
    /// A list with its first item highlighted.
    pub fn new(items: Vec<T>) -> Pick<T> {
        Pick { items, selected: 0 }
    }

    /// A list whose items are on their way.
    pub fn loading() -> Pick<T> {
        Pick::new(Vec::new())
    }

    /// What can be chosen.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Up/`k` and Down/`j` move the highlight (it stops at the ends); Enter accepts the
    /// highlighted item (nothing while loading); Esc or `q` cancels; other keys are ignored.
    pub fn key(&mut self, k: KeyEvent) -> Step<T> {
        match k.code {
            KeyCode::Esc | KeyCode::Char('q') => return Step::Cancel,
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(self.items.len().saturating_sub(1))
            }
            KeyCode::Enter => {
                if let Some(item) = self.items.get(self.selected) {
                    return Step::Accept(item.clone());
                }
            }
            _ => {}
        }
        Step::Open
    }

    /// Draws the box over `area` with `title`, one row per item as `name` gives it (the
    /// caller makes it inert), the highlighted one in `highlight`; `loading…` while empty.
    pub fn render(
        &self,
        f: &mut Frame,
        area: Rect,
        title: &str,
        highlight: Style,
        name: impl Fn(&T) -> String,
    ) {
        f.render_widget(Clear, area);
        let block = Block::bordered().title(title.to_string());
        if self.items.is_empty() {
            f.render_widget(Paragraph::new("loading…").block(block), area);
            return;
        }
        let items: Vec<ListItem<'_>> = self.items.iter().map(|i| ListItem::new(name(i))).collect();
        let list = List::new(items)
            .block(block)
            .highlight_symbol("> ")
            .highlight_style(highlight);
        let mut state = ListState::default().with_selected(Some(self.selected));
        f.render_stateful_widget(list, area, &mut state);
    }
}

/// One line of our own text over the message line, in place of what was there.
fn message_line(f: &mut Frame, area: Rect, text: &str, style: Style) {
    f.render_widget(Clear, area);
    f.render_widget(Paragraph::new(text.to_string()).style(style), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(p: &mut Prompt, s: &str) {
        for c in s.chars() {
            assert_eq!(p.key(key(KeyCode::Char(c))), Step::Open);
        }
    }

    /// The rows `draw` leaves on a `w`×`h` screen, and where the cursor ended.
    fn drawn(w: u16, h: u16, draw: impl FnOnce(&mut Frame)) -> (Vec<String>, (u16, u16)) {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(draw).unwrap();
        let buf = t.backend().buffer().clone();
        let rows = (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect();
        let cursor = t.get_cursor_position().unwrap();
        (rows, (cursor.x, cursor.y))
    }

    #[test]
    fn prompt_edits_and_accepts_the_trimmed_text() {
        let mut p = Prompt::new("search: ", "ma");
        typed(&mut p, "in ");
        assert_eq!(p.text, "main ");
        assert_eq!(p.key(key(KeyCode::Backspace)), Step::Open);
        assert_eq!(p.key(key(KeyCode::Backspace)), Step::Open);
        assert_eq!(p.text, "mai");
        typed(&mut p, "né");
        assert_eq!(p.key(key(KeyCode::Backspace)), Step::Open);
        assert_eq!(p.text, "main", "Backspace deletes a character, not a byte");
        assert_eq!(
            Prompt::new("", "  dev ").key(key(KeyCode::Enter)),
            Step::Accept(Some("dev".into()))
        );
        // Blank means no value (all repositories, no search, the default branch).
        assert_eq!(
            Prompt::new("", "   ").key(key(KeyCode::Enter)),
            Step::Accept(None)
        );
        let mut empty = Prompt::new("", "");
        assert_eq!(empty.key(key(KeyCode::Backspace)), Step::Open);
        assert_eq!(empty.text, "");
    }

    #[test]
    fn prompt_esc_cancels_and_other_keys_are_ignored() {
        let mut p = Prompt::new("search: ", "x");
        for k in [KeyCode::Up, KeyCode::Tab, KeyCode::F(1), KeyCode::Delete] {
            assert_eq!(p.key(key(k)), Step::Open);
        }
        assert_eq!(p.text, "x");
        assert_eq!(p.key(key(KeyCode::Esc)), Step::Cancel);
    }

    #[test]
    fn prompt_takes_printable_characters_up_to_the_cap() {
        let mut p = Prompt::new("", "");
        for c in ['\x1b', '\x07', '\n', '\r', '\u{9b}', '\x7f', '\0'] {
            assert_eq!(p.key(key(KeyCode::Char(c))), Step::Open);
        }
        assert_eq!(p.text, "", "control characters are not typed");
        typed(&mut p, "漢🦀");
        typed(&mut p, &"x".repeat(Prompt::MAX_CHARS));
        assert_eq!(p.text.chars().count(), Prompt::MAX_CHARS);
        assert!(p.text.starts_with("漢🦀x"));
        assert_eq!(p.key(key(KeyCode::Backspace)), Step::Open);
        typed(&mut p, "y");
        assert!(p.text.ends_with("xy"));
    }

    #[test]
    fn prompt_draws_inert_with_the_cursor_after_the_text() {
        let p = Prompt::new("run evil\x1b]0;t\x07/app at ref: ", "ma\u{202E}");
        let (rows, cursor) = drawn(60, 1, |f| p.render(f, f.area(), Style::new()));
        let want = "run evil/app at ref: ma<U+202E>";
        assert_eq!(rows[0].trim_end(), want);
        assert_eq!(cursor, (want.len() as u16, 0));
        // A line wider than the row keeps the cursor on it.
        let long = Prompt::new("search: ", &"w".repeat(100));
        let (_, cursor) = drawn(20, 1, |f| long.render(f, f.area(), Style::new()));
        assert_eq!(cursor, (19, 0));
    }

    #[test]
    fn confirm_needs_an_explicit_y() {
        let c = Confirm::new("Cancel job 5?");
        assert_eq!(c.key(key(KeyCode::Char('y'))), Step::Accept(()));
        assert_eq!(c.key(key(KeyCode::Char('Y'))), Step::Accept(()));
        for k in [
            KeyCode::Char('n'),
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Char(' '),
            KeyCode::Backspace,
        ] {
            assert_eq!(c.key(key(k)), Step::Cancel, "{k:?}");
        }
        let (rows, _) = drawn(30, 1, |f| c.render(f, f.area(), Style::new()));
        assert_eq!(rows[0].trim_end(), "Cancel job 5? y/n");
    }

    #[test]
    fn pick_moves_within_the_list_and_accepts_the_highlight() {
        let mut p = Pick::new(vec!["a", "b", "c"]);
        assert_eq!(p.key(key(KeyCode::Up)), Step::Open);
        assert_eq!(p.key(key(KeyCode::Enter)), Step::Accept("a"));
        for _ in 0..5 {
            assert_eq!(p.key(key(KeyCode::Char('j'))), Step::Open);
        }
        assert_eq!(p.key(key(KeyCode::Enter)), Step::Accept("c"));
        assert_eq!(p.key(key(KeyCode::Char('k'))), Step::Open);
        assert_eq!(p.key(key(KeyCode::Enter)), Step::Accept("b"));
        assert_eq!(p.key(key(KeyCode::Char('x'))), Step::Open);
        assert_eq!(p.key(key(KeyCode::Esc)), Step::Cancel);
        assert_eq!(p.key(key(KeyCode::Char('q'))), Step::Cancel);
    }

    #[test]
    fn pick_waits_while_loading() {
        let mut p: Pick<&str> = Pick::loading();
        assert_eq!(p.key(key(KeyCode::Down)), Step::Open);
        assert_eq!(p.key(key(KeyCode::Enter)), Step::Open);
        let (rows, _) = drawn(20, 3, |f| {
            p.render(f, f.area(), " Pick ", Style::new(), |s| s.to_string())
        });
        assert!(rows[1].contains("loading…"), "{rows:#?}");
        let p = Pick::new(vec!["alice/app", "bob/lib"]);
        let (rows, _) = drawn(20, 4, |f| {
            p.render(f, f.area(), " Pick ", Style::new(), |s| s.to_string())
        });
        assert!(rows[0].contains("Pick"), "{rows:#?}");
        assert!(rows[1].contains("> alice/app"), "{rows:#?}");
        assert!(rows[2].contains("  bob/lib"), "{rows:#?}");
    }
}
