//! One line of a job's log as a styled ratatui [`Line`]: a [`Sink`] of the crate's one sanitizer
//! ([`crate::sanitize::Scanner`]), not a second one. Job output is written by whatever code a
//! push brought, so nothing in it may reach the terminal as a control sequence: SGR colours and
//! attributes become span styles, every other escape is dropped and bidirectional controls are
//! spelled out. What is particular to the UI is drawing: a tab expands to 8-column stops, and a
//! carriage return discards the text before it on the line, as a terminal would overwrite it (the
//! `logs` command, which has no such line model, turns it into a line end instead). Invalid UTF-8
//! was already replaced by the daemon (`LogChunk.data` is a `String`).

use crate::sanitize::{self, Control, Scanner, Sgr, Sink};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// How much of a line is parsed at a time: a line far wider than the screen stops being parsed
/// soon after it is full, so a megabyte-long line costs no more to draw than a short one.
const PARSE_STEP: usize = 4096;

/// Turns one log line (without its `\n`) into a styled line at most `max_cols` columns wide.
/// With `no_color`, colours are dropped and other attributes kept.
pub fn log_line(text: &str, no_color: bool, max_cols: usize) -> Line<'static> {
    let mut p = Painter {
        spans: Vec::new(),
        cur: String::new(),
        style: Style::default(),
        cols: 0,
        max_cols,
        no_color,
        cr: false,
    };
    let mut scanner = Scanner::new(Sgr::Keep);
    let mut rest = text;
    while !rest.is_empty() && !p.full() {
        let mut cut = rest.len().min(PARSE_STEP);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        scanner.feed(piece, &mut p);
        rest = tail;
    }
    p.flush();
    Line::from(p.spans)
}

/// Builds spans, starting a new one when the style changes.
struct Painter {
    spans: Vec<Span<'static>>,
    cur: String,
    style: Style,
    cols: usize,
    max_cols: usize,
    no_color: bool,
    /// A carriage return was seen: the next text starts the line again.
    cr: bool,
}

impl Painter {
    fn full(&self) -> bool {
        self.cols >= self.max_cols
    }

    fn push(&mut self, c: char) {
        if self.cr {
            self.cr = false;
            self.spans.clear();
            self.cur.clear();
            self.cols = 0;
        }
        let w = c.width().unwrap_or(0);
        if self.cols + w > self.max_cols {
            self.cols = self.max_cols;
            return;
        }
        self.cols += w;
        self.cur.push(c);
    }

    fn flush(&mut self) {
        if !self.cur.is_empty() {
            let text = std::mem::take(&mut self.cur);
            self.spans.push(Span::styled(text, self.style));
        }
    }
}

impl Sink for Painter {
    fn print(&mut self, c: char) {
        if !self.full() {
            self.push(c);
        }
    }

    fn control(&mut self, c: Control) {
        if self.full() {
            return;
        }
        match c {
            Control::Tab => {
                let n = 8 - self.cols % 8;
                for _ in 0..n {
                    self.push(' ');
                }
            }
            Control::CarriageReturn => self.cr = true,
            // A log line has no line feed in it; nothing to draw.
            Control::LineFeed => {}
        }
    }

    fn style(&mut self, s: &sanitize::Style) {
        let style = ratatui_style(s, self.no_color);
        if style != self.style {
            self.flush();
            self.style = style;
        }
    }
}

/// The sanitizer's style as ratatui's; `no_color` keeps attributes only.
fn ratatui_style(s: &sanitize::Style, no_color: bool) -> Style {
    use sanitize::Attrs;
    let mut style = Style::default();
    for (attr, m) in [
        (Attrs::BOLD, Modifier::BOLD),
        (Attrs::DIM, Modifier::DIM),
        (Attrs::ITALIC, Modifier::ITALIC),
        (Attrs::UNDERLINED, Modifier::UNDERLINED),
        (Attrs::REVERSED, Modifier::REVERSED),
        (Attrs::CROSSED_OUT, Modifier::CROSSED_OUT),
    ] {
        if s.attrs.contains(attr) {
            style = style.add_modifier(m);
        }
    }
    if !no_color {
        style.fg = s.fg.map(colour);
        style.bg = s.bg.map(colour);
    }
    style
}

