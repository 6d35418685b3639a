//! Measuring one child process: wall time, user and system CPU time and peak
//! RSS from `wait4` (the kernel's own accounting, not /proc polling), and the
//! peak thread count, sampled from /proc while it runs.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// What one run of a child cost, as recorded for every run of a bench.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RunCost {
    /// Wall time from spawn to exit, in seconds.
    pub wall_seconds: f64,
    /// User CPU time, in seconds.
    pub user_seconds: f64,
    /// System CPU time, in seconds.
    pub system_seconds: f64,
    /// Peak resident set size, in KiB (`ru_maxrss`).
    pub peak_rss_kib: u64,
    /// Most threads seen at once.
    pub peak_threads: u64,
    /// Exit code, `None` (`null`) if killed by a signal.
    pub exit_code: Option<i32>,
}

/// A measured child: its cost and what it printed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Measured {
    /// What the run cost.
    pub cost: RunCost,
    /// Everything the child wrote to stdout.
    pub stdout: Vec<u8>,
}

fn threads_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The bench's children, each in its own process group, so that a
/// terminal's Ctrl-C (sent to the terminal's process group) reaches the bench
/// alone; when the bench is cancelled, it kills every child's group.
#[derive(Debug, Default)]
pub(crate) struct Children {
    groups: Mutex<Vec<u32>>,
    /// Cancelled when the registry goes, to end its watcher.
    retired: CancellationToken,
}

impl Children {
    /// A registry whose children are killed as soon as `cancel` is.
    pub(crate) fn stopped_by(cancel: &CancellationToken) -> Arc<Self> {
        let children = Arc::new(Self::default());
        let watched = Arc::downgrade(&children);
        let (cancel, retired) = (cancel.clone(), children.retired.clone());
        thread::spawn(move || {
            let cancelled = futures::executor::block_on(async {
                tokio::select! {
                    () = cancel.cancelled() => true,
                    () = retired.cancelled() => false,
                }
            });
            if let (true, Some(children)) = (cancelled, watched.upgrade()) {
                children.kill_all();
            }
        });
        children
    }

    /// Starts `command` in a process group of its own and registers it.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        let child = command.process_group(0).spawn()?;
        self.groups.lock().push(child.id());
        Ok(child)
    }

    /// Unregisters a child that has been reaped.
    pub(crate) fn forget(&self, pid: u32) {
        self.groups.lock().retain(|p| *p != pid);
    }

    fn kill_all(&self) {
        for pid in self.groups.lock().iter() {
            // SAFETY: kill(2) on the process group of a child we started
            // (its group id is its pid); a group already gone gives ESRCH.
            unsafe {
                libc::kill(-(*pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.retired.cancel();
    }
}

/// Runs `command` to completion in its own process group and measures it.
/// Its stderr is discarded.
pub(crate) fn measure(command: &mut Command, children: &Children) -> io::Result<Measured> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = children.spawn(command)?;
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let reader = thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_end(&mut bytes);
        }
        bytes
    });
    let done = Arc::new(AtomicBool::new(false));
    let peak_threads = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak_threads));
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(n) = threads_of(pid) {
                    peak.fetch_max(n, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, whose pid std has not reaped.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    children.forget(pid);
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let stdout = reader.join().unwrap_or_default();
    if reaped < 0 {
        return Err(io::Error::last_os_error());
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Measured {
        cost: RunCost {
            wall_seconds: wall.as_secs_f64(),
            user_seconds: seconds(usage.ru_utime),
            system_seconds: seconds(usage.ru_stime),
            peak_rss_kib: usage.ru_maxrss.max(0) as u64,
            peak_threads: peak_threads.load(Ordering::Relaxed).max(1),
            exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        },
        stdout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child() {
        let children = Children::default();
        let m = measure(
            Command::new("sh").args(["-c", "echo hello; exit 3"]),
            &children,
        )
        .unwrap();
        assert_eq!(m.cost.exit_code, Some(3));
        assert_eq!(m.stdout, b"hello\n");
        assert!(m.cost.peak_rss_kib > 0);
        assert!(m.cost.wall_seconds > 0.0);
    }
}
