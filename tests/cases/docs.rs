//! The documentation stays true: every command in README.md and docs/*.md
//! runs as documented, every repository path they name is in the tree,
//! the code map (docs/code-map.md) names every source file and only real
//! ones, and the README stays a five-minute read that links every page of
//! docs/.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn readme() -> String {
    read("README.md")
}

/// README.md and every page of docs/, as (path, text).
fn documents() -> Vec<(String, String)> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages.insert(0, "README.md".into());
    pages.into_iter().map(|p| (p.clone(), read(&p))).collect()
}

/// The code map's block: the first fenced block of docs/code-map.md.
fn code_map() -> String {
    read("docs/code-map.md")
        .split("```")
        .nth(1)
        .expect("a fenced tree")
        .to_owned()
}

#[test]
fn the_readme_is_a_five_minute_read_that_links_every_page() {
    let readme = readme();
    let lines = readme.lines().count();
    assert!(lines <= 350, "README.md is {lines} lines");
    // The first screen: the two commands, then how to install.
    let first_screen: String = readme.lines().take(24).collect::<Vec<_>>().join("\n");
    for needle in [
        "cargo run --release -- --concurrency 50",
        "scripts/test",
        "## Install",
        "Fluent Python",
    ] {
        assert!(
            first_screen.contains(needle),
            "not on the first screen: {needle}"
        );
    }
    for (page, _) in documents().iter().skip(1) {
        assert!(
            readme.contains(&format!("]({page})")),
            "README.md does not link {page}"
        );
    }
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
    let map = code_map();
    let mut files = Vec::new();
    source_files(&root().join("src"), &mut files);
    // A line names a file by its path, or by its name under the folder
    // line above it that is less indented.
    let mut folders: Vec<(usize, String)> = Vec::new();
    let mut named = Vec::new();
    for line in map.lines() {
        let indent = line.len() - line.trim_start().len();
        while folders.last().is_some_and(|(at, _)| *at >= indent) {
            folders.pop();
        }
        let parent = folders.last().map(|(_, f)| f.clone()).unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        let parent = if first.starts_with("src/") {
            String::new()
        } else {
            parent
        };
        for word in words
            .iter()
            .take_while(|w| w.ends_with(".rs") || w.ends_with(".html") || w.ends_with('/'))
        {
            let path = format!("{parent}{word}");
            named.push(path.trim_end_matches('/').to_string());
            if word.ends_with('/') {
                if root().join(&path).join("mod.rs").exists() {
                    // A folder's line describes its mod.rs.
                    named.push(format!("{path}mod.rs"));
                }
                folders.push((indent, path));
            }
        }
    }
    for file in &files {
        assert!(
            named.iter().any(|n| n == file),
            "the README's code map does not name {file}"
        );
    }
    for name in &named {
        assert!(
            root().join(name).exists(),
            "the code map names {name}, which does not exist"
        );
    }
}

/// One documented command line: where it is written, the line, and the
/// exit code it is documented to give (0 unless a `# exit N` comment says).
#[derive(Debug, Clone)]
struct Example {
    source: String,
    command: String,
    exit: i32,
}

/// Joins lines ending in `\` with the next one.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

fn is_command(text: &str) -> bool {
    // `flags bench compare` needs two exports of a bench: it is named in
    // prose, and tests/cases/bench.rs runs it on real ones.
    let compare = text.starts_with("flags bench compare");
    !compare
        && ["flags", "charfinder", "cargo run"]
            .iter()
            .any(|p| text == *p || text.starts_with(&format!("{p} ")))
}

/// A placeholder (`D`, `KIND=RATE`, `[--port N]`, `bash|zsh`, `CC...`)
/// marks a synopsis, not a command to run.
fn has_placeholder(command: &str) -> bool {
    command.split_whitespace().any(|word| {
        let upper = word.chars().any(|c| c.is_ascii_uppercase())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || "=._".contains(c));
        upper || word.contains('[') || word.contains("...") || (word.contains('|') && word != "|")
    })
}

