//! What survives the sanitizer, and what never does.

use super::*;

/// The whole of `text` as the [`Sanitizer`] writes it (pushed once and finished).
fn sanitize(text: &str, sgr: Sgr) -> String {
    let mut s = Sanitizer::new(sgr);
    let mut out = String::with_capacity(text.len());
    s.push(text, &mut out);
    s.finish(&mut out);
    out
}

/// What a terminal is given for `s`, colours kept.
fn written(s: &str) -> String {
    sanitize(s, Sgr::Keep)
}

/// The input fed in pieces of `sizes` bytes (cut on character boundaries), then finished.
fn chunked(s: &str, cuts: &[usize], sgr: Sgr) -> String {
    let mut w = Sanitizer::new(sgr);
    let mut out = String::new();
    let mut start = 0;
    for &cut in cuts {
        w.push(&s[start..cut], &mut out);
        start = cut;
    }
    w.push(&s[start..], &mut out);
    w.finish(&mut out);
    out
}

/// Every escape in `out` is a normalised SGR we wrote (`ESC [ 0 (; N)* m`), and no control
/// other than line feed and tab, and no bidirectional control, is left.
fn assert_inert(out: &str) {
    let mut it = out.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            let seq: String = it.by_ref().take_while(|&c| c != 'm').collect();
            assert!(
                seq.starts_with("[0") && seq[1..].chars().all(|c| c.is_ascii_digit() || c == ';'),
                "ESC{seq:?} is not our SGR, in {out:?}"
            );
        } else {
            assert!(
                c == '\n' || c == '\t' || !(c.is_control() || is_bidi(c)),
                "{c:?} left in {out:?}"
            );
        }
    }
}

#[test]
fn osc_52_clipboard_writes_are_removed_with_either_terminator() {
    assert_eq!(written("a\x1b]52;c;cm0gLXJmIH4=\x07b"), "ab");
    assert_eq!(written("a\x1b]52;c;cm0gLXJmIH4=\x1b\\b"), "ab");
    // 8-bit ST ends it too.
    assert_eq!(written("a\x1b]52;c;cm0=\u{9c}b"), "ab");
}

#[test]
fn window_titles_are_removed() {
    assert_eq!(written("x\x1b]0;pwned\x07y"), "xy");
    assert_eq!(written("x\x1b]2;pwned\x1b\\y"), "xy");
    assert_eq!(
        written("x\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\"),
        "xlink"
    );
}

#[test]
fn screen_clears_resets_and_cursor_moves_are_removed() {
    assert_eq!(written("a\x1b[2Jb\x1b[3Jc\x1bcd"), "abcd");
    assert_eq!(
        written("1\x1b[10;10H2\x1b[5A3\x1b[2K4\x1b7\x1b85\x1b[s\x1b[u6\x1b[?1049h7\x1b[?25l8"),
        "12345678"
    );
    // A private-mode CSI that happens to end in `m` is not SGR.
    assert_eq!(written("\x1b[?1049m ok"), " ok");
    // Charset selection and keypad modes are two- and three-byte escapes.
    assert_eq!(written("\x1b(0q\x1b(B\x1b=\x1b>"), "q");
}

#[test]
fn device_control_and_other_strings_are_removed() {
    assert_eq!(written("a\x1bPq#0;2;0;0;0#0!10~\x1b\\b"), "ab");
    assert_eq!(written("a\x1bP$qm\x1b\\b"), "ab");
    assert_eq!(
        written("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d"),
        "abcd"
    );
}

#[test]
fn eight_bit_controls_are_removed_whole() {
    // U+009B is CSI, U+009D OSC, U+0090 DCS: their parameters go with them.
    assert_eq!(written("a\u{9b}2Jb\u{9b}5Ac"), "abc");
    assert_eq!(written("a\u{9d}52;c;cm0=\u{7}b"), "ab");
    assert_eq!(written("a\u{9d}0;title\u{9c}b"), "ab");
    assert_eq!(written("a\u{90}q\u{9c}b\u{85}c"), "abc");
}

#[test]
fn sgr_colour_survives_normalised() {
    assert_eq!(
        written("\x1b[31mred\x1b[0m plain"),
        "\x1b[0;31mred\x1b[0m plain"
    );
    assert_eq!(
        written("\x1b[1;4;38;5;208mx\x1b[38;2;1;2;3;48;5;4my\x1b[m"),
        "\x1b[0;1;4;38;5;208mx\x1b[0;1;4;38;2;1;2;3;48;5;4my\x1b[0m"
    );
    // Colon forms, bright colours, unsetting.
    assert_eq!(
        written("\x1b[38:2::9:8:7mx\x1b[38:5:9;92;101my\x1b[39;49;22mz"),
        "\x1b[0;38;2;9;8;7mx\x1b[0;92;101my\x1b[0mz"
    );
    // A colour with no text after it costs nothing; one left set is reset at the end.
    assert_eq!(written("\x1b[31m\x1b[32m\x1b[0mx"), "x");
    assert_eq!(written("\x1b[31mx"), "\x1b[0;31mx\x1b[0m");
    // Blink and conceal (which hides text) are not among what is written.
    assert_eq!(written("\x1b[5;8mhidden"), "hidden");
}

#[test]
fn no_color_drops_sgr_too() {
    assert_eq!(
        sanitize("\x1b[31;1mred\x1b[0m\x1b]0;t\x07", Sgr::Drop),
        "red"
    );
}

#[test]
fn line_feeds_tabs_and_carriage_returns() {
    assert_eq!(written("a\tb\nc\n"), "a\tb\nc\n");
    // A lone CR ends the line, so nothing can be hidden by overwriting; CRLF is one line end.
    assert_eq!(written("rm -rf /\r# harmless\n"), "rm -rf /\n# harmless\n");
    assert_eq!(written("crlf\r\nnext\r\n"), "crlf\nnext\n");
    assert_eq!(written("cr at end\r"), "cr at end\n");
    assert_eq!(chunked("a\r\nb", &[2], Sgr::Keep), "a\nb");
    // Every other C0 control, DEL and the C1 controls go.
    assert_eq!(
        written("a\x00\x07\x08\x0b\x0c\x0e\x7fb\u{80}\u{84}\u{85}c"),
        "abc"
    );
}

#[test]
fn bidi_controls_are_shown_not_obeyed() {
    assert_eq!(
        written("access\u{202E}nimda\u{202C} \u{2066}x\u{2069}\u{200E}\u{200F}\u{61C}"),
        "access<U+202E>nimda<U+202C> <U+2066>x<U+2069><U+200E><U+200F><U+061C>"
    );
    for c in ['\u{202A}', '\u{202B}', '\u{202D}', '\u{2067}', '\u{2068}'] {
        assert!(!written(&c.to_string()).contains(c));
    }
}

#[test]
fn plain_utf8_is_untouched() {
    let s = "café 漢字 🦀 👩‍👩‍👧 e\u{301} ok\n";
    assert_eq!(written(s), s);
    assert_eq!(one_line("café 漢字 🦀"), "café 漢字 🦀");
}

#[test]
fn sequences_split_at_every_byte_are_still_removed() {
    let s = "é\x1b]52;c;cm0gLXJmIH4=\x07漢\x1b]2;t\x1b\\\x1b[2J\x1bc\x1b[31mred\x1b[0m\u{9b}5A\
             \u{9d}0;x\u{9c}\x1bPq#0\x1b\\🦀\u{202E}\r\nend";
    let whole = written(s);
    assert_eq!(whole, "é漢\x1b[0;31mred\x1b[0m🦀<U+202E>\nend");
    for cut in (1..s.len()).filter(|&i| s.is_char_boundary(i)) {
        assert_eq!(chunked(s, &[cut], Sgr::Keep), whole, "cut at byte {cut}");
    }
    // One character per chunk.
    let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).skip(1).collect();
    assert_eq!(chunked(s, &cuts, Sgr::Keep), whole);
}

