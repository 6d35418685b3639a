//! The plan shared by the three download modes: which codes, from which
//! server, into which folder, with what limits. Only the driver differs.

use std::fmt;
use std::time::Duration;

use crate::dataset;

/// How requests are driven: the one thing that differs between runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One blocking client, one request at a time.
    Sequential,
    /// N OS threads doing blocking I/O.
    Threaded,
    /// Tokio tasks, N requests in flight on one runtime.
    Async,
}

impl Mode {
    /// The HTTP client this mode's requests go through, as traces name it.
    pub fn client(self) -> &'static str {
        match self {
            Mode::Sequential | Mode::Threaded => "ureq",
            Mode::Async => "reqwest",
        }
    }

    /// The default concurrency of this mode.
    pub(crate) fn default_concurrency(self) -> usize {
        match self {
            Mode::Sequential => 1,
            Mode::Threaded => 30,
            Mode::Async => 100,
        }
    }

    /// The concurrency a run really uses: the one asked for (or this mode's
    /// default, or [`POLITE_CONCURRENCY`] against a server that is not ours),
    /// never more than the number of downloads, always 1 when sequential.
    pub(crate) fn concurrency(self, asked: Option<usize>, polite: bool, downloads: usize) -> usize {
        if self == Mode::Sequential {
            return 1;
        }
        let default = if polite {
            POLITE_CONCURRENCY
        } else {
            self.default_concurrency()
        };
        asked.unwrap_or(default).min(downloads).max(1)
    }
}

/// How many requests at once are polite against a public server.
pub(crate) const POLITE_CONCURRENCY: usize = 5;

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Sequential => "sequential",
            Mode::Threaded => "threaded",
            Mode::Async => "async",
        })
    }
}

/// Why a country-code argument was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid country code '{0}': expected two letters (e.g. BR) or one letter (e.g. B for BA..BZ)"
)]
pub(crate) struct CodeError(pub String);

/// Expands the command line's selection into sorted, de-duplicated upper-case
/// codes: `all` gives the data set, `every` gives AA..ZZ, a letter gives its
/// 26 codes, nothing gives the 20 most populous countries; `limit` keeps the
/// first N.
pub(crate) fn select_codes(
    args: &[String],
    all: bool,
    every: bool,
    limit: Option<usize>,
) -> Result<Vec<String>, CodeError> {
    let mut codes: Vec<String> = Vec::new();
    for arg in args {
        let upper = arg.to_ascii_uppercase();
        if !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CodeError(arg.clone()));
        }
        match upper.len() {
            1 => codes.extend(('A'..='Z').map(|second| format!("{upper}{second}"))),
            2 => codes.push(upper),
            _ => return Err(CodeError(arg.clone())),
        }
    }
    if every {
        codes.extend(every_code());
    } else if all {
        codes.extend(dataset::country_codes());
    }
    if args.is_empty() && !all && !every {
        codes.extend(dataset::POPULOUS_20.iter().map(|c| c.to_string()));
    }
    codes.sort();
    codes.dedup();
    if let Some(n) = limit {
        codes.truncate(n);
    }
    Ok(codes)
}

/// All 676 two-letter codes AA..ZZ.
pub fn every_code() -> impl Iterator<Item = String> {
    ('A'..='Z').flat_map(|a| ('A'..='Z').map(move |b| format!("{a}{b}")))
}

/// Limits and behaviour of each request, shared by every mode.
#[derive(Debug, Clone)]
pub(crate) struct RequestOptions {
    /// The whole request, body included.
    pub timeout: Duration,
    /// Establishing the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Extra attempts for errors worth retrying.
    pub retries: u32,
    /// A body larger than this is an error and is not saved.
    pub max_size: u64,
    /// Fetch `metadata.json` first and save as `<CC>-<Country>.gif`.
    pub names: bool,
    /// Async mode: every request an HTTP/2 stream, spread over this many
    /// connections (`--http2 --connections N`); `None` is HTTP/1.1.
    pub http2: Option<usize>,
    /// With `http2`: streams in flight at most on one connection
    /// (`--streams`); the others wait their turn before they are sent.
    pub streams: usize,
    /// Which https servers to trust (`--cacert`, `--insecure`).
    pub trust: crate::download::pipeline::trust::Trust,
}

