//! Helpers shared by the integration tests: the binary, in-process servers on
//! 127.0.0.1:0, and comparisons with the bundled data set.
#![allow(dead_code)]

pub mod liar;
pub mod liar_h2;
pub mod tls;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use assert_cmd::Command;
use flags::server::{BackgroundServer, ServerConfig};

/// The three modes, as `--mode` names them.
pub const MODES: [&str; 3] = ["sequential", "threaded", "async"];

/// The `flags` binary, with no colour, and an embedded server that answers
/// at once unless a test asks for a latency (the default, a distant
/// site's, is tested on its own with `env_remove`).
pub fn flags() -> Command {
    let mut cmd = Command::cargo_bin("flags").expect("flags binary");
    cmd.env("NO_COLOR", "1").env("FLAGS_SERVER_DELAY", "0");
    cmd
}

/// [`flags`] as a `std::process::Command`, for tests that manage the child.
pub fn flags_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("flags"));
    cmd.env("NO_COLOR", "1").env("FLAGS_SERVER_DELAY", "0");
    cmd
}

/// Starts an in-process flags server for one test; it stops when dropped.
pub fn server(config: ServerConfig) -> BackgroundServer {
    BackgroundServer::start(config).expect("start test server")
}

/// File name -> bytes of every file in `dir`.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read output dir")
        .map(|e| {
            let e = e.expect("dir entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read file"),
            )
        })
        .collect()
}

/// Asserts that `dir` holds exactly `codes` as `<CC>.gif`, each byte-identical
/// to the data set, and nothing else.
pub fn assert_saved_exactly(dir: &Path, codes: &[String]) {
    let saved = files(dir);
    let names: Vec<&String> = saved.keys().collect();
    let expected: Vec<String> = codes.iter().map(|c| format!("{c}.gif")).collect();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    for code in codes {
        let want = flags::dataset::flag_gif(code).expect("code in data set");
        assert_eq!(
            saved[&format!("{code}.gif")],
            want,
            "{code} differs from the data set"
        );
    }
}

/// An HTTP answer as the tests look at it.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Headers.
    pub headers: http::HeaderMap,
}

impl Answer {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `method url` with a plain HTTP client (no status turned into an
/// error, no redirect followed) and reads the whole answer.
pub fn http(method: &str, url: &str) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let response = match method {
        "HEAD" => agent.head(url).call(),
        _ => agent.get(url).call(),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_body().into_reader(), &mut body)
        .unwrap_or_else(|e| panic!("{method} {url}: body: {e}"));
    Answer {
        status,
        body,
        headers,
    }
}

/// Sends `request` (a method and a path, `GET /flags/br/br.gif`) exactly as
/// written, so that no client normalises the path, with `Connection:
/// close`, and reads until the server closes, within `limit` per read.
/// Returns the status (0 when the answer has no head) and the body (the
/// whole answer when it has none).
pub fn raw_request(
    addr: &str,
    request: &str,
    limit: std::time::Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(limit))?;
    stream.write_all(
        format!("{request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok((0, answer));
    };
    let status = String::from_utf8_lossy(&answer[..head_end])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, answer[head_end + 4..].to_vec()))
}

/// Parses the `--json` output of a run.
pub fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(output)))
}

/// A server binary running as a child process; killed when dropped.
pub struct ChildServer {
    /// The process.
    pub child: Child,
    /// The URL of its startup line (`http://...` or `tcp://...`).
    pub url: String,
}

