//! How the binaries behave as processes: interrupts (one and two), output
//! cut off by `| head`, and the mode of the files they save.

use crate::common;

use crate::common::MODES;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn flags_command() -> Command {
    common::flags_process()
}

/// Waits until `dir` holds a saved flag, so that saves are under way.
fn wait_for_a_flag(dir: &Path) {
    let waited = Instant::now();
    while !std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".gif"))
        })
        .unwrap_or(false)
    {
        assert!(waited.elapsed() < Duration::from_secs(60), "nothing saved");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".flags-partial-"))
        .collect()
}

fn interrupt(pid: u32) {
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
}

#[test]
fn a_run_removes_the_temporary_files_of_ended_runs_not_those_another_run_is_writing() {
    // Two runs into one folder: the second must not remove the files the
    // first is writing (it did, and the first failed "save failed: No such
    // file or directory"); a killed run's are removed.
    let out = tempfile::tempdir().unwrap();
    let mut live = Command::new("sleep").arg("30").spawn().unwrap();
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let writing = out
        .path()
        .join(format!(".flags-partial-{}-abc123", live.id()));
    let killed = out
        .path()
        .join(format!(".flags-partial-{}-def456", ended.id()));
    std::fs::write(&writing, b"half a flag").unwrap();
    std::fs::write(&killed, b"half a flag").unwrap();
    let status = flags_command()
        .args([
            "BR",
            "--progress",
            "never",
            "-q",
            "--server-delay",
            "0",
            "-o",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    live.kill().unwrap();
    live.wait().unwrap();
    assert!(status.success());
    assert!(out.path().join("BR.gif").exists());
    assert_eq!(
        temporary_files(out.path()),
        [writing.file_name().unwrap().to_string_lossy()]
    );
}

#[test]
fn a_second_interrupt_a_few_ms_after_the_first_leaves_no_temporary_file() {
    std::thread::scope(|scope| {
        for mode in MODES {
            scope.spawn(move || {
                for round in 0..20u64 {
                    let out = tempfile::tempdir().unwrap();
                    let child = flags_command()
                        .args(["-a", "--count", "3000", "--progress", "never"])
                        .args(common::mode_args(mode, "50"))
                        .arg("-o")
                        .arg(out.path())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    wait_for_a_flag(out.path());
                    interrupt(child.id());
                    // 1 to 5 ms apart, a different gap each round.
                    std::thread::sleep(Duration::from_millis(1 + round % 5));
                    interrupt(child.id());
                    let output = child.wait_with_output().unwrap();
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    assert_eq!(output.status.code(), Some(130), "{mode}: {stderr}");
                    let left = temporary_files(out.path());
                    assert!(left.is_empty(), "{mode} round {round}: {left:?}");
                }
            });
        }
    });
}

#[test]
fn after_one_interrupt_every_mode_exits_within_about_a_second_with_slow_bodies_in_flight() {
    for mode in MODES {
        let out = tempfile::tempdir().unwrap();
        // The embedded server drips half the bodies: they are in flight when
        // the interrupt comes, and must not hold the exit up.
        let child = flags_command()
            .args(["-a", "--server-fault", "drip=0.5"])
            .args(["--progress", "never"])
            .args(common::mode_args(mode, "5"))
            .arg("-o")
            .arg(out.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_a_flag(out.path());
        let sent = Instant::now();
        interrupt(child.id());
        let output = child.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert_eq!(output.status.code(), Some(130), "{mode}");
        // A hang guard: ten times the 0.8 s grace period.
        assert!(took < Duration::from_secs(8), "{mode}: {took:?}");
        assert!(temporary_files(out.path()).is_empty(), "{mode}");
    }
}

/// Runs `bin args`, reads its first line, closes the pipe like `| head -1`,
/// and checks it stopped quietly.
fn stops_quietly_when_its_reader_goes(bin: &str, args: &[&str]) {
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin(bin))
        .args(args)
        .current_dir(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "{bin} {args:?} printed nothing");
    drop(reader);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{bin} {args:?}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{bin} {args:?}: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{bin} {args:?}: {stderr}");
    let downloaded = out.path().join("downloaded");
    assert!(!downloaded.exists() || temporary_files(&downloaded).is_empty());
}

#[test]
fn output_cut_off_by_head_stops_both_binaries_quietly() {
    stops_quietly_when_its_reader_goes("flags", &["-a", "-v", "--progress", "never"]);
    stops_quietly_when_its_reader_goes("flags", &["--json"]);
    stops_quietly_when_its_reader_goes("flags", &["-e", "--json"]);
    stops_quietly_when_its_reader_goes("flags", &["spin", "--seconds", "0.3s"]);
    stops_quietly_when_its_reader_goes("charfinder", &["cjk"]);
}

#[test]
fn saved_flags_get_the_mode_the_umask_gives() {
    use std::os::unix::fs::PermissionsExt;
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let out = tempfile::tempdir().unwrap();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(assert_cmd::cargo::cargo_bin("flags"))
            .args(["BR", "US", "--progress", "never", "-o"])
            .arg(out.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        for name in ["BR.gif", "US.gif"] {
            let meta = std::fs::metadata(out.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "umask {umask}");
        }
    }
}
