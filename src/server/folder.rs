//! `flags serve --dir`: a folder served without races, at the speed of the
//! embedded data set.
//!
//! Each file is opened beneath the folder in one step by `cap-std` (on Linux,
//! `openat2` with `RESOLVE_BENEATH`): a symlink may point within the folder,
//! never out of it, however the folder changes while it is resolved, and
//! nothing is opened by path a second time. The file is opened non-blocking
//! and checked by its handle to be a regular file, so a FIFO, a device or a
//! directory is a 404 at once, not a request that hangs.
//!
//! The bytes are read from that handle and kept, with the file's identity
//! (device, inode, size, modification time). For a second (`--recheck`)
//! after a file was
//! opened and checked, its requests are answered from the kept bytes with
//! no system call at all; the first request after that opens and checks it
//! again, and reads it again only if it was replaced or modified. So a
//! changed file is served within a second (nginx's `open_file_cache_valid`
//! works the same way, at 60 s by default), and a request costs what one
//! of the embedded data set costs: opening, checking and closing the file
//! for every request kept `--dir` at 0.8-0.98 times nginx's requests/s
//! (docs/performance.md).

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use parking_lot::Mutex;

/// Files larger than this are served but not kept.
const KEEP_AT_MOST: u64 = 1024 * 1024;

/// Files larger than this are not served (a flag is tens of KB).
const SERVE_AT_MOST: u64 = 64 * 1024 * 1024;

/// What makes a file the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// A file's bytes as kept, and when its file was last found unchanged.
#[derive(Debug)]
struct Kept {
    identity: Identity,
    bytes: Bytes,
    checked: Instant,
}

/// A served folder.
#[derive(Debug)]
pub(crate) struct Folder {
    dir: Arc<Dir>,
    kept: Mutex<HashMap<String, Kept>>,
    /// How long kept bytes are served before their file is checked again.
    recheck: Duration,
}

impl Folder {
    /// Opens `path` as the folder to serve, its files checked again
    /// `recheck` after they were last found unchanged.
    pub(crate) fn open(path: &Path, recheck: Duration) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())?;
        Ok(Self {
            dir: Arc::new(dir),
            kept: Mutex::new(HashMap::new()),
            recheck,
        })
    }

    /// The bytes of `relative` (`br/br.gif`); `None` when it is missing,
    /// leads out of the folder, or is not a regular file.
    pub(crate) async fn read(&self, relative: &str) -> Option<Bytes> {
        if let Some(kept) = self.kept.lock().get(relative)
            && kept.checked.elapsed() < self.recheck
        {
            return Some(kept.bytes.clone());
        }
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        // Opening and checking a handle are quick system calls: done here.
        let file = self.dir.open_with(relative, &options).ok()?.into_std();
        let meta = file.metadata().ok()?;
        if !meta.file_type().is_file() || meta.len() > SERVE_AT_MOST {
            return None;
        }
        let identity = Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        if let Some(kept) = self.kept.lock().get_mut(relative)
            && kept.identity == identity
        {
            kept.checked = Instant::now();
            return Some(kept.bytes.clone());
        }
        // Reading may take long (a slow disk): on the blocking pool.
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::with_capacity(identity.len as usize);
            (&file)
                .take(SERVE_AT_MOST)
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        })
        .await
        .ok()?
        .ok()?;
        let bytes = Bytes::from(bytes);
        if identity.len <= KEEP_AT_MOST {
            let kept = Kept {
                identity,
                bytes: bytes.clone(),
                checked: Instant::now(),
            };
            self.kept.lock().insert(relative.to_owned(), kept);
        }
        Some(bytes)
    }
}
