//! `flags costs`: the chapter's table of what things cost, measured on this
//! machine for exactly what the three models spend. Ryan Dahl's table
//! (L1 cache 3 cycles, RAM 250, disk 41 million, network 240 million) is
//! from another decade and another machine; this one makes "a task is
//! cheaper than a thread" a figure instead of a claim.
//!
//! Each operation is timed in batches (a batch long enough for the clock to
//! see, divided by its length), many batches, and reported as the median
//! of the batches with their 10th and 90th percentiles: a shared machine's
//! noise moves the spread, rarely the median.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

/// What one operation costs, in nanoseconds.
#[derive(Debug, Clone, Serialize)]
pub struct OperationCost {
    /// A short, stable key for machines (`thread_spawn`).
    pub key: &'static str,
    /// What was measured, in words.
    pub what: String,
    /// The median over the batches, nanoseconds per operation.
    pub median_ns: f64,
    /// The 10th percentile over the batches.
    pub p10_ns: f64,
    /// The 90th percentile over the batches.
    pub p90_ns: f64,
    /// How many batches were timed.
    pub batches: usize,
    /// Operations per batch.
    pub per_batch: usize,
}

/// What an idle waiter holds, in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// `idle_thread` or `idle_task`.
    pub key: &'static str,
    /// What was measured, in words.
    pub what: String,
    /// Resident memory per waiter, bytes.
    pub bytes: f64,
    /// How many waiters were held at once to measure it.
    pub waiters: usize,
}

/// The whole table: `flags costs --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Costs {
    /// Every time, cheapest first.
    pub times: Vec<OperationCost>,
    /// What idle waiters hold.
    pub memory: Vec<Footprint>,
    /// Where the file saves were measured.
    pub folders: Vec<String>,
}

/// Times `op` (`per_batch` calls a batch) over `batches` batches.
fn time(
    key: &'static str,
    what: impl Into<String>,
    batches: usize,
    per_batch: usize,
    mut op: impl FnMut(),
) -> OperationCost {
    // One batch to warm caches and allocations.
    for _ in 0..per_batch {
        op();
    }
    let samples: Vec<f64> = (0..batches)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_batch {
                op();
            }
            started.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    from_samples(key, &what.into(), samples, per_batch)
}

#[inline(never)]
fn called(x: u64) -> u64 {
    black_box(x).wrapping_mul(3).wrapping_add(1)
}

/// A read that misses every cache: a random cycle through 64 MiB.
fn cache_miss() -> OperationCost {
    const SLOTS: usize = 8 * 1024 * 1024; // 64 MiB of u64
    let mut order: Vec<usize> = (0..SLOTS).collect();
    // A fixed shuffle (xorshift), so the walk is one long cycle.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..SLOTS).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0usize; SLOTS];
    for w in 0..SLOTS {
        next[order[w]] = order[(w + 1) % SLOTS];
    }
    let mut at = order[0];
    time(
        "memory_read_miss",
        "a memory read that misses the caches",
        40,
        20_000,
        || {
            at = black_box(next[at]);
        },
    )
}

/// Wake-ups between two OS threads: a ping and its pong, halved.
fn thread_wakeup() -> OperationCost {
    let (ping, pings) = mpsc::channel::<u32>();
    let (pong, pongs) = mpsc::channel::<u32>();
    let echo = std::thread::spawn(move || {
        while let Ok(n) = pings.recv() {
            if pong.send(n).is_err() {
                break;
            }
        }
    });
    let mut cost = time(
        "thread_wakeup",
        "an OS thread waking another (ping-pong, halved)",
        40,
        200,
        || {
            let _ = ping.send(1);
            let _ = pongs.recv();
        },
    );
    drop(ping);
    let _ = echo.join();
    halve(&mut cost);
    cost
}

/// Wake-ups between two tokio tasks on one thread, ping-pong halved.
fn task_wakeup(runtime: &tokio::runtime::Runtime) -> OperationCost {
    runtime.block_on(async {
        let (ping, mut pings) = tokio::sync::mpsc::channel::<u32>(1);
        let (pong, mut pongs) = tokio::sync::mpsc::channel::<u32>(1);
        let echo = tokio::spawn(async move {
            while let Some(n) = pings.recv().await {
                if pong.send(n).await.is_err() {
                    break;
                }
            }
        });
        let mut samples = Vec::new();
        for _ in 0..41 {
            let started = Instant::now();
            for _ in 0..1000 {
                let _ = ping.send(1).await;
                let _ = pongs.recv().await;
            }
            samples.push(started.elapsed().as_nanos() as f64 / 1000.0 / 2.0);
        }
        drop(ping);
        let _ = echo.await;
        samples.remove(0);
        from_samples(
            "task_wakeup",
            "a tokio task waking another on one thread (ping-pong, halved)",
            samples,
            1000,
        )
    })
}

