//! The command lines of `flags` and `charfinder`: clap definitions and value
//! parsers, one file per command; what each command does at the edge, where
//! the library meets clap, the servers and the process; and the one place
//! where the way a command ended becomes an exit code, for both binaries.

// clap makes these doc comments the --help text, where `<CC>-<n>.gif` is
// meant as written, not as HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod bench;
pub mod charfinder;
pub mod costs;
pub mod download;
pub mod serve;
pub mod spin;
pub mod values;

use std::fmt;
use std::process::ExitCode;

use crate::errln;
use crate::sys::EXIT_INTERRUPTED;

/// How a command ended when it could do its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// All went well: exit code 0.
    Done,
    /// It ran, but some of its work failed (a download, a bench cell): 1.
    Errors,
    /// A search found nothing: 1.
    NoMatch,
    /// Ctrl-C or SIGTERM stopped it: 130.
    Interrupted,
}

/// Why a command could not do its job.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong: one line, exit code 2.
    Usage(String),
    /// The command line is wrong, as clap found it (or help was asked for).
    Clap(clap::Error),
    /// Something failed while running: exit code 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

impl From<clap::Error> for Failure {
    fn from(error: clap::Error) -> Self {
        Failure::Clap(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Runtime(error.into())
    }
}

impl From<crate::sys::LimitError> for Failure {
    fn from(error: crate::sys::LimitError) -> Self {
        Failure::Runtime(error.into())
    }
}

impl From<crate::download::RunError> for Failure {
    fn from(error: crate::download::RunError) -> Self {
        Failure::Runtime(error.into())
    }
}

impl From<crate::files::PathRefused> for Failure {
    fn from(error: crate::files::PathRefused) -> Self {
        match error {
            crate::files::PathRefused::WrongName { .. } => Failure::Usage(error.to_string()),
            crate::files::PathRefused::Folder(_) => Failure::Runtime(error.into()),
        }
    }
}

/// A usage error with this message.
pub fn usage(message: impl fmt::Display) -> Failure {
    Failure::Usage(message.to_string())
}

/// What a command's result means for the process: the message, if any, on
/// stderr, and the exit code. The one place exit codes are decided.
pub fn exit_code(program: &str, result: Result<Finish, Failure>) -> ExitCode {
    let code = match result {
        Ok(Finish::Done) => 0,
        Ok(Finish::Errors | Finish::NoMatch) => 1,
        Ok(Finish::Interrupted) => EXIT_INTERRUPTED,
        Err(Failure::Clap(error)) if !error.use_stderr() => {
            // --help and --version: their text on stdout, exit code 0.
            let _ = error.print();
            0
        }
        Err(Failure::Clap(error)) => {
            errln!("{program}: {} (see --help)", one_line(&error));
            2
        }
        Err(Failure::Usage(message)) => {
            errln!("{program}: {message} (see --help)");
            2
        }
        Err(Failure::Runtime(error)) if is_broken_pipe(&error) => 0,
        Err(Failure::Runtime(error)) => {
            errln!("{program}: error: {error:#}");
            1
        }
    };
    ExitCode::from(code)
}

/// `true` when the reader of our output went away: we stop quietly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// clap's error on one line: its first line, the argument it suggests, and
/// the possible values, without its usage block.
fn one_line(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = error.render().to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut line = first.trim_start_matches("error: ").to_owned();
    // A value our parser refused: rebuilt from its parts, the value made
    // inert, so a value holding a newline does not cut the reason off.
    if let (
        ErrorKind::ValueValidation,
        Some(ContextValue::String(arg)),
        Some(ContextValue::String(value)),
        Some(reason),
    ) = (
        error.kind(),
        error.get(ContextKind::InvalidArg),
        error.get(ContextKind::InvalidValue),
        std::error::Error::source(error),
    ) {
        line = format!(
            "invalid value '{}' for '{arg}': {}",
            crate::text::inert(value),
            crate::text::inert(&reason.to_string())
        );
    }
    let suggestion = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    if let Some(similar) = suggestion(ContextKind::SuggestedArg)
        .or_else(|| suggestion(ContextKind::SuggestedSubcommand))
        .or_else(|| suggestion(ContextKind::SuggestedValue))
    {
        line.push_str(&format!(" (did you mean '{similar}'?)"));
    }
    if let Some(ContextValue::Strings(values)) = error
        .get(ContextKind::ValidValue)
        .filter(|v| !matches!(v, ContextValue::Strings(v) if v.is_empty()))
    {
        line.push_str(&format!(" [possible values: {}]", values.join(", ")));
    }
    if let Some(ContextValue::Strings(missing)) = error.get(ContextKind::InvalidArg)
        && error.kind() == clap::error::ErrorKind::MissingRequiredArgument
    {
        line.push_str(&format!(" {}", missing.join(", ")));
    }
    line
}
