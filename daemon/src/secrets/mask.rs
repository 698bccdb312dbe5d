//! Masking secret values in a job's output before it reaches the log (and so the TUI, the web
//! pages and notifications, which all read the log). A secret is replaced by `***` where it
//! appears as is, and, for values of [`ENCODED_MIN`] bytes or more, in its base64 forms (standard
//! and URL-safe, padded, and the part of it that is the same wherever the value sits in a longer
//! encoded text) and its URL-encoded forms.
//!
//! Output comes in chunks that may split a secret anywhere: the masker holds back the tail of
//! the output from the first position that could still begin a secret form, and lets it go once
//! the next bytes show it cannot (or at the end of the output). Matches are found with one
//! Aho-Corasick automaton over all forms (overlapping matches are joined, so two secrets that
//! overlap are both hidden); the work per chunk is linear in the chunk plus the held tail, which
//! is bounded by the longest form.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

/// What a secret becomes in the log.
pub const MASK: &[u8] = b"***";
/// Shortest value whose encoded forms are masked too (shorter encodings would hide ordinary
/// text).
pub const ENCODED_MIN: usize = 8;

/// Replaces secret values in a stream of output; see the module documentation. A masker with
/// no values passes output through untouched.
pub struct Masker {
    /// Every form of every value, sorted (to tell whether held bytes could begin one).
    forms: Vec<Vec<u8>>,
    /// Finds them all, overlapping.
    automaton: Option<AhoCorasick>,
    /// The longest form's length.
    longest: usize,
    /// Output not let go yet.
    pending: Vec<u8>,
    /// How many of `pending`'s first bytes belong to a secret already being masked.
    mask_to: usize,
    /// The last byte let go was part of a mask (so a mask continued is not written twice).
    in_mask: bool,
    /// The automaton could not be built: nothing of the output is let go (never unmasked), and
    /// the end says so once (`in_mask` then marks it said).
    failed: bool,
}

/// What a masker that could not be built writes instead of the output.
const WITHHELD: &[u8] =
    b"\n[microci] output withheld: the job's secrets could not be prepared for masking\n";

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("forms", &self.forms.len())
            .finish_non_exhaustive()
    }
}

/// Output let go by the masker.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Masked {
    /// The text for the log.
    pub text: Vec<u8>,
    /// How many bytes of the job's output it stands for.
    pub raw: usize,
}

impl Masker {
    /// A masker for these values (empty ones are ignored).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Masker {
        let mut forms: Vec<Vec<u8>> = values
            .into_iter()
            .filter(|v| !v.is_empty())
            .flat_map(forms_of)
            .collect();
        forms.sort();
        forms.dedup();
        let built = (!forms.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&forms)
        });
        let failed = matches!(built, Some(Err(_)));
        let automaton = built.and_then(Result::ok);
        let longest = forms.iter().map(Vec::len).max().unwrap_or(0);
        Masker {
            forms,
            automaton,
            longest,
            pending: Vec::new(),
            mask_to: 0,
            in_mask: false,
            failed,
        }
    }

    /// Whether there is anything to mask.
    pub fn is_active(&self) -> bool {
        self.automaton.is_some() || self.failed
    }

    /// Takes the next chunk of output; returns what can be let go now.
    pub fn feed(&mut self, chunk: &[u8]) -> Masked {
        if self.failed {
            return Masked {
                text: Vec::new(),
                raw: chunk.len(),
            };
        }
        let Some(automaton) = &self.automaton else {
            return Masked {
                text: chunk.to_vec(),
                raw: chunk.len(),
            };
        };
        self.pending.extend_from_slice(chunk);
        let buf = &self.pending;
        let runs = runs(automaton, buf, self.mask_to);
        // The first position that may begin a form the next bytes complete.
        let window = buf.len().saturating_sub(self.longest.saturating_sub(1));
        let mut hold = (window..buf.len())
            .find(|&i| self.may_begin(&buf[i..]))
            .unwrap_or(buf.len());
        // A mask that reaches past that point is held whole, so that a daemon re-attaching
        // from where the log stops never starts in the middle of a secret; a run longer than
        // any form (the same secret over and over) is let go in parts.
        if let Some(&(start, _)) = runs.iter().find(|&&(s, e)| s < hold && e > hold)
            && hold - start <= 2 * self.longest
        {
            hold = start;
        }
        self.let_go(&runs, hold)
    }

    /// The end of the output: everything held is let go.
    pub fn finish(&mut self) -> Masked {
        if self.failed {
            // Said once; output after it (past a gap) stays withheld too.
            let text = if self.in_mask {
                Vec::new()
            } else {
                WITHHELD.to_vec()
            };
            self.in_mask = true;
            return Masked { text, raw: 0 };
        }
        let Some(automaton) = &self.automaton else {
            return Masked::default();
        };
        let runs = runs(automaton, &self.pending, self.mask_to);
        let end = self.pending.len();
        self.let_go(&runs, end)
    }

    /// Lets `pending[..upto]` go with `runs` masked, keeping the rest.
    fn let_go(&mut self, runs: &[(usize, usize)], upto: usize) -> Masked {
        let mut text = Vec::with_capacity(upto);
        let mut at = 0;
        for &(start, end) in runs {
            if start >= upto {
                break;
            }
            if start > at {
                text.extend_from_slice(&self.pending[at..start]);
                self.in_mask = false;
            }
            if !(self.in_mask && start == 0) {
                text.extend_from_slice(MASK);
            }
            self.in_mask = true;
            at = end.min(upto);
        }
        if upto > at {
            text.extend_from_slice(&self.pending[at..upto]);
            self.in_mask = false;
        }
        let masked_beyond = runs
            .iter()
            .map(|&(_, e)| e)
            .max()
            .unwrap_or(0)
            .saturating_sub(upto);
        self.mask_to = masked_beyond;
        self.pending.drain(..upto);
        Masked { text, raw: upto }
    }

    /// Whether `tail` is the start of some form (or a whole one).
    fn may_begin(&self, tail: &[u8]) -> bool {
        let i = self.forms.partition_point(|f| f.as_slice() < tail);
        self.forms.get(i).is_some_and(|f| f.starts_with(tail))
    }
}

