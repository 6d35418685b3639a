//! `flags spin`: the spinner demo.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;

use super::values::{self, ProgressChoice};
use super::{Failure, Finish};
use crate::spin::{self, SpinMode};

const EXAMPLES: &str = "\
Examples:
  flags spin                                    a spinner thread beside 3 s of work
  flags spin --mode async --seconds 1s          a spinner task
  flags spin --mode blocking                    async code that blocks: the spinner freezes";

/// Options of `flags spin`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Details and examples: --help", after_long_help = EXAMPLES)]
pub struct SpinArgs {
    /// Which version of the demo: a thread, a task, a task that blocks the
    /// loop, or one that moves the blocking work off it.
    #[arg(long, value_enum, default_value_t = SpinMode::Thread, value_name = "MODE")]
    pub mode: SpinMode,
    /// How long the slow function takes.
    #[arg(long, default_value = "3s", value_parser = values::duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub seconds: Duration,
    /// Animate frames (auto: only when stdout is a terminal).
    #[arg(long, value_enum, default_value_t = ProgressChoice::Auto, value_name = "WHEN")]
    pub frames: ProgressChoice,
}

/// Runs the demo.
pub fn run(args: SpinArgs) -> Result<Finish, Failure> {
    let frames = args.frames.show(std::io::stdout().is_terminal());
    spin::run(args.mode, args.seconds, spin::Display { frames }).context("spinner demo failed")?;
    Ok(Finish::Done)
}
