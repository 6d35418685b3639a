//! Panics as one line, and the message a caught panic carries.

use std::io::{self, Write};

/// The message a panic was raised with.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_owned()
    }
}

/// Panics print one line, `program: internal error: ... at file:line`, not
/// a backtrace note: a panic is a bug to report, and where it is caught (a
/// download) the run goes on and counts it as an error.
pub fn one_line_panics(program: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = panic_message(info.payload());
        let _ = writeln!(
            io::stderr(),
            "{program}: internal error: {message}{place} (a bug: please report it)"
        );
    }));
}
