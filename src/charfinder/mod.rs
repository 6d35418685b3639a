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

/// Most distinct words a query may have.
pub(crate) const MAX_WORDS: usize = 16;

/// A query, as the search takes it: its distinct words, upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// The text as given, trimmed (for the count line).
    pub(crate) text: String,
    /// Each word once, in the order first given.
    pub(crate) words: Vec<String>,
}

impl Query {
    /// Reads a query: a word repeated counts once, so `cjk` × 255 costs what
    /// `cjk` costs; more than [`MAX_WORDS`] distinct words are refused.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut distinct: Vec<String> = Vec::new();
        for word in words(text) {
            if !distinct.contains(&word) {
                distinct.push(word);
            }
        }
        if distinct.len() > MAX_WORDS {
            return Err(format!(
                "a query has at most {MAX_WORDS} different words, this one has {}",
                distinct.len()
            ));
        }
        Ok(Self {
            text: text.trim().to_owned(),
            words: distinct,
        })
    }
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

    /// The words of `query` as the search will look them up: each once,
    /// those with the fewest characters first; `None` when one is in no name
    /// (nothing can match).
    fn plan(&self, query: &Query) -> Option<Vec<&[u32]>> {
        let mut lists = Vec::with_capacity(query.words.len());
        for word in &query.words {
            lists.push(self.words.get(word)?.as_slice());
        }
        lists.sort_by_key(|list| list.len());
        Some(lists)
    }

    /// The matches of `query` from `cursor` on, at most `max` of them, and
    /// where to go on from: the search as a sequence of bounded steps, so
    /// that a large answer is made (and sent) a piece at a time.
    pub(crate) fn matches_from(
        &self,
        query: &Query,
        cursor: usize,
        max: usize,
    ) -> (Vec<u32>, usize) {
        let Some(lists) = self.plan(query) else {
            return (Vec::new(), usize::MAX);
        };
        let Some((shortest, rest)) = lists.split_first() else {
            return (Vec::new(), usize::MAX);
        };
        let mut found = Vec::new();
        let mut next = cursor;
        while next < shortest.len() && found.len() < max {
            let p = shortest[next];
            next += 1;
            if rest.iter().all(|list| list.binary_search(&p).is_ok()) {
                found.push(p);
            }
        }
        let next = if next >= shortest.len() {
            usize::MAX
        } else {
            next
        };
        (found, next)
    }

    /// Every match of `query`, sorted by code point.
    pub(crate) fn search(&self, query: &Query) -> Vec<CharInfo> {
        let (positions, _) = self.matches_from(query, 0, usize::MAX);
        positions.into_iter().map(|p| self.info(p)).collect()
    }

    /// The matches of `query` in positions `start..stop` (clipped to the
    /// total), without keeping the others: memory bounded by the page.
    pub(crate) fn page(&self, query: &Query, start: usize, stop: usize) -> Page {
        let mut total = 0;
        let mut chars = Vec::new();
        if let Some(lists) = self.plan(query)
            && let Some((shortest, rest)) = lists.split_first()
        {
            for p in shortest.iter() {
                if rest.iter().all(|list| list.binary_search(p).is_ok()) {
                    if (start..stop).contains(&total) {
                        chars.push(self.info(*p));
                    }
                    total += 1;
                }
            }
        }
        let stop = stop.min(total);
        Page {
            total,
            start: start.min(stop),
            stop,
            chars,
        }
    }

    /// One character of a result.
    pub(crate) fn info(&self, position: u32) -> CharInfo {
        let (c, name) = &self.chars[position as usize];
        CharInfo {
            cp: code_point(*c),
            character: c.to_string(),
            name: name.clone(),
        }
    }
}

/// The line after the results: `No match`, `1 match` or `N matches for 'query'`.
/// The query is the client's text, sent back inert: a control character in
/// it (found by fuzzing) would otherwise reach whatever reads the reply.
pub(crate) fn count_line(count: usize, query: &str) -> String {
    let query = crate::text::untrusted(query.trim(), MAX_QUERY_BYTES);
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

    fn q(text: &str) -> Query {
        Query::parse(text).unwrap()
    }

    fn cps(query: &str) -> Vec<String> {
        index()
            .search(&q(query))
            .into_iter()
            .map(|c| c.cp)
            .collect()
    }

    #[test]
    fn cat_face_is_the_and_of_its_words_sorted_by_code_point() {
        let found = index().search(&q("cat face"));
        assert!(found.len() >= 10, "{found:?}");
        assert!(
            found
                .iter()
                .all(|c| c.name.contains("CAT") && c.name.contains("FACE"))
        );
        assert!(
            found
                .iter()
                .any(|c| c.cp == "U+1F431" && c.name == "CAT FACE" && c.character == "🐱")
        );
        assert!(
            found
                .iter()
                .any(|c| c.name == "GRINNING CAT FACE WITH SMILING EYES")
        );
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
        let all = index().search(&q("latin"));
        let page = index().page(&q("latin"), 10, 30);
        assert_eq!(page.total, all.len());
        assert_eq!((page.start, page.stop), (10, 30));
        assert_eq!(page.chars, all[10..30].to_vec());
        let last = index().page(&q("latin"), all.len() - 5, all.len() + 50);
        assert_eq!(last.stop, all.len());
        assert_eq!(last.chars.len(), 5);
        let beyond = index().page(&q("latin"), all.len() + 10, all.len() + 20);
        assert!(beyond.chars.is_empty());
        assert_eq!(index().page(&q("nothing-such"), 0, 10).total, 0);
    }

    #[test]
    fn count_lines() {
        assert_eq!(count_line(0, "x"), "No match for 'x'");
        assert_eq!(count_line(1, "x "), "1 match for 'x'");
        assert_eq!(count_line(12, " cat face "), "12 matches for 'cat face'");
        assert_eq!(
            count_line(0, "arro\0\x1b[2J"),
            "No match for 'arro\\x00\\x1b[2J'"
        );
    }

    #[test]
    fn a_repeated_word_counts_once_and_too_many_words_are_refused() {
        let once = q("cjk");
        let repeated = q(&"cjk ".repeat(255));
        assert_eq!(once.words, repeated.words);
        assert_eq!(index().plan(&once).map(|l| l.len()), Some(1));
        assert_eq!(index().plan(&repeated).map(|l| l.len()), Some(1));
        let many: String = (0..17).map(|i| format!("w{i} ")).collect();
        assert!(Query::parse(&many).unwrap_err().contains("at most 16"));
    }

    #[test]
    fn matches_come_in_bounded_steps_that_add_up_to_the_whole() {
        let query = q("cjk");
        let whole = index().matches_from(&query, 0, usize::MAX).0;
        let mut steps = Vec::new();
        let mut cursor = 0;
        while cursor != usize::MAX {
            let (found, next) = index().matches_from(&query, cursor, 1000);
            assert!(found.len() <= 1000);
            steps.extend(found);
            cursor = next;
        }
        assert_eq!(steps, whole);
        assert!(whole.len() > 90_000);
    }
}
