//! Connections as each mode uses them, seen from a counting proxy between
//! the client and the server: reused while downloads remain, never more
//! than the concurrency, and not kept open once no download can take them.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{MODES, flags, server};
use flags::server::ServerConfig;
use flags::server::delay::Delay;

/// What the proxy saw.
#[derive(Default)]
struct Seen {
    /// Connections the client opened.
    opened: AtomicUsize,
    /// When the client closed each connection (its end of stream).
    closed_by_client: Mutex<Vec<Instant>>,
    /// When the server last sent a byte, on any connection.
    last_answer: Mutex<Option<Instant>>,
}

/// A TCP proxy on 127.0.0.1:0 to `upstream`, counting connections; its
/// threads end with the test process.
fn proxy(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let watch = Arc::clone(&seen);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            watch.opened.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (seen_up, seen_down) = (Arc::clone(&watch), Arc::clone(&watch));
            let (client_in, server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                pump(client_in, server_out, |_| {});
                seen_up
                    .closed_by_client
                    .lock()
                    .unwrap()
                    .push(Instant::now());
            });
            thread::spawn(move || {
                pump(server, client, |_| {
                    *seen_down.last_answer.lock().unwrap() = Some(Instant::now());
                });
            });
        }
    });
    (addr, seen)
}

/// Copies `from` to `to` until `from` ends, calling `sent` for each chunk,
/// then closes `to`'s writing side.
fn pump(mut from: TcpStream, mut to: TcpStream, mut sent: impl FnMut(usize)) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent(n);
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Runs `flags` through a proxy to a server with `delay`; what it saw.
fn run_through_proxy(delay: Delay, args: &[&str]) -> Arc<Seen> {
    let site = server(ServerConfig {
        delay,
        seed: Some(7),
        ..ServerConfig::default()
    });
    let upstream = site.base_url().trim_start_matches("http://");
    let upstream = upstream.split('/').next().unwrap().parse().unwrap();
    let (addr, seen) = proxy(upstream);
    let out = tempfile::tempdir().unwrap();
    flags()
        .args(args)
        .args(["--retries", "0", "--progress", "never", "-q", "-s"])
        .arg(format!("http://{addr}/flags"))
        .arg("-o")
        .arg(out.path())
        .assert()
        .success();
    let count = args.iter().skip_while(|&&arg| arg != "--count").nth(1);
    let count: usize = count.expect("a --count").parse().unwrap();
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), count);
    seen
}

#[test]
fn every_mode_reuses_connections_and_opens_at_most_one_per_download_in_flight() {
    for mode in MODES {
        let delay = Delay::Fixed(Duration::from_millis(5));
        let seen = run_through_proxy(
            delay,
            &[&["-a", "--count", "60"][..], &common::mode_args(mode, "6")].concat(),
        );
        let opened = seen.opened.load(Ordering::SeqCst);
        // hyper's pool, in the async mode, starts a connect as soon as a
        // request finds no idle connection, racing the checkout: when a
        // busy connection comes back first (its task not yet run on a
        // loaded machine), the request takes it. Its connect then stops
        // (the client counts no connection for it), but the proxy may
        // have seen its TCP connection opened: one more than the
        // concurrency in most runs of the debug build beside two busy
        // loops.
        let most = match mode {
            "sequential" => 1,
            "async" => 6 + 2,
            _ => 6,
        };
        assert!(
            (1..=most).contains(&opened),
            "{mode}: {opened} connections for 60 downloads"
        );
    }
}

#[test]
fn async_closes_connections_no_download_can_take_up() {
    // 60 downloads at concurrency 60: none can reuse a connection, so each
    // closes when its flag is in; the fast ones long before the slowest
    // answer (0-600 ms), not all together at the end of the run.
    assert_many_close_before_the_last_answer("60");
}

#[test]
fn async_closes_each_connection_after_its_last_download_not_at_the_end() {
    // 120 downloads at concurrency 60: the first 60 connections are each
    // reused once; once all 120 have started, a connection closes when its
    // flag is in, during the last round, not all together when the run ends
    // (before this, 2 of 60 closed early; now about 35).
    assert_many_close_before_the_last_answer("120");
}

