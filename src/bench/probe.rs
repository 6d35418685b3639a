//! The machine's speed while a bench runs, measured between rounds on a
//! fixed piece of the work a download does, none of it flags' code:
//! arithmetic on every core, round trips over a loopback TCP connection
//! between two threads (the kernel's sockets and a wake-up each way), and
//! small files written and renamed in the bench's scratch folder. On a
//! shared machine another tenant's load slows every cell, and not only
//! its arithmetic: a probe of arithmetic alone saw the machine unchanged
//! while the cells ran a quarter slower. The gate (`--baseline`) compares
//! this figure with the baseline's before it blames the code for a slower
//! cell.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

/// Steps of the arithmetic each core does per probe: about a millisecond.
const STEPS: u64 = 1_000_000;

/// Round trips of a small message over loopback per probe.
const ROUND_TRIPS: usize = 100;

/// Files written and renamed per probe.
const FILES: usize = 30;

/// Probes taken together; the quickest of them is the figure, so that a
/// passing hiccup does not count, while a load that lasts (another
/// process busy on a core) slows every one of them.
const TRIES: usize = 3;

/// The machine's speed now: the quickest of [`TRIES`] probes, in seconds,
/// its files written in `scratch`; `None` when the machine refused a
/// socket or a file (the gate then has one probe fewer).
pub(crate) fn machine_seconds(cores: usize, scratch: &Path) -> Option<f64> {
    (0..TRIES)
        .map(|_| probe(cores, scratch).ok())
        .collect::<Option<Vec<f64>>>()
        .map(|all| all.into_iter().fold(f64::INFINITY, f64::min))
}

/// One probe: the three parts one after the other, in seconds.
fn probe(cores: usize, scratch: &Path) -> io::Result<f64> {
    let started = Instant::now();
    arithmetic(cores);
    loopback(ROUND_TRIPS)?;
    files(scratch, FILES)?;
    Ok(started.elapsed().as_secs_f64())
}

/// `cores` threads doing [`STEPS`] dependent multiply-adds each, started
/// together.
fn arithmetic(cores: usize) {
    std::thread::scope(|scope| {
        for seed in 0..cores.max(1) as u64 {
            scope.spawn(move || {
                let mut x = black_box(seed);
                for step in 0..STEPS {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(step);
                }
                black_box(x)
            });
        }
    });
}

/// `count` round trips of 64 bytes between this thread and an echoing
/// one, over a fresh loopback connection.
fn loopback(count: usize) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let address = listener.local_addr()?;
    std::thread::scope(|scope| {
        let echo = scope.spawn(move || -> io::Result<()> {
            let (mut stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            let mut message = [0u8; 64];
            for _ in 0..count {
                stream.read_exact(&mut message)?;
                stream.write_all(&message)?;
            }
            Ok(())
        });
        let asked = (|| {
            let mut stream = TcpStream::connect(address)?;
            stream.set_nodelay(true)?;
            let mut message = [7u8; 64];
            for _ in 0..count {
                stream.write_all(&message)?;
                stream.read_exact(&mut message)?;
            }
            Ok(())
        })();
        let echoed = echo
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the echo thread panicked")));
        asked.and(echoed)
    })
}

/// `count` files of 1,000 bytes written to a temporary name and renamed
/// in `folder`, as a save is, then removed.
fn files(folder: &Path, count: usize) -> io::Result<()> {
    let body = [b'f'; 1000];
    let mut made = Vec::with_capacity(count);
    let result = (|| {
        for i in 0..count {
            let (temporary, saved) = (
                folder.join(format!(".probe-{i}.part")),
                folder.join(format!("probe-{i}")),
            );
            std::fs::write(&temporary, body)?;
            std::fs::rename(&temporary, &saved)?;
            made.push(saved);
        }
        Ok(())
    })();
    for path in made {
        let _ = std::fs::remove_file(path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_takes_a_few_milliseconds_not_nothing_and_leaves_no_file() {
        let scratch = tempfile::tempdir().unwrap();
        let seconds = machine_seconds(2, scratch.path()).unwrap();
        assert!(seconds > 0.0 && seconds < 5.0, "{seconds}");
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_that_cannot_be_written_gives_no_figure() {
        let scratch = tempfile::tempdir().unwrap();
        let missing = scratch.path().join("gone");
        assert_eq!(machine_seconds(2, &missing), None);
    }
}
