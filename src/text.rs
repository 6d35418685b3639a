//! Words and numbers the same everywhere (`1 flag`, `2 flags`, `12.5
//! flags/s`), and the one rule for text that comes from outside (a server's
//! names, headers and error details, a client's path, a user's labels)
//! before it reaches a terminal or a log.

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
}
