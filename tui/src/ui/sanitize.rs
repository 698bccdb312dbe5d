//! Untrusted log text to ratatui lines. Job output is written by whatever code a push brought,
//! so nothing in it may reach the terminal as a control sequence: SGR colours and attributes
//! (`ESC [ … m`) become span styles; every other escape — CSI cursor moves and erases, OSC
//! (window titles, hyperlinks), DCS/SOS/PM/APC strings, two-byte escapes, C1 controls — is
//! dropped; C0 controls are dropped except tab (expanded to 8-column stops) and a carriage
//! return (the text before it is discarded, as a terminal would overwrite it). Invalid UTF-8 was
//! already replaced by the daemon (`LogChunk.data` is a `String`).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Turns one log line (without its `\n`) into a styled line at most `max_cols` columns wide.
/// With `no_color`, colours are dropped and other attributes kept.
pub fn sanitize_line(text: &str, no_color: bool, max_cols: usize) -> Line<'static> {
    let mut p = Painter {
        spans: Vec::new(),
        cur: String::new(),
        style: Style::default(),
        cols: 0,
        max_cols,
        no_color,
    };
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if p.cols >= max_cols {
            break;
        }
        match c {
            '\x1b' => match it.next() {
                Some('[') => csi(&mut it, &mut p),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut it),
                Some(c) if ('\x20'..='\x2f').contains(&c) => {
                    // ESC intermediates… final (e.g. charset selection `ESC ( B`).
                    while let Some(&n) = it.peek() {
                        it.next();
                        if !('\x20'..='\x2f').contains(&n) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => csi(&mut it, &mut p),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut it),
            '\t' => {
                let n = 8 - p.cols % 8;
                for _ in 0..n {
                    p.push(' ');
                }
            }
            '\r' => {
                if it.peek().is_some() {
                    p.spans.clear();
                    p.cur.clear();
                    p.cols = 0;
                }
            }
            c if c.is_control() => {}
            c => p.push(c),
        }
    }
    p.flush();
    Line::from(p.spans)
}

/// Untrusted one-line text (a commit message, an author) as plain text: escape sequences
/// removed, control characters dropped, at most `max_cols` columns.
pub fn plain(text: &str, max_cols: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    sanitize_line(first, true, max_cols)
        .spans
        .iter()
        .map(|s| s.content.as_ref())
        .collect()
}

/// Builds spans, starting a new one when the style changes.
struct Painter {
    spans: Vec<Span<'static>>,
    cur: String,
    style: Style,
    cols: usize,
    max_cols: usize,
    no_color: bool,
}

