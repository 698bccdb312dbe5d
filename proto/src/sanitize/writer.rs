//! Untrusted text in, terminal-safe text out: the form the command-line verbs print.
//!
//! [`Sanitizer`] is the streaming writer behind `logs` on a terminal. Colours come out as our own
//! normalised SGR ([`Style::sgr`]), written lazily just before the text they colour, and reset at
//! [`Sanitizer::finish`] so a job's colour never leaks into the shell prompt. Line feeds and tabs
//! pass. A carriage return ends the line: a lone `\r` is written as `\n`, and `\r\n` as one `\n`.
//! Kept as `\r`, it would let a job print a line and then overwrite it with another on screen
//! (`curl evil | sh\r# fine`), and the reader would never see the first; as a newline, every
//! byte of text a job printed stays visible, at the cost of a progress bar taking one line per
//! update. (The interactive UI, which draws one log line at a time, shows what follows the last
//! `\r` like a terminal would; its raw line is one `--raw` away.)
//!
//! [`one_line`] is for fields shown inside a line (a name, a ref, a reason): sequences removed,
//! and the controls that survive in a log (`\n`, `\t`, `\r`) replaced by U+FFFD so they cannot
//! break the line.

use super::{Control, Scanner, Sgr, Sink, Style, is_inert};

/// A stream of untrusted text (one job's log) made safe to write to a terminal, chunk by chunk.
pub struct Sanitizer {
    scanner: Scanner,
    out: Emitter,
}

/// What has been written so far, across chunks.
#[derive(Default)]
struct Emitter {
    /// The style the terminal was last told.
    shown: Style,
    /// The style the text that comes next should have.
    wanted: Style,
    /// A `\r` was seen and not yet written (it becomes `\n`, unless a `\n` follows anyway).
    cr: bool,
}

impl Sanitizer {
    /// A writer for one stream; `Sgr::Drop` writes plain text (for `NO_COLOR`).
    pub fn new(sgr: Sgr) -> Sanitizer {
        Sanitizer {
            scanner: Scanner::new(sgr),
            out: Emitter::default(),
        }
    }

    /// Appends the safe form of the next chunk to `out`. A sequence that the chunk leaves
    /// unfinished is completed (and removed) by the next chunk.
    pub fn push(&mut self, chunk: &str, out: &mut String) {
        let mut target = Target {
            e: &mut self.out,
            out,
        };
        self.scanner.feed(chunk, &mut target);
    }

    /// Ends the stream: writes a pending line end, and resets the colour if the text left one set.
    pub fn finish(&mut self, out: &mut String) {
        let mut target = Target {
            e: &mut self.out,
            out,
        };
        target.end_cr();
        if target.e.shown != Style::default() {
            target.out.push_str("\x1b[0m");
            target.e.shown = Style::default();
        }
        target.e.wanted = Style::default();
    }
}

/// An untrusted field (a name, a ref, one line of a message) as plain text to print inside a
/// line: escape sequences removed, bidirectional controls spelled out, and the line feed, tab
/// and carriage return that a log may keep replaced by U+FFFD.
pub fn one_line(text: &str) -> String {
    if is_inert(text) {
        return text.to_string();
    }
    struct Plain(String);
    impl Sink for Plain {
        fn print(&mut self, c: char) {
            self.0.push(c);
        }
        fn control(&mut self, _: Control) {
            self.0.push('\u{FFFD}');
        }
        fn style(&mut self, _: &Style) {}
    }
    let mut p = Plain(String::with_capacity(text.len()));
    Scanner::new(Sgr::Drop).feed(text, &mut p);
    p.0
}

/// The [`Sink`] of one push: the emitter's state and the caller's buffer.
struct Target<'a> {
    e: &'a mut Emitter,
    out: &'a mut String,
}

impl Target<'_> {
    fn end_cr(&mut self) {
        if self.e.cr {
            self.e.cr = false;
            self.out.push('\n');
        }
    }

    fn paint(&mut self) {
        if self.e.shown != self.e.wanted {
            self.out.push_str(&self.e.wanted.sgr());
            self.e.shown = self.e.wanted;
        }
    }
}

impl Sink for Target<'_> {
    fn print(&mut self, c: char) {
        self.end_cr();
        self.paint();
        self.out.push(c);
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::LineFeed => {
                self.e.cr = false;
                self.out.push('\n');
            }
            Control::Tab => {
                self.end_cr();
                self.paint();
                self.out.push('\t');
            }
            Control::CarriageReturn => self.e.cr = true,
        }
    }

    fn style(&mut self, style: &Style) {
        self.e.wanted = *style;
    }
}