/// The stretches of `buf` to mask, joined where they overlap or touch, sorted; the first
/// `mask_to` bytes are masked already.
fn runs(automaton: &AhoCorasick, buf: &[u8], mask_to: usize) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = automaton
        .find_overlapping_iter(buf)
        .map(|m| (m.start(), m.end()))
        .collect();
    if mask_to > 0 {
        found.push((0, mask_to.min(buf.len())));
    }
    found.sort_unstable();
    let mut joined: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (s, e) in found {
        match joined.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => joined.push((s, e)),
        }
    }
    joined
}

/// The forms of one value that are masked.
fn forms_of(value: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = vec![value.to_vec()];
    if value.len() < ENCODED_MIN {
        return forms;
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for (padded, bare) in [(STANDARD, STANDARD_NO_PAD), (URL_SAFE, URL_SAFE_NO_PAD)] {
        forms.push(padded.encode(value).into_bytes());
        // Inside a longer encoded text the value starts 0, 1 or 2 bytes into a 3-byte group:
        // the characters that depend on the value's bytes alone are the same wherever it is.
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(value);
            let encoded = bare.encode(&shifted).into_bytes();
            let first = (8 * offset).div_ceil(6);
            let last = (8 * (offset + value.len())) / 6;
            if let Some(core) = encoded.get(first..last) {
                forms.push(core.to_vec());
            }
        }
    }
    // URL-encoded: every byte but the unreserved ones as %XX (upper and lower case hex), and
    // the form encoding (space as `+`).
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let upper = percent_encoding::percent_encode(value, COMPONENT).to_string();
    let lower = lower_hex_escapes(&upper);
    let form: String = form_urlencoded::byte_serialize(value).collect();
    for encoded in [upper, lower, form] {
        forms.push(encoded.into_bytes());
    }
    forms
}