/// Spawning a tokio task and awaiting its end, on one thread.
fn task_spawn(runtime: &tokio::runtime::Runtime) -> OperationCost {
    runtime.block_on(async {
        let mut samples = Vec::new();
        for _ in 0..41 {
            let started = Instant::now();
            for i in 0..1000u64 {
                let _ = black_box(tokio::spawn(async move { black_box(i) }).await);
            }
            samples.push(started.elapsed().as_nanos() as f64 / 1000.0);
        }
        samples.remove(0);
        from_samples(
            "task_spawn",
            "spawning a tokio task and awaiting it",
            samples,
            1000,
        )
    })
}

/// An [`OperationCost`] from per-operation samples already taken.
fn from_samples(
    key: &'static str,
    what: &str,
    mut samples: Vec<f64>,
    per_batch: usize,
) -> OperationCost {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    OperationCost {
        key,
        what: what.to_owned(),
        median_ns: at(0.5),
        p10_ns: at(0.1),
        p90_ns: at(0.9),
        batches: samples.len(),
        per_batch,
    }
}

fn halve(cost: &mut OperationCost) {
    cost.median_ns /= 2.0;
    cost.p10_ns /= 2.0;
    cost.p90_ns /= 2.0;
}

/// A byte to a loopback echo server and back, on one connection.
fn loopback_round_trip() -> std::io::Result<OperationCost> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_nodelay(true);
            let mut byte = [0u8; 1];
            while let Ok(1) = stream.read(&mut byte) {
                if stream.write_all(&byte).is_err() {
                    break;
                }
            }
        }
    });
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut byte = [0u8; 1];
    let cost = time(
        "loopback_round_trip",
        "a loopback TCP round trip (one byte there and back)",
        40,
        100,
        || {
            let _ = stream.write_all(b"x");
            let _ = stream.read_exact(&mut byte);
        },
    );
    drop(stream);
    let _ = echo.join();
    Ok(cost)
}

/// A TCP connection on loopback and a TLS 1.3 handshake over it, to a
/// server thread with a certificate made here, the session read to the
/// server's close (so that its tickets arrive): a full handshake, and one
/// resumed from a ticket of the previous connection.
fn tls_handshakes() -> std::io::Result<[OperationCost; 2]> {
    use std::sync::Arc;

    let tls = crate::server::tls::ServerTls::made_here().map_err(std::io::Error::other)?;
    let ca = tls.ca_der().ok_or_else(|| std::io::Error::other("no CA"))?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server_config = Arc::clone(&tls.config);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let server = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let Ok(mut tcp) = stream else { break };
            let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(&server_config)) else {
                break;
            };
            if conn.complete_io(&mut tcp).is_ok() {
                conn.send_close_notify();
                let _ = conn.complete_io(&mut tcp);
            }
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(std::io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = |resume: bool| -> std::io::Result<Arc<rustls::ClientConfig>> {
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(std::io::Error::other)?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Arc::new(config))
    };
    let mut failed = None;
    let mut costs = Vec::new();
    for (key, what, resume) in [
        (
            "tls_full_handshake",
            "a loopback TCP connection and a full TLS 1.3 handshake",
            false,
        ),
        (
            "tls_resumed_handshake",
            "a loopback TCP connection and a resumed TLS 1.3 handshake",
            true,
        ),
    ] {
        let config = client(resume)?;
        // The first session of the resumed row has no ticket yet.
        let mut first = true;
        costs.push(time(key, what, 20, 10, || {
            let mut session = || -> std::io::Result<()> {
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(std::io::Error::other)?;
                let mut conn = rustls::ClientConnection::new(Arc::clone(&config), name)
                    .map_err(std::io::Error::other)?;
                let mut tcp = TcpStream::connect(addr)?;
                tcp.set_nodelay(true)?;
                let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest)?;
                // The row measures what it names, or fails.
                let kind = conn.handshake_kind();
                let resumed = kind == Some(rustls::HandshakeKind::Resumed);
                if resumed != resume && !first {
                    return Err(std::io::Error::other(format!(
                        "{what}: the handshake was {kind:?}"
                    )));
                }
                first = false;
                Ok(())
            };
            if let Err(error) = session() {
                failed.get_or_insert(error);
            }
        }));
    }
    // Ends the server thread: the connection wakes its accept.
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(TcpStream::connect(addr));
    let _ = server.join();
    match (failed, costs.pop(), costs.pop()) {
        (Some(error), _, _) => Err(error),
        (None, Some(resumed), Some(full)) => Ok([full, resumed]),
        _ => Err(std::io::Error::other("no TLS handshake measured")),
    }
}

