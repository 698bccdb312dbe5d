//! TOML errors told by key and line, never with the text that was there: toml's own message
//! prints the offending line, and that line may be `token = "…"`; serde's type errors quote the
//! value. Both would put a secret into the journal.

/// `text` with control characters written out escaped (`\n`, `\u{c}`): a message quoting a
/// key or a value from the file stays one line and cannot steer a terminal.
pub(super) fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// A one-line description of `e`: `line N, key K: what is wrong`, with every quoted value removed.
pub(super) fn describe(text: &str, e: &toml::de::Error) -> String {
    // A quoted key may hold any character.
    let message = escape_controls(&scrub(e.message().trim()));
    let Some(start) = e.span().map(|s| s.start) else {
        return message;
    };
    let before = text.get(..start).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    match key_of(line) {
        Some(key) => format!("line {line_no}, key {key}: {message}"),
        None => format!("line {line_no}: {message}"),
    }
}

/// The key a line sets (`key = …`) or the table it opens (`[docker]`), when it looks like one.
fn key_of(line: &str) -> Option<String> {
    let line = line.trim();
    let candidate = if line.starts_with('[') {
        line.trim_start_matches('[').split(']').next()?.trim()
    } else {
        line.split_once('=')?.0.trim()
    };
    let plausible = !candidate.is_empty()
        && candidate.len() <= 64
        && candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '"'));
    plausible.then(|| {
        if line.starts_with('[') {
            format!("[{candidate}]")
        } else {
            candidate.to_string()
        }
    })
}

/// serde's data errors (`invalid type: string "…", expected u32`) quote the value: drop every
/// quoted part. Messages that only name keys or allowed words are kept whole.
fn scrub(message: &str) -> String {
    let quotes_values = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|p| message.starts_with(p));
    if !quotes_values {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for d in chars.by_ref() {
                    match (escaped, d) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
                out.push('…');
            }
            '`' => {
                for d in chars.by_ref() {
                    if d == '`' {
                        break;
                    }
                }
                out.push('…');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            a: Option<u32>,
            b: Option<String>,
            c: Option<Vec<String>>,
        }
        describe(text, &toml::from_str::<T>(text).unwrap_err())
    }

    #[test]
    fn never_repeats_a_value() {
        let secret = "hunter2-very-secret";
        for text in [
            format!("a = \"{secret}\"\n"),
            format!("b = \"{secret}\n"),
            format!("b = '{secret}\n"),
            format!("b = \"\"\"{secret}\n"),
            format!("c = [\"{secret}\", 1]\n"),
            format!("b = {secret}\n"),
            format!("\n\nb = \"ok\"\nb = \"{secret}\"\n"),
        ] {
            let m = err(&text);
            assert!(!m.contains("hunter2"), "{text:?} -> {m}");
            assert!(m.starts_with("line "), "{m}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let m = err("\"a\\u0007b\" = 1\n");
        assert!(!m.chars().any(char::is_control), "{m:?}");
        assert!(m.contains("\\u{7}"), "{m}");
    }

    #[test]
    fn names_key_and_line() {
        let m = err("a = 1\n\nd = 2\n");
        assert!(m.starts_with("line 3, key d: unknown field `d`"), "{m}");
        let m = err("a = \"x\"\n");
        assert!(
            m.starts_with("line 1, key a: invalid type: string …"),
            "{m}"
        );
    }
}
