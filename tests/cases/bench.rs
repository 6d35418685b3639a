//! `flags bench` on a tiny matrix: the table, every export, the plot, outside
//! commands, flagged runs and the baseline gate.

use std::path::Path;

use crate::common::{self, flags, server};
use flags::server::ServerConfig;

/// An outside command for `--vs`: Python's urllib fetching every URL of
/// `{url_file}` into the run's folder (over HTTPS, trusting what
/// `SSL_CERT_FILE` names).
const PY: &str = "py=python3 -c \"import sys,urllib.request as u; [open(l.rsplit('/',1)[1],'wb').write(u.urlopen(l.strip()).read()) for l in open(sys.argv[1])]\" {url_file}";

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_small_matrix_gives_the_table_every_export_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let assert = flags()
        .args([
            "bench",
            "-l",
            "4",
            "--modes",
            "sequential,threaded,async,async-current",
            "--concurrency",
            "1,2",
        ])
        .args([
            "--delay",
            "0ms,10ms",
            "--runs",
            "2",
            "--warmup",
            "1",
            "--progress",
            "never",
            "--vs",
            PY,
        ])
        .arg("--export-json")
        .arg(p("b.json"))
        .arg("--export-csv")
        .arg(p("b.csv"))
        .arg("--export-markdown")
        .arg(p("b.md"))
        .arg("--plot")
        .arg(p("b.svg"))
        .arg("--workdir")
        .arg(dir.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    // The table's and each export's layout are snapshots
    // (src/bench/export/tests.rs); here, what this real run put in them.
    // sequential once, threaded, async and async-current at 1 and 2, the
    // outside command: per delay.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            [
                "sequential ",
                "threaded ",
                "async ",
                "async-current ",
                "py ",
            ]
            .iter()
            .any(|m| l.starts_with(m))
        })
        .collect();
    assert_eq!(rows.len(), 16, "{stdout}");
    assert!(
        rows.iter()
            .any(|r| r.split_whitespace().take(3).eq(["async", "2", "10ms"])),
        "{stdout}"
    );
    assert!(
        stdout.contains(" 20ms "),
        "the ideal of 4 downloads at C=2 and 10ms:\n{stdout}"
    );

    let json = read_json(&p("b.json"));
    // The command line is recorded shell-quoted: pasted back, it is the same words.
    let words = shlex::split(json["command"].as_str().unwrap()).unwrap();
    assert!(words.iter().any(|w| w == PY), "{words:?}");
    assert_eq!(words[1], "bench");
    assert_eq!(json["schema"], "flags-bench/1");
    assert_eq!(json["downloads"], 4);
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 16);
    for cell in cells {
        for field in [
            "name",
            "kind",
            "concurrency",
            "delay_ms",
            "downloads",
            "ideal_seconds",
            "time",
            "efficiency",
            "flags_per_second",
            "cpu_seconds",
            "cpu_us_per_download",
            "peak_rss_mib",
            "peak_threads",
            "loop_lag_p99_ms",
            "loop_lag_max_ms",
            "error_runs",
        ] {
            assert!(cell.get(field).is_some(), "{field} missing in {cell}");
        }
        let cpu = cell["cpu_seconds"].as_f64().unwrap();
        let per_download = cell["cpu_us_per_download"].as_f64().unwrap();
        assert!((per_download - cpu / 4.0 * 1e6).abs() < 1e-6, "{cell}");
        let is_async = cell["name"].as_str().unwrap().starts_with("async");
        assert_eq!(cell["loop_lag_p99_ms"].is_number(), is_async, "{cell}");
        let runs = cell["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 3, "2 runs + 1 warm-up");
        assert_eq!(runs.iter().filter(|r| r["warmup"] == true).count(), 1);
        for run in runs {
            for field in [
                "wall_seconds",
                "user_seconds",
                "system_seconds",
                "peak_rss_kib",
                "peak_threads",
                "exit_code",
                "ok",
                "not_found",
                "errors",
                "flagged",
            ] {
                assert!(run.get(field).is_some(), "{field} missing in {run}");
            }
            assert_eq!(run["ok"], 4, "{cell}");
            assert_eq!(run["flagged"], false);
            assert!(run["peak_rss_kib"].as_u64().unwrap() > 0);
        }
        assert_eq!(cell["error_runs"], 0);
        let time = &cell["time"];
        assert!(time["min"].as_f64().unwrap() <= time["median"].as_f64().unwrap());
        assert!(time["median"].as_f64().unwrap() <= time["max"].as_f64().unwrap());
    }
    let threaded2 = cells
        .iter()
        .find(|c| c["name"] == "threaded" && c["concurrency"] == 2 && c["delay_ms"] == 10.0)
        .unwrap();
    assert!((threaded2["ideal_seconds"].as_f64().unwrap() - 0.02).abs() < 1e-9);
    assert!(threaded2["efficiency"].as_f64().unwrap() > 0.0);
    // The child counts its own threads, so a run of a few ms is not missed:
    // two workers beside the main, driver and Ctrl-C threads.
    let sequential = cells
        .iter()
        .find(|c| c["name"] == "sequential" && c["delay_ms"] == 10.0)
        .unwrap();
    assert!(
        threaded2["peak_threads"].as_u64().unwrap() > sequential["peak_threads"].as_u64().unwrap(),
        "{threaded2} {sequential}"
    );
    assert!(threaded2["peak_threads"].as_u64().unwrap() >= 5);
    assert!(
        cells
            .iter()
            .any(|c| c["name"] == "py" && c["kind"] == "command")
    );

    let csv = std::fs::read_to_string(p("b.csv")).unwrap();
    assert_eq!(csv.lines().count(), 17, "a header and a row per cell");
    let md = std::fs::read_to_string(p("b.md")).unwrap();
    assert!(md.contains("| async-current | 2 | 10ms |"), "{md}");

    let svg = std::fs::read_to_string(p("b.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // The legend, beside the panels: each model once, each delay once.
    assert!(svg.contains(">\nserver delay\n<") && svg.contains(">\n10ms\n<"));
    for entry in [
        "sequential",
        "threaded",
        "async",
        "async-current",
        "ideal time",
    ] {
        assert_eq!(
            svg.matches(&format!(">\n{entry}\n<")).count(),
            1,
            "{entry} in the legend"
        );
    }
    for panel in [
        "Median time",
        "CPU per download",
        "Peak RSS",
        "Efficiency (ideal / median)",
    ] {
        assert!(svg.contains(&format!(">\n{panel}\n<")), "{panel}");
    }
    roxmltree::Document::parse(&svg).expect("the plot is well-formed XML");
    // No run leaves its output folder behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn runs_with_errors_are_flagged_not_averaged() {
    let site = server(ServerConfig {
        error_rate: 1.0,
        ..ServerConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let assert = flags()
        .args([
            "bench",
            "-l",
            "3",
            "--modes",
            "async",
            "--concurrency",
            "2",
            "--delay",
            "0ms",
        ])
        .args([
            "--runs",
            "2",
            "--warmup",
            "0",
            "--progress",
            "never",
            "-s",
            site.base_url(),
        ])
        .arg("--export-json")
        .arg(dir.path().join("b.json"))
        .arg("--workdir")
        .arg(dir.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stdout.contains("2 of 2 runs!"), "{stdout}");
    assert!(stdout.contains("no clean run"), "{stdout}");
    assert!(
        stderr.contains("every measured run failed in async c=2 delay=0ms"),
        "{stderr}"
    );
    let json = read_json(&dir.path().join("b.json"));
    let cell = &json["cells"][0];
    assert_eq!(cell["error_runs"], 2);
    assert!(cell["time"].is_null());
    assert_eq!(cell["runs"][0]["errors"], 3);
    assert_eq!(cell["runs"][0]["flagged"], true);
    // The same bench told to ignore failures exits 0.
    flags()
        .args([
            "bench", "-l", "1", "--modes", "async", "-m", "1", "--delay", "0ms",
        ])
        .args(["--runs", "1", "--warmup", "0", "--progress", "never", "-s"])
        .arg(site.base_url())
        .arg("--workdir")
        .arg(dir.path())
        .arg("--ignore-failure")
        .assert()
        .success();
}

/// An export with every time multiplied by `factor`: the summaries and
/// each run's wall time.
fn doctored(source: &Path, target: &Path, factor: f64) {
    let mut json = read_json(source);
    // An export from before the speed probe: the gate judges by the runs
    // alone (the probe has a test of its own).
    json["machine"]
        .as_object_mut()
        .unwrap()
        .remove("speed_probe_seconds");
    for cell in json["cells"].as_array_mut().unwrap() {
        for key in ["median", "min", "max", "mean"] {
            let v = cell["time"][key].as_f64().unwrap();
            cell["time"][key] = serde_json::json!(v * factor);
        }
        for run in cell["runs"].as_array_mut().unwrap() {
            let v = run["wall_seconds"].as_f64().unwrap();
            run["wall_seconds"] = serde_json::json!(v * factor);
        }
    }
    std::fs::write(target, serde_json::to_string(&json).unwrap()).unwrap();
}

/// A small bench against a 200 ms server (so that the machine's noise is a
/// small part of each run), exported to `export`.
fn small_bench(dir: &Path, export: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    flags()
        .args([
            "bench",
            "BR",
            "US",
            "--modes",
            "sequential,async",
            "-m",
            "2",
        ])
        .args([
            "--delay",
            "200ms",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--progress",
            "never",
        ])
        .args(extra)
        .arg("--workdir")
        .arg(dir)
        .arg("--export-json")
        .arg(export)
        .assert()
        .success()
}

#[test]
fn runs_are_interleaved_by_default_and_the_machine_is_recorded() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let export = dir.path().join("b.json");
    let assert = small_bench(dir.path(), &export, &[]);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let json = read_json(&export);
    assert_eq!(json["order"], "interleaved");
    let sequences = |cell: &serde_json::Value| -> Vec<u64> {
        cell["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sequence"].as_u64().unwrap())
            .collect()
    };
    let (a, b) = (sequences(&json["cells"][0]), sequences(&json["cells"][1]));
    // Both warm-ups first, then one measured run of each cell per round.
    assert_eq!((a[0], b[0]), (0, 1), "{a:?} {b:?}");
    for round in 0..3 {
        let mut pair = [a[1 + round], b[1 + round]];
        pair.sort();
        assert_eq!(
            pair,
            [2 + 2 * round as u64, 3 + 2 * round as u64],
            "{a:?} {b:?}"
        );
    }
    // The machine, as the OS and the build say.
    let machine = &json["machine"];
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(machine["cores"], cores);
    assert_eq!(machine["workdir_fs"], "tmpfs");
    assert!(machine["memory_mib"].as_u64().unwrap() > 0);
    assert!(machine["load_before"].as_f64().is_some() && machine["load_after"].as_f64().is_some());
    assert!(machine["rustc"].as_str().unwrap().starts_with("rustc "));
    assert_eq!(machine["git_commit"].as_str().unwrap().len(), 12);
    assert!(json["command"].as_str().unwrap().contains("--delay 200ms"));
    assert!(
        stdout.contains(&format!("({cores} cores, load "))
            && stdout.contains(", outputs on tmpfs), flags "),
        "{stdout}"
    );

    let export = dir.path().join("sequential.json");
    small_bench(dir.path(), &export, &["--order", "sequential"]);
    let json = read_json(&export);
    assert_eq!(json["order"], "sequential");
    assert_eq!(sequences(&json["cells"][0]), [0, 1, 2, 3]);
    assert_eq!(sequences(&json["cells"][1]), [4, 5, 6, 7]);
}

#[test]
fn compare_finds_no_change_between_two_runs_and_every_cell_slower_in_a_doubled_export() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let (first, second, doubled) = (
        dir.path().join("first.json"),
        dir.path().join("second.json"),
        dir.path().join("doubled.json"),
    );
    small_bench(dir.path(), &first, &[]);
    small_bench(dir.path(), &second, &[]);
    // Two benches run one after the other on a shared machine drift by a
    // few percent as a whole (load, not noise the runs can show): 20 %
    // says "no change" within that.
    let same = flags()
        .args(["bench", "compare"])
        .arg(&first)
        .arg(&second)
        .args(["--threshold", "20%"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&same.get_output().stdout).into_owned();
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("delay=200ms"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows.iter().all(|r| r.ends_with("no change")), "{stdout}");

    doctored(&first, &doubled, 2.0);
    let slower = flags()
        .args(["bench", "compare"])
        .arg(&first)
        .arg(&doubled)
        .args(["--max-regression", "10%"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&slower.get_output().stdout).into_owned();
    let stderr = String::from_utf8_lossy(&slower.get_output().stderr).into_owned();
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("delay=200ms"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        rows.iter()
            .all(|r| r.contains("2.00×") && r.ends_with("slower")),
        "{stdout}"
    );
    assert!(
        stderr.contains("REGRESSION sequential c=1 delay=200ms: +100.0%"),
        "{stderr}"
    );

    // Another machine's figures: said, not hidden.
    let mut other = read_json(&first);
    other["machine"]["cores"] = serde_json::json!(64);
    other["machine"]["workdir_fs"] = serde_json::json!("ext4");
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let warned = flags()
        .args(["bench", "compare"])
        .arg(&other_path)
        .arg(&first)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&warned.get_output().stderr).into_owned();
    assert!(
        stderr.contains("warning: the runs differ: 64 cores vs "),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: the runs differ: outputs on ext4 vs tmpfs"),
        "{stderr}"
    );
}

#[test]
fn the_baseline_gate_passes_a_slower_baseline_and_fails_a_faster_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        flags()
            .args([
                "bench",
                "-l",
                "3",
                "--modes",
                "threaded",
                "--concurrency",
                "2",
                "--delay",
                "0ms",
            ])
            .args(["--runs", "1", "--warmup", "0", "--progress", "never"])
            .arg("--workdir")
            .arg(dir.path())
            .args(extra)
            .assert()
    };
    let first = dir.path().join("first.json");
    run(&["--export-json", first.to_str().unwrap()]).success();
    let slower = dir.path().join("slower.json");
    let faster = dir.path().join("faster.json");
    doctored(&first, &slower, 100.0);
    doctored(&first, &faster, 0.001);

    let ok = run(&[
        "--baseline",
        slower.to_str().unwrap(),
        "--max-regression",
        "10%",
    ])
    .success();
    let stdout = String::from_utf8_lossy(&ok.get_output().stdout).into_owned();
    assert!(
        stdout.contains("passed threaded c=2 delay=0ms: median "),
        "{stdout}"
    );
    assert!(stdout.contains("no speed probe"), "{stdout}");

    let bad = run(&[
        "--baseline",
        faster.to_str().unwrap(),
        "--max-regression",
        "10%",
    ])
    .code(1);
    let stdout = String::from_utf8_lossy(&bad.get_output().stdout).into_owned();
    assert!(
        stdout.contains("REGRESSION threaded c=2 delay=0ms"),
        "{stdout}"
    );

    // --from redraws from an export without running anything.
    let csv = dir.path().join("again.csv");
    flags()
        .args([
            "bench",
            "--from",
            first.to_str().unwrap(),
            "--export-csv",
            csv.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);

    let missing = run(&["--baseline", "/no/such/file.json"]).code(1);
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cannot read baseline /no/such/file.json"),
        "{stderr}"
    );
}

