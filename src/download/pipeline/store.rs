//! Saving downloaded flags: safe file names and atomic writes, so a crash or an
//! interrupt never leaves a half-written file under a final name.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Prefix of temporary files, so that leftovers can be recognised and
/// removed; the process id follows it (`.flags-partial-<pid>-<random>`), so
/// that a run removes only its own or those of runs no longer alive, never
/// the files another run is writing in the same folder at that moment.
pub(crate) const TEMP_PREFIX: &str = ".flags-partial-";

/// Longest country-name part of a file name, in bytes.
const MAX_NAME_BYTES: usize = 100;

/// The file name of a flag: `<CC>.gif`, or `<CC>-<Country_Name>.gif` when a
/// country name is given (a code with no letters becomes `XX`). The name is
/// untrusted input from the network, so it is reduced to letters, digits,
/// `_`, `-`, `.` and `,` (anything else, such as spaces, slashes and control
/// characters, becomes `_`), never starts with a dot, and is capped in
/// length; a name that reduces to nothing falls back to the code alone. The code keeps names unique, and the
/// prefix `<CC>-` keeps clear of Windows' reserved names (CON, NUL, ...).
pub fn flag_file_name(code: &str, country: Option<&str>) -> String {
    let code: String = code
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .take(2)
        .collect();
    let code = if code.is_empty() {
        "XX".to_owned()
    } else {
        code
    };
    let safe = country.map(safe_name_part).unwrap_or_default();
    if safe.is_empty() {
        format!("{code}.gif")
    } else {
        format!("{code}-{safe}.gif")
    }
}

/// Reduces an untrusted name to a harmless file-name fragment.
fn safe_name_part(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let mapped = match c {
            c if c.is_alphanumeric() => c,
            ' ' | '_' => '_',
            '-' | ',' | '.' => c,
            _ => '_',
        };
        if out.len() + mapped.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(mapped);
    }
    // No leading or trailing dots or underscores, no runs of them, no "..".
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        let last = collapsed.chars().next_back();
        if matches!(c, '_' | '.') && (last == Some(c) || last.is_none()) {
            continue;
        }
        collapsed.push(c);
    }
    collapsed
        .trim_matches(|c| matches!(c, '_' | '.' | '-'))
        .to_owned()
}

/// The output folder: flags are saved in it one atomic file at a time, and
/// it can be closed, after which no save starts. Closing waits briefly for
/// the saves in progress and removes temporary files, so that a run that
/// ends early (a second Ctrl-C, a closed pipe) leaves none behind, even when
/// other threads are saving at that very moment. Clones share the folder.
#[derive(Debug, Clone)]
pub(crate) struct OutputDir(Arc<Folder>);

#[derive(Debug)]
struct Folder {
    path: PathBuf,
    /// Shut by `close`: no save starts after.
    closed: AtomicBool,
    /// Saves in progress.
    saving: AtomicUsize,
    /// Told when the last save in progress ends after `closed`: `close`
    /// waits on it (the mutex guards nothing but the wait itself).
    last_ended: Condvar,
    waiting: Mutex<()>,
}

impl Folder {
    /// A save ends (written, failed, or backed out at the shut gate); the
    /// last one after the gate shut wakes `close`.
    fn save_ended(&self) {
        let was = self.saving.fetch_sub(1, Ordering::SeqCst);
        if was == 1 && self.closed.load(Ordering::SeqCst) {
            let _waiting = self.waiting.lock();
            self.last_ended.notify_all();
        }
    }
}

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveError {
    /// The folder was closed: the run is ending.
    #[error("the run is ending")]
    Closed,
    /// The file system refused (full, read-only, gone).
    #[error("{}", plain(.0))]
    Io(#[from] io::Error),
}

/// An I/O error's own words, without the paths some libraries add (a
/// temporary file's name means nothing to the user).
pub(crate) fn plain(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => error.kind().to_string(),
    }
}

/// Why an output folder cannot be used, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    /// The path names a file.
    #[error("'{}' is a file, not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// The folder could not be created.
    #[error("cannot create the output folder '{}': {}", .0.display(), plain(.1))]
    Create(PathBuf, io::Error),
    /// Files cannot be written in it.
    #[error("cannot write in the output folder '{}': {}", .0.display(), plain(.1))]
    Write(PathBuf, io::Error),
}

