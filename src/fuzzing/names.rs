//! Country names from a server's `metadata.json` to file names.

use std::path::{Component, Path};

use crate::download::pipeline::parse_country;
use crate::download::pipeline::store::flag_file_name;

/// Characters no file name may hold on Windows (Linux refuses only `/`
/// and NUL, macOS adds `:` in the Finder).
const FORBIDDEN: &[char] = &['/', '\\', '<', '>', ':', '"', '|', '?', '*', '\0'];

/// Windows' reserved device names, which no file name may start with
/// before its first dot.
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The input is a `metadata.json` body, or else a code and a country name
/// on two lines. Whatever the name, the file name is one plain component
/// (it stays inside the output folder), is valid on Linux, macOS and
/// Windows (no forbidden or control character, no trailing dot or space,
/// no reserved device name, at most 255 bytes), is never empty, ends in
/// `.gif` and starts with the code.
pub fn file_names(data: &[u8]) {
    let text = super::text(data);
    let (code, line) = text.split_once('\n').unwrap_or(("BR", text.as_str()));
    check(code, Some(line));
    check(code, None);
    if let Ok(country) = parse_country(data) {
        check("BR", Some(&country));
    }
}

fn check(code: &str, country: Option<&str>) {
    let name = flag_file_name(code, country);
    let context = format!("{code:?} {country:?} -> {name:?}");
    assert!(!name.is_empty() && name.len() <= 255, "{context}");
    assert!(name.ends_with(".gif"), "{context}");
    let expected_code: String = code
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(2)
        .collect::<String>()
        .to_ascii_uppercase();
    let expected_code = if expected_code.is_empty() {
        "XX".into()
    } else {
        expected_code
    };
    assert!(name.starts_with(&expected_code), "{context}");
    let components: Vec<Component> = Path::new(&name).components().collect();
    assert!(
        matches!(components.as_slice(), [Component::Normal(n)] if *n == name.as_str()),
        "{context}: not one plain component"
    );
    assert!(
        !name.contains(FORBIDDEN),
        "{context}: a forbidden character"
    );
    assert!(!super::has_control(&name), "{context}: a control character");
    assert!(!name.ends_with(['.', ' ']), "{context}");
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        !RESERVED.contains(&stem.as_str()),
        "{context}: a device name"
    );
}