impl Painter {
    fn push(&mut self, c: char) {
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

    fn set_style(&mut self, style: Style) {
        if style != self.style {
            self.flush();
            self.style = style;
        }
    }

    fn sgr(&mut self, params: &str) {
        let nums: Vec<u16> = params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let mut s = self.style;
        let mut i = 0;
        while i < nums.len() {
            let n = nums[i];
            match n {
                0 => s = Style::default(),
                1 => s = s.add_modifier(Modifier::BOLD),
                2 => s = s.add_modifier(Modifier::DIM),
                3 => s = s.add_modifier(Modifier::ITALIC),
                4 => s = s.add_modifier(Modifier::UNDERLINED),
                7 => s = s.add_modifier(Modifier::REVERSED),
                9 => s = s.add_modifier(Modifier::CROSSED_OUT),
                22 => s = s.remove_modifier(Modifier::BOLD | Modifier::DIM),
                23 => s = s.remove_modifier(Modifier::ITALIC),
                24 => s = s.remove_modifier(Modifier::UNDERLINED),
                27 => s = s.remove_modifier(Modifier::REVERSED),
                29 => s = s.remove_modifier(Modifier::CROSSED_OUT),
                30..=37 => s.fg = Some(ansi(n - 30)),
                39 => s.fg = None,
                40..=47 => s.bg = Some(ansi(n - 40)),
                49 => s.bg = None,
                90..=97 => s.fg = Some(ansi(n - 90 + 8)),
                100..=107 => s.bg = Some(ansi(n - 100 + 8)),
                38 | 48 => {
                    let color = match nums.get(i + 1) {
                        Some(5) => {
                            let c = nums.get(i + 2).map(|&v| Color::Indexed(v.min(255) as u8));
                            i += 2;
                            c
                        }
                        Some(2) => {
                            let g = |k: usize| nums.get(i + k).map(|&v| v.min(255) as u8);
                            let c = match (g(2), g(3), g(4)) {
                                (Some(r), Some(gr), Some(b)) => Some(Color::Rgb(r, gr, b)),
                                _ => None,
                            };
                            i += 4;
                            c
                        }
                        _ => None,
                    };
                    if n == 38 {
                        s.fg = color;
                    } else {
                        s.bg = color;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if self.no_color {
            s.fg = None;
            s.bg = None;
        }
        self.set_style(s);
    }
}

fn ansi(n: u16) -> Color {
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

/// After `ESC [` (or C1 CSI): parameters, intermediates, final. Only a plain SGR is applied.
fn csi(it: &mut std::iter::Peekable<std::str::Chars<'_>>, p: &mut Painter) {
    let mut params = String::new();
    let mut plain = true;
    while let Some(&c) = it.peek() {
        match c {
            '\x30'..='\x3f' => {
                if !(c.is_ascii_digit() || c == ';' || c == ':') {
                    plain = false;
                }
                params.push(c);
                it.next();
            }
            '\x20'..='\x2f' => {
                plain = false;
                it.next();
            }
            '\x40'..='\x7e' => {
                it.next();
                if c == 'm' && plain {
                    p.sgr(&params);
                }
                return;
            }
            // Malformed: abandon the sequence and let the character be handled normally.
            _ => return,
        }
    }
}

/// Skips an OSC/DCS/SOS/PM/APC string up to BEL, ST (`ESC \` or U+009C) or the end of line.
fn skip_string(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = it.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' => {
                if it.peek() == Some(&'\\') {
                    it.next();
                }
                return;
            }
            _ => {}
        }
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
        let l = sanitize_line("a \x1b[31mred\x1b[0m b", false, 100);
        assert_eq!(text(&l), "a red b");
        assert_eq!(l.spans[1].content, "red");
        assert_eq!(l.spans[1].style.fg, Some(Color::Red));
        assert_eq!(l.spans[2].style, Style::default());
        let l = sanitize_line("\x1b[1;38;5;208mx\x1b[38;2;1;2;3my", false, 100);
        assert_eq!(l.spans[0].style.fg, Some(Color::Indexed(208)));
        assert!(l.spans[0].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(l.spans[1].style.fg, Some(Color::Rgb(1, 2, 3)));
    }

    #[test]
    fn no_color_keeps_text_drops_colour() {
        let l = sanitize_line("\x1b[31;1mred", true, 100);
        assert_eq!(text(&l), "red");
        assert_eq!(l.spans[0].style.fg, None);
    }

    #[test]
    fn hostile_sequences_are_dropped() {
        let l = sanitize_line(
            "x\x1b[2J\x1b[10;10H\x1b]0;pwned\x07\x1b]8;;http://e\x1b\\y\x1bPq#0\x1b\\\x1b(B\x1bc\u{9b}5A\u{9d}t\x07z\x08\x00\x7f",
            false,
            100,
        );
        assert_eq!(text(&l), "xyz");
        for s in &l.spans {
            assert!(!s.content.chars().any(char::is_control), "{:?}", s.content);
        }
        // Private-mode CSI that ends in m is not SGR.
        assert_eq!(text(&sanitize_line("\x1b[?1049m ok", false, 100)), " ok");
        // Unterminated OSC swallows the rest of the line, nothing more.
        assert_eq!(text(&sanitize_line("a\x1b]0;title", false, 100)), "a");
    }

    #[test]
    fn tabs_carriage_returns_and_width() {
        assert_eq!(text(&sanitize_line("a\tb", false, 100)), "a       b");
        assert_eq!(text(&sanitize_line("50%\r100%", false, 100)), "100%");
        assert_eq!(text(&sanitize_line("crlf\r", false, 100)), "crlf");
        assert_eq!(text(&sanitize_line("日本語", false, 5)), "日本");
        assert_eq!(
            text(&sanitize_line(&"x".repeat(100_000), false, 80)).len(),
            80
        );
        assert_eq!(
            text(&sanitize_line("bad \u{FFFD} utf8", false, 100)),
            "bad \u{FFFD} utf8"
        );
    }
}