impl OutputDir {
    /// Uses `path` (creating it if missing), after checking that files can
    /// be written in it, before any request is made.
    pub(crate) fn prepare(path: &Path) -> Result<Self, OutputError> {
        if path.exists() && !path.is_dir() {
            return Err(OutputError::NotAFolder(path.to_owned()));
        }
        fs::create_dir_all(path).map_err(|e| OutputError::Create(path.to_owned(), e))?;
        let probe = temp_file(path).map_err(|e| OutputError::Write(path.to_owned(), e))?;
        let _ = probe.close();
        // What a killed run (SIGKILL, a power cut) could not clean up.
        remove_leftovers(path, Leftovers::OfEndedRuns);
        Ok(Self(Arc::new(Folder {
            path: path.to_owned(),
            closed: AtomicBool::new(false),
            saving: AtomicUsize::new(0),
            last_ended: Condvar::new(),
            waiting: Mutex::new(()),
        })))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0.path
    }

    /// Writes `bytes` to `name` atomically: a temporary file in the folder,
    /// then renamed over the final name. On any error the temporary file is
    /// removed and no final file appears. A process that dies at any point
    /// leaves either the whole file or none under the final name. There is no
    /// fsync: surviving a power cut is not worth one disk flush per flag,
    /// which would make the disk, not the network, what the benchmark
    /// measures. The file gets the mode a new file gets under the umask.
    pub(crate) fn save(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, SaveError> {
        // A save announces itself, then looks at the gate; closing shuts the
        // gate, then waits for the announced saves. With sequentially
        // consistent order, a save either sees the gate shut and backs out,
        // or is seen by `close`: no lock on the hot path.
        self.0.saving.fetch_add(1, Ordering::SeqCst);
        if self.0.closed.load(Ordering::SeqCst) {
            self.0.save_ended();
            return Err(SaveError::Closed);
        }
        let result = self.write(name, bytes);
        self.0.save_ended();
        Ok(result?)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let target = self.0.path.join(name);
        let mut temp = temp_file(&self.0.path)?;
        temp.write_all(bytes)?;
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(target)
    }

    /// Closes the folder: no save starts after this. Waits up to `wait` for
    /// the saves in progress, woken by the last to end (no polling); if
    /// some are still writing then (the process
    /// is about to exit under them), removes their temporary files. When every
    /// save has ended, none of this run's can be left (each one renamed or
    /// removed its own), and the folder is not read: reading it costs a
    /// long for a folder of 10,000 files, at the end of every run.
    pub(crate) fn close(&self, wait: Duration) {
        self.0.closed.store(true, Ordering::SeqCst);
        let mut waiting = self.0.waiting.lock();
        self.0.last_ended.wait_while_for(
            &mut waiting,
            |_| self.0.saving.load(Ordering::SeqCst) > 0,
            wait,
        );
        drop(waiting);
        if self.0.saving.load(Ordering::SeqCst) > 0 {
            remove_leftovers(&self.0.path, Leftovers::OfThisRun);
        }
    }
}

/// A temporary file in `dir`, readable as a final file will be: mode 0666
/// less the umask (0644 under the usual 022), as curl and wget give.
fn temp_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    /// This process's temporary file names start with this, made once.
    static OWN_PREFIX: LazyLock<String> =
        LazyLock::new(|| format!("{TEMP_PREFIX}{}-", std::process::id()));
    tempfile::Builder::new()
        .prefix(OWN_PREFIX.as_str())
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Which temporary files [`remove_leftovers`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leftovers {
    /// This process's: saves cut off by the end of its run.
    OfThisRun,
    /// Those of processes no longer alive (killed runs), and those without
    /// a process id (left by versions that wrote none).
    OfEndedRuns,
}

/// Removes the temporary files in `dir` that `which` names.
fn remove_leftovers(dir: &Path, which: Leftovers) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let owner = rest
            .split_once('-')
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let remove = match which {
            Leftovers::OfThisRun => owner == Some(me),
            Leftovers::OfEndedRuns => owner.is_none_or(|pid| pid != me && !is_alive(pid)),
        };
        if remove {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with id `pid` exists (signal 0 checks without
/// sending; a process of another user answers EPERM, and is alive).
fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negative ids name process groups, not a process.
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the id.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The existing file of `code` in `dir`, if a previous run saved one
/// (`<CC>.gif` or `<CC>-<name>.gif`).
pub(crate) fn existing_flag(dir: &Path, code: &str) -> Option<PathBuf> {
    let plain = format!("{code}.gif");
    let named = format!("{code}-");
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ok = name == plain || (name.starts_with(&named) && name.ends_with(".gif"));
        ok.then(|| entry.path())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(flag_file_name("br", None), "BR.gif");
        assert_eq!(flag_file_name("BR", Some("Brazil")), "BR-Brazil.gif");
        assert_eq!(
            flag_file_name("US", Some("United States")),
            "US-United_States.gif"
        );
        assert_eq!(flag_file_name("XX", Some("../../etc/x")), "XX-etc_x.gif");
        assert_eq!(flag_file_name("XX", Some("/abs")), "XX-abs.gif");
        assert_eq!(flag_file_name("XX", Some("a\0b")), "XX-a_b.gif");
        assert_eq!(flag_file_name("XX", Some("...")), "XX.gif");
        assert_eq!(flag_file_name("XX", Some("CON")), "XX-CON.gif");
        assert_eq!(
            flag_file_name("XX", Some(&"x".repeat(5000))).len(),
            "XX-.gif".len() + 100
        );
        assert_eq!(
            flag_file_name("CI", Some("Côte d'Ivoire")),
            "CI-Côte_d_Ivoire.gif"
        );
    }

    #[test]
    fn atomic_save_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let output = OutputDir::prepare(dir.path()).unwrap();
        let path = output.save("BR.gif", b"GIF89a").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"GIF89a");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("BR.gif")]);
        assert_eq!(existing_flag(dir.path(), "BR"), Some(path));
        assert_eq!(existing_flag(dir.path(), "US"), None);
    }

    /// A temporary file's name as the process `pid` would give it.
    fn temp_of(dir: &Path, pid: u32, tail: &str) -> PathBuf {
        dir.join(format!("{TEMP_PREFIX}{pid}-{tail}"))
    }

    /// The id of a process that has ended.
    fn ended_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_closed_folder_refuses_saves_and_has_no_temporary_files_of_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let killed = temp_of(dir.path(), ended_pid(), "killed");
        let old_format = dir.path().join(format!("{TEMP_PREFIX}abcdef"));
        let other_run = temp_of(dir.path(), std::os::unix::process::parent_id(), "live");
        for file in [&killed, &old_format, &other_run] {
            fs::write(file, b"x").unwrap();
        }
        let output = OutputDir::prepare(dir.path()).unwrap();
        assert!(
            !killed.exists(),
            "an ended run's temporary file is removed at the start"
        );
        assert!(!old_format.exists(), "so is one with no process id");
        assert!(other_run.exists(), "a live run's is not touched");
        // A save still writing when the wait ends: its file is removed.
        output.0.saving.fetch_add(1, Ordering::SeqCst);
        let cut = temp_of(dir.path(), std::process::id(), "cut");
        fs::write(&cut, b"x").unwrap();
        output.close(Duration::from_millis(10));
        assert!(matches!(
            output.save("BR.gif", b"GIF"),
            Err(SaveError::Closed)
        ));
        assert!(!cut.exists());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(left, [other_run], "only the live run's file is left");
    }

    #[test]
    fn closing_after_every_save_ended_does_not_read_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let output = OutputDir::prepare(dir.path()).unwrap();
        output.save("BR.gif", b"GIF").unwrap();
        // Named as this run's, but not of a save (all ended), so closing
        // cannot have found it: had it read the folder, it would be gone.
        let other = temp_of(dir.path(), std::process::id(), "other");
        fs::write(&other, b"x").unwrap();
        output.close(Duration::from_millis(10));
        assert!(other.exists());
    }

    #[test]
    fn a_process_id_is_alive_only_while_its_process_runs() {
        assert!(is_alive(std::process::id()));
        assert!(!is_alive(ended_pid()));
        assert!(!is_alive(0), "0 names a process group");
        assert!(!is_alive(u32::MAX), "not a process id");
    }

    #[test]
    fn a_file_is_not_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let error = OutputDir::prepare(&file).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("'{}' is a file, not a folder", file.display())
        );
    }
}