/// Runs `count` async downloads at concurrency 60 from a server answering
/// in 0-600 ms; at least 10 connections must close 200 ms or more before
/// the last answer.
fn assert_many_close_before_the_last_answer(count: &str) {
    let delay = Delay::Range(Duration::ZERO, Duration::from_millis(600));
    let seen = run_through_proxy(
        delay,
        &["-a", "--count", count, "-m", "60", "--mode", "async"],
    );
    let last_answer = seen.last_answer.lock().unwrap().expect("answers were sent");
    let closed = seen.closed_by_client.lock().unwrap();
    let early = closed
        .iter()
        .filter(|&&at| at + Duration::from_millis(200) < last_answer);
    assert!(
        early.count() >= 10,
        "{count} downloads, {} closes, too few well before the last answer (ms before it): {:?}",
        closed.len(),
        closed
            .iter()
            .map(|&at| last_answer.saturating_duration_since(at).as_millis())
            .collect::<Vec<_>>()
    );
}

#[test]
fn http2_rides_exactly_the_connections_asked_for_even_on_a_loaded_machine() {
    // 60 downloads, 50 in flight: one connection carries them all as
    // streams; four carry them four ways. hyper's pool frees its
    // connecting lock as it pools a connection, so a request that found
    // the pool empty just before could open one more (about 1 run in 150
    // beside two busy loops, docs/http2.md) unless its connect waits for
    // it to take the pooled one.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for _ in 0..8 {
        for (connections, asked) in [("1", 1), ("4", 4)] {
            let delay = Delay::Fixed(Duration::from_millis(20));
            let seen = run_through_proxy(
                delay,
                &["-a", "--count", "60", "-m", "50", "--http2"][..]
                    .iter()
                    .chain(&["--connections", connections])
                    .copied()
                    .collect::<Vec<_>>(),
            );
            let opened = seen.opened.load(Ordering::SeqCst);
            assert_eq!(opened, asked, "--connections {connections}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in busy {
        thread.join().unwrap();
    }
}

/// An HTTP proxy on 127.0.0.1:0 that takes every request to `upstream`,
/// whatever host it names: a `CONNECT` is answered and tunnelled, any
/// other request (an absolute URL) is passed on as it came; the first line
/// of each request it received.
fn http_proxy(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    serve_proxy(move |client| {
        // The request's head, a byte at a time up to its blank line.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match client.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        let line = String::from_utf8_lossy(&head).lines().next()?.to_owned();
        let mut server = TcpStream::connect(upstream).ok()?;
        if line.starts_with("CONNECT ") {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .ok()?;
        } else {
            server.write_all(&head).ok()?;
        }
        Some((line, server))
    })
}

/// A SOCKS5 proxy on 127.0.0.1:0 (no authentication, `CONNECT` only) that
/// takes every connection to `upstream`, whatever it is asked for; the
/// destination of each, as `host:port`.
fn socks_proxy(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    serve_proxy(move |client| {
        let read = |client: &mut TcpStream, n: usize| {
            let mut bytes = vec![0u8; n];
            client.read_exact(&mut bytes).ok().map(|()| bytes)
        };
        let greeting = read(client, 2)?;
        read(client, usize::from(greeting[1]))?;
        // No authentication.
        client.write_all(&[5, 0]).ok()?;
        let [5, 1, 0, kind] = read(client, 4)?[..] else {
            return None;
        };
        let host = match kind {
            1 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(read(client, 4)?).ok()?).to_string(),
            3 => {
                let len = read(client, 1)?[0];
                String::from_utf8(read(client, usize::from(len))?).ok()?
            }
            _ => return None,
        };
        let port = read(client, 2)?;
        let port = u16::from_be_bytes([port[0], port[1]]);
        let server = TcpStream::connect(upstream).ok()?;
        // Succeeded; the bound address is not used by the clients.
        client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).ok()?;
        Some((format!("{host}:{port}"), server))
    })
}

