//! The one parser that makes untrusted text inert before it reaches a terminal: job output,
//! commit messages, author names, refs and failure reasons are written by people we do not
//! trust (a job's code is hostile), and a terminal obeys whatever escape sequences they contain.
//!
//! [`Scanner`] runs `vte`'s state machine (Paul Williams' DEC parser, the one Alacritty uses)
//! and hands what is left to a [`Sink`]:
//! - printable text, with bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
//!   U+061C) spelled out as `<U+202E>` instead of reordering the line around them;
//! - line feed, tab and carriage return as [`Control`]s, for the sink to render;
//! - SGR colours and attributes (`ESC [ … m`) as a normalised [`Style`] (only with [`Sgr::Keep`]);
//! - nothing else: CSI that is not plain SGR (cursor moves, erases, modes), OSC (clipboard,
//!   titles, hyperlinks), DCS/SOS/PM/APC strings, two-byte escapes, every other C0 control, DEL
//!   and every C1 control are dropped. A C1 control (U+0080–U+009F, e.g. U+009B CSI, U+009D OSC,
//!   U+009C ST) is first rewritten as its 7-bit form (`ESC` + byte − 0x40), because some
//!   terminals obey them in UTF-8; so an 8-bit sequence is removed whole, parameters and all.
//!
//! The scanner is streaming: its state lives across [`Scanner::feed`] calls, so a sequence split
//! between two log chunks is still recognised and removed. A string sequence (OSC, DCS, …) or any
//! other sequence that is not finished after [`MAX_SEQUENCE`] bytes is abandoned (as a terminal's
//! CAN would) and what follows is text again: a stray `ESC ]` cannot hide the rest of a log, and
//! the parser's buffer stays small.
//!
//! Which to use when (each is a [`Sink`] of the one [`Scanner`], never a parser of its own):
//! - [`one_line`]: an untrusted field printed inside a line of our own text (a repository, a
//!   ref, an author, a reason, a daemon error), by the verbs, `format` and the UI alike;
//! - [`Sanitizer`]: a whole stream that keeps its lines and colours (a job's log written by
//!   `logs` to a terminal), chunk by chunk;
//! - `ui::view::log_line`: one log line drawn by the UI as styled ratatui spans.

mod style;
mod writer;

pub use style::{Attrs, Colour, Style};
pub use writer::{Sanitizer, one_line};

use std::borrow::Cow;

/// How many bytes an unfinished escape sequence may hold before it is abandoned and the bytes
/// after it are text again. Longer than any legitimate sequence a log would carry (a window
/// title, a hyperlink), short enough that a hostile one hides at most a few lines.
pub const MAX_SEQUENCE: usize = 4096;

/// The cancel control: from any state it returns the parser to text.
const CAN: u8 = 0x18;

/// Whether SGR colours and attributes survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sgr {
    /// Colours and attributes reach the sink as [`Style`] changes.
    Keep,
    /// Dropped like every other sequence: plain text (the `NO_COLOR` form).
    Drop,
}

/// The control characters that survive; everything else is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `\n`: the end of a line.
    LineFeed,
    /// `\t`: sinks expand it or pass it on.
    Tab,
    /// `\r`: each sink decides (the CLI writer ends the line, the UI overwrites it).
    CarriageReturn,
}

/// Where the scanner's output goes.
pub trait Sink {
    /// A printable character: never a control character; bidirectional controls arrive already
    /// spelled out (`<`, `U`, `+`, …).
    fn print(&mut self, c: char);
    /// A control character that survives.
    fn control(&mut self, c: Control);
    /// The style of the text that follows changed (only with [`Sgr::Keep`]).
    fn style(&mut self, style: &Style);
}

/// The streaming parser: feed it untrusted text chunk by chunk; keep one per stream.
pub struct Scanner {
    parser: vte::Parser,
    sgr: Sgr,
    style: Style,
    /// Bytes fed since the parser last finished something (text, a control or a sequence).
    pending: usize,
}

