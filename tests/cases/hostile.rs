//! Text from outside never reaches a terminal, a log or an export raw: a
//! hostile server's country names, redirect targets and error details in
//! every mode and every output; hostile paths sent to the servers; hostile
//! cell names in every bench export.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::common::{MODES, flags, json};

/// Country names a hostile `metadata.json` holds, by variant.
const NAMES: [(&str, &str); 8] = [
    ("osc", "\u{1b}]0;pwned\u{7}\u{1b}[2J"),
    ("osc52", "\u{1b}]52;c;cHduZWQ=\u{7}Brazil"),
    (
        "osc8",
        "\u{1b}]8;;http://evil/\u{1b}\\click\u{1b}]8;;\u{1b}\\",
    ),
    ("csi8", "\u{9b}31mRED\u{9b}0m"),
    ("nul", "Bra\u{0}zil"),
    ("forged", "Line1\nZZ OK Forged -> ZZ-Forged.gif\r"),
    ("rlo", "\u{202e}lizarB\u{2066}\u{2028}"),
    ("long", ""),
];

/// What a hostile `Location` holds, by variant (raw bytes on the wire).
const LOCATIONS: [(&str, &[u8]); 2] = [
    ("c1", b"\xc2\x9b2J\xc2\x9b31mC1RED \xe2\x80\xaeevil"),
    (
        "bidi",
        b"http://\xe2\x80\xae\xe2\x81\xa6lived/\xe2\x80\xa8x",
    ),
];

/// A raw HTTP/1.1 server on 127.0.0.1:0 that answers with hostile text:
/// `/names/VARIANT/flags/...` (metadata with a hostile country, then the
/// flag), `/redirect/VARIANT/flags/...` (a redirect to a hostile
/// `Location`), `/detail/flags/...` (a `Content-Length` holding escapes).
struct Hostile {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    thread::spawn(move || answer(stream));
                }
            }
        });
        Self { port, stop }
    }

    fn base(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}/flags", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn long_name() -> String {
    "A".repeat(100_000)
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let parts: Vec<&str> = path.split('/').collect();
        let reply: Vec<u8> = match parts.as_slice() {
            ["", "names", variant, "flags", _, file] if file.ends_with(".json") => {
                let name = match *variant {
                    "long" => long_name(),
                    v => NAMES.iter().find(|(n, _)| *n == v).unwrap().1.to_owned(),
                };
                let body = serde_json::json!({ "country": name }).to_string();
                ok(body.as_bytes())
            }
            ["", "names", ..] => ok(flags::dataset::flag_gif("BR").unwrap()),
            ["", "redirect", variant, ..] => {
                let target = LOCATIONS.iter().find(|(n, _)| n == variant).unwrap().1;
                let mut reply = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: ".to_vec();
                reply.extend_from_slice(target);
                reply.extend_from_slice(b"\r\n\r\n");
                reply
            }
            ["", "detail", ..] => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 12\xc2\x9b2J \xe2\x80\xae\r\n\r\n".to_vec()
            }
            _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

fn ok(body: &[u8]) -> Vec<u8> {
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body);
    reply
}

/// The longest line a terminal or a log may get from outside text: the
/// cap of `flags::text::UNTRUSTED_MAX_CHARS` plus our own words around it.
const LONGEST_LINE: usize = flags::text::UNTRUSTED_MAX_CHARS * 2 + 100;

/// Asserts that `output` (what a terminal or a log would get) holds no
/// escape, no C1 control, no bidi or other format character, no forged
/// result line, and, unless it is JSON, no line longer than the cap.
fn assert_inert(output: &[u8], what: &str, is_json: bool) {
    assert!(
        !output.contains(&0x1b),
        "{what}: an ESC byte reached the output:\n{}",
        String::from_utf8_lossy(output)
    );
    let text = String::from_utf8_lossy(output);
    for c in text.chars() {
        assert!(
            c == '\n' || !flags::text::is_unsafe_char(c),
            "{what}: U+{:04X} reached the output:\n{text}",
            c as u32
        );
    }
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("ZZ OK Forged"),
            "{what}: a forged line: {line}"
        );
        if !is_json {
            assert!(
                line.chars().count() <= LONGEST_LINE,
                "{what}: a line of {} characters",
                line.chars().count()
            );
        }
    }
}