fn colour(c: sanitize::Colour) -> Color {
    match c {
        sanitize::Colour::Ansi(n) => ansi(n),
        sanitize::Colour::Indexed(n) => Color::Indexed(n),
        sanitize::Colour::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

fn ansi(n: u8) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        7 => Color::Gray,
        8 => Color::DarkGray,
        9 => Color::LightRed,
        10 => Color::LightGreen,
        11 => Color::LightYellow,
        12 => Color::LightBlue,
        13 => Color::LightMagenta,
        14 => Color::LightCyan,
        _ => Color::White,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line<'_>) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn colours_become_spans() {
        let l = log_line("a \x1b[31mred\x1b[0m b", false, 100);
        assert_eq!(text(&l), "a red b");
        assert_eq!(l.spans[1].content, "red");
        assert_eq!(l.spans[1].style.fg, Some(Color::Red));
        assert_eq!(l.spans[2].style, Style::default());
        let l = log_line("\x1b[1;38;5;208mx\x1b[38;2;1;2;3my", false, 100);
        assert_eq!(l.spans[0].style.fg, Some(Color::Indexed(208)));
        assert!(l.spans[0].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(l.spans[1].style.fg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn no_color_keeps_text_drops_colour() {
        let l = log_line("\x1b[31;1mred", true, 100);
        assert_eq!(text(&l), "red");
        assert_eq!(l.spans[0].style.fg, None);
    }

    #[test]
    fn hostile_sequences_are_dropped() {
        let l = log_line(
            "x\x1b[2J\x1b[10;10H\x1b]0;pwned\x07\x1b]8;;http://e\x1b\\y\x1bPq#0\x1b\\\x1b(B\x1bc\u{9b}5A\u{9d}t\x07z\x08\x00\x7f",
            false,
            100,
        );
        assert_eq!(text(&l), "xyz");
        for s in &l.spans {
            assert!(!s.content.chars().any(char::is_control), "{:?}", s.content);
        }
        // Private-mode CSI that ends in m is not SGR.
        assert_eq!(text(&log_line("\x1b[?1049m ok", false, 100)), " ok");
        // Unterminated OSC swallows the rest of the line, nothing more.
        assert_eq!(text(&log_line("a\x1b]0;title", false, 100)), "a");
    }

    #[test]
    fn bidi_controls_are_spelled_out() {
        assert_eq!(
            text(&log_line("a\u{202E}b\u{2066}", false, 100)),
            "a<U+202E>b<U+2066>"
        );
    }

    #[test]
    fn a_huge_line_is_cut_without_parsing_it_all() {
        // The carriage return after the screen is full is never reached.
        let line = format!("{}\r{}", "x".repeat(1 << 20), "y".repeat(10));
        assert_eq!(text(&log_line(&line, false, 80)), "x".repeat(80));
        // Multi-byte characters straddling the parse steps stay whole.
        let line = "é漢🦀".repeat(3000);
        assert_eq!(text(&log_line(&line, false, 100_000)), line);
    }

    #[test]
    fn tabs_carriage_returns_and_width() {
        assert_eq!(text(&log_line("a\tb", false, 100)), "a       b");
        assert_eq!(text(&log_line("50%\r100%", false, 100)), "100%");
        assert_eq!(text(&log_line("crlf\r", false, 100)), "crlf");
        assert_eq!(text(&log_line("日本語", false, 5)), "日本");
        assert_eq!(text(&log_line(&"x".repeat(100_000), false, 80)).len(), 80);
        assert_eq!(
            text(&log_line("bad \u{FFFD} utf8", false, 100)),
            "bad \u{FFFD} utf8"
        );
    }
}
