//! The flags server: in-process and as `flags serve`, on 127.0.0.1 only.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::server;
use flags::server::delay::Delay;
use flags::server::{DataSource, ServerConfig};

fn get(url: &str) -> (u16, Vec<u8>, Option<String>) {
    let answer = common::http("GET", url);
    let ctype = answer.header("Content-Type").map(str::to_owned);
    (answer.status, answer.body, ctype)
}

/// Sends a raw request line, so that no client normalises the path.
fn raw_status(addr: &str, path: &str) -> u16 {
    common::raw_request(addr, &format!("GET {path}"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .0
}

#[test]
fn every_file_of_the_set_is_served_byte_identical() {
    let site = server(ServerConfig::default());
    for code in flags::dataset::country_codes() {
        let cc = code.to_lowercase();
        let (status, body, ctype) = get(&format!("{}/{cc}/{cc}.gif", site.base_url()));
        assert_eq!(status, 200);
        assert_eq!(ctype.as_deref(), Some("image/gif"));
        assert_eq!(body, flags::dataset::flag_gif(&code).unwrap(), "{code}");
        let (status, body, ctype) = get(&format!("{}/{cc}/metadata.json", site.base_url()));
        assert_eq!(status, 200);
        assert_eq!(ctype.as_deref(), Some("application/json"));
        let meta: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(meta["iso_cc"], code.as_str());
    }
    let (_, body, _) = get(&format!("{}/br/metadata.json", site.base_url()));
    let meta: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(meta["country"], "Brazil");
    assert_eq!(meta["tld_cc"], ".br");
}

#[test]
fn unknown_paths_are_404() {
    let site = server(ServerConfig::default());
    let base = site.base_url();
    for path in [
        "/zz/zz.gif",
        "/br/us.gif",
        "/br/br.png",
        "/BR/BR.gif",
        "/br",
        "/",
        "/br/br.gif/x",
    ] {
        assert_eq!(get(&format!("{base}{path}")).0, 404, "{path}");
    }
    assert_eq!(get(&base.replace("/flags", "/other")).0, 404);
}

#[test]
fn head_gives_length_and_no_body() {
    let site = server(ServerConfig::default());
    let url = format!("{}/br/br.gif", site.base_url());
    let response = common::http("HEAD", &url);
    assert_eq!(response.status, 200);
    let len: usize = response.header("Content-Length").unwrap().parse().unwrap();
    assert_eq!(len, flags::dataset::flag_gif("BR").unwrap().len());
    assert!(response.body.is_empty());
}

#[test]
fn traversal_attempts_never_leave_the_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("metadata.json"), b"{\"secret\": true}").unwrap();
    std::fs::create_dir(dir.path().join("br")).unwrap();
    std::fs::write(dir.path().join("br/br.gif"), b"GIF89a-test").unwrap();
    std::os::unix::fs::symlink(secret.path(), dir.path().join("xx")).unwrap();
    let site = server(ServerConfig {
        source: DataSource::Dir(dir.path().to_owned()),
        ..ServerConfig::default()
    });
    let addr = site
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches("/flags")
        .to_owned();
    assert_eq!(raw_status(&addr, "/flags/br/br.gif"), 200);
    for path in [
        "/flags/../flags/br/br.gif",
        "/flags/br/../../etc/passwd",
        "/flags/%2e%2e/%2e%2e/etc/passwd",
        "/flags/..%2f..%2fetc/passwd",
        "/flags/br/%2e%2e%2fbr.gif",
        "//etc/passwd",
        "/flags//etc/passwd",
        "/flags/xx/metadata.json",
    ] {
        let status = raw_status(&addr, path);
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
}

#[test]
fn a_seeded_error_rate_gives_the_expected_share_reproducibly() {
    let failures = |seed| {
        let site = server(ServerConfig {
            error_rate: 0.25,
            seed: Some(seed),
            ..ServerConfig::default()
        });
        flags::download::plan::every_code()
            .map(|code| {
                let cc = code.to_lowercase();
                get(&format!("{}/{cc}/{cc}.gif", site.base_url())).0
            })
            .map(|status| status == 418)
            .collect::<Vec<bool>>()
    };
    let first = failures(42);
    let share = first.iter().filter(|f| **f).count() as f64 / first.len() as f64;
    assert!((0.18..=0.32).contains(&share), "share {share}");
    assert_eq!(first, failures(42), "same seed, same errors");
    assert_ne!(first, failures(43), "another seed, other errors");
}

#[test]
fn the_delay_is_applied() {
    let site = server(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    let start = Instant::now();
    assert_eq!(get(&format!("{}/br/br.gif", site.base_url())).0, 200);
    // Loose: at least the delay; no upper bound on a shared machine.
    assert!(start.elapsed() >= Duration::from_millis(300));
}

/// `flags serve ARGS` as a child process; killed on drop.
fn flags_serve(args: &[&str]) -> common::ChildServer {
    common::spawn_server("flags", &[&["serve"], args].concat())
}

#[test]
fn flags_serve_says_where_it_listens_and_serves() {
    let served = flags_serve(&["--port", "0"]);
    assert!(
        served.url.starts_with("http://127.0.0.1:"),
        "{}",
        served.url
    );
    let (status, body, _) = get(&format!("{}/br/br.gif", served.url));
    assert_eq!(status, 200);
    assert_eq!(body, flags::dataset::flag_gif("BR").unwrap());
}

/// The threads of process `pid`, from `/proc/<pid>/status`.
fn threads_of(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[test]
fn flags_serve_with_one_worker_answers_on_one_thread() {
    let served = flags_serve(&["--port", "0", "--workers", "1"]);
    for code in ["BR", "US", "CN"] {
        let cc = code.to_lowercase();
        let (status, body, _) = get(&format!("{}/{cc}/{cc}.gif", served.url));
        assert_eq!(status, 200);
        assert_eq!(body, flags::dataset::flag_gif(code).unwrap());
    }
    assert_eq!(threads_of(served.child.id()), 1);
    let two = flags_serve(&["--port", "0", "--workers", "2"]);
    assert_eq!(get(&format!("{}/br/br.gif", two.url)).0, 200);
    assert_eq!(
        threads_of(two.child.id()),
        3,
        "the main thread and two workers"
    );
}

#[test]
fn flags_serve_error_preset_with_port_override() {
    let served = flags_serve(&[
        "--preset",
        "error",
        "--port",
        "0",
        "--delay",
        "0ms",
        "--error-status",
        "503",
        "--seed",
        "1",
    ]);
    let statuses: Vec<u16> = flags::dataset::country_codes()
        .iter()
        .map(|c| {
            get(&format!(
                "{}/{}/{}.gif",
                served.url,
                c.to_lowercase(),
                c.to_lowercase()
            ))
            .0
        })
        .collect();
    let errors = statuses.iter().filter(|s| **s == 503).count();
    assert!((20..=80).contains(&errors), "{errors}");
    assert_eq!(errors + statuses.iter().filter(|s| **s == 200).count(), 194);
}

#[test]
fn flags_serve_refuses_a_bad_dir_and_a_busy_port() {
    let assert = common::flags()
        .args(["serve", "--port", "0", "--dir", "/no/such/dir"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.trim_end(),
        "flags: error: no such folder: /no/such/dir"
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let assert = common::flags()
        .args(["serve", "--port", &port])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_and_sigterm_stop_flags_serve_cleanly() {
    let mut served = flags_serve(&["--port", "0"]);
    assert_eq!(get(&format!("{}/br/metadata.json", served.url)).0, 200);
    assert_eq!(served.stop_with(libc::SIGINT), Some(0));
    // At once after the startup line: the handler must already be in place.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        for _ in 0..5 {
            assert_eq!(flags_serve(&["--port", "0"]).stop_with(signal), Some(0));
        }
    }
}

#[test]
fn http1_and_http2_are_answered_on_one_port_with_the_same_bytes() {
    let site = common::server(flags::server::ServerConfig::default());
    let url = format!("{}/br/br.gif", site.base_url());
    let answers = common::get_both_protocols(&url);
    let flag = flags::dataset::flag_gif("BR").unwrap();
    let versions: Vec<&str> = answers.iter().map(|(v, ..)| v.as_str()).collect();
    assert_eq!(versions, ["HTTP/1.1", "HTTP/2.0"]);
    for (version, status, body) in &answers {
        assert_eq!((*status, body.as_slice()), (200, flag), "{version}");
    }
}
