//! `flags bench`: the options, the checks made before the first run, and
//! what the bench's end means (a partial table on Ctrl-C, a non-zero exit
//! when a cell failed or a cell regressed).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::download::SelectionArgs;
use super::values::{self, ModelArg, ProgressChoice};
use super::{Failure, Finish, usage};
use crate::bench::export::{
    Exports, bmf::Bmf, csv::Csv, github::GithubBenchmark, html::Html, json::Json,
    markdown::Markdown, svg::Svg, table,
};
use crate::bench::{BenchConfig, BenchReport, Order, OutsideCommand, Selection, baseline, compare};
use crate::download::plan::Plan;
use crate::{errln, out, outln, sys};

const EXAMPLE: &str = "\
Example:
  flags bench --all --modes threaded,async --concurrency 10,50,200 --delay 0ms,100ms \\
      --export-json bench.json --plot bench.svg \\
      --vs 'curl=curl -s --parallel --parallel-max 50 --remote-name-all $(cat {url_file})'";

/// The options that shape runs; `--from` runs nothing, so it takes none of them.
const RUN_OPTIONS: [&str; 14] = [
    "codes",
    "all",
    "every",
    "limit",
    "count",
    "modes",
    "concurrency",
    "delay",
    "runs",
    "warmup",
    "server",
    "vs",
    "workdir",
    "order",
];

/// `flags bench compare OLD NEW`.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Compare two --export-json files cell by cell: ratio of medians, its
    /// interval, and a verdict.
    Compare(CompareArgs),
}

/// Options of `flags bench compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The earlier export (the baseline).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later export.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Exit 1 when a cell is slower than this with its whole interval.
    #[arg(long, value_parser = values::percent, value_name = "PERCENT", allow_negative_numbers = true)]
    pub max_regression: Option<f64>,
    /// A change within this of 1 is not called one.
    #[arg(long, default_value = "5%", value_parser = values::percent, value_name = "PERCENT", allow_negative_numbers = true)]
    pub threshold: f64,
}

