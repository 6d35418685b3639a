//! The servers' logs, through `tracing`: one line per request at `info`
//! (shown with `-v`), the listener's warnings at `warn` (always shown), on
//! stderr, as plain lines (no time, level or target: a terminal's reader
//! and a test read them alike). Outside text in them is made inert where
//! the event is written.

use tracing_subscriber::filter::LevelFilter;

/// Sends this process's events to stderr: requests too when `verbose`,
/// warnings alone otherwise. A second call keeps the first set-up.
pub fn init(verbose: bool) {
    let level = if verbose {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .try_init();
}
