//! The benchmark's outputs: the terminal table ([`table`]), and the files
//! people and CI ask for, each format behind one [`Exporter`] trait. Every
//! path is checked before the first run, so a typo fails in a second, not
//! after minutes of measuring; every file is written atomically.

pub mod csv;
pub mod json;
pub mod markdown;
pub mod svg;
pub mod table;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::schema::BenchReport;
use crate::download::store::plain;

/// One output format.
pub(crate) trait Exporter {
    /// Its name in messages.
    fn name(&self) -> &'static str;
    /// File extensions it writes (lower case, without the dot).
    fn extensions(&self) -> &'static [&'static str];
    /// The file's text for `report`.
    fn render(&self, report: &BenchReport) -> Result<String>;
}

/// The files a bench writes, each with its format.
#[derive(Default)]
pub(crate) struct Exports {
    files: Vec<(Box<dyn Exporter>, PathBuf)>,
}

impl Exports {
    /// Adds `path`, written by `exporter`.
    pub(crate) fn add(&mut self, exporter: impl Exporter + 'static, path: PathBuf) {
        self.files.push((Box::new(exporter), path));
    }

    /// Checks every path before anything runs: its extension is the
    /// format's, and its folder exists and can be written.
    pub(crate) fn check(&self) -> Result<()> {
        for (exporter, path) in &self.files {
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let wanted = exporter.extensions();
            if !wanted.contains(&extension.as_str()) {
                bail!(
                    "'{}' would hold {}: give a name ending in .{}",
                    path.display(),
                    exporter.name(),
                    wanted.join(" or .")
                );
            }
            let folder = folder_of(path);
            if !folder.is_dir() {
                bail!("no such folder: {}", folder.display());
            }
            tempfile::Builder::new()
                .prefix(".flags-bench-probe-")
                .tempfile_in(folder)
                .map_err(|e| {
                    anyhow::anyhow!("cannot write in {}: {}", folder.display(), plain(&e))
                })?;
        }
        Ok(())
    }

    /// Writes every file for `report`, each atomically.
    pub fn write(&self, report: &BenchReport) -> Result<()> {
        for (exporter, path) in &self.files {
            let text = exporter.render(report)?;
            write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// The folder a file goes in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Writes a temporary file beside `path`, then renames it over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".flags-bench-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(folder_of(path))
        .map_err(|e| anyhow::anyhow!("{}", plain(&e)))?;
    temp.write_all(bytes)
        .map_err(|e| anyhow::anyhow!("{}", plain(&e)))?;
    temp.persist(path)
        .map_err(|e| anyhow::anyhow!("{}", plain(&e.error)))?;
    Ok(())
}