/// Options of `flags bench`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Details and examples: --help",
    after_long_help = EXAMPLE,
    args_conflicts_with_subcommands = true
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// N downloads per run, cycling through the codes (workloads beyond the data set).
    #[arg(long, value_name = "N", value_parser = values::downloads, allow_negative_numbers = true, help_heading = "Selection")]
    pub count: Option<usize>,
    /// Modes to compare (async-current: async on the one-thread runtime;
    /// async-h2: HTTP/2 streams over --connections).
    #[arg(
        value_name = "MODEL",
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sequential,threaded,async",
        help_heading = "Matrix"
    )]
    pub modes: Vec<ModelArg>,
    /// HTTP/2 connections of async-h2 (named async-h2x8 for 8).
    #[arg(value_name = "N", long, default_value_t = 1, value_parser = values::count, allow_negative_numbers = true, help_heading = "Matrix")]
    pub connections: usize,
    /// Concurrency values (sequential always runs at 1).
    #[arg(value_name = "N", short = 'm', long, value_delimiter = ',', default_value = "1,10,50,200", value_parser = values::count, allow_negative_numbers = true, help_heading = "Matrix")]
    pub concurrency: Vec<usize>,
    /// Server latencies; a flags server is started for each.
    #[arg(value_name = "DURATION", long, value_delimiter = ',', default_value = "0ms,100ms", value_parser = values::duration, allow_hyphen_values = true, help_heading = "Matrix")]
    pub delay: Vec<Duration>,
    /// Measured runs per cell.
    #[arg(value_name = "N", long, default_value_t = 5, value_parser = values::count, allow_negative_numbers = true, help_heading = "Matrix")]
    pub runs: usize,
    /// Unmeasured runs per cell before the measured ones.
    #[arg(value_name = "N", long, default_value_t = 1, value_parser = values::count_or_zero, allow_negative_numbers = true, help_heading = "Matrix")]
    pub warmup: usize,
    /// Use this flags server instead of starting one; --delay then states its latency.
    #[arg(short, long, value_name = "URL", value_parser = base_url, help_heading = "Matrix")]
    pub server: Option<String>,
    /// The servers it starts speak HTTPS; every run trusts their CA
    /// (--cacert; {cacert}, SSL_CERT_FILE and CURL_CA_BUNDLE for --vs).
    #[arg(long, conflicts_with = "server", help_heading = "Matrix")]
    pub tls: bool,
    /// Also run an outside command (repeatable).
    ///
    /// For example 'curl=curl -s --parallel --remote-name-all $(cat
    /// {url_file})': {url_file} is a file with one URL per line; {base} and
    /// {out} are replaced; it runs in {out}.
    #[arg(long = "vs", value_name = "NAME=COMMAND", help_heading = "Matrix")]
    pub vs: Vec<OutsideCommand>,
    /// Write every run and the statistics as JSON (schema flags-bench/1).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_json: Option<PathBuf>,
    /// Write one CSV row per cell.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_csv: Option<PathBuf>,
    /// Write a Markdown table.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_markdown: Option<PathBuf>,
    /// Write one self-contained HTML report: the environment, the table,
    /// the plots, each cell's median waterfall, the baseline comparison.
    ///
    /// Every run then also records its timeline, which costs a little:
    /// compare runs made the same way.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_html: Option<PathBuf>,
    /// Write the Bencher Metric Format (bencher.dev): latency, CPU per
    /// download and peak RSS per cell.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_bmf: Option<PathBuf>,
    /// Write github-action-benchmark's customSmallerIsBetter JSON.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub export_github_benchmark: Option<PathBuf>,
    /// Draw time and peak RSS against concurrency as SVG.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub plot: Option<PathBuf>,
    /// A previous --export-json to compare medians with.
    #[arg(long, value_name = "FILE", help_heading = "Gate")]
    pub baseline: Option<PathBuf>,
    /// The baseline build's flags binary, run beside this one: each cell
    /// gets a twin it runs, interleaved, and is gated against it.
    ///
    /// The gate to trust on a shared machine: an export taken in a quick
    /// minute (--baseline) makes a later bench look slower; twins run in
    /// the same minutes.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "baseline",
        help_heading = "Gate"
    )]
    pub baseline_exe: Option<PathBuf>,
    /// With --baseline or --baseline-exe: exit 1 when a cell is slower
    /// than this (e.g. 10%).
    #[arg(long, default_value = "10%", value_parser = values::percent, value_name = "PERCENT", allow_negative_numbers = true, help_heading = "Gate")]
    pub max_regression: f64,
    /// Exit 0 even when every measured run of a cell failed.
    #[arg(long, help_heading = "Gate")]
    pub ignore_failure: bool,
    /// Run nothing: report an earlier --export-json.
    ///
    /// The table, exports, plot and baseline comparison are made from it.
    #[arg(long, value_name = "FILE", conflicts_with_all = RUN_OPTIONS, help_heading = "Gate")]
    pub from: Option<PathBuf>,
    /// The order of the runs: round by round, each round shuffled
    /// (interleaved), or cell by cell (sequential).
    #[arg(long, value_enum, default_value_t = Order::Interleaved, value_name = "ORDER", help_heading = "Matrix")]
    pub order: Order,
    /// Where the runs' output folders go [default: /dev/shm if present, so the disk is not what is measured].
    #[arg(long, value_name = "DIR", help_heading = "Matrix")]
    pub workdir: Option<PathBuf>,
    /// Progress display on stderr.
    #[arg(value_name = "WHEN", long, value_enum, default_value_t = ProgressChoice::Auto, help_heading = "Output")]
    pub progress: ProgressChoice,
}

/// An `http(s)://` base URL, without a trailing slash.
fn base_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(text.trim_end_matches('/').to_owned())
        }
        _ => Err(format!("'{text}' is not an http(s) URL")),
    }
}

impl BenchArgs {
    fn exports(&self, baseline: Option<&BenchReport>) -> Exports {
        let mut exports = Exports::default();
        if let Some(path) = &self.export_html {
            let html = Html {
                baseline: baseline.cloned(),
                max_regression: self.max_regression,
            };
            exports.add(html, path.clone());
        }
        if let Some(path) = &self.export_json {
            exports.add(Json, path.clone());
        }
        if let Some(path) = &self.export_csv {
            exports.add(Csv, path.clone());
        }
        if let Some(path) = &self.export_markdown {
            exports.add(Markdown, path.clone());
        }
        if let Some(path) = &self.plot {
            exports.add(Svg, path.clone());
        }
        if let Some(path) = &self.export_bmf {
            exports.add(Bmf, path.clone());
        }
        if let Some(path) = &self.export_github_benchmark {
            exports.add(GithubBenchmark, path.clone());
        }
        exports
    }