#[test]
fn an_unterminated_string_swallows_a_bounded_amount() {
    for intro in ["\x1b]0;", "\x1bP", "\x1b_", "\u{9d}"] {
        // `ESC` and the next MAX_SEQUENCE bytes are the sequence; then text resumes.
        let s = format!("a{intro}{}visible", "x".repeat(10_000));
        let kept = 10_000 + intro.len() - 1 - MAX_SEQUENCE;
        let want = format!("a{}visible", "x".repeat(kept));
        assert_eq!(written(&s), want, "{intro:?}");
        let cuts: Vec<usize> = (1..s.len() / 1000).map(|k| k * 1000).collect();
        assert_eq!(chunked(&s, &cuts, Sgr::Keep), want, "{intro:?} in chunks");
    }
    // A long but finished sequence is still removed whole.
    let s = format!("a\x1b]0;{}\x07b", "t".repeat(MAX_SEQUENCE - 10));
    assert_eq!(written(&s), "ab");
    // Text right after an abandoned sequence is not affected by it.
    let out = written(&format!("\x1b]0;{}\x07\x1b[31mred", "t".repeat(20_000)));
    assert!(out.ends_with("\x1b[0;31mred\x1b[0m"), "{out:?}");
    assert_inert(&out);
}

#[test]
fn one_line_keeps_fields_on_their_line() {
    assert_eq!(one_line("evil\x1b]0;pwned\x07 title"), "evil title");
    assert_eq!(one_line("a\nb\tc\rd"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}d");
    assert_eq!(one_line("\x1b[31mred\u{202E}"), "red<U+202E>");
}

#[test]
fn nothing_dangerous_survives_random_input() {
    // Hostile fragments glued in random order and cut into random chunks.
    const PIECES: &[&str] = &[
        "\x1b", "[", "]", "P", "_", "^", "X", "\\", "\x07", "\x18", "\x1a", "\u{9b}", "\u{9d}",
        "\u{9c}", "\u{90}", ";", "52", "2J", "31m", "m", "?", "H", "c", "\r", "\n", "\t", "\x00",
        "\x7f", "\u{202E}", "é", "漢", "🦀", "text ", "0", ":", "38;5;", "38;2;",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..(next() % 40) {
            s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        let mut cuts: Vec<usize> = (0..3)
            .map(|_| (next() as usize) % (s.len() + 1))
            .filter(|&i| s.is_char_boundary(i))
            .collect();
        cuts.sort_unstable();
        let out = chunked(&s, &cuts, Sgr::Keep);
        assert_inert(&out);
        assert!(out.len() <= s.len() * 8 + 16, "{s:?}");
        assert_inert(&chunked(&s, &cuts, Sgr::Drop));
        assert!(!chunked(&s, &cuts, Sgr::Drop).contains('\x1b'));
    }
}
