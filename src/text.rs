//! Words and numbers the same everywhere (`1 flag`, `2 flags`, `12.5
//! flags/s`), and the one rule for text that comes from outside (a server's
//! names, headers and error details, a client's path, a user's labels)
//! before it reaches a terminal or a log.

use std::io;

use serde_json::ser::{Formatter, PrettyFormatter};

/// `n` and the noun that agrees with it: `1 run`, `2 runs`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A rate with at most one decimal: `0.4/s`, `12.5/s`, `9151/s`.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.1}/s")
    }
}

/// How many characters of outside text a line shows before it is cut.
pub const UNTRUSTED_MAX_CHARS: usize = 200;

/// `true` for characters that must not reach a terminal raw: C0 and C1
/// controls, DEL, and the invisible format characters that reorder or hide
/// text (zero-width, bidi embeddings, overrides and isolates, the line and
/// paragraph separators).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
            | '\u{061C}' | '\u{FEFF}')
}

/// Outside text made inert for a terminal or a log line: every character
/// of [`is_unsafe_char`] becomes a visible escape (`\x1b`, `\n`,
/// `\u{202e}`), and anything past `max_chars` becomes `…`. Plain text
/// passes unchanged.
pub fn untrusted(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    for (shown, c) in text.chars().enumerate() {
        if shown == max_chars {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && is_unsafe_char(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// [`untrusted`] with the usual cap.
pub fn inert(text: &str) -> String {
    untrusted(text, UNTRUSTED_MAX_CHARS)
}

/// Outside text with every character of [`is_unsafe_char`] dropped (not
/// escaped) and cut at `max_chars`: for pictures (an SVG label), where an
/// escape would only be noise and XML forbids most controls.
pub fn visible(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !is_unsafe_char(*c))
        .take(max_chars + 1)
        .collect();
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars).collect();
        out.push('…');
    }
    out
}

/// `value` as pretty JSON that is inert on a terminal: besides what JSON
/// escapes anyway (C0 controls, quotes, backslashes), DEL, the C1 controls
/// and the format characters of [`is_unsafe_char`] are written as
/// `\uXXXX`. Still valid JSON, with the same values.
pub fn json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, InertJson(PrettyFormatter::new()));
    value.serialize(&mut serializer)?;
    // The serializer writes only UTF-8 (and the escapes are ASCII).
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// serde_json's pretty formatter, with the unsafe characters escaped.
struct InertJson<'a>(PrettyFormatter<'a>);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                self.0.$name(writer $(, $arg)*)
            }
        )*
    };
}

impl Formatter for InertJson<'_> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe_char(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            // Every unsafe character is in the Basic Multilingual Plane.
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_rates() {
        assert_eq!(count(1, "flag", "flags"), "1 flag");
        assert_eq!(count(0, "flag", "flags"), "0 flags");
        assert_eq!(count(3, "run", "runs"), "3 runs");
        assert_eq!(rate(5.0769), "5.1/s");
        assert_eq!(rate(9151.4), "9151/s");
    }

    #[test]
    fn outside_text_is_inert() {
        assert_eq!(inert("Côte d'Ivoire"), "Côte d'Ivoire");
        assert_eq!(
            inert("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(inert("a\nZZ OK\r"), "a\\nZZ OK\\r");
        assert_eq!(
            inert("\u{9b}2J\u{202e}evil\u{0}"),
            "\\x9b2J\\u{202e}evil\\x00"
        );
        assert_eq!(inert("\u{7f}\u{2028}\u{2066}"), "\\x7f\\u{2028}\\u{2066}");
        assert_eq!(untrusted("abcdef", 3), "abc…");
        assert_eq!(inert(&"x".repeat(100_000)).chars().count(), 201);
    }

    #[test]
    fn json_is_inert_and_the_same_values() {
        let hostile = "\u{1b}[2J\u{9b}31m\u{7f}\u{202e}\u{2028}Côte\u{0}";
        let value = serde_json::json!({ "country": hostile, "n": [1, 2] });
        let text = json_pretty(&value).unwrap();
        assert!(
            text.contains(r#""country": "\u001b[2J\u009b31m\u007f\u202e\u2028Côte\u0000""#),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| is_unsafe_char(c) && c != '\n'),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert_eq!(text, json_pretty(&value).unwrap());
        assert!(text.contains("\n  \"n\": [\n    1,"), "{text}");
    }
}