    fn config(&self) -> Result<BenchConfig, Failure> {
        // Cells are matched by name across exports (compare, --baseline):
        // two of one name would be compared with each other's runs.
        for (i, outside) in self.vs.iter().enumerate() {
            if self.vs[..i].iter().any(|o| o.name == outside.name) {
                return Err(usage(format!(
                    "--vs '{}' is given twice: give each command its own name",
                    crate::text::inert(&outside.name)
                )));
            }
        }
        let codes = self.selection.codes()?;
        let jobs = match self.count {
            Some(count) => Plan::repeat_codes(&codes, count),
            None => codes.clone(),
        };
        let workdir = self.workdir.clone().unwrap_or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            if shm.is_dir() {
                shm
            } else {
                std::env::temp_dir()
            }
        });
        if !workdir.is_dir() {
            return Err(usage(format!("no such folder: {}", workdir.display())));
        }
        if let Some(exe) = self.baseline_exe.as_ref().filter(|exe| !exe.is_file()) {
            let what = if exe.exists() {
                "not a file"
            } else {
                "no such file"
            };
            return Err(usage(format!("--baseline-exe: {what}: {}", exe.display())));
        }
        let args: Vec<String> = std::env::args().collect();
        let (concurrency, note) = effective_levels(&self.concurrency, jobs.len());
        if let Some(note) = note {
            errln!("flags bench: {note}");
        }
        Ok(BenchConfig {
            exe: std::env::current_exe().context("cannot find the flags binary")?,
            baseline_exe: self.baseline_exe.clone(),
            models: self
                .modes
                .iter()
                .map(|arg| arg.model(self.connections))
                .collect(),
            concurrency,
            delays: self.delay.clone(),
            runs: self.runs,
            warmup: self.warmup,
            order: self.order,
            waterfalls: self.export_html.is_some(),
            selection: Selection {
                codes,
                count: self.count,
            },
            jobs,
            server: self.server.clone(),
            outside: self.vs.clone(),
            tls: self.tls,
            workdir,
            progress: self.progress.show(std::io::stderr().is_terminal()),
            command_line: shlex::try_join(args.iter().map(String::as_str))
                .unwrap_or_else(|_| args.join(" ")),
        })
    }
}

/// The concurrency levels a run of `downloads` really uses: none above the
/// number of downloads, each once, in order; and a note saying which were
/// merged, when any were.
pub(crate) fn effective_levels(asked: &[usize], downloads: usize) -> (Vec<usize>, Option<String>) {
    let mut levels: Vec<usize> = asked.iter().map(|c| (*c).min(downloads.max(1))).collect();
    levels.sort_unstable();
    levels.dedup();
    let merged: Vec<String> = asked
        .iter()
        .filter(|c| **c > downloads.max(1))
        .map(|c| c.to_string())
        .collect();
    let note = (!merged.is_empty()).then(|| {
        format!(
            "each run has only {}, so concurrency {} runs at {} (one cell)",
            crate::text::count(downloads, "download", "downloads"),
            merged.join(", "),
            downloads.max(1)
        )
    });
    (levels, note)
}

fn read_export(path: &Path, what: &str) -> anyhow::Result<BenchReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a flags bench JSON export", path.display()))
}

/// Compares two exports: a table of cells, warnings on the environments,
/// and exit code 1 for a regression beyond `--max-regression`.
fn run_compare(args: CompareArgs) -> Result<Finish, Failure> {
    let old = read_export(&args.old, "export")?;
    let new = read_export(&args.new, "export")?;
    let comparison = compare::compare(&old, &new, args.threshold);
    out!("{}", compare_table(&comparison, args.threshold));
    for difference in &comparison.differences {
        errln!(
            "warning: the runs differ: {}",
            crate::text::inert(difference)
        );
    }
    for key in &comparison.unmatched {
        errln!(
            "not compared (in one export only, or no clean run): {}",
            crate::text::inert(key)
        );
    }
    let Some(max) = args.max_regression else {
        return Ok(Finish::Done);
    };
    for c in &comparison.cells {
        let figures = format!(
            "{}: {:+.1}% (interval {:+.1}% to {:+.1}%), allowed {:.1}%",
            crate::text::inert(&c.key),
            (c.ratio - 1.0) * 100.0,
            (c.low - 1.0) * 100.0,
            (c.high - 1.0) * 100.0,
            max * 100.0
        );
        match comparison.judge(c, max) {
            compare::Judgement::Passed => {}
            compare::Judgement::Regressed => errln!("REGRESSION {figures}"),
            compare::Judgement::Undecided(why) => errln!("warning: undecided {figures}: {why}"),
        }
    }
    if comparison.regressions(max).is_empty() {
        Ok(Finish::Done)
    } else {
        Ok(Finish::Errors)
    }
}

