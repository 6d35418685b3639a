//! Servers that hold: `flags serve` and `charfinder` against clients that
//! hold resources, races on the file system, and queries that cost more to
//! answer than to ask.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, ChildServer, spawn_server, spawn_server_logging};

/// The `host:port` of a server's URL.
fn addr_of(server: &ChildServer) -> String {
    server
        .url
        .trim_start_matches("http://")
        .trim_start_matches("tcp://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Sends one GET and reads the whole answer (status, body), within `limit`.
fn get(addr: &str, path: &str, limit: Duration) -> (u16, Vec<u8>) {
    let (status, body) = common::raw_request(addr, &format!("GET {path}"), limit)
        .unwrap_or_else(|e| panic!("GET {path}: no whole answer within {limit:?}: {e}"));
    assert_ne!(
        status,
        0,
        "GET {path}: no head in {:?}",
        String::from_utf8_lossy(&body)
    );
    (status, body)
}

/// A copy of the data set's BR and US in a fresh folder.
fn flags_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for cc in ["br", "us"] {
        std::fs::create_dir(dir.path().join(cc)).unwrap();
        let gif = flags::dataset::flag_gif(cc).unwrap();
        std::fs::write(dir.path().join(cc).join(format!("{cc}.gif")), gif).unwrap();
    }
    dir
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn a_fifo_or_a_folder_named_like_a_flag_is_404_at_once_and_sigterm_still_stops_the_server() {
    let dir = flags_folder();
    std::fs::create_dir(dir.path().join("fi")).unwrap();
    mkfifo(&dir.path().join("fi").join("fi.gif"));
    std::fs::create_dir_all(dir.path().join("dd").join("dd.gif")).unwrap();
    let mut server = spawn_server(
        "flags",
        &[
            "serve",
            "--port",
            "0",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
    );
    let addr = addr_of(&server);
    let quick = Duration::from_secs(5);
    assert_eq!(get(&addr, "/flags/fi/fi.gif", quick).0, 404);
    assert_eq!(get(&addr, "/flags/dd/dd.gif", quick).0, 404);
    assert_eq!(get(&addr, "/flags/br/br.gif", quick).0, 200);
    // A client that sent half a request, and another that asked for the FIFO.
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /flags/fi/fi.gif HTTP/1.1\r\nHo")
        .unwrap();
    let started = Instant::now();
    assert_eq!(server.stop_with(libc::SIGTERM), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    for (bin, service) in [
        ("flags", "serve"),
        ("charfinder", "tcp"),
        ("charfinder", "http"),
    ] {
        let server = spawn_server(bin, &[service, "--port", "0", "--header-timeout", "1s"]);
        let mut silent = TcpStream::connect(addr_of(&server)).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = Instant::now();
        let mut seen = Vec::new();
        // The TCP service sends its prompt first; then the close.
        let closed = loop {
            let mut buf = [0u8; 64];
            match silent.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        let took = started.elapsed();
        assert!(closed, "{bin} {service}: not closed");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(10),
            "{bin} {service}: closed after {took:?}"
        );
    }
}

#[test]
fn beyond_the_connection_cap_a_client_waits_and_is_served_once_one_closes() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = spawn_server_logging(
        "flags",
        &[
            "serve",
            "--port",
            "0",
            "--max-connections",
            "50",
            "--header-timeout",
            "60s",
        ],
        log.reopen().unwrap(),
    );
    let addr = addr_of(&server);
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // The server says when it holds all it may.
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(log.path())
        .unwrap()
        .contains("50 connections open, the most allowed")
    {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the cap was never reached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let served = AtomicBool::new(false);
    let (queued, is_queued) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let mut client = TcpStream::connect(&addr).unwrap();
            client
                .write_all(b"GET /flags/br/br.gif HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            queued.send(()).unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).unwrap();
            served.store(true, Ordering::SeqCst);
            answer
        });
        // Its request is in the backlog; the server then answers one on a
        // connection it holds: had it taken the waiting one, it would have
        // answered that too by now.
        is_queued.recv().unwrap();
        let held = &mut idle[0];
        held.write_all(b"HEAD /flags/br/br.gif HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && held.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        assert!(!served.load(Ordering::SeqCst), "served beyond the cap");
        drop(idle.pop());
        let answer = waiting.join().unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        assert!(answer.ends_with(flags::dataset::flag_gif("BR").unwrap()));
    });
    let log = std::fs::read_to_string(log.path()).unwrap();
    assert!(log.lines().count() <= 3, "{log}");
    assert!(
        log.contains("50 connections open, the most allowed"),
        "{log}"
    );
}

/// Swaps `a` and `b` atomically (renameat2 with RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> bool {
    let a = std::ffi::CString::new(a.as_os_str().as_encoded_bytes()).unwrap();
    let b = std::ffi::CString::new(b.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid, NUL-terminated paths.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

#[test]
fn a_symlink_swapped_in_and_out_of_the_folder_never_serves_outside_bytes() {
    let outside = tempfile::tempdir().unwrap();
    let secret = b"GIF89a this is outside the served folder".to_vec();
    std::fs::create_dir(outside.path().join("sw")).unwrap();
    std::fs::write(outside.path().join("sw").join("sw.gif"), &secret).unwrap();
    std::fs::write(outside.path().join("secret.gif"), &secret).unwrap();
    let dir = flags_folder();
    let inside = b"GIF89a inside".to_vec();
    // sw/sw.gif is a file; sw/other a symlink out. xx/ is a folder; xxlink
    // a symlink to a folder outside. Each pair is swapped again and again.
    std::fs::create_dir(dir.path().join("sw")).unwrap();
    std::fs::write(dir.path().join("sw").join("sw.gif"), &inside).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.gif"),
        dir.path().join("sw").join("other"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("xx")).unwrap();
    std::fs::write(dir.path().join("xx").join("xx.gif"), &inside).unwrap();
    std::fs::create_dir(outside.path().join("xx")).unwrap();
    std::fs::write(outside.path().join("xx").join("xx.gif"), &secret).unwrap();
    std::os::unix::fs::symlink(outside.path().join("xx"), dir.path().join("xxlink")).unwrap();
    let server = spawn_server(
        "flags",
        &[
            "serve",
            "--port",
            "0",
            "--dir",
            dir.path().to_str().unwrap(),
            // Every request opens and checks the file, so that the race
            // is run at every request, not once a second.
            "--recheck",
            "0s",
        ],
    );
    let addr = addr_of(&server);
    let stop = AtomicBool::new(false);
    let (leaked, served_inside, answers) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                exchange(
                    &dir.path().join("sw").join("sw.gif"),
                    &dir.path().join("sw").join("other"),
                );
                exchange(&dir.path().join("xx"), &dir.path().join("xxlink"));
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    for path in ["/flags/sw/sw.gif", "/flags/xx/xx.gif"] {
                        let (status, body) = get(&addr, path, Duration::from_secs(10));
                        answers.fetch_add(1, Ordering::Relaxed);
                        if body == secret {
                            leaked.fetch_add(1, Ordering::Relaxed);
                        } else if status == 200 && body == inside {
                            served_inside.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        // The race runs for a number of answers, not a time: as strong on
        // a slow machine, and over as soon as it has enough.
        let give_up = Instant::now() + Duration::from_secs(20);
        while (answers.load(Ordering::Relaxed) < 5000 || served_inside.load(Ordering::Relaxed) == 0)
            && Instant::now() < give_up
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (leaked, inside, answers) = (
        leaked.into_inner(),
        served_inside.into_inner(),
        answers.into_inner(),
    );
    assert_eq!(
        leaked, 0,
        "{leaked} of {answers} answers were bytes from outside the folder"
    );
    assert!(
        inside > 0 && answers >= 5000,
        "the race did not run: {inside} of {answers}"
    );
}

#[test]
fn a_file_changed_under_dir_is_served_changed_once_the_recheck_time_has_passed() {
    let dir = flags_folder();
    let file = dir.path().join("br").join("br.gif");
    let before = std::fs::read(&file).unwrap();
    let after = b"GIF89a a new flag".to_vec();
    let serve = |recheck: &str| {
        let args = [
            "serve",
            "--port",
            "0",
            "--dir",
            dir.path().to_str().unwrap(),
        ];
        let recheck = ["--recheck", recheck];
        spawn_server("flags", &[&args[..], &recheck[..]].concat())
    };
    // One server checks at every request, one keeps the bytes for an
    // hour, one for a second (the default).
    let (every, hour, second) = (serve("0s"), serve("1h"), serve("1s"));
    let limit = Duration::from_secs(10);
    for server in [&every, &hour, &second] {
        assert_eq!(get(&addr_of(server), "/flags/br/br.gif", limit).1, before);
    }
    std::fs::write(&file, &after).unwrap();
    let changed = Instant::now();
    assert_eq!(get(&addr_of(&every), "/flags/br/br.gif", limit).1, after);
    assert_eq!(get(&addr_of(&hour), "/flags/br/br.gif", limit).1, before);
    // The one-second server serves the new bytes once it checks again:
    // never before a second has passed, and soon after.
    loop {
        let body = get(&addr_of(&second), "/flags/br/br.gif", limit).1;
        if body == after {
            break;
        }
        assert_eq!(body, before);
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "never checked again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        changed.elapsed() >= Duration::from_secs(1),
        "checked again too soon"
    );
    assert_eq!(get(&addr_of(&hour), "/flags/br/br.gif", limit).1, before);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Bytes that arrived on `streams` and are not read yet.
fn unread(streams: &[TcpStream]) -> usize {
    use std::os::fd::AsRawFd;
    streams
        .iter()
        .map(|stream| {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int, the bytes queued on the socket.
            unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
            usize::try_from(n).unwrap_or(0)
        })
        .sum()
}

/// Waits until the server has written all it can to clients that never
/// read: what they hold unread stops growing for half a second.
fn wait_until_stuck(streams: &[TcpStream]) {
    let give_up = Instant::now() + Duration::from_secs(60);
    let (mut last, mut still) = (unread(streams), 0);
    while still < 5 {
        assert!(
            Instant::now() < give_up,
            "what the clients hold unread never stopped growing: {last} bytes"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = unread(streams);
        still = if now == last && now > 0 { still + 1 } else { 0 };
        last = now;
    }
}

#[test]
fn clients_that_never_read_hold_little_memory_and_others_are_still_served() {
    let server = spawn_server("charfinder", &["tcp", "--port", "0"]);
    let addr = addr_of(&server);
    let pid = server.child.id();
    let before = rss_kib(pid);
    // 200 clients ask for the largest answer (over 100,000 lines), ten
    // times each, and never read.
    let hogs: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut hog = TcpStream::connect(&addr).unwrap();
            hog.write_all(&b"cjk\r\n".repeat(10)).unwrap();
            hog
        })
        .collect();
    wait_until_stuck(&hogs);
    let during = rss_kib(pid);
    // An ordinary client is answered meanwhile.
    let mut client = TcpStream::connect(&addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(b"cat face\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("matches for 'cat face'") {
        let n = client
            .read(&mut buf)
            .expect("an answer while 200 clients hog");
        assert!(n > 0);
        answer.extend_from_slice(&buf[..n]);
    }
    drop(hogs);
    let grew = during.saturating_sub(before) / 1024;
    assert!(
        grew < 100,
        "RSS grew by {grew} MiB ({before} KiB before, {during} KiB during)"
    );
}

#[test]
fn a_word_repeated_255_times_gets_the_answer_of_the_word_once() {
    let server = spawn_server("charfinder", &["tcp", "--port", "0"]);
    let ask = |query: &str| {
        let mut client = TcpStream::connect(addr_of(&server)).unwrap();
        client.write_all(format!("{query}\r\n").as_bytes()).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        answer
    };
    let once = ask("cat");
    let repeated = ask(&"cat ".repeat(255));
    assert_eq!(
        once.replace("for 'cat'", ""),
        repeated.replace(&format!("for '{}'", "cat ".repeat(255).trim()), "")
    );
    let many: String = (0..20).map(|i| format!("w{i} ")).collect();
    assert!(ask(&many).contains("error: a query has at most 16 different words"));
}

#[test]
fn start_and_stop_near_the_largest_number_are_400_not_overflows() {
    let server = spawn_server("charfinder", &["http", "--port", "0"]);
    let addr = addr_of(&server);
    for query in [
        "/api/search?q=cat&start=18446744073709551610",
        "/api/search?q=cat&start=0&stop=18446744073709551615",
        "/api/search?q=cat&start=99999999999999999999999",
    ] {
        assert_eq!(get(&addr, query, Duration::from_secs(5)).0, 400, "{query}");
    }
    let (status, body) = get(
        &addr,
        "/api/search?q=cat&start=4294967295",
        Duration::from_secs(5),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
