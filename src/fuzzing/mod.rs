//! The properties that coverage-guided fuzzing checks, one function per
//! fuzz target of `fuzz/` (cargo-fuzz, libFuzzer). Each takes the fuzzer's
//! bytes, feeds them to one place that input from outside reaches, and
//! panics when a property that must hold does not: a panic is a finding.
//! "No panic" is the least of them; each says what else must hold.
//!
//! The same functions replay the committed corpora in the test suite
//! (`tests/cases/fuzz_corpora.rs`), so nothing found comes back. Only built
//! with the `fuzzing` feature. The targets, their figures and their
//! findings are in docs/fuzzing.md.

mod charfinder;
mod contract;
mod differential;
mod exports;
mod names;
mod readers;
mod serve;
mod values;

pub use charfinder::charfinder_query;
pub use contract::{retry_after, verdict};
pub use differential::{clients, clients_raw};
pub use exports::exports;
pub use names::file_names;
pub use readers::bench_readers;
pub use serve::{serve_charfinder, serve_flags};
pub use values::{command_line, values};

/// A fuzz target: the fuzzer's bytes in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay and `benches/fuzz`.
pub const TARGETS: [(&str, Target); 12] = [
    ("values", values),
    ("command_line", command_line),
    ("file_names", file_names),
    ("verdict", verdict),
    ("retry_after", retry_after),
    ("charfinder_query", charfinder_query),
    ("serve_flags", serve_flags),
    ("serve_charfinder", serve_charfinder),
    ("exports", exports),
    ("bench_readers", bench_readers),
    ("clients", clients),
    ("clients_raw", clients_raw),
];

/// The fuzzer's bytes as text, lossily: most parsers take `&str`, and a
/// target that skipped non-UTF-8 input would leave its bytes unexplored.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Whether `text` holds a character a terminal or a log would act on.
fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && crate::text::is_unsafe_char(c))
}
