//! Ctrl-C and SIGTERM: the first stops new requests and lets the run print its
//! partial summary; the second exits at once (after removing temporary files).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static OUTPUT_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Exit code of an interrupted run, as shells report SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

/// `true` once the user asked to stop.
pub fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Marks the run as cancelled (what the first Ctrl-C does; tests call it too).
pub fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Installs the Ctrl-C / SIGTERM handler. `output` is cleaned of temporary
/// files if a second interrupt forces an immediate exit.
pub fn install(output: Option<PathBuf>) -> Result<(), ctrlc::Error> {
    if let Some(dir) = output {
        let _ = OUTPUT_DIR.set(dir);
    }
    ctrlc::set_handler(|| {
        if CANCELLED.swap(true, Ordering::SeqCst) {
            if let Some(dir) = OUTPUT_DIR.get() {
                crate::download::store::remove_leftovers(dir);
            }
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(EXIT_INTERRUPTED);
        }
        eprintln!("\ninterrupted: finishing saves in progress (Ctrl-C again to exit now)");
    })
}