/// Creating and saving a flag-sized file atomically (temporary file,
/// write, rename), as a download's save does, in `folder`.
fn atomic_save(key: &'static str, folder: &Path) -> std::io::Result<OperationCost> {
    let dir = tempfile::Builder::new()
        .prefix(".flags-costs-")
        .tempdir_in(folder)?;
    let flag = crate::dataset::flag_gif("BR").unwrap_or(&[0u8; 4096]);
    let mut n = 0u64;
    let mut failed = None;
    let cost = time(
        key,
        format!(
            "saving a {}-byte flag atomically in {}",
            flag.len(),
            folder.display()
        ),
        20,
        20,
        || {
            n += 1;
            let path = dir.path().join(format!("F{n}.gif"));
            if let Err(error) = crate::files::write_atomic(&path, flag) {
                failed.get_or_insert(error);
            }
        },
    );
    match failed {
        Some(error) => Err(error),
        None => Ok(cost),
    }
}

/// One request to the embedded flags server (no delay), on a kept-alive
/// connection, body read.
fn embedded_request() -> std::io::Result<OperationCost> {
    let server = crate::server::BackgroundServer::start(crate::server::ServerConfig::default())?;
    let url = format!("{}/br/br.gif", server.base_url());
    let agent = ureq::Agent::new_with_defaults();
    let mut failed = None;
    let cost = time(
        "embedded_request",
        "one request to the embedded flags server (kept-alive, body read)",
        30,
        20,
        || match agent.get(&url).call() {
            Ok(response) => {
                let _ = black_box(response.into_body().read_to_vec());
            }
            Err(error) => {
                failed.get_or_insert(error);
            }
        },
    );
    match failed {
        Some(error) => Err(std::io::Error::other(error)),
        None => Ok(cost),
    }
}

/// This process's resident memory, bytes, from `/proc/self/statm`.
fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    Some(pages * page)
}

/// What an OS thread blocked on a channel holds: its stack as touched, its
/// kernel side aside (not counted in RSS).
fn idle_threads(count: usize) -> Option<Footprint> {
    let before = resident_bytes()?;
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let (ready, readied) = mpsc::channel::<()>();
    let threads: Vec<_> = (0..count)
        .filter_map(|_| {
            let (released, ready) = (Arc::clone(&released), ready.clone());
            std::thread::Builder::new()
                .spawn(move || {
                    let _ = ready.send(());
                    let _ = released.lock().recv();
                })
                .ok()
        })
        .collect();
    for _ in 0..threads.len() {
        let _ = readied.recv();
    }
    let after = resident_bytes()?;
    for _ in 0..threads.len() {
        let _ = release.send(());
    }
    drop(release);
    for thread in threads {
        let _ = thread.join();
    }
    Some(Footprint {
        key: "idle_thread",
        what: "an idle OS thread (blocked on a channel)".into(),
        bytes: (after - before).max(0.0) / count as f64,
        waiters: count,
    })
}

