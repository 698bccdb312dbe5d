//! A job's log as HTML: a [`Sink`] of the one terminal parser ([`microci_proto::sanitize`], the
//! TUI's too), never a second one. SGR colours and attributes become `<span class="…">` from a
//! fixed list of classes (the page's style sheet says what each looks like; no colour from the
//! input reaches the page), every other escape sequence is dropped, text is HTML-escaped by maud's
//! escaper and bidirectional controls arrive spelled out (`<U+202E>`). A carriage return ends the
//! line, as in `microci-tui logs`: a job cannot hide a line by printing another over it.

use maud::Escaper;
use microci_proto::sanitize::{Attrs, Colour, Control, Scanner, Sgr, Sink, Style};
use std::fmt::Write as _;

/// Streaming renderer for one log: keep one per page or SSE stream so a sequence or colour split
/// between chunks carries over.
pub struct LogHtml {
    scanner: Scanner,
    state: State,
}

#[derive(Default)]
struct State {
    /// The style of the open `<span>`, if one is open.
    open: Option<Style>,
    /// The style the next text should have.
    wanted: Style,
    /// A `\r` not yet written (it becomes a line end unless a `\n` follows).
    cr: bool,
}

impl Default for LogHtml {
    fn default() -> Self {
        LogHtml::new()
    }
}

impl LogHtml {
    /// A renderer at the start of a log (default style).
    pub fn new() -> LogHtml {
        LogHtml {
            scanner: Scanner::new(Sgr::Keep),
            state: State::default(),
        }
    }

    /// Appends the HTML of the next chunk to `out`. Every `<span>` it opens is closed before it
    /// returns, so each piece is well-formed on its own (an SSE event is inserted as it comes).
    pub fn push(&mut self, chunk: &str, out: &mut String) {
        let mut t = Target {
            s: &mut self.state,
            out,
        };
        self.scanner.feed(chunk, &mut t);
        t.close();
    }

    /// Writes a `\r` still pending at the end of the log.
    pub fn finish(&mut self, out: &mut String) {
        if std::mem::take(&mut self.state.cr) {
            out.push('\n');
        }
    }
}

/// One whole text rendered at once (the page's tail of a log).
pub fn render(text: &str) -> String {
    let mut r = LogHtml::new();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    r.push(text, &mut out);
    r.finish(&mut out);
    out
}

struct Target<'a> {
    s: &'a mut State,
    out: &'a mut String,
}

impl Target<'_> {
    fn close(&mut self) {
        if self.s.open.take().is_some() {
            self.out.push_str("</span>");
        }
    }

    fn end_cr(&mut self) {
        if std::mem::take(&mut self.s.cr) {
            self.out.push('\n');
        }
    }

    /// Opens the span for the wanted style before text, when it differs from the open one.
    fn paint(&mut self) {
        if self.s.open == Some(self.s.wanted)
            || (self.s.open.is_none() && self.s.wanted == Style::default())
        {
            return;
        }
        self.close();
        let classes = classes(&self.s.wanted);
        if !classes.is_empty() {
            let _ = write!(self.out, "<span class=\"{classes}\">");
            self.s.open = Some(self.s.wanted);
        }
    }
}

impl Sink for Target<'_> {
    fn print(&mut self, c: char) {
        self.end_cr();
        self.paint();
        let mut buf = [0u8; 4];
        let _ = Escaper::new(self.out).write_str(c.encode_utf8(&mut buf));
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::LineFeed => {
                self.s.cr = false;
                self.out.push('\n');
            }
            Control::Tab => {
                self.end_cr();
                self.paint();
                self.out.push('\t');
            }
            Control::CarriageReturn => self.s.cr = true,
        }
    }

    fn style(&mut self, style: &Style) {
        self.s.wanted = *style;
        // Close at once, so the line end after a reset is not inside the span.
        if self.s.open.is_some_and(|open| open != *style) {
            self.close();
        }
    }
}