/// A proxy on 127.0.0.1:0 whose `open` reads a client's request, answers
/// it and connects upstream; then bytes are pumped both ways. What `open`
/// said of each client is kept.
fn serve_proxy(
    open: impl Fn(&mut TcpStream) -> Option<(String, TcpStream)> + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let open = Arc::new(open);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let (log, open) = (Arc::clone(&log), Arc::clone(&open));
            thread::spawn(move || {
                let Some((said, server)) = open(&mut client) else {
                    return;
                };
                log.lock().unwrap().push(said);
                let (client_in, server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pump(client_in, server_out, |_| {}));
                pump(server, client, |_| {});
            });
        }
    });
    (addr, asked)
}

/// `flags` with the proxy variables of the environment as given, none other.
fn flags_with_proxy(variables: &[(&str, String)]) -> assert_cmd::Command {
    let mut command = flags();
    for name in ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"] {
        command.env_remove(name).env_remove(name.to_lowercase());
    }
    for (name, value) in variables {
        command.env(name, value);
    }
    command
}

/// Runs `flags BR CN` in `mode` from `url` with the proxy `variables`;
/// its JSON report, after checking that both flags were saved whole.
fn download_through_proxy(
    mode: &str,
    variables: &[(&str, String)],
    url: &str,
) -> serde_json::Value {
    let out = tempfile::tempdir().unwrap();
    let output = flags_with_proxy(variables)
        .args([
            "BR",
            "CN",
            "--retries",
            "0",
            "--progress",
            "never",
            "--json",
        ])
        .args(common::mode_args(mode, "2"))
        .args(["-s", url, "-o"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{mode}: {output:?}");
    let report = common::json(&output.stdout);
    assert_eq!(report["counts"]["ok"], 2, "{mode}: {report}");
    let saved = common::files(out.path());
    assert_eq!(
        saved["BR.gif"],
        flags::dataset::flag_gif("BR").unwrap(),
        "{mode}"
    );
    report
}

/// The server's address, `127.0.0.1:port`.
fn address_of(site: &flags::server::BackgroundServer) -> std::net::SocketAddr {
    let upstream = site.base_url().trim_start_matches("http://");
    upstream.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn every_mode_goes_through_the_http_proxy_of_the_environment() {
    let site = server(ServerConfig::default());
    let (proxy, asked) = http_proxy(address_of(&site));
    let through = ("HTTP_PROXY", format!("http://{proxy}"));
    for mode in MODES {
        // flags.invalid is nowhere: only the proxy reaches it.
        let report = download_through_proxy(
            mode,
            std::slice::from_ref(&through),
            "http://flags.invalid/flags",
        );
        // The proxy's address needs no lookup, the target's is the proxy's.
        assert_eq!(report["lookups"], 0, "{mode}: {report}");
        // ureq tunnels an http:// URL with CONNECT, reqwest asks the proxy
        // for the absolute URL: two ways of the same proxy, both HTTP's.
        let lines = std::mem::take(&mut *asked.lock().unwrap());
        assert!(!lines.is_empty(), "{mode}");
        for line in lines {
            let fine = if mode == "async" {
                ["br", "cn"].iter().any(|cc| {
                    line == format!("GET http://flags.invalid/flags/{cc}/{cc}.gif HTTP/1.1")
                })
            } else {
                line == "CONNECT flags.invalid:80 HTTP/1.1"
            };
            assert!(fine, "{mode}: {line}");
        }
        // NO_PROXY names the host: no proxy, and no address for it.
        let out = tempfile::tempdir().unwrap();
        let output = flags_with_proxy(&[through.clone(), ("NO_PROXY", "flags.invalid".into())])
            .args(["BR", "--retries", "0", "--progress", "never", "-q"])
            .args(common::mode_args(mode, "2"))
            .args(["-s", "http://flags.invalid/flags", "-o"])
            .arg(out.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{mode}: {output:?}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains("cannot look up flags.invalid"),
            "{mode}: {said}"
        );
        assert!(asked.lock().unwrap().is_empty(), "{mode}");
    }
}

#[test]
fn every_mode_goes_through_the_socks_proxy_of_the_environment() {
    let site = server(ServerConfig::default());
    let upstream = address_of(&site);
    let (proxy, asked) = socks_proxy(upstream);
    for mode in MODES {
        // socks5://: the client looks the name up and asks for an address.
        let local = ("ALL_PROXY", format!("socks5://{proxy}"));
        download_through_proxy(mode, &[local], site.base_url());
        let asked_for = std::mem::take(&mut *asked.lock().unwrap());
        assert!(!asked_for.is_empty(), "{mode}");
        assert!(
            asked_for.iter().all(|a| *a == upstream.to_string()),
            "{mode}: {asked_for:?}"
        );
        // socks5h://: the proxy looks the name up; flags.invalid is
        // nowhere but behind it.
        let remote = ("ALL_PROXY", format!("socks5h://{proxy}"));
        let report = download_through_proxy(mode, &[remote], "http://flags.invalid/flags");
        assert_eq!(report["lookups"], 0, "{mode}: {report}");
        let asked_for = std::mem::take(&mut *asked.lock().unwrap());
        assert!(!asked_for.is_empty(), "{mode}");
        assert!(
            asked_for.iter().all(|a| a == "flags.invalid:80"),
            "{mode}: {asked_for:?}"
        );
    }
}

#[test]
fn http2_streams_beyond_the_connections_slots_wait_before_their_timeout_runs() {
    // The server allows 2 streams a connection and answers in 200 ms: 30
    // requests take 15 rounds, 3 s, longer than the 2 s timeout. Held back
    // by --streams 2 before they are sent, none times out, none is
    // retried; waiting in the client library, the late ones would.
    let mut config = ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    config.limits.max_streams = 2;
    let site = server(config);
    let dir = tempfile::tempdir().unwrap();
    let args = ["-a", "-l", "30", "-m", "30", "--http2", "--streams", "2"];
    let assert = flags()
        .args(args)
        .args(["--timeout", "2s", "--retries", "0", "--json", "-s"])
        .arg(site.base_url())
        .arg("-o")
        .arg(dir.path())
        .assert()
        .success();
    let report = common::json(&assert.get_output().stdout);
    assert_eq!(report["counts"]["ok"], 30, "{report}");
    assert_eq!(report["counts"]["retries"], 0, "{report}");
    assert_eq!(report["connections"], 1, "{report}");
    assert_eq!(report["peak_in_flight"], 2, "{report}");
    // The ideal counts the rounds the slots make: 15 × 100 ms.
    let embedded = common::run_json(
        &[&args[..], &["--server-delay", "100ms"]].concat(),
        &dir.path().join("embedded"),
        0,
    );
    assert_eq!(embedded["ideal_seconds"], 1.5, "{embedded}");
    // The header says how many can be in flight.
    let header = flags()
        .args(args)
        .args(["-s", site.base_url(), "-o"])
        .arg(dir.path().join("header"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&header.stdout).into_owned();
    assert!(
        stdout.contains("HTTP/2: 1 connection × 2 streams: 2 in flight at most (--streams)."),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n2 requests at once as HTTP/2 streams over 1 connection (async).\n"),
        "{stdout}"
    );
}

#[test]
fn a_socks_proxy_that_is_not_there_is_connection_refused_in_every_mode() {
    // hyper-util's SOCKS error says "refused" only in its Debug form
    // (causes.rs reads it there): this pins that text to the version in
    // Cargo.lock, so an upgrade that moves it fails here.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let site = server(ServerConfig::default());
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let output = flags()
            .args([
                "BR",
                "--retries",
                "0",
                "--json",
                "-s",
                site.base_url(),
                "-o",
            ])
            .arg(dir.path())
            .args(common::mode_args(mode, "1"))
            .env("ALL_PROXY", format!("socks5://127.0.0.1:{port}"))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap();
        let report = common::json(&output.stdout);
        let reason = report["results"][0]["reason"].as_str().unwrap_or_default();
        assert_eq!(
            reason, "connection failed: connection refused",
            "{mode}: {report}"
        );
    }
}

#[test]
fn one_h2_in_the_lock_so_the_errors_causes_rs_downcasts_are_reqwests() {
    // causes.rs downcasts reqwest's error sources to `h2::Error`: that
    // works only while the h2 of Cargo.toml is the one hyper uses.
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let h2s = lock.lines().filter(|line| *line == "name = \"h2\"").count();
    assert_eq!(
        h2s, 1,
        "more than one h2 in Cargo.lock: the downcasts in causes.rs may miss"
    );
}
