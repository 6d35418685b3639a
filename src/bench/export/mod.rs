//! The benchmark's outputs: the terminal table ([`table`]), and the files
//! people and CI ask for, each format behind one `Exporter` trait. Every
//! path is checked before the first run, so a typo fails in a second, not
//! after minutes of measuring; every file is written atomically.

pub mod bmf;
pub mod csv;
pub mod github;
pub mod html;
pub mod json;
pub mod markdown;
pub mod svg;
pub mod table;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::schema::BenchReport;
use crate::files::{PathRefused, check_writable, write_atomic};

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
    pub(crate) fn check(&self) -> std::result::Result<(), PathRefused> {
        for (exporter, path) in &self.files {
            check_writable(path, exporter.extensions(), exporter.name())?;
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
