//! `charfinder`: find Unicode characters by name, on the command line or
//! served over TCP and HTTP (`flags::cli::charfinder`).

use std::process::ExitCode;

fn main() -> ExitCode {
    flags::sys::one_line_panics("charfinder");
    flags::cli::exit_code("charfinder", flags::cli::charfinder::run())
}