/// The pids of the processes whose parent is `pid`, with their command lines.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
        let parent = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse::<u32>().ok());
        if parent == Some(pid) {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            found.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

#[test]
fn ctrl_c_stops_the_bench_its_runs_and_its_server_with_a_partial_table_and_130() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("partial.json");
    // As a terminal would: the bench leads its own process group, and
    // Ctrl-C goes to the whole group.
    let bench = std::process::Command::new(assert_cmd::cargo::cargo_bin("flags"))
        .args(["bench", "-l", "5", "--modes", "async,sequential", "-m", "5"])
        .args(["--order", "sequential"])
        .args([
            "--delay",
            "200ms",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--progress",
            "never",
        ])
        .arg("--workdir")
        .arg(dir.path())
        .arg("--export-json")
        .arg(&export)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the second cell (sequential) is running.
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    loop {
        let children = children_of(bench.id());
        seen.extend(children.iter().map(|(pid, _)| *pid));
        if children
            .iter()
            .any(|(_, cmd)| cmd.contains("--mode sequential"))
        {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the sequential cell never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the process group our child leads.
    assert_eq!(unsafe { libc::kill(-(bench.id() as i32), libc::SIGINT) }, 0);
    let output = bench.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("\nasync "), "{stdout}");
    assert!(!stdout.contains("\nsequential "), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let json = read_json(&export);
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["cells"].as_array().unwrap().len(), 1);
    // No run and no server outlives the bench.
    seen.sort();
    seen.dedup();
    for pid in seen {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} outlived the bench"
        );
    }
}

