//! A command line you can trust in a script: precise one-line errors, input
//! used or refused (never ignored), output that reads right, and the
//! conveniences (`--quiet`, `--version` everywhere, a man page).

use crate::common;

use crate::common::{flags, server};
use flags::server::ServerConfig;

/// Runs `flags args`, expects exit code 2 and one line on stderr holding `needle`.
fn usage_error(args: &[&str], needle: &str) {
    let assert = flags().args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn typos_keep_claps_suggestion_on_the_one_line() {
    usage_error(
        &["--concurency", "5"],
        "unexpected argument '--concurency' found (did you mean '--concurrency'?)",
    );
    usage_error(&["--al"], "(did you mean '--all'?)");
    usage_error(&["bench", "--mode", "async"], "(did you mean '--modes'?)");
    usage_error(
        &["--mode", "fast"],
        "[possible values: sequential, threaded, async]",
    );
    usage_error(&["completions"], "<SHELL>");
}

#[test]
fn http2_is_for_the_async_mode_only() {
    for mode in ["sequential", "threaded"] {
        usage_error(
            &["BR", "--http2", "--mode", mode],
            &format!(
                "--http2 needs --mode async: the {mode} mode's client (ureq) speaks HTTP/1.1 only"
            ),
        );
    }
    usage_error(&["BR", "--connections", "2"], "--http2");
    usage_error(
        &["BR", "--http2", "--connections", "0"],
        "must be at least 1",
    );
}

#[test]
fn numbers_say_what_is_wrong_in_words() {
    usage_error(&["--retries", "-1"], "'-1' is negative");
    usage_error(&["--retries", "abc"], "'abc' is not a whole number");
    usage_error(&["serve", "--workers", "0"], "must be at least 1");
    usage_error(&["serve", "--workers", "-2"], "'-2' is negative");
    usage_error(
        &["serve", "--workers", "5000"],
        "'5000' is too many threads (at most 1024)",
    );
    usage_error(
        &["--count", "-5"],
        "'-5' is negative: give a whole number from 1 up (see --help)",
    );
    // A value holding a newline keeps its reason on the one line.
    usage_error(
        &["--count", "1\nred"],
        "invalid value '1\\nred' for '--count <N>': '1\\nred' is not a whole number (see --help)",
    );
    // A value missing: no empty list of possible values.
    usage_error(
        &["bench", "--from"],
        "a value is required for '--from <FILE>' but none was supplied (see --help)\n",
    );
    // A negative duration is refused in words, not read as an option.
    usage_error(
        &["--timeout", "-2s"],
        "'-2s' is negative: give a duration such as 500ms (see --help)",
    );
    usage_error(
        &["serve", "--dir", "flags", "--recheck", "-1s"],
        "'-1s' is negative",
    );
    usage_error(&["serve", "--recheck", "1s"], "--dir");
    usage_error(&["-m", "99999999999999999999"], "is too large");
    usage_error(&["-m", "0"], "must be at least 1");
    usage_error(
        &["--server-error-rate", "-0.1"],
        "'-0.1' is outside 0.0 to 1.0",
    );
    usage_error(&["--server-seed", "x1"], "'x1' is not a whole number");
    usage_error(
        &["serve", "--port", "70000"],
        "'70000' is too large (at most 65535)",
    );
    usage_error(
        &["--server-delay", "5s..1s"],
        "'5s..1s' starts after it ends",
    );
    usage_error(&["--timeout", "0s"], "must be more than 0");
    // Two cells of one name would be compared with each other's runs.
    usage_error(
        &["bench", "--vs", "a=true", "--vs", "a=false"],
        "--vs 'a' is given twice: give each command its own name",
    );
    // It aborted on memory, with a backtrace (exit 134), before the cap.
    for command in [&["--count"][..], &["bench", "--count"]] {
        let mut args = command.to_vec();
        args.push("100000000000");
        usage_error(
            &args,
            "'100000000000' is too many downloads (at most 1000000)",
        );
    }
}

#[test]
fn input_is_used_or_refused_never_ignored() {
    usage_error(
        &["-a", "BR"],
        "--all and --every already select their codes",
    );
    usage_error(
        &["-s", "http://127.0.0.1:9/flags", "--server-delay", "1s"],
        "they cannot change another --server",
    );
    usage_error(
        &[
            "--server-fault",
            "reset=0.6",
            "--server-fault",
            "truncate=0.6",
        ],
        "the fault rates add up to 1.2",
    );
    usage_error(&["serve", "--drip-speed", "0"], "must be at least 1");
    usage_error(&["bench", "--from", "x.json", "--runs", "3"], "--runs");
}

#[test]
fn the_last_of_a_repeated_option_wins() {
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args([
            "BR",
            "--progress",
            "never",
            "--progress",
            "always",
            "-m",
            "1",
            "-m",
            "2",
        ])
        .arg("-o")
        .arg(out.path())
        .assert()
        .success();
    // --progress always draws on stderr even though it is not a terminal.
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("/1 · ok "), "{stderr}");
}

