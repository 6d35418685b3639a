//! Values people type and command lines: every value parser reads back
//! what it prints, and a command line is parsed or refused in words.

use std::sync::LazyLock;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use parking_lot::Mutex;

use crate::cli::bench::BenchArgs;
use crate::cli::download::DownloadArgs;
use crate::cli::serve::ServeArgs;
use crate::cli::values as parse;
use crate::download::plan::Plan;
use crate::duration::{exact, human, parse_duration};
use crate::server::delay::Delay;
use crate::server::faults::Fault;

/// Durations, ranges, sizes, rates, percentages, counts, ports and
/// `KIND=RATE` faults: each value accepted is printed and parsed again to
/// the same value (a percentage to within a rounding of its last digit);
/// each refusal says why in words. [`human`], the format people read,
/// reads back too.
pub fn values(data: &[u8]) {
    let text = super::text(data);
    let text = text.as_str();
    same_back(text, parse::whole, |n| n.to_string());
    same_back(text, parse::count, |n| n.to_string());
    same_back(text, parse::downloads, |n| n.to_string());
    same_back(text, parse::count_or_zero, |n| n.to_string());
    same_back(text, parse::retries, |n| n.to_string());
    same_back(text, parse::port, |n| n.to_string());
    same_back(text, parse::seed, |n| n.to_string());
    same_back(text, parse::size, |n| n.to_string());
    same_back(text, parse::rate, |r| r.to_string());
    same_back(text, parse::duration, |d| exact(*d));
    same_back(text, parse::positive_duration, |d| exact(*d));
    same_back(text, parse::delay, Delay::to_string);
    same_back(
        text,
        |t| t.parse::<Fault>().map_err(|e| e.to_string()),
        Fault::to_string,
    );
    if let Ok(share) = parse::percent(text) {
        let printed = format!("{}%", share * 100.0);
        let again = parse::percent(&printed)
            .unwrap_or_else(|e| panic!("{text:?} read as {share}, printed {printed:?}: {e}"));
        let tolerance = share.abs() * 1e-12;
        assert!(
            (again - share).abs() <= tolerance,
            "{text:?} read as {share}, printed {printed:?}, read back as {again}"
        );
    } else if let Err(why) = parse::percent(text) {
        assert!(!why.is_empty());
    }
    if let Ok(duration) = parse_duration(text) {
        readable(duration);
    }
    let nanos = data.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b));
    readable(Duration::new(
        (nanos >> 32) as u64,
        (nanos as u32) % 1_000_000_000,
    ));
}

/// `parse(print(parse(text)))` is `parse(text)`; a refusal is words.
fn same_back<T: PartialEq + std::fmt::Debug>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    print: impl Fn(&T) -> String,
) {
    match parse(text) {
        Ok(value) => {
            let printed = print(&value);
            assert_eq!(
                parse(&printed).as_ref(),
                Ok(&value),
                "{text:?} read as {value:?}, printed {printed:?}"
            );
        }
        // The words may quote the value as typed: the command line makes
        // the whole message inert before it reaches a terminal.
        Err(why) => assert!(!why.trim().is_empty(), "{text:?}: {why:?}"),
    }
}

/// A duration as people read it parses back (it is rounded, so only close).
fn readable(duration: Duration) {
    let shown = human(duration);
    let back = parse_duration(&shown)
        .unwrap_or_else(|e| panic!("{duration:?} shown as {shown:?}, which does not parse: {e}"));
    let (a, b) = (duration.as_secs_f64(), back.as_secs_f64());
    assert!(
        (a - b).abs() <= a * 0.01 + 0.5,
        "{duration:?} shown as {shown:?}, read back as {back:?}"
    );
}

/// A command line of `flags`, `flags bench` or `flags serve`, one argument
/// per line of the input: parsed or refused, never a panic. A download's
/// selection is sorted, without repeats, two capital letters each, at most
/// `--limit` of them, and `--count` jobs in all; a bench's concurrency
/// levels are sorted, without repeats, within the downloads.
pub fn command_line(data: &[u8]) {
    let text = super::text(data);
    let mut lines = text.split('\n');
    let which = lines.next().unwrap_or_default();
    let args: Vec<&str> = lines.collect();
    match which {
        "serve" => {
            let _ = parsed::<ServeArgs>("serve", &args);
        }
        "bench" => {
            if let Some(bench) = parsed::<BenchArgs>("bench", &args) {
                bench_matrix(&bench);
            }
        }
        _ => {
            if let Some(download) = parsed::<DownloadArgs>("flags", &args) {
                selection(&download);
            }
        }
    }
}

/// The commands, built once: building one costs more than parsing with it.
static COMMANDS: LazyLock<Mutex<[clap::Command; 3]>> = LazyLock::new(|| {
    let command = |name: &'static str| clap::Command::new(name).args_override_self(true);
    Mutex::new([
        DownloadArgs::augment_args(command("flags")),
        BenchArgs::augment_args(command("bench")),
        ServeArgs::augment_args(command("serve")),
    ])
});

fn parsed<A: Args + FromArgMatches>(name: &'static str, args: &[&str]) -> Option<A> {
    let mut commands = COMMANDS.lock();
    let command = commands
        .iter_mut()
        .find(|c| c.get_name() == name)
        .expect("a command of that name");
    let argv = std::iter::once(name).chain(args.iter().copied());
    match command.try_get_matches_from_mut(argv) {
        Ok(matches) => Some(A::from_arg_matches(&matches).expect("clap matched what it parses")),
        Err(error) => {
            assert!(!error.to_string().trim().is_empty());
            None
        }
    }
}

fn selection(args: &DownloadArgs) {
    let Ok(codes) = args.selection.codes() else {
        return;
    };
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())),
        "{codes:?}"
    );
    if let Some(limit) = args.selection.limit {
        assert!(codes.len() <= limit);
    }
    if let Some(count) = args.count {
        assert!((1..=parse::MAX_DOWNLOADS).contains(&count));
        let few = count.min(1000);
        assert_eq!(Plan::repeat_codes(&codes, few).len(), few);
    }
}

fn bench_matrix(args: &BenchArgs) {
    let Ok(codes) = args.selection.codes() else {
        return;
    };
    let downloads = args.count.unwrap_or(codes.len());
    let (levels, _) = crate::cli::bench::effective_levels(&args.concurrency, downloads);
    assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
    assert!(
        levels.iter().all(|&l| l >= 1 && l <= downloads.max(1)),
        "{levels:?}"
    );
    assert!(!levels.is_empty() || args.concurrency.is_empty());
}