/// HTTP/2 streams in flight at most on one connection, unless told: 100,
/// the least a server is advised to allow (RFC 9113, 6.5.2), so that a
/// request waits its turn here, before its timeout runs, rather than in
/// the client library, where it would.
pub const DEFAULT_STREAMS: usize = 100;

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retries: 2,
            max_size: 4 * 1024 * 1024,
            names: false,
            http2: None,
            streams: DEFAULT_STREAMS,
            trust: Default::default(),
        }
    }
}

/// One download job: the same for every mode.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Upper-case codes, sorted.
    pub codes: Vec<String>,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8000/flags`.
    pub base_url: String,
    /// The server's latency when it is known (the embedded server with a
    /// fixed delay), for the ideal time.
    pub server_delay: Option<Duration>,
    /// Bound on requests in flight (already capped at the number of codes).
    pub concurrency: usize,
    /// How requests are driven.
    pub mode: Mode,
    /// Per-request limits.
    pub request: RequestOptions,
    /// Do not request codes whose file already exists.
    pub skip_existing: bool,
    /// Save job `i` as `<CC>-<i>.gif`, so that repeated codes (`--count`)
    /// each get their own file.
    pub numbered: bool,
    /// How the async mode's runtime runs its tasks.
    pub runtime: Runtime,
    /// How files are written.
    pub save: SaveOptions,
}

impl Plan {
    /// A plan of `codes` from `base_url` in `mode`, `concurrency` at once;
    /// everything else as `flags` has it by default (no known latency,
    /// default request limits, every code fetched and saved under its
    /// name, the multi-thread runtime, saves on the blocking pool). Callers
    /// set what their options change on the plan it returns.
    pub(crate) fn new(
        codes: Vec<String>,
        base_url: String,
        mode: Mode,
        concurrency: usize,
    ) -> Self {
        Self {
            codes,
            base_url,
            server_delay: None,
            concurrency,
            mode,
            request: RequestOptions::default(),
            skip_existing: false,
            numbered: false,
            runtime: Runtime::Multi,
            save: SaveOptions::default(),
        }
    }

    /// Requests that can really be in flight at once: the concurrency, or
    /// over HTTP/2 the connections' streams when they are fewer.
    pub(crate) fn in_flight_at_most(&self) -> usize {
        match self.request.http2 {
            Some(connections) => self
                .concurrency
                .min(connections.saturating_mul(self.request.streams)),
            None => self.concurrency,
        }
    }
}

/// How the async mode's tokio runtime runs its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// One worker thread per core (the default).
    #[default]
    Multi,
    /// Every task on one thread, as asyncio does.
    Current,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Multi => "multi-thread",
            Runtime::Current => "one-thread",
        })
    }
}

/// How each flag is written, to show what blocking does to a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Async mode: write with `std::fs` in the task itself (`--save inline`),
    /// blocking the runtime's thread, instead of on the blocking pool.
    pub inline: bool,
    /// Every save takes at least this long (`--save-delay`): a slow disk.
    pub delay: Duration,
}

impl Plan {
    /// `count` jobs cycling through `codes`, for workloads larger than the
    /// data set (`--count`); each is saved under its own numbered name.
    pub(crate) fn repeat_codes(codes: &[String], count: usize) -> Vec<String> {
        codes.iter().cycle().take(count).cloned().collect()
    }
}

/// File descriptors a run at `concurrency` needs: a socket per connection,
/// twice when the server runs in the same process, and a margin for the
/// rest.
pub(crate) fn open_files_needed(concurrency: usize, server_in_process: bool) -> u64 {
    let sockets = if server_in_process { 2 } else { 1 };
    concurrency as u64 * sockets + 64
}

/// The URL of a code's GIF on the server at `base`: `{base}/br/br.gif`.
pub(crate) fn gif_url(base: &str, code: &str) -> String {
    let mut url = base.trim_end_matches('/').to_owned();
    Target::Flag.push_path(code, &mut url);
    url
}

/// What a request is for: the flag itself, or its `metadata.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `<cc>.gif`.
    Flag,
    /// `metadata.json` (with `--names`).
    Metadata,
}