#[test]
fn bad_output_paths_fail_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    // A wrong name is bad input (exit 2); a missing folder is the machine's (exit 1).
    for (option, path, needle, code) in [
        (
            "--export-json",
            "/nonexistent/dir/b.json",
            "no such folder: /nonexistent/dir",
            1,
        ),
        (
            "--plot",
            "/nonexistent/p.svg",
            "no such folder: /nonexistent",
            1,
        ),
        (
            "--plot",
            "out.png",
            "flags: 'out.png' would hold an SVG plot: give a name ending in .svg (see --help)",
            2,
        ),
        ("--export-csv", "out.json", "give a name ending in .csv", 2),
    ] {
        let assert = flags()
            .args(["bench", "--progress", "never", "--workdir"])
            .arg(dir.path())
            .args([option, path])
            .assert()
            .code(code);
        let output = assert.get_output();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.contains(needle), "{option} {path}: {stderr}");
        // Nothing ran: no table, and no run folder was ever made.
        assert!(output.stdout.is_empty(), "{option} {path}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn bmf_and_github_benchmark_exports_have_their_published_shapes() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let (bmf, github) = (dir.path().join("bmf.json"), dir.path().join("gh.json"));
    let export = dir.path().join("b.json");
    small_bench(
        dir.path(),
        &export,
        &[
            "--export-bmf",
            bmf.to_str().unwrap(),
            "--export-github-benchmark",
            github.to_str().unwrap(),
        ],
    );
    let report = read_json(&export);
    let keys: Vec<String> = ["sequential c=1 delay=200ms", "async c=2 delay=200ms"]
        .map(String::from)
        .to_vec();

    // Bencher Metric Format: { benchmark: { measure: { value, lower_value?, upper_value? } } }.
    let bmf = read_json(&bmf);
    let benchmarks = bmf.as_object().expect("BMF is an object of benchmarks");
    assert_eq!(benchmarks.keys().cloned().collect::<Vec<_>>().len(), 2);
    for key in &keys {
        let measures = benchmarks[key]
            .as_object()
            .expect("a benchmark is an object of measures");
        for (name, metric) in measures {
            let metric = metric.as_object().expect("a measure is an object");
            assert!(metric["value"].is_f64(), "{key} {name}");
            for bound in metric.keys() {
                assert!(
                    ["value", "lower_value", "upper_value"].contains(&bound.as_str()),
                    "{key} {name}: {bound}"
                );
            }
        }
        let latency = &measures["latency"];
        let (low, value, high) = (
            latency["lower_value"].as_f64().unwrap(),
            latency["value"].as_f64().unwrap(),
            latency["upper_value"].as_f64().unwrap(),
        );
        assert!(low <= value && value <= high, "{latency}");
        // Nanoseconds: a run of a 200 ms server takes at least 0.2 s.
        assert!(value >= 0.2e9, "{latency}");
        assert!(measures["cpu-per-download"]["value"].as_f64().unwrap() > 0.0);
        assert!(measures["peak-rss"]["value"].as_f64().unwrap() > 1e6);
    }
    let cell = &report["cells"][0];
    assert_eq!(
        bmf[keys[0].as_str()]["latency"]["value"].as_f64().unwrap(),
        cell["time"]["median"].as_f64().unwrap() * 1e9
    );

    // customSmallerIsBetter: [{ name, unit, value, range?, extra? }].
    let github = read_json(&github);
    let entries = github.as_array().expect("a list");
    assert_eq!(entries.len(), 3 * keys.len());
    for entry in entries {
        let entry = entry.as_object().unwrap();
        assert!(
            entry["name"].is_string() && entry["unit"].is_string(),
            "{entry:?}"
        );
        assert!(entry["value"].is_number(), "{entry:?}");
        for field in entry.keys() {
            assert!(
                ["name", "unit", "value", "range", "extra"].contains(&field.as_str()),
                "{field}"
            );
        }
        if let Some(range) = entry.get("range") {
            assert!(range.as_str().unwrap().starts_with("± "), "{range}");
        }
    }
    assert!(
        entries
            .iter()
            .any(|e| e["name"] == "async c=2 delay=200ms time" && e["unit"] == "ms")
    );
}