/// The class list for a style, from a fixed vocabulary: `f0`–`f15` and `b0`–`b15` (the 16
/// terminal colours; the 256-colour palette and 24-bit colours are mapped to the nearest of
/// them), `sb` bold, `sd` dim, `si` italic, `su` underline, `ss` crossed out. Reverse video
/// swaps the colours (`rv` when neither is set).
fn classes(s: &Style) -> String {
    let (mut fg, mut bg) = (s.fg.map(ansi16), s.bg.map(ansi16));
    let mut out = String::new();
    if s.attrs.contains(Attrs::REVERSED) {
        if fg.is_none() && bg.is_none() {
            out.push_str("rv ");
        } else {
            (fg, bg) = (bg.or(Some(0)), fg.or(Some(7)));
        }
    }
    if let Some(n) = fg {
        let _ = write!(out, "f{n} ");
    }
    if let Some(n) = bg {
        let _ = write!(out, "b{n} ");
    }
    for (attr, class) in [
        (Attrs::BOLD, "sb"),
        (Attrs::DIM, "sd"),
        (Attrs::ITALIC, "si"),
        (Attrs::UNDERLINED, "su"),
        (Attrs::CROSSED_OUT, "ss"),
    ] {
        if s.attrs.contains(attr) {
            out.push_str(class);
            out.push(' ');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The nearest of the 16 terminal colours.
fn ansi16(c: Colour) -> u8 {
    match c {
        Colour::Ansi(n) => n.min(15),
        Colour::Indexed(n) if n < 16 => n,
        Colour::Indexed(n) if n >= 232 => grey((n - 232) * 10 + 8),
        Colour::Indexed(n) => {
            // The 6×6×6 cube.
            let i = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            nearest(level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        Colour::Rgb(r, g, b) => nearest(r, g, b),
    }
}

fn grey(v: u8) -> u8 {
    match v {
        0..=63 => 0,
        64..=159 => 8,
        160..=223 => 7,
        _ => 15,
    }
}

/// Nearest terminal colour by channel thresholds: which channels are lit, and how brightly.
fn nearest(r: u8, g: u8, b: u8) -> u8 {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max - min < 40 {
        return grey(max);
    }
    let lit = |v: u8| u8::from(v as u16 * 2 > max as u16 + min as u16);
    let base = lit(r) | (lit(g) << 1) | (lit(b) << 2);
    if max > 200 { base + 8 } else { base }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_classes_and_text_is_escaped() {
        let html = render("\x1b[1;31mred <b>&\x1b[0m plain\n");
        assert_eq!(
            html,
            "<span class=\"f1 sb\">red &lt;b&gt;&amp;</span> plain\n"
        );
    }

    #[test]
    fn other_sequences_are_dropped_and_bidi_spelled_out() {
        let html = render("a\x1b]0;title\x07b\x1b[2Jc\u{202E}d\x1b[38;2;10;200;10mg\x1b[m");
        assert_eq!(html, "abc&lt;U+202E&gt;d<span class=\"f2\">g</span>");
    }

    #[test]
    fn carriage_return_ends_the_line() {
        assert_eq!(render("one\rtwo\r\nthree\r"), "one\ntwo\nthree\n");
    }

    #[test]
    fn spans_close_at_each_chunk_and_style_carries_over() {
        let mut r = LogHtml::new();
        let mut a = String::new();
        r.push("x\x1b[3", &mut a);
        r.push("2mgreen", &mut a);
        a.push('|');
        r.push(" still", &mut a);
        assert_eq!(
            a,
            "x<span class=\"f2\">green</span>|<span class=\"f2\"> still</span>"
        );
    }

    #[test]
    fn palette_colours_map_to_the_nearest_of_sixteen() {
        assert_eq!(ansi16(Colour::Indexed(196)), 9); // bright red
        assert_eq!(ansi16(Colour::Indexed(21)), 12); // bright blue
        assert_eq!(ansi16(Colour::Indexed(232)), 0);
        assert_eq!(ansi16(Colour::Indexed(255)), 15);
        assert_eq!(ansi16(Colour::Rgb(0, 128, 0)), 2);
        assert_eq!(classes(&Style::default()), "");
    }
}
