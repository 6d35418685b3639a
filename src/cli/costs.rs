//! `flags costs`: what things cost on this machine, on the chapter's scale.

use std::path::PathBuf;

use anyhow::Context;

use super::{Failure, Finish};
use crate::{costs, outln};

const EXAMPLES: &str = "\
Examples:
  flags costs                                   the table, saves timed in ./downloaded
  flags costs --json                            the same as JSON, for machines";

/// Options of `flags costs`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Details and examples: --help", after_long_help = EXAMPLES)]
pub struct CostsArgs {
    /// Folder where a save is timed (the downloads' folder; created if missing).
    #[arg(short, long, default_value = "downloaded", value_name = "DIR")]
    pub output: PathBuf,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Measures and prints.
pub fn run(args: CostsArgs) -> Result<Finish, Failure> {
    let measured = costs::measure(&args.output).with_context(|| {
        format!(
            "cannot measure the costs (saving in {})",
            args.output.display()
        )
    })?;
    if args.json {
        let json = crate::text::json_pretty(&measured).context("cannot write the costs")?;
        outln!("{json}");
    } else {
        outln!("{}", costs::table(&measured));
    }
    Ok(Finish::Done)
}