#[test]
fn the_html_report_of_the_default_matrix_is_small_fetches_nothing_and_reads_without_javascript() {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let (html, json) = (dir.path().join("report.html"), dir.path().join("b.json"));
    // The default matrix, two runs per cell.
    flags()
        .args([
            "bench",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--progress",
            "never",
        ])
        .arg("--workdir")
        .arg(dir.path())
        .arg("--export-html")
        .arg(&html)
        .arg("--export-json")
        .arg(&json)
        .assert()
        .success();
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 2 * 1024 * 1024, "the report is {size} bytes");
    let report = read_json(&json);
    let cells = report["cells"].as_array().unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Content-Security-Policy"));
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-report");
    let cells_count = cells.len().to_string();
    let Some(summary) = common::browser(
        "report.mjs",
        &[
            html.as_os_str(),
            screenshots.as_os_str(),
            cells_count.as_ref(),
            cells_count.as_ref(),
        ],
    ) else {
        return;
    };
    assert_eq!(summary["requests"], 0);
    assert_eq!(summary["waterfalls"], cells.len());
    // The plot and a waterfall per cell, each with both axes named.
    assert_eq!(summary["charts"], cells.len() + 1);
    for width in [1200, 400] {
        let shot = format!("{}-{width}.png", screenshots.display());
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "{shot}");
    }
    // Each waterfall is titled with the delay its cell ran at.
    for delay in ["delay 0ms:", "delay 100ms:"] {
        assert!(page.contains(delay), "no waterfall titled '{delay}'");
    }
    assert!(!page.contains("delay unknown"));
}

