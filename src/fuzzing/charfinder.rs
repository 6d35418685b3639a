//! charfinder's queries and paging parameters.

use std::sync::{Arc, LazyLock};

use crate::charfinder::{Index, MAX_PAGE, MAX_QUERY_BYTES, MAX_WORDS, Query, count_line};

/// The index, built once per process (it takes a moment).
pub(super) static INDEX: LazyLock<Arc<Index>> = LazyLock::new(|| Arc::new(Index::build()));

/// Input: a query, then `start` and `stop` (4 bytes each, before it).
/// A query is refused in words or searched with bounded work: every match
/// holds every word; a page holds positions `start..stop` of the whole
/// answer and no more than asked; the answer made a step at a time (as the
/// TCP service sends it) is the whole answer, each step at most its size;
/// the count line is one line with nothing a terminal acts on.
pub fn charfinder_query(data: &[u8]) {
    let (numbers, query) = data.split_at(data.len().min(8));
    let mut numbers = numbers.to_vec();
    numbers.resize(8, 0);
    let start = u32::from_le_bytes(numbers[..4].try_into().expect("4 bytes")) as usize % 2000;
    let span = u32::from_le_bytes(numbers[4..].try_into().expect("4 bytes")) as usize % 300;
    let text = super::text(query);
    let text = &text[..text.floor_char_boundary(MAX_QUERY_BYTES)];
    let query = match Query::parse(text) {
        Ok(query) => query,
        Err(why) => {
            assert!(why.contains(&MAX_WORDS.to_string()), "{why}");
            return;
        }
    };
    assert!(query.words.len() <= MAX_WORDS);
    let index = &*INDEX;
    let all = index.search(&query);
    for info in &all {
        for word in &query.words {
            assert!(
                crate::charfinder::words(&info.name).any(|w| &w == word),
                "{} does not hold {word}",
                info.name
            );
        }
    }
    let stop = start + span.min(MAX_PAGE);
    let page = index.page(&query, start, stop);
    assert_eq!(page.total, all.len());
    let expected = &all[start.min(all.len())..stop.min(all.len())];
    assert_eq!(page.chars.as_slice(), expected);
    assert!(page.chars.len() <= MAX_PAGE);
    let mut stepped = Vec::new();
    let mut cursor = 0;
    while cursor != usize::MAX {
        let (found, next) = index.matches_from(&query, cursor, 7);
        assert!(found.len() <= 7);
        assert!(next > cursor, "no progress from {cursor}");
        stepped.extend(found.into_iter().map(|p| index.info(p)));
        cursor = next;
    }
    assert_eq!(stepped, all);
    let line = count_line(all.len(), &query.text);
    assert!(
        !super::has_control(&line) && !line.contains('\n'),
        "{line:?}"
    );
}