/// Runs `flags ARGS -o (fresh folder)`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let out = tempfile::tempdir().unwrap();
    let output = flags()
        .args(args)
        .args(["--retries", "0", "-o"])
        .arg(out.path())
        .output()
        .unwrap();
    (output.status.code(), output.stdout, output.stderr)
}

#[test]
fn hostile_country_names_are_inert_in_every_mode_and_output() {
    let server = Hostile::start();
    for (variant, name) in NAMES {
        let base = server.base(&format!("names/{variant}"));
        for mode in MODES {
            for output in [&["-v"][..], &["-q"], &[], &["--json"], &["--json", "-v"]] {
                let mut args = vec!["BR", "--names", "--mode", mode, "-s", &base];
                args.extend(output);
                let (code, stdout, stderr) = run(&args);
                let what = format!("{variant} {mode} {output:?}");
                assert_eq!(
                    code,
                    Some(0),
                    "{what}: {}",
                    String::from_utf8_lossy(&stderr)
                );
                let is_json = output.contains(&"--json");
                assert_inert(&stdout, &format!("{what} stdout"), is_json);
                assert_inert(&stderr, &format!("{what} stderr"), false);
                if is_json {
                    // The same value, escaped.
                    let want = if variant == "long" {
                        long_name()
                    } else {
                        name.to_owned()
                    };
                    assert_eq!(
                        json(&stdout)["results"][0]["country"],
                        want.as_str(),
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn hostile_redirect_targets_and_error_details_are_inert_in_every_mode_and_output() {
    let server = Hostile::start();
    let mut bases: Vec<String> = LOCATIONS
        .iter()
        .map(|(variant, _)| server.base(&format!("redirect/{variant}")))
        .collect();
    bases.push(server.base("detail"));
    for base in &bases {
        for mode in MODES {
            for output in [&["-v"][..], &["-q"], &[], &["--json"]] {
                let mut args = vec!["BR", "--mode", mode, "-s", base];
                args.extend(output);
                let (code, stdout, stderr) = run(&args);
                let what = format!("{base} {mode} {output:?}");
                assert_eq!(code, Some(1), "{what}");
                let is_json = output.contains(&"--json");
                assert_inert(&stdout, &format!("{what} stdout"), is_json);
                assert_inert(&stderr, &format!("{what} stderr"), false);
                if is_json {
                    assert_eq!(json(&stdout)["counts"]["error"], 1, "{what}");
                }
            }
        }
    }
}

/// Sends one raw request line and reads the answer until the server closes.
fn send(addr: &str, request: &str) {
    let _ = common::raw_request(addr, request, Duration::from_secs(10));
}

/// Starts `bin args` logging to a file; sends `requests`; stops it; returns the log.
fn server_log(bin: &str, args: &[&str], requests: &[&str]) -> Vec<u8> {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = common::spawn_server_logging(bin, args, Stdio::from(log.reopen().unwrap()));
    let addr = server
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    for request in requests {
        send(&addr, request);
    }
    assert_eq!(server.stop_with(libc::SIGTERM), Some(0));
    std::fs::read(log.path()).unwrap()
}

#[test]
fn hostile_paths_are_inert_in_the_servers_logs() {
    let log = server_log(
        "flags",
        &["serve", "--port", "0", "-v"],
        &[
            "GET /flags/%1b%5d0%3bpwned%07%1b%5b2J/x.gif",
            "GET /flags/br/x%0aGET%20%2Fflags%2Fus%2Fus.gif%20US%20-%3E%20200%20OK",
            "GET /flags/%c2%9b31m/%e2%80%ae.gif",
            "GET /elsewhere/%1b%5b2J%c2%9b",
            "GET /flags/br/br.gif",
        ],
    );
    assert_inert(&log, "flags serve -v", false);
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text.lines().any(|l| l.starts_with("GET /flags/us/us.gif")),
        "a forged log line:\n{text}"
    );
    assert!(text.contains("GET /flags/br/br.gif BR -> 200 OK"), "{text}");
    assert!(
        text.contains("\\x1b"),
        "the escapes are shown, not dropped:\n{text}"
    );

    let log = server_log(
        "charfinder",
        &["http", "--port", "0", "-v"],
        &[
            "GET /api/search?q=%1b%5b2J%c2%9bcat%e2%80%ae",
            "GET /api/search?q=cat%0aGET%20%2Fapi%2Fsearch%20forged",
        ],
    );
    assert_inert(&log, "charfinder http -v", false);
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("GET /api/search \"forged")),
        "{text}"
    );
}

#[test]
fn hostile_cell_names_are_inert_in_the_table_and_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let names = [
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "-2+3",
        "evil\u{1b}[2J\u{9b}31m",
        "<img src=x onerror=alert(1)>",
        "a|b\nc\u{202e}",
    ];
    let mut bench = flags();
    bench
        .args([
            "bench", "BR", "--modes", "async", "-m", "1", "--delay", "0ms",
        ])
        .args([
            "--runs",
            "1",
            "--warmup",
            "0",
            "--progress",
            "never",
            "--ignore-failure",
        ])
        .arg("--workdir")
        .arg(dir.path())
        .arg("--export-json")
        .arg(&first);
    for name in names {
        bench.arg(format!("--vs={name}=true"));
    }
    let output = bench.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_inert(&output.stdout, "bench table", false);
    assert_inert(&output.stderr, "bench stderr", false);

    // A hand-edited export: a mode cell (the plotted kind) with a hostile name.
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    report["cells"][0]["name"] = "async\u{1b}[2J<&\u{0}\u{202e}".into();
    report["machine"]["cpu"] = "CPU\u{1b}]0;x\u{7}<b>".into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, report.to_string()).unwrap();
    let (csv, md, svg, json_out) = (
        dir.path().join("b.csv"),
        dir.path().join("b.md"),
        dir.path().join("b.svg"),
        dir.path().join("b.json"),
    );
    let output = flags()
        .args(["bench", "--progress", "never", "--ignore-failure", "--from"])
        .arg(&edited)
        .arg("--export-csv")
        .arg(&csv)
        .arg("--export-markdown")
        .arg(&md)
        .arg("--plot")
        .arg(&svg)
        .arg("--export-json")
        .arg(&json_out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_inert(&output.stdout, "bench --from table", false);

    // CSV: every hostile name is a field a spreadsheet shows as text.
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.contains("\n'+cmd|' /C calc'!A0,"), "{csv}");
    assert!(csv.contains("\n'-2+3,"), "{csv}");
    assert!(csv.contains("\n'@SUM(1+1),"), "{csv}");
    for line in csv.lines().skip(1) {
        let first = line.trim_start_matches('"');
        assert!(
            !first.starts_with(['=', '+', '-', '@']),
            "a formula: {line}"
        );
    }
    // Markdown: one row per cell, no HTML.
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(!md.contains("<img") && !md.contains("<b>"), "{md}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 2 + 1 + names.len(), "{md}");
    assert!(rows.iter().all(|r| r.ends_with('|')), "{md}");
    assert_inert(md.as_bytes(), "Markdown", false);
    // SVG: well-formed XML, the name drawn without its controls.
    let svg = std::fs::read_to_string(&svg).unwrap();
    roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML ({e}):\n{svg}"));
    assert!(svg.contains("async[2J&lt;&amp;"), "{svg}");
    // JSON: the same values, escaped.
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(again["cells"][0]["name"], report["cells"][0]["name"]);
    assert!(!std::fs::read(&json_out).unwrap().contains(&0x1b));
}