#[test]
fn async_h2_is_a_model_with_its_connections_in_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("h2.json");
    flags()
        .args(["bench", "-l", "6", "--modes", "async,async-h2", "-m", "3"])
        .args(["--connections", "2", "--delay", "0ms", "--runs", "1"])
        .args(["--warmup", "0", "--progress", "never", "--export-json"])
        .arg(&export)
        .arg("--workdir")
        .arg(dir.path())
        .assert()
        .success();
    let report = read_json(&export);
    let cells = report["cells"].as_array().unwrap();
    let names: Vec<&str> = cells.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["async", "async-h2x2"], "{report}");
    for cell in cells {
        assert_eq!(cell["error_runs"], 0, "{cell}");
        assert_eq!(cell["runs"][0]["ok"], 6, "{cell}");
    }
}

#[test]
fn bench_tls_runs_every_model_and_outside_commands_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("tls.json");
    let assert = flags()
        .args([
            "bench",
            "-l",
            "3",
            "--modes",
            "sequential,async,async-h2",
            "-m",
            "3",
        ])
        .args(["--delay", "0ms", "--runs", "1", "--warmup", "0", "--tls"])
        .args(["--progress", "never", "--vs", PY, "--workdir"])
        .arg(dir.path())
        .arg("--export-json")
        .arg(&export)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.starts_with("3 downloads over HTTPS per run"),
        "{stdout}"
    );
    let report = read_json(&export);
    assert_eq!(report["https"], true, "{report}");
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4, "{report}");
    for cell in cells {
        for run in cell["runs"].as_array().unwrap() {
            assert_eq!(run["ok"], 3, "{}: {run}", cell["name"]);
            assert_eq!(run["flagged"], false, "{}: {run}", cell["name"]);
        }
    }
    // The URL a server speaks is its own: --tls is for the servers it starts.
    let refused = flags()
        .args(["bench", "--tls", "-s", "http://127.0.0.1:9/flags"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("--tls"), "{stderr}");
}

