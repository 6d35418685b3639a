//! When things go wrong: every fault of the server, in all three modes, gives
//! the right status and reason, the right exit code, and no partial file.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{MODES, flags, json, run_json, server};
use flags::server::ServerConfig;
use flags::server::delay::Delay;
use flags::server::faults::Fault;
use proptest::prelude::*;

/// Asserts that `dir` holds only complete flags: no temporary files, and every
/// file byte-identical to the data set.
fn assert_only_complete_files(dir: &Path) {
    for (name, bytes) in common::files(dir) {
        assert!(!name.starts_with('.'), "leftover temporary file {name}");
        let code = &name[..2];
        assert_eq!(
            Some(bytes.as_slice()),
            flags::dataset::flag_gif(code),
            "{name} is not complete"
        );
    }
}

fn faulty(fault: &str) -> ServerConfig {
    ServerConfig {
        faults: vec![fault.parse::<Fault>().unwrap()],
        ..ServerConfig::default()
    }
}

/// Runs BR and US against a server with `fault` on every request, in every
/// mode, and checks the reason of both.
fn check_fault(fault: &str, extra: &[&str], reasons: &[&str]) {
    let site = server(faulty(fault));
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let args = [
            &[
                "BR",
                "US",
                "--retries",
                "0",
                "--mode",
                mode,
                "-s",
                site.base_url(),
            ],
            extra,
        ]
        .concat();
        let report = run_json(&args, out.path(), 1);
        assert_eq!(report["counts"]["error"], 2, "{fault} {mode}");
        for result in report["results"].as_array().unwrap() {
            let reason = result["reason"].as_str().unwrap();
            assert!(
                reasons.iter().any(|r| reason.starts_with(r)),
                "{fault} {mode}: {reason}"
            );
        }
        assert!(
            common::files(out.path()).is_empty(),
            "{fault} {mode}: files left"
        );
    }
}

#[test]
fn reset_before_the_response() {
    check_fault("reset=1", &[], &["connection reset"]);
}

#[test]
fn reset_half_way_through_the_body() {
    check_fault("reset-body=1", &[], &["connection reset", "truncated body"]);
}

#[test]
fn truncated_body() {
    check_fault("truncate=1", &[], &["truncated body"]);
}

#[test]
fn a_dripping_body_times_out_instead_of_hanging() {
    check_fault("drip=1", &["--timeout", "1s"], &["timed out"]);
}

#[test]
fn redirect_loop() {
    check_fault("redirect-loop=1", &[], &["too many redirects"]);
}

#[test]
fn a_huge_body_is_stopped_and_not_saved() {
    check_fault("huge=1", &[], &["body larger than 4194304 bytes"]);
}

#[test]
fn max_size_applies_to_real_flags_too() {
    let out = tempfile::tempdir().unwrap();
    for mode in MODES {
        let report = run_json(&["BR", "--max-size", "1K", "--mode", mode], out.path(), 1);
        assert_eq!(
            report["results"][0]["reason"],
            "body larger than 1024 bytes"
        );
        assert_eq!(
            report["results"][0]["retries"], 0,
            "too large is not retried"
        );
    }
    assert!(common::files(out.path()).is_empty());
}

#[test]
fn bad_json_metadata_is_an_error() {
    let site = server(faulty("bad-json=1"));
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let args = ["BR", "--names", "--mode", mode, "-s", site.base_url()];
        let report = run_json(&args, out.path(), 1);
        assert!(
            report["results"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("invalid metadata: not JSON")
        );
        assert!(common::files(out.path()).is_empty());
    }
}

#[test]
fn hostile_names_from_the_server_stay_inside_the_output_folder() {
    let site = server(faulty("hostile-name=1"));
    for mode in MODES {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        let args = ["--all", "--names", "--mode", mode, "-s", site.base_url()];
        let report = run_json(&args, &out, 0);
        assert_eq!(report["counts"]["ok"], 194);
        assert_eq!(
            std::fs::read_dir(parent.path()).unwrap().count(),
            1,
            "something outside the output folder"
        );
        let saved = common::files(&out);
        assert_eq!(saved.len(), 194);
        for (name, bytes) in &saved {
            assert!(
                !name.contains(['/', '\0']) && !name.starts_with('.') && name.len() <= 110,
                "{name}"
            );
            assert_eq!(
                Some(bytes.as_slice()),
                flags::dataset::flag_gif(&name[..2]),
                "{name}"
            );
        }
    }
}