impl Target {
    /// Both, in the order a `--names` download asks for them.
    pub const ALL: [Target; 2] = [Target::Flag, Target::Metadata];

    /// Its name in the trace: `flag` or `metadata`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Flag => "flag",
            Target::Metadata => "metadata",
        }
    }
}

impl Target {
    /// Appends its path under a flags server's base URL, in the data set's
    /// layout: `/br/br.gif`, `/br/metadata.json`. The one place that knows
    /// it.
    pub(crate) fn push_path(self, code: &str, path: &mut String) {
        let cc = |path: &mut String| path.extend(code.chars().map(|c| c.to_ascii_lowercase()));
        path.push('/');
        cc(path);
        path.push('/');
        match self {
            Target::Flag => {
                cc(path);
                path.push_str(".gif");
            }
            Target::Metadata => path.push_str("metadata.json"),
        }
    }
}

/// The URLs of a run's downloads, from its base URL parsed once: each is
/// the base with its path extended (no parsing per request).
#[derive(Debug, Clone)]
pub(crate) struct FlagUrls {
    base: url::Url,
}

impl FlagUrls {
    /// The URLs under `base`, a flags server's base URL.
    pub(crate) fn new(base: &str) -> Result<Self, url::ParseError> {
        url::Url::parse(base).map(|base| Self { base })
    }

    /// The URL of `code`'s `target`.
    pub(crate) fn of(&self, code: &str, target: Target) -> url::Url {
        let base = self.base.path().trim_end_matches('/');
        let mut path = String::with_capacity(base.len() + 2 * code.len() + 16);
        path.push_str(base);
        target.push_path(code, &mut path);
        let mut url = self.base.clone();
        url.set_path(&path);
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn urls_follow_the_data_set_layout_under_any_base() {
        let urls = FlagUrls::new("http://127.0.0.1:8000/flags/").unwrap();
        assert_eq!(
            urls.of("BR", Target::Flag).as_str(),
            "http://127.0.0.1:8000/flags/br/br.gif"
        );
        assert_eq!(
            urls.of("BR", Target::Metadata).as_str(),
            "http://127.0.0.1:8000/flags/br/metadata.json"
        );
        let root = FlagUrls::new("https://example.org").unwrap();
        assert_eq!(
            root.of("us", Target::Flag).as_str(),
            "https://example.org/us/us.gif"
        );
        assert_eq!(gif_url("http://h/flags", "CN"), "http://h/flags/cn/cn.gif");
    }

    #[test]
    fn default_is_the_populous_20_sorted() {
        let codes = select_codes(&[], false, false, None).unwrap();
        assert_eq!(codes.len(), 20);
        assert_eq!(codes.first().map(String::as_str), Some("BD"));
        assert_eq!(codes.last().map(String::as_str), Some("VN"));
    }

    #[test]
    fn letters_expand_and_duplicates_go() {
        let codes = select_codes(&strings(&["b", "BR", "br"]), false, false, None).unwrap();
        assert_eq!(codes.len(), 26);
        assert_eq!(codes[0], "BA");
    }

    #[test]
    fn all_every_and_limit() {
        assert_eq!(select_codes(&[], true, false, None).unwrap().len(), 194);
        assert_eq!(select_codes(&[], false, true, None).unwrap().len(), 676);
        assert_eq!(
            select_codes(&[], true, false, Some(3)).unwrap(),
            strings(&["AD", "AE", "AF"])
        );
    }

    #[test]
    fn bad_codes_are_named() {
        for bad in ["BRA", "1A", "", "é"] {
            assert_eq!(
                select_codes(&strings(&[bad]), false, false, None),
                Err(CodeError(bad.into()))
            );
        }
    }

    #[test]
    fn concurrency_is_capped_and_defaulted() {
        assert_eq!(Mode::Async.concurrency(None, false, 1000), 100);
        assert_eq!(Mode::Threaded.concurrency(None, true, 1000), 5);
        assert_eq!(Mode::Async.concurrency(Some(50), false, 20), 20);
        assert_eq!(Mode::Sequential.concurrency(Some(50), false, 20), 1);
        assert_eq!(Mode::Async.concurrency(Some(50), false, 0), 1);
    }
}