#[test]
fn runtime_errors_name_the_users_path_not_a_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let assert = flags().arg("-o").arg(&file).assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.trim_end(),
        format!("flags: error: '{}' is a file, not a folder", file.display())
    );
    // `flags serve --dir` with a missing folder: tests/server.rs.
    // A read-only folder: the message has the folder and the reason, and no
    // temporary file's name.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let status = std::process::Command::new("chmod")
        .args(["555"])
        .arg(&locked)
        .status()
        .unwrap();
    assert!(status.success());
    if std::fs::write(locked.join("probe"), b"x").is_err() {
        let assert = flags().arg("-o").arg(&locked).assert().code(1);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains("cannot write in the output folder"),
            "{stderr}"
        );
        assert!(!stderr.contains(".flags-partial"), "{stderr}");
    } // else: running as root, which may write anywhere.
}

#[test]
fn serve_binds_a_host_name() {
    let mut served =
        common::spawn_server("flags", &["serve", "--bind", "localhost", "--port", "0"]);
    assert!(served.url.starts_with("http://127.0.0.1:") || served.url.starts_with("http://[::1]:"));
    assert_eq!(served.stop_with(libc::SIGTERM), Some(0));
}

#[test]
fn the_header_says_what_will_really_be_fetched() {
    let out = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let assert = flags()
            .args(args)
            .args(["--progress", "never", "-o"])
            .arg(out.path())
            .assert()
            .success();
        String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
    };
    let counted = run(&["--count", "3", "BR", "US"]);
    assert!(
        counted.contains("Searching for 3 flags, cycling through 2 codes: BR, US\n"),
        "{counted}"
    );
    let few = run(&["BR", "US", "--mode", "threaded", "-m", "1"]);
    assert!(few.contains("Searching for 2 flags: BR, US\n"), "{few}");
    assert!(
        few.contains("1 connection will be used (threaded).\n"),
        "{few}"
    );
    let one = run(&["BR"]);
    assert!(one.contains("Searching for 1 flag: BR\n"), "{one}");
    let many = run(&["b", "--max_req", "3", "--mode", "threaded"]);
    assert!(
        many.contains("Searching for 26 flags: from BA to BZ\n"),
        "{many}"
    );
    assert!(
        many.contains("3 concurrent connections will be used (3 threads).\n"),
        "{many}"
    );
}

#[test]
fn quiet_prints_only_errors() {
    let site = server(ServerConfig {
        error_rate: 1.0,
        ..ServerConfig::default()
    });
    let out = tempfile::tempdir().unwrap();
    let assert = flags()
        .args([
            "BR",
            "US",
            "-q",
            "--retries",
            "0",
            "-s",
            site.base_url(),
            "-o",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    assert!(assert.get_output().stdout.is_empty());
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let mut lines: Vec<&str> = stderr.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "BR error: HTTP 418 I'm a teapot",
            "US error: HTTP 418 I'm a teapot"
        ]
    );
    let assert = flags()
        .args(["BR", "-q", "-o"])
        .arg(out.path())
        .assert()
        .success();
    assert!(assert.get_output().stdout.is_empty() && assert.get_output().stderr.is_empty());
    usage_error(&["-q", "-v"], "cannot be used with");
}

#[test]
fn every_command_has_version_and_a_man_page() {
    let version = format!("{}\n", env!("CARGO_PKG_VERSION"));
    for args in [
        &["--version"][..],
        &["serve", "--version"],
        &["bench", "--version"],
        &["spin", "--version"],
    ] {
        let assert = flags().args(args).assert().success();
        let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        assert!(stdout.ends_with(&version), "{args:?}: {stdout}");
    }
    for args in [
        &["--version"][..],
        &["tcp", "--version"],
        &["http", "--version"],
    ] {
        let assert = assert_cmd::Command::cargo_bin("charfinder")
            .unwrap()
            .args(args)
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        assert!(stdout.ends_with(&version), "{args:?}: {stdout}");
    }
    let assert = flags().arg("man").assert().success();
    let page = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        page.contains(".TH flags 1") && page.contains("\\-\\-concurrency"),
        "{page}"
    );
    let assert = flags().args(["man", "serve"]).assert().success();
    let page = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        page.contains(".TH flags-serve 1  \"flags-serve 0.") && page.contains("\\-\\-preset"),
        "{page}"
    );
}

#[test]
fn a_missing_required_option_is_named_on_the_one_line() {
    let assert = flags()
        .args(["serve", "--tls-cert", "cert.pem"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr,
        "flags: the following required arguments were not provided: --tls-key <FILE> (see --help)\n"
    );
}

#[test]
fn streams_beyond_what_http2_can_say_are_refused_not_a_panic() {
    let assert = flags()
        .args(["BR", "--http2", "--streams", "18446744073709551615"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr,
        "flags: invalid value '18446744073709551615' for '--streams <N>': '18446744073709551615' is too many streams (at most 4294967295) (see --help)\n"
    );
}

#[test]
fn a_slowdown_from_the_environment_is_checked_like_an_option() {
    // FLAGS_SLOWDOWN is benches/gate's instrument: a bad value is the same
    // one-line usage error as a bad option, before anything runs.
    let output = flags()
        .arg("BR")
        .env("FLAGS_SLOWDOWN", "-5%")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "flags: invalid value '-5%' for '--slowdown <PERCENT>': '-5%' is negative: \
         give a percentage such as 10% (see --help)\n"
    );
}
