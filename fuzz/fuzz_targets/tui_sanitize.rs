//! The TUI's sanitiser for untrusted job output and one-line fields: whatever a job prints, no
//! escape sequence (but colours) or control character reaches the terminal, bidirectional
//! controls are spelled out, sequences split across chunks are still caught, and the UI's width
//! limit holds. Only `check` names the functions under test.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use microci_fuzz::{assert_no_control, split_knobs};
use microci_tui::sanitize::{Sanitizer, Sgr, is_bidi, one_line};
use microci_tui::ui::view::log_line::log_line;
use unicode_width::UnicodeWidthChar;

#[derive(Arbitrary, Debug)]
struct Knobs {
    no_color: bool,
    /// Columns available; 0 means 80.
    max_cols: u8,
    /// Where the stream is cut into chunks (byte offsets, taken modulo the length).
    cuts: Vec<u16>,
}

fuzz_target!(|data: &[u8]| {
    let Some((knobs, text)) = split_knobs::<Knobs>(data) else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let max_cols = match knobs.max_cols {
        0 => 80,
        n => usize::from(n),
    };
    check(&text, knobs.no_color, max_cols, &knobs.cuts);
});

fn check(text: &str, no_color: bool, max_cols: usize, cuts: &[u16]) {
    // The UI: a styled line of plain text, no wider than the screen.
    for line in text.split('\n') {
        let styled = log_line(line, no_color, max_cols);
        let mut shown = String::new();
        for span in &styled.spans {
            assert_no_control("log_line output", &span.content);
            assert_no_bidi("log_line output", &span.content);
            if no_color {
                assert!(
                    span.style.fg.is_none() && span.style.bg.is_none(),
                    "colour with no_color"
                );
            }
            shown.push_str(&span.content);
        }
        assert!(
            columns(&shown) <= max_cols,
            "{} columns > {max_cols}",
            columns(&shown)
        );
    }
    // A field printed inside a line.
    let field = one_line(text);
    assert_no_control("one_line output", &field);
    assert_no_bidi("one_line output", &field);
    // `logs` on a terminal: the stream in chunks cut anywhere (on character boundaries).
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) % (text.len() + 1))
        .filter(|&c| text.is_char_boundary(c))
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut s = Sanitizer::new(if no_color { Sgr::Drop } else { Sgr::Keep });
    let mut out = String::new();
    let mut from = 0;
    for p in points.into_iter().chain([text.len()]) {
        if p >= from {
            s.push(&text[from..p], &mut out);
            from = p;
        }
    }
    s.finish(&mut out);
    assert_only_colours(&out, no_color);
}

/// The only control sequences left are SGR (`ESC [ digits and ; m`), none at all with
/// `no_color`; the only control characters, line feeds and tabs.
fn assert_only_colours(out: &str, no_color: bool) {
    let mut rest = out;
    let mut plain = String::with_capacity(out.len());
    while let Some(at) = rest.find('\x1b') {
        plain.push_str(&rest[..at]);
        let seq = &rest[at..];
        let end = seq
            .strip_prefix("\x1b[")
            .and_then(|s| s.find(|c: char| !(c.is_ascii_digit() || c == ';')))
            .filter(|&i| seq.as_bytes().get(i + 2) == Some(&b'm'))
            .unwrap_or_else(|| panic!("a control sequence other than SGR: {seq:?}"));
        assert!(!no_color, "colour with no_color: {seq:?}");
        rest = &seq[end + 3..];
    }
    plain.push_str(rest);
    let without_layout: String = plain
        .chars()
        .filter(|c| !matches!(c, '\n' | '\t'))
        .collect();
    assert_no_control("logs output", &without_layout);
    assert_no_bidi("logs output", &plain);
}

fn assert_no_bidi(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|&c| is_bidi(c)) {
        panic!("{what} contains the bidirectional control {c:?}: {s:?}");
    }
}

/// Columns as the sanitiser counts them: the sum of each character's width.
fn columns(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}