impl ChildServer {
    /// Sends `signal` and waits for the process to end; returns its exit code
    /// (`None` if the signal killed it instead of being handled).
    pub fn stop_with(&mut self, signal: i32) -> Option<i32> {
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
        self.child.wait().expect("wait for the server").code()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin args...` and reads the URL it says it listens on.
pub fn spawn_server(bin: &str, args: &[&str]) -> ChildServer {
    spawn_server_logging(bin, args, Stdio::null())
}

/// Starts `bin args...` with its stderr going to `log`, and reads the URL
/// it says it listens on.
pub fn spawn_server_logging(bin: &str, args: &[&str], log: impl Into<Stdio>) -> ChildServer {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin(bin))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("startup line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("tcp://"))
        .unwrap_or_else(|| panic!("no URL in startup line: {line}"))
        .to_owned();
    ChildServer { child, url }
}

/// Threads of a running process whose name starts with `prefix`, and all of them.
fn thread_counts(pid: u32, prefix: &str) -> Option<(usize, usize)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut named, mut total) = (0, 0);
    for task in tasks.flatten() {
        total += 1;
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            named += 1;
        }
    }
    Some((named, total))
}

/// Runs `flags ARGS --json --progress never` into a fresh folder, sampling
/// its threads from `/proc` every 20 ms; checks it succeeds and returns the
/// most threads named `prefix...`, the most threads in all, and its report.
pub fn peak_threads(args: &[&str], prefix: &str) -> (usize, usize, serde_json::Value) {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = flags_process()
        .args(args)
        .args(["--json", "--progress", "never", "-o"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start flags");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).map(|_| text)
    });
    let (mut peak_named, mut peak_total) = (0, 0);
    loop {
        if let Some((named, total)) = thread_counts(child.id(), prefix) {
            peak_named = peak_named.max(named);
            peak_total = peak_total.max(total);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().expect("wait").success());
    let text = reader.join().expect("reader").expect("stdout");
    (peak_named, peak_total, json(&text))
}

/// Runs `flags ARGS --json -o OUT`, checks its exit code, returns its JSON report.
pub fn run_json(args: &[&str], out: &Path, code: i32) -> serde_json::Value {
    let assert = flags()
        .args(args)
        .arg("--json")
        .arg("-o")
        .arg(out)
        .assert()
        .code(code);
    json(&assert.get_output().stdout)
}

/// `--mode MODE -m C`, without `-m` for sequential, which refuses it.
pub fn mode_args<'a>(mode: &'a str, concurrency: &'a str) -> Vec<&'a str> {
    if mode == "sequential" {
        vec!["--mode", mode]
    } else {
        vec!["--mode", mode, "-m", concurrency]
    }
}

/// Runs `node tests/browser/SCRIPT ARGS...` (a Playwright script driving
/// Debian's headless Chromium) and returns the JSON line it prints. Without
/// chromium or `npm ci`, plain `cargo test` skips the test and says why;
/// `scripts/test` (which installs them) sets `FLAGS_BROWSER_TESTS=required`,
/// and then their absence fails the test.
pub fn browser(script: &str, args: &[&std::ffi::OsStr]) -> Option<serde_json::Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let ready = dir.join("node_modules/playwright-core").exists()
        && Path::new("/usr/bin/chromium").exists();
    let required = std::env::var("FLAGS_BROWSER_TESTS").is_ok_and(|v| v == "required");
    if !ready {
        let why = "the browser tests need Debian's chromium and `npm ci` in tests/browser: scripts/test installs them";
        assert!(!required, "{why}");
        eprintln!("skipped {script}: {why}");
        return None;
    }
    let output = std::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{script} failed: {stdout}{stderr}");
    let summary = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} said {stdout:?}: {e}"));
    Some(summary)
}

/// GETs `url` over HTTP/1.1 and over cleartext HTTP/2 (prior knowledge):
/// for each, the version the server answered in, its status and its body.
pub fn get_both_protocols(url: &str) -> Vec<(String, u16, Vec<u8>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // reqwest as flags builds it takes the crypto provider it is given.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut answers = Vec::new();
        for http2 in [false, true] {
            let client = reqwest::Client::builder().no_proxy();
            let client = if http2 {
                client.http2_prior_knowledge()
            } else {
                client.http1_only()
            };
            let response = client
                .build()
                .expect("a client")
                .get(url)
                .send()
                .await
                .expect("an answer");
            let version = format!("{:?}", response.version());
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("a body").to_vec();
            answers.push((version, status, body));
        }
        answers
    })
}