/// A script that runs the flags binary with `prelude` before it: a
/// baseline build for `--baseline-exe`, slower or at full speed.
fn baseline_script(dir: &Path, name: &str, prelude: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let flags = assert_cmd::cargo::cargo_bin("flags");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n{prelude}\nexec '{}' \"$@\"\n", flags.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn the_gate_against_a_baseline_build_run_beside_it_passes_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let run = |baseline: &Path, save_delay: &str, slowdown: &str| {
        flags()
            .args(["bench", "-l", "3", "--modes", "threaded", "-m", "2"])
            .args(["--delay", "0ms", "--runs", "3", "--warmup", "0"])
            .args(["--progress", "never", "--max-regression", "10%"])
            .arg("--baseline-exe")
            .arg(baseline)
            .arg("--workdir")
            .arg(dir.path())
            .arg("--export-json")
            .arg(dir.path().join("twins.json"))
            .env("FLAGS_SAVE_DELAY", save_delay)
            .env("FLAGS_SLOWDOWN", slowdown)
            .assert()
    };
    // A baseline build that takes 300 ms more a run: this one is faster.
    let slow = baseline_script(dir.path(), "slow", "sleep 0.3");
    let passed = run(&slow, "0ms", "0%").success();
    let stdout = String::from_utf8_lossy(&passed.get_output().stdout).into_owned();
    assert!(
        stdout.contains("baseline: the baseline build ran beside this one, interleaved"),
        "{stdout}"
    );
    assert!(
        stdout.contains("passed threaded c=2 delay=0ms: median "),
        "{stdout}"
    );
    assert!(stdout.contains("threaded@baseline"), "{stdout}");
    let export = read_json(&dir.path().join("twins.json"));
    let names: Vec<&str> = export["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["threaded", "threaded@baseline"]);
    for cell in export["cells"].as_array().unwrap() {
        assert_eq!(cell["runs"].as_array().unwrap().len(), 3, "{cell}");
    }

    // This build saving 300 ms slower than the baseline, which saves at
    // full speed: a regression.
    let full_speed = baseline_script(
        dir.path(),
        "full-speed",
        "unset FLAGS_SAVE_DELAY FLAGS_SLOWDOWN",
    );
    // And this build made slower on purpose (what benches/gate does): each
    // run sleeps ten times its own time before it exits.
    for (save_delay, slowdown) in [("300ms", "0%"), ("0ms", "1000%")] {
        let failed = run(&full_speed, save_delay, slowdown).code(1);
        let stdout = String::from_utf8_lossy(&failed.get_output().stdout).into_owned();
        assert!(
            stdout.contains("REGRESSION threaded c=2 delay=0ms: median "),
            "{save_delay} {slowdown}: {stdout}"
        );
    }
}

#[test]
fn a_missing_baseline_build_is_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-flags");
    let refused = flags()
        .args(["bench", "-l", "1", "--baseline-exe"])
        .arg(&missing)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "--baseline-exe: no such file: {}",
            missing.display()
        )),
        "{stderr}"
    );
    let folder = flags()
        .args(["bench", "-l", "1", "--baseline-exe"])
        .arg(dir.path())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&folder.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "--baseline-exe: not a file: {}",
            dir.path().display()
        )),
        "{stderr}"
    );
    let both = flags()
        .args(["bench", "--baseline", "a.json", "--baseline-exe", "b"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&both.get_output().stderr).into_owned();
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
