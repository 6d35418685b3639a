//! The `flags` command line: parse, dispatch, one exit-code mapping. Each
//! command's options and work are in `flags::cli`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use flags::cli::bench::BenchArgs;
use flags::cli::costs::CostsArgs;
use flags::cli::download::DownloadArgs;
use flags::cli::serve::ServeArgs;
use flags::cli::spin::SpinArgs;
use flags::cli::{self, Failure, Finish};
use flags::out;

const EXAMPLES: &str = "\
Examples:
  flags                           the 20 most populous countries, async, embedded server
  flags --concurrency 50          the same with 50 requests in flight
  flags --mode threaded -m 20 -a  all 194 flags with 20 OS threads
  flags --mode sequential b c     the codes starting with B and C, one at a time
  flags -e --server-delay 100ms   all 676 codes AA..ZZ against a slow embedded server
  flags serve --preset delay      a slow flags server on port 8001
  flags -s delay -v               download from it, one line per flag
  flags bench -a -m 10,50         the three models side by side (flags bench --help)";

/// Download country flags sequentially, with threads, or async, and compare.
#[derive(Parser, Debug)]
#[command(
    name = "flags",
    version,
    after_help = "Details and examples: --help", after_long_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    download: DownloadArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the flags server.
    Serve(Box<ServeArgs>),
    /// Compare the three models side by side: tables, plots, JSON, CSV, Markdown.
    Bench(Box<BenchArgs>),
    /// The spinner demo: a spinner beside slow work, thread versus async.
    Spin(SpinArgs),
    /// What things cost here: calls, locks, threads, tasks, wake-ups, I/O.
    Costs(CostsArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), of flags or of one of its commands.
    Man {
        /// A command, for its own page (flags-serve(1) and so on).
        #[arg(value_parser = ["serve", "bench", "spin", "costs", "completions"])]
        command: Option<String>,
    },
}

fn main() -> ExitCode {
    flags::sys::one_line_panics("flags");
    cli::exit_code(
        "flags",
        Cli::try_parse().map_err(Failure::from).and_then(dispatch),
    )
}

fn dispatch(cli: Cli) -> Result<Finish, Failure> {
    match cli.command {
        None => cli::download::run(cli.download),
        Some(Command::Serve(args)) => cli::serve::run(*args),
        Some(Command::Bench(args)) => cli::bench::run(*args),
        Some(Command::Spin(args)) => cli::spin::run(args),
        Some(Command::Costs(args)) => cli::costs::run(args),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "flags", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(Finish::Done)
        }
        Some(Command::Man { command }) => {
            let flags = Cli::command();
            let page = match command.as_deref().and_then(|c| flags.find_subcommand(c)) {
                Some(sub) => sub
                    .clone()
                    .name(format!("flags-{}", sub.get_name()))
                    .version(env!("CARGO_PKG_VERSION")),
                None => flags,
            };
            let mut roff = Vec::new();
            clap_mangen::Man::new(page).render(&mut roff)?;
            out!("{}", String::from_utf8_lossy(&roff));
            Ok(Finish::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` (or `-h` when `short`) of `path` (`[]` for flags itself),
    /// 100 columns wide whatever the terminal.
    fn help(path: &[&str], short: bool) -> String {
        let mut command = Cli::command().term_width(100);
        command.build();
        let mut command = &mut command;
        for name in path {
            command = command.find_subcommand_mut(name).expect("a subcommand");
        }
        let text = if short {
            command.render_help()
        } else {
            command.render_long_help()
        };
        text.to_string()
    }

    #[test]
    fn help_texts() {
        let paths: [&[&str]; 6] = [
            &[],
            &["serve"],
            &["bench"],
            &["spin"],
            &["costs"],
            &["bench", "compare"],
        ];
        for path in paths {
            let name = ["flags"]
                .iter()
                .chain(path)
                .copied()
                .collect::<Vec<_>>()
                .join("_");
            insta::assert_snapshot!(format!("{name}_h"), help(path, true));
            insta::assert_snapshot!(format!("{name}_help"), help(path, false));
        }
    }
}
