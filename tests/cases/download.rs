//! The downloader end to end: the real binary against a real server on
//! 127.0.0.1, in each of the three modes.

use crate::common;

use std::time::Duration;

use crate::common::{MODES, assert_saved_exactly, flags, run_json, server};
use flags::server::ServerConfig;
use flags::server::delay::Delay;

#[test]
fn all_saves_194_flags_identical_to_the_data_set_in_every_mode() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let assert = flags()
            .args(["--mode", mode, "--all", "-o"])
            .arg(out.path())
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        assert!(
            stdout.contains("EMBEDDED site: http://127.0.0.1:"),
            "{stdout}"
        );
        assert!(
            stdout.contains("Searching for 194 flags: from AD to ZW"),
            "{stdout}"
        );
        assert!(stdout.contains("194 flags downloaded."), "{stdout}");
        assert!(stdout.contains(&format!("({mode} mode")), "{stdout}");
        assert_saved_exactly(out.path(), &flags::dataset::country_codes());
    }
}

#[test]
fn default_is_the_20_most_populous() {
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args(["--concurrency", "50", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("Searching for 20 flags: from BD to VN"),
        "{stdout}"
    );
    assert!(
        stdout.contains("20 concurrent connections will be used"),
        "{stdout}"
    );
    let mut codes: Vec<String> = flags::dataset::POPULOUS_20
        .iter()
        .map(|c| c.to_string())
        .collect();
    codes.sort();
    assert_saved_exactly(out.path(), &codes);
}

#[test]
fn every_gives_194_ok_and_482_not_found_in_every_mode() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let report = run_json(&["--mode", mode, "--every"], out.path(), 0);
        assert_eq!(report["counts"]["ok"], 194, "{mode}");
        assert_eq!(report["counts"]["not_found"], 482, "{mode}");
        assert_eq!(report["counts"]["error"], 0, "{mode}");
        assert_eq!(report["results"].as_array().unwrap().len(), 676);
        assert_eq!(report["mode"], mode);
        assert_eq!(common::files(out.path()).len(), 194);
    }
}

#[test]
fn seeded_errors_are_counted_and_exit_1_in_every_mode() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let args = ["--mode", mode, "--all", "--retries", "0"];
        let server = ["--server-error-rate", "0.25", "--server-seed", "7"];
        let report = run_json(&[&args[..], &server[..]].concat(), out.path(), 1);
        let errors = report["counts"]["error"].as_u64().unwrap();
        let ok = report["counts"]["ok"].as_u64().unwrap();
        assert!(
            (25..=75).contains(&errors),
            "{mode}: {errors} errors of 194"
        );
        assert_eq!(ok + errors, 194);
        assert_eq!(common::files(out.path()).len() as u64, ok);
        for result in report["results"].as_array().unwrap() {
            if result["status"] == "error" {
                assert_eq!(result["reason"], "HTTP 418 I'm a teapot");
                let path = out
                    .path()
                    .join(format!("{}.gif", result["code"].as_str().unwrap()));
                assert!(!path.exists(), "an errored flag was saved");
            }
        }
    }
}

#[test]
fn json_counts_match_the_files() {
    let out = tempfile::tempdir().unwrap();
    let report = run_json(&["b", "ZZ"], out.path(), 0);
    let ok = report["counts"]["ok"].as_u64().unwrap() as usize;
    assert_eq!(ok, common::files(out.path()).len());
    assert_eq!(report["counts"]["not_found"], 27 - ok);
    assert_eq!(report["planned"], 27);
    let results = report["results"].as_array().unwrap();
    let br = results.iter().find(|r| r["code"] == "BR").unwrap();
    assert_eq!(br["status"], "ok");
    assert_eq!(br["bytes"], flags::dataset::flag_gif("BR").unwrap().len());
    assert_eq!(br["file"], "BR.gif");
    let zz = results.iter().find(|r| r["code"] == "ZZ").unwrap();
    assert_eq!(zz["status"], "not_found");
}

#[test]
fn verbose_prints_one_line_per_code() {
    let site = server(ServerConfig {
        error_rate: 1.0,
        ..ServerConfig::default()
    });
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args(["BR", "-v", "--retries", "0", "-s", site.base_url(), "-o"])
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("URL site: http://127.0.0.1:"), "{stdout}");
    assert!(
        stdout.contains("BR error: HTTP 418 I'm a teapot"),
        "{stdout}"
    );
    // The default summary says why, grouped by reason, as -q would.
    assert!(
        stdout.contains("  1 error:\n      1 HTTP 418 I'm a teapot: BR\n"),
        "{stdout}"
    );

    let assert = flags()
        .args(["BR", "XX", "-v", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("BR OK\n"), "{stdout}");
    assert!(stdout.contains("XX not found\n"), "{stdout}");
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let assert = flags().args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    assert_usage_error(&["BRA"], "invalid country code 'BRA'");
    assert_usage_error(&["B1"], "invalid country code 'B1'");
    assert_usage_error(&["--concurrency", "0"], "--concurrency");
    assert_usage_error(&["--limit", "0"], "--limit");
    assert_usage_error(&["--server", "nowhere"], "unknown server 'nowhere'");
    assert_usage_error(&["--mode", "fast"], "fast");
}