/// The runnable commands of README.md and docs/*.md: every line of their
/// `sh` blocks, and every inline command with no placeholder.
fn readme_examples() -> Vec<Example> {
    let mut examples = Vec::new();
    for (path, text) in documents() {
        examples.extend(examples_in(&path, &text));
    }
    examples
}

fn examples_in(path: &str, text: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    for (i, block) in text.split("```").enumerate() {
        let Some(body) = block.strip_prefix("sh\n") else {
            continue;
        };
        if i % 2 == 0 {
            continue;
        }
        for line in logical_lines(body) {
            let (command, comment) = match line.split_once(" # ") {
                Some((c, comment)) => (c.trim(), comment.trim()),
                None => (line.trim(), ""),
            };
            let command = command.trim_start_matches("$ ");
            if !is_command(command) {
                continue;
            }
            // `# exit 1: why` documents a failure.
            let exit = comment
                .strip_prefix("exit ")
                .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            examples.push(Example {
                source: format!("{path} (sh block)"),
                command: command.to_owned(),
                exit,
            });
        }
    }
    // Inline code outside the fenced blocks; a bare program name is a name.
    let prose: String = text.split("```").step_by(2).collect::<Vec<_>>().join("\n");
    for (i, span) in prose.split('`').enumerate() {
        let command = span.split_whitespace().collect::<Vec<_>>().join(" ");
        let bare = !command.contains(' ');
        if i % 2 == 1 && is_command(&command) && !bare && !has_placeholder(&command) {
            examples.push(Example {
                source: format!("{path} (inline)"),
                command,
                exit: 0,
            });
        }
    }
    examples
}

/// The examples of every `--help` text: the lines after `Example(s):`, each
/// a command, then two or more spaces, then what it does.
fn help_examples() -> Vec<Example> {
    let helps: [(&str, &[&str]); 7] = [
        ("flags", &["--help"]),
        ("flags", &["costs", "--help"]),
        ("flags", &["serve", "--help"]),
        ("flags", &["bench", "--help"]),
        ("flags", &["spin", "--help"]),
        ("charfinder", &["--help"]),
        ("charfinder", &["http", "--help"]),
    ];
    let mut examples = Vec::new();
    for (bin, args) in helps {
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin(bin))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let Some((_, section)) = text.split_once("Example") else {
            continue;
        };
        let section = section.split_once('\n').map_or("", |(_, rest)| rest);
        for line in logical_lines(section) {
            let command = line.split("  ").next().unwrap_or("").trim();
            if is_command(command) {
                examples.push(Example {
                    source: format!("{bin} {}", args.join(" ")),
                    command: command.to_owned(),
                    exit: 0,
                });
            }
        }
    }
    examples
}

/// The command as the test runs it: our binaries, our test server, a fresh
/// folder, and short versions of long workloads (a later option wins).
fn adapted(command: &str, server: &str) -> String {
    let mut line = command.replacen("cargo run --release -- ", "flags ", 1);
    if line == "cargo run --release" {
        line = "flags".into();
    }
    for preset in ["local", "delay", "error", "remote"] {
        line = line.replace(&format!("-s {preset}"), &format!("-s {server}"));
    }
    if line.starts_with("flags bench") {
        let words: Vec<String> = line.split(' ').map(|w| w.to_owned()).collect::<Vec<_>>();
        let mut short = Vec::new();
        let mut words = words.into_iter().peekable();
        while let Some(word) = words.next() {
            if word == "--count" {
                words.next();
                short.push("--count 20".to_owned());
            } else {
                short.push(word);
            }
        }
        line = short.join(" ") + " -l 2 --runs 1 --warmup 0 --progress never";
    }
    if line.starts_with("flags spin") {
        line.push_str(" --seconds 0.2s");
    }
    line
}

fn is_server(command: &str) -> bool {
    command.starts_with("flags serve")
        || command.starts_with("charfinder tcp")
        || command.starts_with("charfinder http")
}

