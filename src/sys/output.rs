//! Writing to stdout and stderr when the reader may go away (`| head`): the
//! process stops quietly, exit code 0, after the exit hooks, as ripgrep does.

use std::fmt;
use std::io::{self, Write};

use super::signals::exit_now;

/// Which standard stream to write to.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// Writes to stdout or stderr. When the reader has gone (`flags | head -1`),
/// the process stops quietly, exit code 0, as ripgrep does: no panic, no
/// message. Other write errors are ignored: there is nowhere to report them.
pub fn write(stream: Stream, args: fmt::Arguments<'_>) {
    let result = match stream {
        Stream::Out => {
            let mut out = io::stdout().lock();
            out.write_fmt(args).and_then(|()| out.flush())
        }
        Stream::Err => io::stderr().lock().write_fmt(args),
    };
    if let Err(error) = result
        && error.kind() == io::ErrorKind::BrokenPipe
    {
        exit_now(0);
    }
}

/// `println!` that stops quietly when stdout is closed early.
#[macro_export]
macro_rules! outln {
    () => { $crate::sys::write($crate::sys::Stream::Out, format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::sys::write($crate::sys::Stream::Out, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that stops quietly when stdout is closed early.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::sys::write($crate::sys::Stream::Out, format_args!($($arg)*)) };
}

/// `eprintln!` that stops quietly when stderr is closed early.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::sys::write($crate::sys::Stream::Err, format_args!("{}\n", format_args!($($arg)*)))
    };
}
