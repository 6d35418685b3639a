//! The plan shared by the three download modes: which codes, from which
//! server, into which folder, with what limits. Only the driver differs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::dataset;

/// How requests are driven: the one thing that differs between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
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
    /// The default concurrency of this mode (before the `remote` politeness cap).
    pub fn default_concurrency(self) -> usize {
        match self {
            Mode::Sequential => 1,
            Mode::Threaded => 30,
            Mode::Async => 100,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Sequential => "sequential",
            Mode::Threaded => "threaded",
            Mode::Async => "async",
        })
    }
}

/// The real public server used by "Fluent Python".
pub const REMOTE_URL: &str = "https://www.fluentpython.com/data/flags";
/// How many requests at once are polite against `remote`.
pub const REMOTE_CONCURRENCY: usize = 5;

/// Where to download from, as given to `--server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// A server started inside this process on 127.0.0.1:0.
    Embedded,
    /// A preset label (`local`, `delay`, `error`, `remote`) or a URL.
    Url { label: String, url: String },
}

impl ServerChoice {
    /// The label shown in the header (`EMBEDDED`, `LOCAL`, `REMOTE`, `URL`).
    pub fn label(&self) -> String {
        match self {
            ServerChoice::Embedded => "EMBEDDED".into(),
            ServerChoice::Url { label, .. } => label.to_uppercase(),
        }
    }

    /// `true` for the real public server, which gets a polite concurrency.
    pub fn is_remote(&self) -> bool {
        matches!(self, ServerChoice::Url { url, .. } if url.trim_end_matches('/') == REMOTE_URL)
    }
}

/// Why a `--server` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown server '{0}': expected embedded, local, delay, error, remote or an http(s) URL")]
pub struct ServerChoiceError(String);

impl FromStr for ServerChoice {
    type Err = ServerChoiceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let preset = |label: &str, url: &str| ServerChoice::Url {
            label: label.into(),
            url: url.into(),
        };
        Ok(match s.to_ascii_lowercase().as_str() {
            "embedded" => ServerChoice::Embedded,
            "local" => preset("local", "http://localhost:8000/flags"),
            "delay" => preset("delay", "http://localhost:8001/flags"),
            "error" => preset("error", "http://localhost:8002/flags"),
            "remote" => preset("remote", REMOTE_URL),
            _ if s.starts_with("http://") || s.starts_with("https://") => {
                let url = s.trim_end_matches('/');
                if url.len() <= "https://".len() {
                    return Err(ServerChoiceError(s.into()));
                }
                preset("url", url)
            }
            _ => return Err(ServerChoiceError(s.into())),
        })
    }
}

/// Why a country-code argument was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid country code '{0}': expected two letters (e.g. BR) or one letter (e.g. B for BA..BZ)"
)]
pub struct CodeError(pub String);

/// Expands the command line's selection into sorted, de-duplicated upper-case
/// codes: `all` gives the data set, `every` gives AA..ZZ, a letter gives its
/// 26 codes, nothing gives the 20 most populous countries; `limit` keeps the
/// first N.
pub fn select_codes(
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
pub struct RequestOptions {
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
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retries: 2,
            max_size: 4 * 1024 * 1024,
            names: false,
        }
    }
}

/// One download job: the same for every mode.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Upper-case codes, sorted.
    pub codes: Vec<String>,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8000/flags`.
    pub base_url: String,
    /// Where flags are saved.
    pub output: PathBuf,
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
}

impl Plan {
    /// `count` jobs cycling through `codes`, for workloads larger than the
    /// data set (`--count`); each is saved under its own numbered name.
    pub fn repeat_codes(codes: &[String], count: usize) -> Vec<String> {
        codes.iter().cycle().take(count).cloned().collect()
    }

    /// The URL of a code's GIF.
    pub fn gif_url(&self, code: &str) -> String {
        let cc = code.to_ascii_lowercase();
        format!("{}/{cc}/{cc}.gif", self.base_url)
    }

    /// The URL of a code's metadata.
    pub fn metadata_url(&self, code: &str) -> String {
        let cc = code.to_ascii_lowercase();
        format!("{}/{cc}/metadata.json", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
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
    fn server_labels() {
        assert_eq!("embedded".parse(), Ok(ServerChoice::Embedded));
        assert!("remote".parse::<ServerChoice>().unwrap().is_remote());
        let url: ServerChoice = "http://127.0.0.1:9/flags/".parse().unwrap();
        assert_eq!(
            url,
            ServerChoice::Url {
                label: "url".into(),
                url: "http://127.0.0.1:9/flags".into()
            }
        );
        assert!("nowhere".parse::<ServerChoice>().is_err());
    }
}