/// Runs one example; `Err` says how it broke.
fn run_example(example: &Example, server: &str) -> Result<(), String> {
    let line = adapted(&example.command, server);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::create_dir(dir.path().join("docs")).map_err(|e| e.to_string())?;
    let bins = assert_cmd::cargo::cargo_bin("flags")
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = std::process::Command::new("bash");
    command
        .args(["-o", "pipefail", "-c"])
        .current_dir(dir.path())
        // What a command writes in the temporary folder (the CA of
        // `flags serve --tls`) goes with the test's folder.
        .env("TMPDIR", dir.path())
        .env("PATH", path);
    if is_server(&line) {
        // A server runs until stopped: on a free port, it must announce its
        // address, then stop cleanly on SIGTERM.
        let mut child = command
            .arg(format!("exec {line} --port 0"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut first = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)
            .map_err(|e| e.to_string())?;
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().map_err(|e| e.to_string())?;
        if !first.contains("://") || status.code() != Some(0) {
            return Err(format!("{line}: said {first:?}, ended {status}"));
        }
        return Ok(());
    }
    let output = command
        .arg(&line)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.code() != Some(example.exit) {
        return Err(format!(
            "{line}: exit {:?}, documented {}: {}",
            output.status.code(),
            example.exit,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

#[test]
fn every_command_in_the_readme_and_in_every_help_text_runs_as_documented() {
    let site = flags::server::BackgroundServer::start(flags::server::ServerConfig::default())
        .expect("test server");
    let mut examples = readme_examples();
    examples.extend(help_examples());
    assert!(
        examples.len() >= 25,
        "too few examples found: {examples:#?}"
    );
    let next = std::sync::Mutex::new(examples.iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let Some(example) = next.lock().unwrap().next() else {
                        break;
                    };
                    if let Err(why) = run_example(example, site.base_url()) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {why}", example.source));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The folders whose paths the documents name.
const TREES: [&str; 8] = [
    "src/", "tests/", "docs/", "benches/", "scripts/", "fuzz/", "flags/", ".ci/",
];

/// Whether `path` (relative to the repository) is there: a file or a
/// folder, or with one `*` in its last part, something it matches.
fn exists(path: &str) -> bool {
    let full = root().join(path.trim_end_matches('/'));
    match path.rsplit_once('/') {
        Some((folder, pattern)) if pattern.contains('*') => {
            let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
            std::fs::read_dir(root().join(folder))
                .map(|entries| {
                    entries.flatten().any(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.starts_with(head) && name.ends_with(tail)
                    })
                })
                .unwrap_or(false)
        }
        _ => full.exists(),
    }
}

/// The repository paths `text` names (`src/download/mod.rs`, `tests/*.rs`,
/// `docs/ci.md:12`) that are not in the tree. A path stands after a space,
/// a quote, a bracket or a backtick; placeholders (`flags/<cc>/`), URLs and
/// paths inside other paths are not paths of the repository.
fn missing_paths(text: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for (at, _) in text.char_indices() {
        let rest = &text[at..];
        let before = text[..at].chars().next_back();
        if !TREES.iter().any(|tree| rest.starts_with(tree))
            || before.is_some_and(|c| !matches!(c, ' ' | '`' | '(' | '[' | '"' | '\'' | '\n'))
        {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_-./*<>{}".contains(*c))
            .collect();
        let path = path.trim_end_matches(['.', ',']);
        // A unit (`flags/s`) has no extension and no folder in it; a part
        // in capitals (`fuzz/corpus/NAME/`) is a placeholder.
        let placeholder = path.split('/').any(|part| {
            let stem = part.split('.').next().unwrap_or_default();
            !stem.is_empty() && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        });
        let unit = !path.ends_with('/') && path.matches('/').count() == 1 && !path.contains('.');
        if path.contains(['<', '>', '{', '}']) || TREES.contains(&path) || placeholder || unit {
            continue;
        }
        if !exists(path) {
            missing.push(path.to_owned());
        }
    }
    missing
}

#[test]
fn a_document_that_names_a_missing_path_is_caught() {
    let fixture = "See `src/download/pipeline/nonblocking.rs:4-9`, tests/*.rs and \
                   [the map](docs/code-map.md); flags/<cc>/<cc>.gif is a pattern, \
                   https://example.org/src/gone.rs a URL, but `tests/contract.rs` \
                   and src/nowhere/ are gone.";
    assert_eq!(
        missing_paths(fixture),
        vec!["tests/contract.rs".to_owned(), "src/nowhere/".to_owned()]
    );
}

#[test]
fn every_path_the_documents_name_is_in_the_tree() {
    let mut missing = Vec::new();
    for (page, text) in documents() {
        missing.extend(
            missing_paths(&text)
                .into_iter()
                .map(|path| format!("{page}: {path}")),
        );
    }
    assert!(
        missing.is_empty(),
        "named but not in the tree: {missing:#?}"
    );
}

/// The page where measured figures live; other pages quote it.
const FIGURES_HOME: &str = "docs/performance.md";

/// Units that make a number a measured figure.
const UNITS: [&str; 8] = [
    "µs",
    "ms",
    "MiB",
    "KiB",
    "%",
    "×",
    " instructions",
    " times",
];

/// The figures of `text` (`69 µs`, `1,003 instructions`, `13.0×`), as the
/// number and what follows it.
fn figures(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut before = ' ';
    while let Some((at, c)) = chars.next() {
        let starts = c.is_ascii_digit() && !(before.is_alphanumeric() || ".,-_".contains(before));
        before = c;
        if !starts {
            continue;
        }
        let number: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
            .collect();
        let number = number.trim_end_matches(['.', ',']);
        let rest = text[at + number.len()..].trim_start_matches([' ', '\u{a0}']);
        if let Some(unit) = UNITS
            .iter()
            .find(|unit| rest.starts_with(unit.trim_start()))
        {
            found.push((number.to_owned(), unit.trim_start().to_owned()));
        }
        while chars
            .peek()
            .is_some_and(|(_, c)| c.is_ascii_digit() || *c == ',' || *c == '.')
        {
            before = chars.next().map_or(' ', |(_, c)| c);
        }
    }
    found
}

/// The figures of `page` that it quotes from [`FIGURES_HOME`] and that are
/// not there: a paragraph that links the page (and the tables right after
/// it) quotes it, and each of its figures must stand in it as written.
fn misquoted(page: &str, home: &str) -> Vec<String> {
    // A number stands in the home page when it is not part of a longer one.
    let has = |number: &str| {
        home.match_indices(number).any(|(at, _)| {
            let before = home[..at].chars().next_back().unwrap_or(' ');
            let rest = &home[at + number.len()..];
            let longer_before = before.is_ascii_digit() || ".,".contains(before);
            let longer_after = rest.starts_with(|c: char| c.is_ascii_digit() || c == ',')
                || (rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit()));
            !longer_before && !longer_after
        })
    };
    let blocks: Vec<&str> = page.split("\n\n").collect();
    let mut wrong = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        if !block.contains("performance.md") {
            continue;
        }
        let tables = blocks[i + 1..]
            .iter()
            .take_while(|next| next.trim_start().starts_with('|'));
        for quoted in std::iter::once(block).chain(tables) {
            for (number, unit) in figures(quoted) {
                if !has(&number) {
                    wrong.push(format!("{number} {unit}"));
                }
            }
        }
    }
    wrong
}

#[test]
fn a_figure_quoted_wrong_is_caught() {
    let home = "async 85 % at 91-92 µs, 61,972 instructions, threaded 1.23 s";
    let page = "Threaded runs 61,972 instructions ([numbers](docs/performance.md)).\n\n\
                | CPU | 91 µs | 93 µs |\n\n\
                Elsewhere 93 µs, with no link, is not a quote.\n\n\
                See [performance](performance.md): 85 % and 1.2 ms.";
    assert_eq!(misquoted(page, home), vec!["93 µs", "1.2 ms"]);
}

#[test]
fn figures_quoted_from_the_performance_page_are_the_ones_there() {
    let home = read(FIGURES_HOME);
    let mut wrong = Vec::new();
    for (page, text) in documents() {
        if page != FIGURES_HOME {
            wrong.extend(
                misquoted(&text, &home)
                    .into_iter()
                    .map(|f| format!("{page}: {f}")),
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "quoted from {FIGURES_HOME} but not in it: {wrong:#?}"
    );
}