/// The comparison as an aligned table.
fn compare_table(comparison: &compare::Comparison, threshold: f64) -> String {
    let secs = crate::duration::human_seconds;
    let mut rows = vec![[
        "cell".to_owned(),
        "old".to_owned(),
        "new".to_owned(),
        "new/old".to_owned(),
        "95% interval".to_owned(),
        "verdict".to_owned(),
    ]];
    for c in &comparison.cells {
        rows.push([
            crate::text::untrusted(&c.key, 60),
            secs(c.old_median),
            secs(c.new_median),
            format!("{:.2}×", c.ratio),
            format!("{:.2} – {:.2}", c.low, c.high),
            c.verdict.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "Ratio of medians, new over old, with a 95% bootstrap interval from the runs; \
         a change is called only when the whole interval is more than {:.0}% from 1.\n",
        threshold * 100.0
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (text, w))| {
                let pad = " ".repeat(w - text.chars().count());
                if i == 0 || i == 5 {
                    format!("{text}{pad}")
                } else {
                    format!("{pad}{text}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// How many times `--runs` a cell may run in all when its runs cannot
/// decide against an earlier export: more runs narrow its own spread,
/// not the baseline's or the drift between the two.
const MORE_RUNS: usize = 4;

/// How many times `--runs` a cell and its twin (`--baseline-exe`) may run
/// in all when their pairs cannot decide: each round narrows the order
/// statistics' interval (20 pairs give their 6th to 15th ratio, 40 their
/// 14th to 27th).
const MORE_TWIN_RUNS: usize = 8;

/// The gate `report` is judged by: against the `--baseline` export, or
/// each cell against its twin with `--baseline-exe`; none without either.
fn gate(
    args: &BenchArgs,
    baseline: Option<&BenchReport>,
    report: &BenchReport,
) -> Option<baseline::Gate> {
    match (baseline, &args.baseline_exe) {
        (Some(baseline), _) => Some(baseline::compare(report, baseline, args.max_regression)),
        (None, Some(_)) => Some(baseline::compare_twins(report, args.max_regression)),
        (None, None) => None,
    }
}

/// Runs the bench (or reads `--from`), then shows and writes what it found.
pub fn run(args: BenchArgs) -> Result<Finish, Failure> {
    let mut args = args;
    if let Some(BenchCommand::Compare(compare)) = args.command.take() {
        return run_compare(compare);
    }
    // Everything that can fail before the first run fails now, not after
    // minutes of measuring: the exports' paths, the baseline, the earlier export.
    let baseline = match &args.baseline {
        Some(path) => Some(read_export(path, "baseline")?),
        None => None,
    };
    let exports = args.exports(baseline.as_ref());
    exports.check()?;
    let report = match &args.from {
        Some(path) => read_export(path, "earlier export")?,
        None => {
            let config = args.config()?;
            let widest = config.concurrency.iter().copied().max().unwrap_or(1) as u64;
            sys::require_open_files(widest + 64)?;
            let cancel = CancellationToken::new();
            sys::on_interrupt(cancel.clone(), "interrupted: stopping the bench")
                .context("cannot install the Ctrl-C handler")?;
            // With a baseline, a cell whose interval reaches both sides of
            // the allowed slowdown gets more runs, round by round.
            let max_runs = match (&baseline, &args.baseline_exe) {
                (Some(_), _) => config.runs * MORE_RUNS,
                (None, Some(_)) => config.runs * MORE_TWIN_RUNS,
                (None, None) => config.runs,
            };
            let undecided = |so_far: &BenchReport| {
                gate(&args, baseline.as_ref(), so_far).map_or_else(Vec::new, |g| g.too_noisy())
            };
            crate::bench::run(&config, &cancel, max_runs, &undecided)?
        }
    };
    out!("{}", table::terminal(&report));
    exports.write(&report)?;
    let failed: Vec<String> = report
        .cells
        .iter()
        .filter(|c| c.all_failed())
        .map(|c| crate::text::inert(&c.key()))
        .collect();
    let mut finish = Finish::Done;
    if !failed.is_empty() && !args.ignore_failure {
        errln!(
            "flags bench: every measured run failed in {} (--ignore-failure to exit 0 anyway)",
            failed.join(", ")
        );
        finish = Finish::Errors;
    }
    if let Some(gate) = gate(&args, baseline.as_ref(), &report) {
        for line in gate.lines() {
            outln!("{line}");
        }
        if !gate.passed() {
            finish = Finish::Errors;
        }
    }
    if report.interrupted {
        finish = Finish::Interrupted;
    }
    Ok(finish)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_above_the_downloads_run_once_at_the_downloads() {
        assert_eq!(
            effective_levels(&[1, 10, 50, 200], 194).0,
            vec![1, 10, 50, 194]
        );
        let (levels, note) = effective_levels(&[1, 10, 50, 200], 2);
        assert_eq!(levels, vec![1, 2]);
        assert_eq!(
            note.as_deref(),
            Some("each run has only 2 downloads, so concurrency 10, 50, 200 runs at 2 (one cell)")
        );
        assert_eq!(effective_levels(&[50, 10], 100), (vec![10, 50], None));
    }
}
