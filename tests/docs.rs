//! The documentation stays true: the README's code map names every source
//! file, and every path it names exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The code map's block: the first fenced block after `## Code map`.
fn code_map(readme: &str) -> String {
    let section = readme.split("## Code map").nth(1).expect("a Code map section");
    section.split("```").nth(1).expect("a fenced tree").to_owned()
}

fn source_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "html") {
            let relative = path.strip_prefix(root()).unwrap();
            found.push(relative.display().to_string());
        }
    }
}

#[test]
fn the_code_map_names_every_source_file_and_only_real_ones() {
    let map = code_map(&readme());
    let mut files = Vec::new();
    source_files(&root().join("src"), &mut files);
    // A line names a file by its path, or by its name under the folder
    // line above it.
    let mut folder = String::new();
    let mut named = Vec::new();
    for line in map.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if first.starts_with("src/") {
            folder = if first.ends_with('/') {
                first.to_string()
            } else {
                String::new()
            };
            named.push(first.trim_end_matches('/').to_string());
            if first.ends_with('/') && root().join(first).join("mod.rs").exists() {
                // A folder's line describes its mod.rs.
                named.push(format!("{first}mod.rs"));
            }
            continue;
        }
        for word in words.iter().take_while(|w| w.ends_with(".rs") || w.ends_with(".html") || w.ends_with('/')) {
            named.push(format!("{folder}{word}").trim_end_matches('/').to_string());
        }
    }
    for file in &files {
        assert!(
            named.iter().any(|n| n == file),
            "the README's code map does not name {file}"
        );
    }
    for name in &named {
        assert!(root().join(name).exists(), "the code map names {name}, which does not exist");
    }
}