/// `%2F` → `%2f`, leaving the rest.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut left = 0;
    for c in encoded.chars() {
        if c == '%' {
            left = 2;
            out.push(c);
        } else if left > 0 {
            left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    /// Feeds `output` in chunks of the given sizes (cycled), then finishes.
    fn mask_in(values: &[&str], output: &[u8], sizes: &[usize]) -> (String, usize) {
        let mut m = Masker::new(values.iter().map(|v| v.as_bytes()));
        let mut out = Vec::new();
        let mut raw = 0;
        let mut rest = output;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len()).max(1);
            let (chunk, tail) = rest.split_at(n);
            let part = m.feed(chunk);
            out.extend(part.text);
            raw += part.raw;
            rest = tail;
            i += 1;
        }
        let end = m.finish();
        out.extend(end.text);
        raw += end.raw;
        (String::from_utf8(out).unwrap(), raw)
    }

    fn mask(values: &[&str], output: &str) -> String {
        let whole = mask_in(values, output.as_bytes(), &[usize::MAX]);
        assert_eq!(whole.1, output.len());
        whole.0
    }

    #[test]
    fn a_value_is_masked_wherever_each_chunk_boundary_falls() {
        let secret = "s3cr3t-Value-42";
        let output = format!("token={secret}\nagain {secret}{secret} done\n");
        let want = "token=***\nagain *** done\n";
        for size in 1..output.len() {
            let (text, raw) = mask_in(&[secret], output.as_bytes(), &[size]);
            assert_eq!(text, want, "chunks of {size}");
            assert_eq!(raw, output.len());
        }
        // Uneven chunks too, split at every pair of offsets.
        for a in 1..output.len() {
            for b in 1..5 {
                assert_eq!(mask_in(&[secret], output.as_bytes(), &[a, b]).0, want);
            }
        }
    }

    #[test]
    fn base64_forms_are_masked_even_inside_longer_encodings() {
        let secret = "hunter2-hunter2";
        let plain = STANDARD.encode(secret);
        assert_eq!(mask(&[secret], &format!("b64 {plain}\n")), "b64 ***\n");
        // `printf 'user:hunter2-hunter2' | base64`: the value sits 5 bytes into the text.
        for prefix in ["u", "us", "use", "user:"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}!"));
            let masked = mask(&[secret], &encoded);
            assert!(masked.contains("***"), "{prefix}: {masked}");
            // What is left is at most the characters that mix the value with its neighbours.
            assert!(masked.len() <= 3 + 3 + 4 + 2 + 3, "{prefix}: {masked}");
        }
        // URL-safe base64 too.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode("\u{ff}\u{fe}??>>secret!!");
        assert_eq!(mask(&["\u{ff}\u{fe}??>>secret!!"], &url_safe), "***");
    }

    #[test]
    fn url_encoded_forms_are_masked() {
        let secret = "p@ss w/rd&more";
        assert_eq!(mask(&[secret], "q=p%40ss%20w%2Frd%26more&x=1"), "q=***&x=1");
        assert_eq!(mask(&[secret], "q=p%40ss%20w%2frd%26more"), "q=***");
        assert_eq!(mask(&[secret], "q=p%40ss+w%2Frd%26more"), "q=***");
    }

    #[test]
    fn short_values_are_masked_only_as_they_are() {
        // Under ENCODED_MIN bytes: the value itself, not its encodings.
        assert_eq!(mask(&["abcd"], "xabcdx YWJjZA=="), "x***x YWJjZA==");
    }

    #[test]
    fn overlapping_and_repeated_secrets_are_all_hidden() {
        assert_eq!(mask(&["abcdef", "defghi"], "[abcdefghi]"), "[***]");
        assert_eq!(
            mask(&["abcd", "abcdefgh"], "abcdefgh abcd abcdefg"),
            "*** *** ***efg"
        );
        let many = "aaaa".repeat(1000);
        for size in [1, 3, 7, 4096] {
            let (text, raw) = mask_in(&["aaaa"], many.as_bytes(), &[size]);
            assert_eq!(raw, many.len());
            assert!(!text.contains('a'), "{size}: {text}");
        }
    }

    #[test]
    fn ordinary_output_is_let_go_at_once() {
        let mut m = Masker::new([b"Secret-123".as_slice()]);
        assert_eq!(m.feed(b"hello\n").text, b"hello\n");
        // A tail that may begin the secret waits; the next bytes decide.
        assert_eq!(m.feed(b"x Sec").text, b"x ");
        assert_eq!(m.feed(b"ond\n").text, b"Second\n");
        assert_eq!(m.feed(b"Secret-1").text, b"");
        assert_eq!(m.feed(b"23!").text, b"***!");
        assert_eq!(m.feed(b"Sec").text, b"");
        assert_eq!(m.finish().text, b"Sec");
        let mut none = Masker::new(std::iter::empty());
        assert!(!none.is_active());
        assert_eq!(none.feed(b"anything").text, b"anything");
    }

    #[test]
    fn the_raw_count_adds_up_to_the_output_whatever_is_held() {
        let mut m = Masker::new([b"0123456789".as_slice()]);
        let a = m.feed(b"xx01234");
        let b = m.feed(b"56789yy012");
        let c = m.finish();
        assert_eq!((a.raw, b.raw, c.raw), (2, 12, 3));
        assert_eq!([a.text, b.text, c.text].concat(), b"xx***yy012");
    }
}
