//! Files the user names for results (`--export-json`, `--plot`, `--trace`,
//! `--timeline`): checked before any work starts, so a typo fails in a
//! second, and written atomically, so nothing half-written is left where a
//! finished file would be.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::download::pipeline::store::plain;

/// Why a result file's path was refused before any work.
#[derive(Debug, thiserror::Error)]
pub enum PathRefused {
    /// The name does not end in the format's extension: a usage error.
    #[error("'{path}' would hold {what}: give a name ending in .{extensions}")]
    WrongName {
        /// The path as given.
        path: String,
        /// What the file would hold.
        what: String,
        /// The extensions allowed, joined with " or .".
        extensions: String,
    },
    /// Its folder is missing or cannot be written.
    #[error("{0}")]
    Folder(String),
}

/// Checks that `path` can be written as `what`: its extension is one of
/// `extensions`, its folder exists and files can be made in it.
pub(crate) fn check_writable(
    path: &Path,
    extensions: &[&str],
    what: &str,
) -> Result<(), PathRefused> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !extensions.contains(&extension.as_str()) {
        return Err(PathRefused::WrongName {
            path: path.display().to_string(),
            what: what.to_owned(),
            extensions: extensions.join(" or ."),
        });
    }
    let folder = folder_of(path);
    if !folder.is_dir() {
        return Err(PathRefused::Folder(format!(
            "no such folder: {}",
            folder.display()
        )));
    }
    tempfile::Builder::new()
        .prefix(".flags-probe-")
        .tempfile_in(folder)
        .map(drop)
        .map_err(|e| {
            PathRefused::Folder(format!(
                "cannot write in {}: {}",
                folder.display(),
                plain(&e)
            ))
        })
}

/// The folder a file goes in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes a temporary file beside `path` (mode 0666 less the umask), then
/// renames it over `path`. Errors carry no temporary name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".flags-writing-")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(folder_of(path))
        .map_err(|e| io::Error::new(e.kind(), plain(&e)))?;
    temp.write_all(bytes)
        .map_err(|e| io::Error::new(e.kind(), plain(&e)))?;
    temp.persist(path)
        .map_err(|e| io::Error::new(e.error.kind(), plain(&e.error)))?;
    Ok(())
}