#[test]
fn an_unusable_output_folder_fails_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let assert = flags().arg("-o").arg(file.join("sub")).assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot create the output folder") && stderr.contains("a-file/sub"),
        "{stderr}"
    );
    assert!(assert.get_output().stdout.is_empty());
}

#[test]
fn a_refused_connection_is_an_error_with_its_reason() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tempfile::tempdir().unwrap();
    for mode in MODES {
        let url = format!("http://127.0.0.1:{port}/flags");
        let args = ["BR", "--retries", "0", "--mode", mode, "-s", &url];
        let report = run_json(&args, out.path(), 1);
        let reason = report["results"][0]["reason"].as_str().unwrap();
        assert!(reason.starts_with("connection failed"), "{mode}: {reason}");
    }
}

/// Runs `--all` at `concurrency` against a slow server, sampling its threads.
fn peak_threads(mode: &str, concurrency: &str, prefix: &str) -> (usize, usize) {
    let site = server(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    let args = [
        "--all",
        "--mode",
        mode,
        "-m",
        concurrency,
        "-s",
        site.base_url(),
    ];
    let (named, total, _) = common::peak_threads(&args, prefix);
    (named, total)
}

#[test]
fn threaded_mode_runs_the_requested_number_of_os_threads() {
    let (workers, _) = peak_threads("threaded", "24", "flags-worker");
    assert_eq!(workers, 24);
}

#[test]
fn async_mode_does_not_start_a_thread_per_request() {
    let (_, total) = peak_threads("async", "100", "");
    // 100 requests in flight; the process has its main thread, the Ctrl-C
    // handler's, the runtime's workers (TOKIO_WORKER_THREADS, or one per
    // core), and a blocking thread per core (two at least) for saves: none
    // per request.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cores);
    assert!(
        total > 0 && total <= 2 + workers + cores.max(2),
        "{total} threads for 100 requests in flight with {workers} workers"
    );
}

#[test]
fn completions_are_printed() {
    let assert = flags().args(["completions", "bash"]).assert().success();
    assert!(String::from_utf8_lossy(&assert.get_output().stdout).contains("_flags()"));
}

#[test]
fn count_downloads_more_than_the_data_set_each_under_its_own_name() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let report = run_json(&["--all", "--count", "400", "--mode", mode], out.path(), 0);
        assert_eq!(report["counts"]["ok"], 400, "{mode}");
        let saved = common::files(out.path());
        assert_eq!(saved.len(), 400, "{mode}");
        // Job n is code n mod 194 of the sorted data set.
        let codes = flags::dataset::country_codes();
        for n in [0usize, 193, 194, 399] {
            let code = &codes[n % 194];
            let name = format!("{code}-{n}.gif");
            assert_eq!(
                saved.get(&name).map(Vec::as_slice),
                flags::dataset::flag_gif(code),
                "{mode} {name}"
            );
        }
    }
}

#[test]
fn a_host_name_is_looked_up_once_per_run_in_every_mode() {
    let site = server(ServerConfig::default());
    let by_name = site.base_url().replace("127.0.0.1", "localhost");
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["-a", "-l", "40", "--json", "--progress", "never", "-s"];
        args.push(&by_name);
        args.extend(common::mode_args(mode, "10"));
        let report = run_json(&args, out.path(), 0);
        assert_eq!(report["counts"]["ok"], 40, "{mode}: {report}");
        assert_eq!(report["lookups"], 1, "{mode}: {report}");
        // By address, none.
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["BR", "--json", "--progress", "never", "-s", site.base_url()];
        args.extend(common::mode_args(mode, "1"));
        assert_eq!(run_json(&args, out.path(), 0)["lookups"], 0, "{mode}");
    }
}

#[test]
fn a_name_that_does_not_resolve_is_said_and_looked_up_once() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        // A label longer than 63 bytes: the resolver refuses it without
        // asking any server.
        let url = format!("http://{}.example/flags", "a".repeat(64));
        let mut args = vec![
            "BR",
            "CN",
            "US",
            "--json",
            "--progress",
            "never",
            "--retries",
            "0",
        ];
        args.extend(["-s", url.as_str()]);
        args.extend(common::mode_args(mode, "3"));
        let report = run_json(&args, out.path(), 1);
        assert_eq!(report["counts"]["error"], 3, "{mode}: {report}");
        assert_eq!(report["lookups"], 1, "{mode}: {report}");
        let reason = report["errors"][0]["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("connection failed: cannot look up "),
            "{mode}: {reason}"
        );
    }
}

#[test]
fn the_trace_shows_the_one_lookup_as_its_own_span() {
    let site = server(ServerConfig::default());
    let by_name = site.base_url().replace("127.0.0.1", "localhost");
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.json");
        flags()
            .args([
                "-a",
                "-l",
                "10",
                "-q",
                "--progress",
                "never",
                "-s",
                &by_name,
            ])
            .args(common::mode_args(mode, "5"))
            .arg("-o")
            .arg(dir.path().join("out"))
            .arg("--trace")
            .arg(&trace)
            .assert()
            .success();
        let trace: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
        let lookups: Vec<&serde_json::Value> = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["cat"] == "lookup")
            .collect();
        assert_eq!(lookups.len(), 1, "{mode}");
        assert_eq!(lookups[0]["name"], "look up localhost", "{mode}");
    }
}
