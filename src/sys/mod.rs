//! Process utilities every command uses, one concern a file: the open-file
//! limit, signals and early exits, output that may be cut off, panics.

mod limits;
mod output;
mod panics;
mod signals;

pub use limits::LimitError;
pub(crate) use limits::{raise_open_file_limit, require_open_files};
pub use output::*;
pub use panics::one_line_panics;
pub(crate) use panics::panic_message;
pub(crate) use signals::*;

/// Exit code of an interrupted run, as shells report SIGINT.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
