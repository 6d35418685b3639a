//! The first five minutes: what a newcomer sees on the first run, when a
//! run fails, and when an option would do nothing. Exact words, as a user
//! reads them.

use crate::common;

use std::process::Command;

use crate::common::{MODES, flags, json, run_json, server};
use flags::server::ServerConfig;

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[test]
fn the_readme_first_command_simulates_a_distant_site_and_says_what_overlap_bought() {
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .env_remove("FLAGS_SERVER_DELAY")
        .args(["--concurrency", "50", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("EMBEDDED site: http://127.0.0.1:") && lines[0].ends_with("/flags"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "  simulating a distant site: 100ms..300ms per request"
    );
    assert_eq!(lines[2], "Searching for 20 flags: from BD to VN");
    assert_eq!(lines[3], "20 concurrent connections will be used (async).");
    assert_eq!(
        lines[4],
        "Concurrency: 50 requested, 20 used: only 20 flags."
    );
    let overlap = lines
        .iter()
        .find(|l| l.starts_with("Overlap: 20 downloads took "))
        .unwrap_or_else(|| panic!("no overlap line:\n{stdout}"));
    // 20 requests of 100-300 ms each, all at once: at least 2 s in all,
    // and an overlap well above one.
    let times: f64 = overlap
        .trim_end_matches("× overlap.")
        .rsplit(": ")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(times > 3.0, "{overlap}");
    assert!(overlap.contains(" in all, ended in "), "{overlap}");
    assert!(!stdout.contains("0.00s"), "{stdout}");
    let mut populous: Vec<String> = flags::dataset::POPULOUS_20
        .iter()
        .map(|c| c.to_string())
        .collect();
    populous.sort();
    common::assert_saved_exactly(out.path(), &populous);
}

#[test]
fn the_same_seed_gives_the_same_latencies() {
    let run = || {
        let out = tempfile::tempdir().unwrap();
        let report = {
            let assert = flags()
                .env_remove("FLAGS_SERVER_DELAY")
                .args(["BR", "US", "--mode", "sequential", "--server-seed", "9"])
                .args(["--json", "-o"])
                .arg(out.path())
                .assert()
                .success();
            json(&assert.get_output().stdout)
        };
        report["download_seconds"].as_f64().unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a > 0.2, "two requests of 100-300 ms took {a}s");
    // Same latencies drawn; the rest is the machine's noise.
    assert!((a - b).abs() < 0.05, "{a} vs {b}");
}

#[test]
fn every_mode_groups_errors_by_reason_and_says_when_nothing_listens() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/flags");
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let assert = flags()
            .args([
                "BR",
                "CN",
                "US",
                "--retries",
                "0",
                "--mode",
                mode,
                "-s",
                &url,
                "-o",
            ])
            .arg(out.path())
            .assert()
            .code(1);
        let stdout = stdout_of(&assert);
        assert!(
            stdout.contains(&format!(
                "  0 flags downloaded.\n  3 errors:\n      3 connection failed: connection refused: BR CN US\n\
                 Nothing listens at {url}: start a flags server there\n\
                 (flags serve --port {port}) or leave out --server to use the embedded one.\n"
            )),
            "{mode}:\n{stdout}"
        );
        let report = run_json(
            &[
                "BR",
                "CN",
                "US",
                "--retries",
                "0",
                "--mode",
                mode,
                "-s",
                &url,
            ],
            out.path(),
            1,
        );
        assert_eq!(
            report["errors"],
            serde_json::json!([{
                "reason": "connection failed: connection refused",
                "count": 3,
                "codes": ["BR", "CN", "US"],
            }]),
            "{mode}"
        );
    }
}

