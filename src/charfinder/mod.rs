//! charfinder: find Unicode characters by the words of their names.
//!
//! The index maps each word of every character name (upper case; hyphens
//! split words, so `cat-face` is two words) to the code points whose names
//! contain it. A query is the AND of its words; results come sorted by code
//! point. The names are those of `unicode_names2` (Unicode 17.0).

use std::collections::HashMap;

use serde::Serialize;

pub mod http;
pub mod tcp;

/// Longest query line the TCP and HTTP servers accept, in bytes.
pub(crate) const MAX_QUERY_BYTES: usize = 1024;
/// Most characters one HTTP page may hold.
pub(crate) const MAX_PAGE: usize = 100;

/// Every named character and the words of its name.
pub(crate) struct Index {
    /// `(character, name)`, sorted by code point.
    chars: Vec<(char, String)>,
    /// Word -> positions in `chars`, ascending.
    words: HashMap<String, Vec<u32>>,
}

/// One character of a result, as the HTTP API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CharInfo {
    /// `U+1F431`.
    pub cp: String,
    /// The character itself.
    #[serde(rename = "char")]
    pub character: String,
    /// Its Unicode name.
    pub name: String,
}

/// One slice of a query's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Page {
    /// How many characters match in all.
    pub total: usize,
    /// First position of this page.
    pub start: usize,
    /// One past the last position of this page (never beyond `total`).
    pub stop: usize,
    /// The characters of positions `start..stop`.
    pub chars: Vec<CharInfo>,
}

/// Splits text into index words: upper case, split on white space and hyphens.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| c.is_whitespace() || c == '-')
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
}

/// `U+0041` style code point.
pub(crate) fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

impl Index {
    /// Builds the index of every named character (tens of milliseconds in a
    /// release build; measured by `charfinder --stats`).
    pub(crate) fn build() -> Self {
        let chars: Vec<(char, String)> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter_map(|c| unicode_names2::name(c).map(|name| (c, name.to_string())))
            .collect();
        let mut words: HashMap<String, Vec<u32>> = HashMap::new();
        for (position, (_, name)) in chars.iter().enumerate() {
            let mut seen: Vec<String> = Vec::new();
            for word in self::words(name) {
                if !seen.contains(&word) {
                    words.entry(word.clone()).or_default().push(position as u32);
                    seen.push(word);
                }
            }
        }
        Self { chars, words }
    }

    /// How many named characters and distinct words the index holds.
    pub(crate) fn stats(&self) -> (usize, usize) {
        (self.chars.len(), self.words.len())
    }

    /// Positions of the characters whose names contain every word of `query`.
    fn positions(&self, query: &str) -> Vec<u32> {
        let mut lists: Vec<&Vec<u32>> = Vec::new();
        for word in words(query) {
            match self.words.get(&word) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|list| list.len());
        let Some((shortest, rest)) = lists.split_first() else {
            return Vec::new();
        };
        shortest
            .iter()
            .copied()
            .filter(|p| rest.iter().all(|list| list.binary_search(p).is_ok()))
            .collect()
    }

    /// Every match of `query`, sorted by code point.
    pub(crate) fn search(&self, query: &str) -> Vec<CharInfo> {
        self.positions(query)
            .into_iter()
            .map(|p| self.info(p))
            .collect()
    }

    /// The matches of `query` in positions `start..stop` (clipped to the total).
    pub(crate) fn page(&self, query: &str, start: usize, stop: usize) -> Page {
        let positions = self.positions(query);
        let total = positions.len();
        let stop = stop.min(total);
        let start = start.min(stop);
        Page {
            total,
            start,
            stop,
            chars: positions[start..stop]
                .iter()
                .map(|p| self.info(*p))
                .collect(),
        }
    }

    fn info(&self, position: u32) -> CharInfo {
        let (c, name) = &self.chars[position as usize];
        CharInfo {
            cp: code_point(*c),
            character: c.to_string(),
            name: name.clone(),
        }
    }
}

/// The line after the results: `No match`, `1 match` or `N matches for 'query'`.
pub(crate) fn count_line(count: usize, query: &str) -> String {
    let query = query.trim();
    match count {
        0 => format!("No match for '{query}'"),
        1 => format!("1 match for '{query}'"),
        n => format!("{n} matches for '{query}'"),
    }
}

/// A result line: `U+1F431\t🐱\tCAT FACE`.
pub(crate) fn result_line(info: &CharInfo) -> String {
    format!("{}\t{}\t{}", info.cp, info.character, info.name)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    fn index() -> &'static Index {
        static INDEX: OnceLock<Index> = OnceLock::new();
        INDEX.get_or_init(Index::build)
    }

    fn cps(query: &str) -> Vec<String> {
        index().search(query).into_iter().map(|c| c.cp).collect()
    }

    #[test]
    fn cat_face_is_the_and_of_its_words_sorted_by_code_point() {
        let found = index().search("cat face");
        assert!(found.len() >= 10, "{found:?}");
        assert!(found
            .iter()
            .all(|c| c.name.contains("CAT") && c.name.contains("FACE")));
        assert!(found
            .iter()
            .any(|c| c.cp == "U+1F431" && c.name == "CAT FACE" && c.character == "🐱"));
        assert!(found
            .iter()
            .any(|c| c.name == "GRINNING CAT FACE WITH SMILING EYES"));
        let mut sorted = found.clone();
        sorted.sort_by_key(|c| u32::from_str_radix(&c.cp[2..], 16).unwrap());
        assert_eq!(found, sorted);
    }

    #[test]
    fn case_and_hyphens() {
        assert_eq!(cps("CAT FACE"), cps("cat face"));
        assert_eq!(cps("cat-face"), cps("cat face"));
        // HYPHEN-MINUS is found by either of its words.
        assert!(cps("hyphen minus").contains(&"U+002D".to_owned()));
        assert!(cps("minus").contains(&"U+002D".to_owned()));
    }

    #[test]
    fn whole_words_only_and_unknown_or_empty_queries() {
        assert!(cps("grinnin").is_empty(), "no prefix matching");
        assert!(cps("").is_empty());
        assert!(cps("   ").is_empty());
        assert!(cps("cat xyzzyplugh").is_empty());
        assert_eq!(
            cps("latin capital letter a").first().map(String::as_str),
            Some("U+0041")
        );
    }

    #[test]
    fn pages_slice_the_result() {
        let all = index().search("latin");
        let page = index().page("latin", 10, 30);
        assert_eq!(page.total, all.len());
        assert_eq!((page.start, page.stop), (10, 30));
        assert_eq!(page.chars, all[10..30].to_vec());
        let last = index().page("latin", all.len() - 5, all.len() + 50);
        assert_eq!(last.stop, all.len());
        assert_eq!(last.chars.len(), 5);
        let beyond = index().page("latin", all.len() + 10, all.len() + 20);
        assert!(beyond.chars.is_empty());
        assert_eq!(index().page("nothing-such", 0, 10).total, 0);
    }

    #[test]
    fn count_lines() {
        assert_eq!(count_line(0, "x"), "No match for 'x'");
        assert_eq!(count_line(1, "x "), "1 match for 'x'");
        assert_eq!(count_line(12, " cat face "), "12 matches for 'cat face'");
    }
}
