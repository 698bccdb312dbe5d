//! The TUI's sanitiser for untrusted job output and one-line fields: whatever a job prints, no
//! escape sequence or control character reaches the terminal, and the width limit holds.
//! Self-contained on purpose: only `check` names the functions under test, so it can be pointed
//! at a replacement sanitiser without touching the rest.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use microci_fuzz::{assert_no_control, split_knobs};
use microci_tui::format;
use microci_tui::ui::sanitize::{plain, sanitize_line};
use unicode_width::UnicodeWidthChar;

#[derive(Arbitrary, Debug)]
struct Knobs {
    no_color: bool,
    /// Columns available; 0 means 80.
    max_cols: u8,
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
    check(&text, knobs.no_color, max_cols);
});

fn check(text: &str, no_color: bool, max_cols: usize) {
    // `sanitize_line` documents that it keeps no control character: tabs become spaces, a carriage
    // return discards what came before it, everything else (ESC, C1, other C0, DEL) is dropped.
    for line in text.split('\n') {
        let styled = sanitize_line(line, no_color, max_cols);
        let mut shown = String::new();
        for span in &styled.spans {
            assert_no_control("sanitize_line output", &span.content);
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
    let one = plain(text, max_cols);
    assert_no_control("plain output", &one);
    assert!(
        columns(&one) <= max_cols,
        "plain: {} columns > {max_cols}",
        columns(&one)
    );
    // `clean` replaces each control character with U+FFFD, one for one.
    let cleaned = format::clean(text);
    assert_no_control("clean output", &cleaned);
    assert_eq!(
        cleaned.chars().count(),
        text.chars().count(),
        "clean changed the length"
    );
    assert_no_control("first_line output", &format::first_line(text));
}

/// Columns as the sanitiser counts them: the sum of each character's width.
fn columns(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}