impl Scanner {
    /// A scanner in the text state with the default style.
    pub fn new(sgr: Sgr) -> Scanner {
        Scanner {
            parser: vte::Parser::new(),
            sgr,
            style: Style::default(),
            pending: 0,
        }
    }

    /// Parses the next chunk of the stream and passes what survives to `sink`.
    pub fn feed<S: Sink>(&mut self, input: &str, sink: &mut S) {
        let bytes = seven_bit(input);
        let mut rest: &[u8] = &bytes;
        let mut p = Performer {
            sink,
            sgr: self.sgr,
            style: &mut self.style,
            finished: false,
        };
        while !rest.is_empty() {
            // Never feed more than the sequence still has room for, so the bound is exact.
            let room = MAX_SEQUENCE.saturating_sub(self.pending).max(1);
            let piece = &rest[..rest.len().min(room)];
            p.finished = false;
            let mut n = self.parser.advance_until_terminated(&mut p, piece);
            if n == 0 && !p.finished {
                // Not expected (a non-empty piece advances or finishes something), but never
                // loop forever.
                self.parser.advance(&mut p, piece);
                n = piece.len();
            }
            rest = &rest[n..];
            if p.finished {
                self.pending = 0;
            } else {
                self.pending += n;
                if self.pending >= MAX_SEQUENCE {
                    self.parser.advance(&mut p, &[CAN]);
                    self.pending = 0;
                }
            }
        }
    }
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner::new(Sgr::Keep)
    }
}

/// Whether `c` is a bidirectional formatting control, which would reorder the text around it
/// (the "Trojan Source" trick): these are shown as `<U+XXXX>` rather than obeyed.
pub fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Whether `s` needs the scanner at all: no control characters and no bidirectional controls.
pub fn is_inert(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || is_bidi(c))
}

/// The input with each C1 control (U+0080–U+009F, two bytes in UTF-8) replaced by its 7-bit
/// equivalent `ESC` + (byte − 0x40), which `vte` parses (it reads only 7-bit controls).
fn seven_bit(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    let is_c1 = |i: usize| b[i] == 0xC2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n));
    if !(0..b.len()).any(is_c1) {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if is_c1(i) {
            out.push(0x1B);
            out.push(b[i + 1] - 0x40);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// `vte`'s callbacks for one [`Scanner::feed`]: what to keep, and whether something finished.
struct Performer<'a, S> {
    sink: &'a mut S,
    sgr: Sgr,
    style: &'a mut Style,
    /// Set by every callback that ends a piece of text or a sequence; read (and the feed
    /// stopped) after each byte, so [`Scanner`] knows exactly how long a sequence has run.
    finished: bool,
}

impl<S: Sink> vte::Perform for Performer<'_, S> {
    fn print(&mut self, c: char) {
        self.finished = true;
        if is_bidi(c) {
            for v in format!("<U+{:04X}>", u32::from(c)).chars() {
                self.sink.print(v);
            }
        } else if !c.is_control() {
            // `vte` prints DEL; it is a control all the same.
            self.sink.print(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        self.finished = true;
        match byte {
            b'\n' => self.sink.control(Control::LineFeed),
            b'\t' => self.sink.control(Control::Tab),
            b'\r' => self.sink.control(Control::CarriageReturn),
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], ignore: bool, c: char) {
        self.finished = true;
        // Plain SGR only: a private marker (`ESC [ ? … m`) or intermediates make it something else.
        if c != 'm' || !intermediates.is_empty() || ignore || self.sgr == Sgr::Drop {
            return;
        }
        let mut next = *self.style;
        next.apply_sgr(params.iter());
        if next != *self.style {
            *self.style = next;
            self.sink.style(&next);
        }
    }

    fn esc_dispatch(&mut self, _intermediates: &[u8], _ignore: bool, _byte: u8) {
        self.finished = true;
    }

    fn osc_dispatch(&mut self, _params: &[&[u8]], _bell_terminated: bool) {
        self.finished = true;
    }

    fn unhook(&mut self) {
        self.finished = true;
    }

    fn terminated(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests;
