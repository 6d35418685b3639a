//! charfinder end to end: the CLI, the TCP service and the HTTP API, on
//! 127.0.0.1 only; and the search page in headless Chromium.

use crate::common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn charfinder() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("charfinder").unwrap()
}

#[test]
fn cli_prints_results_and_the_count() {
    let assert = charfinder().args(["cat", "face"]).assert().success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "U+1F431\t🐱\tCAT FACE");
    assert_eq!(*lines.last().unwrap(), "10 matches for 'cat face'");
    assert_eq!(lines.len(), 11);
    assert!(
        lines[..10]
            .iter()
            .all(|l| l.contains("CAT") && l.contains("FACE"))
    );

    let assert = charfinder()
        .args(["LATIN", "capital", "letter", "a", "with", "ring", "above"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with("U+00C5\tÅ\tLATIN CAPITAL LETTER A WITH RING ABOVE\n"),
        "{stdout}"
    );

    let assert = charfinder().args(["xyzzy", "plugh"]).assert().code(1);
    assert_eq!(
        String::from_utf8_lossy(&assert.get_output().stdout),
        "No match for 'xyzzy plugh'\n"
    );

    let assert = charfinder().assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// A charfinder server on a free port, and its `host:port`.
fn start(service: &str) -> (common::ChildServer, String) {
    let server = common::spawn_server("charfinder", &[service, "--port", "0"]);
    let addr = server
        .url
        .trim_start_matches("tcp://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{}", server.url);
    (server, addr)
}

/// Reads until `marker` has been received; returns everything read.
fn read_until(stream: &mut impl Read, marker: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).ends_with(marker) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before '{marker}': {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn a_tcp_session_with_queries_a_bad_line_and_eof() {
    let (_server, addr) = start("tcp");
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_until(&mut stream, "?> "), "?> ");

    stream.write_all(b"cat face\r\n").unwrap();
    let answer = read_until(&mut stream, "?> ");
    assert!(answer.starts_with("U+1F431\t🐱\tCAT FACE\r\n"), "{answer}");
    assert!(
        answer.ends_with("10 matches for 'cat face'\r\n?> "),
        "{answer}"
    );
    assert_eq!(answer.matches("\r\n").count(), 11);

    stream.write_all(b"chess black knight\n").unwrap();
    let answer = read_until(&mut stream, "?> ");
    assert!(
        answer.contains("U+265E\t♞\tBLACK CHESS KNIGHT\r\n"),
        "{answer}"
    );

    stream.write_all(b"xyzzy\r\n").unwrap();
    assert_eq!(
        read_until(&mut stream, "?> "),
        "No match for 'xyzzy'\r\n?> "
    );

    stream.write_all(&[b'a'; 5000]).unwrap();
    stream.write_all(b"\r\n").unwrap();
    assert_eq!(
        read_until(&mut stream, "?> "),
        "error: line longer than 1024 bytes\r\n?> "
    );

    stream.write_all(b"caf\xff\xfe\r\n").unwrap();
    assert_eq!(
        read_until(&mut stream, "?> "),
        "error: the query is not valid UTF-8\r\n?> "
    );

    stream.write_all(b"sun\r\n").unwrap();
    assert!(read_until(&mut stream, "?> ").contains("BLACK SUN WITH RAYS"));

    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn a_control_character_closes_the_tcp_session() {
    let (_server, addr) = start("tcp");
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    read_until(&mut stream, "?> ");
    stream.write_all(b"\x03\r\n").unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn five_hundred_concurrent_tcp_clients_are_answered() {
    let (_server, addr) = start("tcp");
    // All connected and prompted before any of them asks.
    let mut clients: Vec<TcpStream> = (0..500)
        .map(|_| {
            let s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s
        })
        .collect();
    for client in &mut clients {
        assert_eq!(read_until(client, "?> "), "?> ");
    }
    let queries = ["cat face", "black chess", "sun"];
    for (i, client) in clients.iter_mut().enumerate() {
        write!(client, "{}\r\n", queries[i % 3]).unwrap();
    }
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            std::thread::spawn(move || {
                let answer = read_until(&mut client, "?> ");
                (i, answer)
            })
        })
        .collect();
    for handle in handles {
        let (i, answer) = handle.join().unwrap();
        let words: Vec<String> = queries[i % 3].split(' ').map(str::to_uppercase).collect();
        let lines: Vec<&str> = answer.trim_end_matches("?> ").lines().collect();
        let (count, results) = lines.split_last().unwrap();
        assert!(
            count.ends_with(&format!("matches for '{}'", queries[i % 3])),
            "{i}: {count}"
        );
        assert!(
            results
                .iter()
                .all(|l| words.iter().all(|w| l.contains(w.as_str()))),
            "{i}"
        );
    }
}

fn get_json(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let url = format!("http://{addr}{path}");
    let answer = common::http("GET", &url);
    (answer.status, serde_json::from_slice(&answer.body).unwrap())
}

#[test]
fn http_pages_add_up_to_the_total_with_no_duplicates() {
    let (_server, addr) = start("http");
    let (status, first) = get_json(&addr, "/api/search?q=latin&start=0&stop=100");
    assert_eq!(status, 200);
    let total = first["total"].as_u64().unwrap() as usize;
    assert!(total > 1000, "{total}");
    let mut seen = HashSet::new();
    let mut start = 0;
    let mut last_cp = 0;
    while start < total {
        let (_, page) = get_json(
            &addr,
            &format!("/api/search?q=latin&start={start}&stop={}", start + 1000),
        );
        assert_eq!(page["start"], start);
        let chars = page["chars"].as_array().unwrap();
        assert!(chars.len() <= 100, "stop is capped");
        assert_eq!(page["stop"].as_u64().unwrap() as usize, start + chars.len());
        for c in chars {
            let cp = u32::from_str_radix(&c["cp"].as_str().unwrap()[2..], 16).unwrap();
            assert!(cp > last_cp || seen.is_empty(), "sorted by code point");
            last_cp = cp;
            assert!(c["name"].as_str().unwrap().contains("LATIN"));
            assert_eq!(
                c["char"].as_str().unwrap().chars().next().map(u32::from),
                Some(cp)
            );
            assert!(seen.insert(cp), "duplicate {cp:X}");
        }
        start += chars.len();
    }
    assert_eq!(seen.len(), total);
}

#[test]
fn http_bad_parameters_are_400_with_a_json_error() {
    let (_server, addr) = start("http");
    for path in [
        "/api/search",
        "/api/search?q=",
        "/api/search?q=cat&start=x",
        "/api/search?q=cat&stop=-1",
        "/api/search?q=cat&start=10&stop=5",
    ] {
        let (status, body) = get_json(&addr, path);
        assert_eq!(status, 400, "{path}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    let page = common::http("GET", &format!("http://{}/", addr));
    assert!(
        page.header("Content-Type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<input id=\"q\"") && html.contains("/api/search"));
    assert!(!html.contains("innerHTML"), "results must go in as text");
}

#[test]
fn the_page_fetches_in_pages_as_the_user_scrolls_in_headless_chromium() {
    let (_server, addr) = start("http");
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("charfinder-page.png");
    let url = format!("http://{addr}/");
    let Some(summary) = common::browser("charfinder.mjs", &[url.as_ref(), screenshot.as_os_str()])
    else {
        return;
    };
    assert_eq!(summary["rows"], summary["total"]);
    assert!(summary["scrolls"].as_u64().unwrap() > 0);
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 1000,
        "screenshot saved"
    );
}

#[test]
fn ctrl_c_and_sigterm_stop_both_services_cleanly() {
    for service in ["tcp", "http"] {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // Right after the startup line, before any request.
            let (mut server, _) = start(service);
            assert_eq!(server.stop_with(signal), Some(0), "{service} {signal}");
        }
    }
}

#[test]
fn http_answers_http1_and_http2_on_one_port_with_the_same_json() {
    let (_server, addr) = start("http");
    let answers = common::get_both_protocols(&format!("http://{addr}/api/search?q=cat%20face"));
    let versions: Vec<&str> = answers.iter().map(|(v, ..)| v.as_str()).collect();
    assert_eq!(versions, ["HTTP/1.1", "HTTP/2.0"]);
    assert_eq!(answers[0].1, 200);
    assert_eq!(answers[0].1, answers[1].1);
    assert_eq!(answers[0].2, answers[1].2);
    assert!(String::from_utf8_lossy(&answers[0].2).contains("CAT FACE"));
}
