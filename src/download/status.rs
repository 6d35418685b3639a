//! What happened to each code and why: statuses, reasons and counts, the one
//! vocabulary every mode reports in.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::text::inert;

/// The result class of one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Downloaded and saved.
    Ok,
    /// The server answered 404: a normal answer, not an error.
    NotFound,
    /// Anything else: bad status, timeout, refused or reset connection,
    /// truncated or oversized body, bad metadata, failed save.
    Error,
    /// Not requested because its file already existed (`--skip-existing`).
    Skipped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::NotFound => "not found",
            Status::Error => "error",
            Status::Skipped => "skipped",
        })
    }
}

/// Why one request failed. Callers match on it to decide whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    /// 404: counted as NOT_FOUND, never retried.
    #[error("not found")]
    NotFound,
    /// Any other non-2xx status, e.g. `HTTP 418 I'm a teapot`.
    #[error("HTTP {code}{}", reason_suffix(.reason))]
    Status {
        /// The status code.
        code: u16,
        /// Its canonical reason phrase, if any.
        reason: String,
        /// How long the server asked to wait (`Retry-After`), when it did.
        retry_after: Option<Duration>,
    },
    /// No complete answer within `--timeout`.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made (refused, unreachable, DNS).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The server reset or closed the connection before the answer was complete.
    #[error("connection reset")]
    Reset,
    /// HTTP/2: the server refused the request before working on it (a
    /// `GOAWAY` whose last stream is below it, or `REFUSED_STREAM`), so it
    /// is safe to send again (RFC 9113, section 8.7).
    #[error("refused before processing")]
    Refused,
    /// Fewer body bytes arrived than `Content-Length` announced.
    #[error("truncated body")]
    Truncated,
    /// The TLS handshake failed for good: a certificate not to be trusted,
    /// no protocol version or cipher in common. Not retried: it cannot heal.
    #[error("TLS: {0}")]
    Tls(String),
    /// The body was larger than `--max-size`.
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    /// The server redirected more than five times.
    #[error("too many redirects")]
    Redirects,
    /// A redirect to something other than an `http`/`https` URL with a host.
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    /// An answer that breaks HTTP: bad status line, headers or framing.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// `metadata.json` was not valid JSON or had no `country`.
    #[error("invalid metadata: {0}")]
    BadMetadata(String),
    /// The file could not be written.
    #[error("save failed: {0}")]
    Save(String),
    /// The run was interrupted before this download finished: it is
    /// abandoned, not counted as an error.
    #[error("cancelled")]
    Cancelled,
    /// A bug: the download panicked. The run carries on without it.
    #[error("internal error: {0}")]
    Internal(String),
    /// Anything else the HTTP client reported.
    #[error("{0}")]
    Other(String),
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" {reason}")
    }
}

impl FetchError {
    /// A status error with the canonical reason phrase of `code`.
    pub(crate) fn status(code: u16, retry_after: Option<Duration>) -> Self {
        if code == 404 {
            return FetchError::NotFound;
        }
        let reason = http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_owned();
        FetchError::Status {
            code,
            reason,
            retry_after,
        }
    }

    /// Errors worth another try: the server or the network may do better next
    /// time. 404 and other 4xx (but 418 and 429) are answers, not accidents.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { code, .. } => *code >= 500 || *code == 418 || *code == 429,
            FetchError::Timeout
            | FetchError::Connect(_)
            | FetchError::Reset
            | FetchError::Refused
            | FetchError::Truncated => true,
            _ => false,
        }
    }

    /// The wait the server asked for with `Retry-After`, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What happened to one code.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CodeResult {
    /// Upper-case country code.
    pub code: String,
    /// Result class.
    pub status: Status,
    /// Bytes saved (0 unless OK or skipped).
    pub bytes: u64,
    /// Why it failed (errors only).
    pub reason: Option<String>,
    /// Country name from `metadata.json` (with `--names`).
    pub country: Option<String>,
    /// File name inside the output folder (OK and skipped only).
    pub file: Option<String>,
    /// How many retries were made for this code.
    pub retries: u32,
    /// How long this download took, from its first request to its end
    /// (every request, every wait before a retry, the save), seconds.
    pub seconds: f64,
    /// Abandoned because the run was interrupted: not counted, not shown.
    #[serde(skip)]
    pub abandoned: bool,
}

