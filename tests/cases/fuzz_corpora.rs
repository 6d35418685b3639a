//! The fuzz targets' committed corpora and regressions, replayed through
//! the same checks the fuzzer runs (src/fuzzing/), so that nothing a
//! fuzzer found comes back. Needs the `fuzzing` feature (scripts/test
//! turns it on). New fuzzing is `benches/fuzz`; this only replays.

use std::path::{Path, PathBuf};

use flags::fuzzing::TARGETS;

/// The inputs kept for `target`: its corpus and its regressions.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in [
        fuzz.join("corpus").join(target),
        fuzz.join("regressions").join(target),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(name: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    let files = inputs(name);
    assert!(!files.is_empty(), "{name} has no committed corpus");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{name}: {} fails again", file.display());
    }
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        let source = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|_| panic!("fuzz/fuzz_targets/{name}.rs"));
        assert!(
            source.contains(&format!("flags::fuzzing::{name}(data)")),
            "{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} in fuzz/Cargo.toml"
        );
        assert!(!inputs(name).is_empty(), "{name} has no committed corpus");
    }
}

macro_rules! replays {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

replays!(
    values,
    command_line,
    file_names,
    verdict,
    retry_after,
    charfinder_query,
    serve_flags,
    serve_charfinder,
    exports,
    bench_readers,
    clients,
    clients_raw,
);
