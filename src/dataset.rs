//! The bundled flag data set: 194 countries, each `flags/<cc>/<cc>.gif` plus
//! `flags/<cc>/metadata.json`, compiled into the binary so that an installed
//! `flags` serves and checks it with no files beside it.

use std::collections::HashMap;
use std::sync::LazyLock;

use include_dir::{Dir, DirEntry, include_dir};

static FLAGS_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/flags");

/// Every bundled file by its path, built once. `Dir::get_file` walks the
/// entries comparing path components, which made lookups the flags server's
/// largest cost under load (a third of its CPU at 8,000 requests a second).
static FILES: LazyLock<HashMap<&'static str, &'static [u8]>> = LazyLock::new(|| {
    fn walk(dir: &'static Dir<'static>, files: &mut HashMap<&'static str, &'static [u8]>) {
        for entry in dir.entries() {
            match entry {
                DirEntry::Dir(sub) => walk(sub, files),
                DirEntry::File(file) => {
                    if let Some(path) = file.path().to_str() {
                        files.insert(path, file.contents());
                    }
                }
            }
        }
    }
    let mut files = HashMap::new();
    walk(&FLAGS_DIR, &mut files);
    files
});

/// The 20 most populous countries: the default selection, as in "Fluent Python".
pub const POPULOUS_20: [&str; 20] = [
    "CN", "IN", "US", "ID", "BR", "PK", "NG", "BD", "RU", "JP", "MX", "PH", "VN", "ET", "EG", "DE",
    "IR", "TR", "CD", "FR",
];

/// The upper-case ISO 3166-1 codes of the bundled data set, sorted.
pub fn country_codes() -> Vec<String> {
    let listing = FLAGS_DIR
        .get_file("country_codes.txt")
        .and_then(|f| f.contents_utf8())
        .unwrap_or_default();
    let mut codes: Vec<String> = listing.split_whitespace().map(str::to_owned).collect();
    codes.sort();
    codes
}

/// The bytes of one bundled file, by its path inside the data set
/// (for example `br/br.gif` or `br/metadata.json`).
pub(crate) fn embedded_file(path: &str) -> Option<&'static [u8]> {
    FILES.get(path).copied()
}

/// The bundled GIF of a country, by code in any case.
pub fn flag_gif(code: &str) -> Option<&'static [u8]> {
    let cc = code.to_ascii_lowercase();
    embedded_file(&format!("{cc}/{cc}.gif"))
}

/// The bundled `metadata.json` of a country, parsed.
pub fn metadata(code: &str) -> Option<serde_json::Value> {
    let cc = code.to_ascii_lowercase();
    let bytes = embedded_file(&format!("{cc}/metadata.json"))?;
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_has_194_codes_each_with_a_gif_and_metadata() {
        let codes = country_codes();
        assert_eq!(codes.len(), 194);
        for code in &codes {
            let gif = flag_gif(code).unwrap_or_else(|| panic!("no gif for {code}"));
            assert_eq!(&gif[..3], b"GIF", "{code}");
            let meta = metadata(code).unwrap_or_else(|| panic!("no metadata for {code}"));
            assert_eq!(meta["iso_cc"], code.as_str());
            assert!(meta["country"].as_str().is_some_and(|c| !c.is_empty()));
        }
    }

    #[test]
    fn the_populous_20_are_in_the_set() {
        let codes = country_codes();
        for code in POPULOUS_20 {
            assert!(codes.iter().any(|c| c == code), "{code}");
        }
    }
}
