//! The open-file limit: raised as far as it goes, and checked against what
//! a run needs before any connection is made.

use std::io;

/// Raises the open-file soft limit as far as the hard limit allows, so that
/// thousands of connections can be open at once; returns the new soft limit.
pub(crate) fn raise_open_file_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Why the open-file limit cannot serve a run.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The limit could not be read or raised.
    #[error("cannot raise the open-file limit: {0}")]
    Raise(#[from] io::Error),
    /// Even the hard limit is below what the run needs.
    #[error(
        "the open-file limit is {limit} but {needed} are needed; raise it (ulimit -n) or lower the concurrency"
    )]
    TooLow {
        /// The limit, raised as far as it goes.
        limit: u64,
        /// What the run needs.
        needed: u64,
    },
}

/// Raises the open-file limit and fails with a clear message when even the
/// hard limit is below `needed`, before any connection is made.
pub(crate) fn require_open_files(needed: u64) -> Result<u64, LimitError> {
    let limit = raise_open_file_limit()?;
    if limit < needed {
        return Err(LimitError::TooLow { limit, needed });
    }
    Ok(limit)
}