impl CodeResult {
    /// A saved flag.
    pub(crate) fn ok(
        code: &str,
        bytes: u64,
        file: String,
        country: Option<String>,
        retries: u32,
    ) -> Self {
        Self {
            code: code.to_owned(),
            status: Status::Ok,
            bytes,
            reason: None,
            country,
            file: Some(file),
            retries,
            seconds: 0.0,
            abandoned: false,
        }
    }

    /// A failed code: NOT_FOUND for 404, ERROR with its reason otherwise.
    pub(crate) fn failed(
        code: &str,
        error: &FetchError,
        country: Option<String>,
        retries: u32,
    ) -> Self {
        let (status, reason) = match error {
            FetchError::NotFound => (Status::NotFound, None),
            other => (Status::Error, Some(other.to_string())),
        };
        Self {
            code: code.to_owned(),
            status,
            bytes: 0,
            reason,
            country,
            file: None,
            retries,
            seconds: 0.0,
            abandoned: *error == FetchError::Cancelled,
        }
    }

    /// A code whose download panicked (a bug): ERROR `internal error: ...`.
    pub(crate) fn panicked(code: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = crate::sys::panic_message(payload);
        Self::failed(code, &FetchError::Internal(message), None, 0)
    }

    /// A code not requested because `path` already holds its flag.
    pub(crate) fn skipped(code: &str, path: &std::path::Path) -> Self {
        Self {
            code: code.to_owned(),
            status: Status::Skipped,
            bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
            reason: None,
            country: None,
            file: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            retries: 0,
            seconds: 0.0,
            abandoned: false,
        }
    }

    /// The line `-v` prints: `BR OK`, `XX not found`, `YY error: HTTP 418
    /// I'm a teapot`. What came from the server (a reason's details, a
    /// country name) is made inert first.
    pub(crate) fn line(&self) -> String {
        let mut line = format!("{} {}", self.code, self.status);
        if let Some(reason) = &self.reason {
            line.push_str(": ");
            line.push_str(&inert(reason));
        }
        if let (Status::Ok, Some(file)) = (self.status, &self.file)
            && let Some(country) = &self.country
        {
            line.push_str(&format!(" {} -> {}", inert(country), inert(file)));
        }
        line
    }

    /// This result, timed: it took `took`.
    pub(crate) fn took(mut self, took: std::time::Duration) -> Self {
        self.seconds = took.as_secs_f64();
        self
    }
}

/// Counts per status, plus retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct Counts {
    /// Saved.
    pub ok: usize,
    /// 404.
    pub not_found: usize,
    /// Errors.
    pub error: usize,
    /// Skipped because already present.
    pub skipped: usize,
    /// Retries made, over all codes.
    pub retries: u64,
}

impl Counts {
    /// Adds one result.
    pub(crate) fn add(&mut self, result: &CodeResult) {
        match result.status {
            Status::Ok => self.ok += 1,
            Status::NotFound => self.not_found += 1,
            Status::Error => self.error += 1,
            Status::Skipped => self.skipped += 1,
        }
        self.retries += u64::from(result.retries);
    }

    /// Codes with a final answer.
    pub(crate) fn done(&self) -> usize {
        self.ok + self.not_found + self.error + self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_read_well() {
        assert_eq!(
            FetchError::status(418, None).to_string(),
            "HTTP 418 I'm a teapot"
        );
        assert_eq!(FetchError::status(404, None), FetchError::NotFound);
        assert!(FetchError::status(503, None).is_retryable());
        assert!(FetchError::status(429, None).is_retryable());
        assert!(!FetchError::status(403, None).is_retryable());
        assert!(!FetchError::NotFound.is_retryable());
    }

    #[test]
    fn lines_and_counts() {
        let ok = CodeResult::ok("BR", 10, "BR.gif".into(), None, 0);
        let nf = CodeResult::failed("XX", &FetchError::NotFound, None, 0);
        let err = CodeResult::failed("YY", &FetchError::status(418, None), None, 2);
        assert_eq!(ok.line(), "BR OK");
        assert_eq!(nf.line(), "XX not found");
        assert_eq!(err.line(), "YY error: HTTP 418 I'm a teapot");
        let mut counts = Counts::default();
        for result in [&ok, &nf, &err] {
            counts.add(result);
        }
        assert_eq!(
            (counts.ok, counts.not_found, counts.error, counts.retries),
            (1, 1, 1, 2)
        );
    }
}
