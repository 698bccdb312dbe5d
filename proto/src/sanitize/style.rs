//! The colours and attributes an SGR sequence may set, as data. Untrusted SGR is interpreted into
//! a [`Style`] and only ever re-emitted from it ([`Style::sgr`]), so what reaches a terminal is a
//! sequence we wrote, drawn from a short list: bold, dim, italic, underline, reverse, crossed out,
//! the 16 ANSI colours, the 256-colour palette and 24-bit colour. Blink and conceal (which hides
//! text from the reader) are among what is dropped.

use std::fmt::Write as _;

/// A text colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// One of the 16 ANSI colours: 0–7 normal (black, red, green, yellow, blue, magenta, cyan,
    /// white), 8–15 bright.
    Ansi(u8),
    /// An entry of the 256-colour palette (`38;5;N`).
    Indexed(u8),
    /// 24-bit colour (`38;2;R;G;B`).
    Rgb(u8, u8, u8),
}

/// Text attributes, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs(u8);

impl Attrs {
    /// SGR 1.
    pub const BOLD: Attrs = Attrs(1);
    /// SGR 2.
    pub const DIM: Attrs = Attrs(2);
    /// SGR 3.
    pub const ITALIC: Attrs = Attrs(4);
    /// SGR 4.
    pub const UNDERLINED: Attrs = Attrs(8);
    /// SGR 7.
    pub const REVERSED: Attrs = Attrs(16);
    /// SGR 9.
    pub const CROSSED_OUT: Attrs = Attrs(32);

    /// Every attribute with its SGR number, in the order they are written.
    const ALL: [(Attrs, u8); 6] = [
        (Attrs::BOLD, 1),
        (Attrs::DIM, 2),
        (Attrs::ITALIC, 3),
        (Attrs::UNDERLINED, 4),
        (Attrs::REVERSED, 7),
        (Attrs::CROSSED_OUT, 9),
    ];

    /// Whether every attribute of `other` is set.
    pub fn contains(self, other: Attrs) -> bool {
        self.0 & other.0 == other.0
    }

    fn insert(&mut self, other: Attrs) {
        self.0 |= other.0;
    }

    fn remove(&mut self, other: Attrs) {
        self.0 &= !other.0;
    }
}

/// The style text is drawn in; the default is the terminal's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Foreground colour; `None` is the terminal's default.
    pub fg: Option<Colour>,
    /// Background colour; `None` is the terminal's default.
    pub bg: Option<Colour>,
    /// Bold, underline, …
    pub attrs: Attrs,
}

impl Style {
    /// Applies one SGR sequence's parameters, given as `vte` groups them: one slice per
    /// `;`-separated parameter, holding its `:`-separated sub-parameters. Unknown parameters are
    /// ignored; values out of range are clamped.
    pub fn apply_sgr<'a>(&mut self, params: impl IntoIterator<Item = &'a [u16]>) {
        let groups: Vec<&[u16]> = params.into_iter().collect();
        let mut i = 0;
        while let Some(group) = groups.get(i) {
            let n = group.first().copied().unwrap_or(0);
            match n {
                0 => *self = Style::default(),
                1 => self.attrs.insert(Attrs::BOLD),
                2 => self.attrs.insert(Attrs::DIM),
                3 => self.attrs.insert(Attrs::ITALIC),
                4 => self.attrs.insert(Attrs::UNDERLINED),
                7 => self.attrs.insert(Attrs::REVERSED),
                9 => self.attrs.insert(Attrs::CROSSED_OUT),
                22 => {
                    // "Normal intensity": neither bold nor dim.
                    self.attrs.remove(Attrs::BOLD);
                    self.attrs.remove(Attrs::DIM);
                }
                23 => self.attrs.remove(Attrs::ITALIC),
                24 => self.attrs.remove(Attrs::UNDERLINED),
                27 => self.attrs.remove(Attrs::REVERSED),
                29 => self.attrs.remove(Attrs::CROSSED_OUT),
                30..=37 => self.fg = Some(Colour::Ansi((n - 30) as u8)),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Colour::Ansi((n - 40) as u8)),
                49 => self.bg = None,
                90..=97 => self.fg = Some(Colour::Ansi((n - 90 + 8) as u8)),
                100..=107 => self.bg = Some(Colour::Ansi((n - 100 + 8) as u8)),
                38 | 48 => {
                    let colour = if group.len() > 1 {
                        // `38:5:N`, `38:2:R:G:B` or `38:2:SPACE:R:G:B` in one parameter.
                        extended(&group[1..], true)
                    } else {
                        // `38;5;N` or `38;2;R;G;B` over the following parameters.
                        let rest: Vec<u16> = groups[i + 1..]
                            .iter()
                            .take(4)
                            .map(|g| g.first().copied().unwrap_or(0))
                            .collect();
                        i += match rest.first() {
                            Some(5) => 2,
                            Some(2) => 4,
                            _ => 0,
                        };
                        extended(&rest, false)
                    };
                    if n == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// This style as one SGR sequence that first resets everything, so the result never depends
    /// on what the terminal had before: `ESC [ 0 ; 1 ; 31 m`, or `ESC [ 0 m` for the default.
    pub fn sgr(&self) -> String {
        let mut s = String::from("\x1b[0");
        for (attr, n) in Attrs::ALL {
            if self.attrs.contains(attr) {
                let _ = write!(s, ";{n}");
            }
        }
        colour_params(&mut s, self.fg, 30, 90, 38);
        colour_params(&mut s, self.bg, 40, 100, 48);
        s.push('m');
        s
    }
}

/// An extended colour after the `38`/`48`: `[5, N]` or `[2, R, G, B]` (or, inside one
/// colon-separated parameter, `[2, SPACE, R, G, B]`).
fn extended(p: &[u16], colon: bool) -> Option<Colour> {
    let byte = |v: &u16| (*v).min(255) as u8;
    match p {
        [5, n, ..] => Some(Colour::Indexed(byte(n))),
        [2, _, r, g, b, ..] if colon => Some(Colour::Rgb(byte(r), byte(g), byte(b))),
        [2, r, g, b, ..] => Some(Colour::Rgb(byte(r), byte(g), byte(b))),
        _ => None,
    }
}

fn colour_params(s: &mut String, c: Option<Colour>, normal: u8, bright: u8, extended: u8) {
    match c {
        None => {}
        Some(Colour::Ansi(n)) if n < 8 => {
            let _ = write!(s, ";{}", normal + n);
        }
        Some(Colour::Ansi(n)) => {
            let _ = write!(s, ";{}", bright + (n.min(15) - 8));
        }
        Some(Colour::Indexed(n)) => {
            let _ = write!(s, ";{extended};5;{n}");
        }
        Some(Colour::Rgb(r, g, b)) => {
            let _ = write!(s, ";{extended};2;{r};{g};{b}");
        }
    }
}