/// What a tokio task waiting on a channel holds.
fn idle_tasks(runtime: &tokio::runtime::Runtime, count: usize) -> Option<Footprint> {
    runtime.block_on(async {
        let before = resident_bytes()?;
        let (release, _) = tokio::sync::broadcast::channel::<()>(1);
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let mut released = release.subscribe();
                tokio::spawn(async move {
                    let _ = released.recv().await;
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let after = resident_bytes()?;
        let _ = release.send(());
        for task in tasks {
            let _ = task.await;
        }
        Some(Footprint {
            key: "idle_task",
            what: "an idle tokio task (waiting on a channel)".into(),
            bytes: (after - before).max(0.0) / count as f64,
            waiters: count,
        })
    })
}

/// Measures everything; `output` is the folder downloads are saved in,
/// where a save is timed (and on `/dev/shm` when there is one).
pub fn measure(output: &Path) -> std::io::Result<Costs> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::new();
    let mut x = 0u64;
    times.push(time(
        "function_call",
        "a function call",
        40,
        100_000,
        || {
            x = called(x);
        },
    ));
    let lock = Mutex::new(0u64);
    times.push(time(
        "mutex_uncontended",
        "locking and unlocking a mutex no one else wants",
        40,
        100_000,
        || *lock.lock() += 1,
    ));
    times.push(contended_mutex());
    times.push(cache_miss());
    times.push(time(
        "thread_spawn",
        "spawning an OS thread and joining it",
        30,
        20,
        || {
            let _ = std::thread::spawn(|| black_box(1)).join();
        },
    ));
    times.push(task_spawn(&runtime));
    times.push(thread_wakeup());
    times.push(task_wakeup(&runtime));
    times.push(loopback_round_trip()?);
    times.extend(tls_handshakes()?);
    times.push(time(
        "getaddrinfo_localhost",
        "getaddrinfo of localhost",
        20,
        10,
        || {
            let _ = black_box(("localhost", 80).to_socket_addrs());
        },
    ));
    let mut folders = vec![output.display().to_string()];
    std::fs::create_dir_all(output)?;
    times.push(atomic_save("save_output", output)?);
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && output != shm {
        folders.push(shm.display().to_string());
        times.push(atomic_save("save_tmpfs", &shm)?);
    }
    times.push(embedded_request()?);
    times.sort_by(|a, b| a.median_ns.total_cmp(&b.median_ns));
    let memory = [idle_threads(200), idle_tasks(&runtime, 10_000)]
        .into_iter()
        .flatten()
        .collect();
    Ok(Costs {
        times,
        memory,
        folders,
    })
}

/// A mutex two threads take turns at.
fn contended_mutex() -> OperationCost {
    let lock = Arc::new(Mutex::new(0u64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rival = {
        let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                *lock.lock() += 1;
            }
        })
    };
    let cost = time(
        "mutex_contended",
        "locking a mutex another thread keeps taking",
        40,
        10_000,
        || *lock.lock() += 1,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = rival.join();
    cost
}

/// The chapter's scale: if `cheapest` took one second, how long `ns` takes.
pub fn on_human_scale(ns: f64, cheapest: f64) -> String {
    let seconds = ns / cheapest.max(1e-3);
    const MINUTE: f64 = 60.0;
    const HOUR: f64 = 60.0 * MINUTE;
    const DAY: f64 = 24.0 * HOUR;
    const YEAR: f64 = 365.25 * DAY;
    let (value, unit) = match seconds {
        s if s < MINUTE => (s, "s"),
        s if s < HOUR => (s / MINUTE, "min"),
        s if s < DAY => (s / HOUR, "h"),
        s if s < YEAR => (s / DAY, "days"),
        s => (s / YEAR, "years"),
    };
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// A duration in nanoseconds as people read it: `1.2 ns`, `35 µs`, `4.1 ms`.
pub fn nanoseconds(ns: f64) -> String {
    let (value, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n if n < 1e9 => (n / 1e6, "ms"),
        n => (n / 1e9, "s"),
    };
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// The table people read.
pub fn table(costs: &Costs) -> String {
    let cheapest = costs.times.first().map_or(1.0, |c| c.median_ns);
    let mut text = String::from(
        "What things cost on this machine (median of the batches, 10th-90th percentile),\n\
         and on the chapter's scale: if the cheapest took one second.\n\n",
    );
    let width = costs
        .times
        .iter()
        .map(|c| c.what.chars().count())
        .max()
        .unwrap_or(0);
    for cost in &costs.times {
        text.push_str(&format!(
            "{:<width$}  {:>7}  [{} – {}]  {:>10}\n",
            cost.what,
            nanoseconds(cost.median_ns),
            nanoseconds(cost.p10_ns),
            nanoseconds(cost.p90_ns),
            on_human_scale(cost.median_ns, cheapest),
        ));
    }
    text.push_str("\nMemory held while waiting:\n");
    for footprint in &costs.memory {
        text.push_str(&format!(
            "{:<width$}  {:>7.1} KiB  (from {} of them at once)\n",
            footprint.what,
            footprint.bytes / 1024.0,
            footprint.waiters
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_human_scale_reads_like_the_chapters() {
        assert_eq!(on_human_scale(1.0, 1.0), "1.0 s");
        assert_eq!(on_human_scale(250.0, 1.0), "4.2 min");
        assert_eq!(on_human_scale(41e6, 1.0), "1.3 years");
        assert_eq!(nanoseconds(1.25), "1.2 ns");
        assert_eq!(nanoseconds(35_000.0), "35 µs");
    }
}