#[test]
fn retries_are_made_counted_and_shown() {
    let site = server(faulty("reset=1"));
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args([
            "BR",
            "US",
            "--json",
            "-v",
            "--retries",
            "2",
            "-s",
            site.base_url(),
            "-o",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let report = json(&assert.get_output().stdout);
    assert_eq!(report["counts"]["retries"], 4);
    assert_eq!(report["results"][0]["retries"], 2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.matches("retry ").count(), 4, "{stderr}");
    assert!(stderr.contains("BR retry 1 in "), "{stderr}");
}

#[test]
fn not_found_is_never_retried_and_retry_after_is_honoured() {
    let out = tempfile::tempdir().unwrap();
    assert_eq!(run_json(&["ZZ"], out.path(), 0)["counts"]["retries"], 0);

    let site = server(ServerConfig {
        error_rate: 1.0,
        error_status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        ..ServerConfig::default()
    });
    let assert = flags()
        .args([
            "BR",
            "-v",
            "--retries",
            "1",
            "--mode",
            "sequential",
            "-s",
            site.base_url(),
            "-o",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("BR retry 1 in 1s after: HTTP 503 Service Unavailable"),
        "{stdout}"
    );
    assert!(stdout.contains("  1 retry."), "{stdout}");
}

#[test]
fn with_retries_a_flaky_server_still_gives_all_194_flags() {
    // Seeded: the same requests fail on every run, whatever the mode.
    let site = server(ServerConfig {
        error_rate: 0.25,
        seed: Some(3),
        ..ServerConfig::default()
    });
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        let args = [
            &["--all", "--retries", "6", "-s", site.base_url()][..],
            &common::mode_args(mode, "30"),
        ]
        .concat();
        let report = run_json(&args, out.path(), 0);
        assert_eq!(report["counts"]["ok"], 194, "{mode}");
        assert!(
            report["counts"]["retries"].as_u64().unwrap() > 20,
            "{mode}: the server did fail"
        );
        common::assert_saved_exactly(out.path(), &flags::dataset::country_codes());
    }
}

#[test]
fn skip_existing_resumes_a_run() {
    let out = tempfile::tempdir().unwrap();
    flags()
        .args(["BR", "US", "-o"])
        .arg(out.path())
        .assert()
        .success();
    let report = run_json(&["BR", "US", "CN", "--skip-existing"], out.path(), 0);
    assert_eq!(report["counts"]["skipped"], 2);
    assert_eq!(report["counts"]["ok"], 1);
    let results = report["results"].as_array().unwrap();
    assert_eq!(
        results.iter().find(|r| r["code"] == "BR").unwrap()["status"],
        "skipped"
    );
    assert_only_complete_files(out.path());
    assert_eq!(common::files(out.path()).len(), 3);
}

#[test]
fn ctrl_c_stops_the_run_prints_a_partial_summary_and_exits_130() {
    let site = server(ServerConfig {
        delay: Delay::Range(Duration::from_millis(200), Duration::from_millis(800)),
        ..ServerConfig::default()
    });
    // SIGTERM is handled like Ctrl-C.
    for (mode, signal) in [
        ("sequential", libc::SIGINT),
        ("threaded", libc::SIGTERM),
        ("async", libc::SIGINT),
    ] {
        let out = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flags"))
            .args(["--all", "--progress", "never", "-s", site.base_url()])
            .args(common::mode_args(mode, "5"))
            .arg("-o")
            .arg(out.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal once the first flag is saved, however slowly the machine runs.
        let waited = Instant::now();
        while !std::fs::read_dir(out.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".gif"))
        {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "{mode}: nothing saved"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = Instant::now();
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let output = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert_eq!(output.status.code(), Some(130), "{mode}");
        // A hang guard: ten times the 0.8 s grace period.
        assert!(took < Duration::from_secs(8), "{mode}: exit took {took:?}");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(stdout.contains("Interrupted: "), "{mode}: {stdout}");
        assert!(
            stdout.contains("flags downloaded.") || stdout.contains("flag downloaded."),
            "{stdout}"
        );
        assert_only_complete_files(out.path());
        let saved = common::files(out.path()).len();
        assert!(saved > 0 && saved < 194, "{mode}: {saved} saved");
    }
}

proptest! {
    #[test]
    fn no_code_or_country_name_escapes_the_output_folder(code in ".{0,4}", country in proptest::option::of(any::<String>())) {
        let out = Path::new("/tmp/out");
        let name = flags::download::pipeline::store::flag_file_name(&code, country.as_deref());
        let path = out.join(&name);
        prop_assert_eq!(path.parent(), Some(out));
        prop_assert!(!name.contains('/') && !name.contains('\0') && !name.contains('\\'));
        prop_assert!(!name.starts_with('.'));
        prop_assert!(name.ends_with(".gif"));
        prop_assert!(name.len() <= 2 + 1 + 100 + 4);
        prop_assert!(path.components().count() == out.components().count() + 1);
    }
}

#[test]
fn a_concurrency_the_open_file_limit_cannot_serve_is_refused_up_front() {
    let flags_bin = assert_cmd::cargo::cargo_bin("flags");
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec {} -e -m 600 -o {}",
            flags_bin.display(),
            out.path().display()
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains("the open-file limit is 256 but 1264 are needed"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(output.stdout.is_empty(), "no request was made");
}