#[test]
fn statuses_and_timeouts_are_grouped_with_their_codes_and_claim_no_efficiency() {
    let teapot = server(ServerConfig {
        error_rate: 1.0,
        ..ServerConfig::default()
    });
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args(["BR", "US", "--retries", "0", "-s", teapot.base_url(), "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = stdout_of(&assert);
    assert!(
        stdout.contains("  2 errors:\n      2 HTTP 418 I'm a teapot: BR US\n"),
        "{stdout}"
    );
    // The embedded server with a known latency, every request failing.
    let assert = flags()
        .args([
            "BR",
            "US",
            "--server-delay",
            "100ms",
            "--server-error-rate",
            "1",
        ])
        .args(["--retries", "0", "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = stdout_of(&assert);
    assert!(!stdout.contains("efficiency"), "{stdout}");
    assert!(!stdout.contains("Ideal time"), "{stdout}");
    // A timeout: the server takes 2 s, the client waits 200 ms.
    let assert = flags()
        .args([
            "BR",
            "--server-delay",
            "2s",
            "--timeout",
            "200ms",
            "--retries",
            "0",
        ])
        .arg("-o")
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = stdout_of(&assert);
    assert!(
        stdout.contains("  1 error:\n      1 timed out: BR\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("efficiency"), "{stdout}");
    let report = run_json(
        &[
            "BR",
            "--server-delay",
            "2s",
            "--timeout",
            "200ms",
            "--retries",
            "0",
        ],
        out.path(),
        1,
    );
    assert_eq!(report["errors"][0]["reason"], "timed out");
    assert_eq!(report["efficiency"], serde_json::Value::Null);
}

#[test]
fn a_clean_run_against_a_known_latency_shows_its_efficiency() {
    let out = tempfile::tempdir().unwrap();
    let report = run_json(
        &["BR", "US", "CN", "--server-delay", "100ms", "-m", "3"],
        out.path(),
        0,
    );
    let efficiency = report["efficiency"].as_f64().unwrap();
    assert!(efficiency > 0.3 && efficiency <= 1.0, "{efficiency}");
    assert_eq!(report["ideal_seconds"], 0.1);
}

#[test]
fn bare_durations_are_refused_everywhere_with_the_units_suggested() {
    let cases: [&[&str]; 7] = [
        &["BR", "--server-delay", "100"],
        &["BR", "--timeout", "5"],
        &["BR", "--save-delay", "3"],
        &["serve", "--delay", "100"],
        &["serve", "--idle-timeout", "60"],
        &["bench", "--delay", "0ms,100"],
        &["spin", "--seconds", "3"],
    ];
    for args in cases {
        let assert = flags().args(args).assert().code(2);
        let stderr = stderr_of(&assert);
        let bare = args.last().unwrap().rsplit(',').next().unwrap();
        assert!(
            stderr.contains(&format!("'{bare}' has no unit: write {bare}ms or {bare}s")),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    let assert = flags()
        .env("FLAGS_SERVER_DELAY", "100")
        .arg("BR")
        .assert()
        .code(2);
    assert!(
        stderr_of(&assert).contains("FLAGS_SERVER_DELAY: '100' has no unit: write 100ms or 100s"),
        "{}",
        stderr_of(&assert)
    );
    // Zero is zero in every unit.
    let out = tempfile::tempdir().unwrap();
    run_json(&["BR", "--server-delay", "0"], out.path(), 0);
}

#[test]
fn a_seed_with_nothing_random_to_draw_is_refused() {
    let assert = flags()
        .args(["BR", "--server-delay", "100ms", "--server-seed", "3"])
        .assert()
        .code(2);
    assert!(
        stderr_of(&assert).contains(
            "with a fixed --server-delay and no errors or faults there is nothing to draw"
        ),
        "{}",
        stderr_of(&assert)
    );
    let out = tempfile::tempdir().unwrap();
    run_json(
        &["BR", "--server-delay", "1ms..2ms", "--server-seed", "3"],
        out.path(),
        0,
    );
}

#[test]
fn concurrency_in_sequential_mode_is_refused() {
    let assert = flags()
        .args(["BR", "--mode", "sequential", "-m", "3"])
        .assert()
        .code(2);
    assert_eq!(
        stderr_of(&assert),
        "flags: --concurrency does nothing in sequential mode, which makes one request at a time; use --mode threaded or async (see --help)\n"
    );
}

#[test]
fn bench_labels_cells_with_the_concurrency_they_ran_at_and_runs_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("b.json");
    let assert = flags()
        .args(["bench", "BR", "US", "--modes", "async", "-m", "1,10,50"])
        .args([
            "--delay",
            "0ms",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--progress",
            "never",
        ])
        .arg("--workdir")
        .arg(dir.path())
        .arg("--export-json")
        .arg(&export)
        .assert()
        .success();
    assert_eq!(
        stderr_of(&assert),
        "flags bench: each run has only 2 downloads, so concurrency 10, 50 runs at 2 (one cell)\n"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let levels: Vec<u64> = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["concurrency"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [1, 2]);
}

/// Runs `flags ARGS` in a pseudo-terminal `columns` wide (util-linux
/// `script`), and returns everything it wrote to the terminal; the run
/// has errors, and exits 1.
fn in_terminal(columns: u16, args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("flags");
    let out = tempfile::tempdir().unwrap();
    let output = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "stty cols {columns} rows 40; {} {args} -o {}",
            bin.display(),
            out.path().display()
        ))
        .arg("/dev/null")
        .env("FLAGS_SERVER_DELAY", "0")
        .env_remove("NO_COLOR")
        .output()
        .expect("util-linux script runs a pseudo-terminal");
    // A few errors on purpose: exit code 1.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the terminal shows of `raw`: each redraw (`\r`, `\n`) a line of
/// its own, escape sequences removed.
fn screen_lines(raw: &str) -> Vec<String> {
    raw.split(['\r', '\n'])
        .map(|l| console::strip_ansi_codes(l).into_owned())
        .collect()
}

#[test]
fn the_live_line_never_wraps_at_80_or_120_columns_and_leaves_no_stray_line() {
    for columns in [80, 120] {
        let raw = in_terminal(
            columns,
            "-a --count 400 --mode threaded -m 20 --server-delay 20ms..40ms --server-error-rate 0.05 --retries 0",
        );
        let lines = screen_lines(&raw);
        let live: Vec<&String> = lines.iter().filter(|l| l.contains(" · ok ")).collect();
        assert!(live.len() > 3, "{columns}: no live line drawn:\n{raw}");
        // indicatif fills each frame with spaces to the last column, on
        // purpose; what it shows must stop before it.
        for line in &lines {
            let width = console::measure_text_width(line.trim_end());
            assert!(
                width < usize::from(columns),
                "{columns} columns, {width} wide: {line}"
            );
        }
        // Wider terminals show more of the run.
        if columns == 120 {
            assert!(live.iter().any(|l| l.contains(" threads")), "{raw}");
        }
        // The summary follows the last frame, each line whole.
        let summary = raw.rsplit("--------------------").next().unwrap();
        assert!(
            !summary.contains(" · ok "),
            "a live line after the summary:\n{summary}"
        );
        assert!(summary.contains("Elapsed time: "), "{summary}");
    }
}
