//! One flag's download, written twice in straight-line code: once on a
//! blocking client ([`blocking`], ureq, for the sequential and threaded
//! modes) and once on an async client ([`nonblocking`], reqwest, for the
//! async mode). Everything around it, the plan, the retry policy, the
//! verdict on each response ([`contract`](crate::download::contract)), the
//! statuses and the saving, is shared: the two clients only move bytes.

pub mod blocking;
pub mod nonblocking;

use std::error::Error as StdError;
use std::io;

use crate::download::contract::Cause;
use crate::download::status::{CodeResult, FetchError};
use crate::download::store::{self, OutputDir, SaveError};
use crate::download::Run;

/// A code no selection can produce (codes are letters): its download panics,
/// so that tests can check a panic is counted and the run goes on.
#[cfg(test)]
pub(crate) const PANIC_CODE: &str = "!!";

/// What one flag's download has gathered so far, kept across its requests.
pub(crate) struct FlagContext<'a> {
    pub(crate) code: &'a str,
    /// The file name's suffix with `--count` (`<CC>-<n>.gif`).
    number: Option<usize>,
    pub(crate) retries: u32,
    country: Option<String>,
}

impl<'a> FlagContext<'a> {
    fn new(run: &'a Run, job: usize) -> Self {
        let code = run.plan.codes[job].as_str();
        #[cfg(test)]
        if code == PANIC_CODE {
            panic!("a panic injected by a test");
        }
        Self {
            code,
            number: run.plan.numbered.then_some(job),
            retries: 0,
            country: None,
        }
    }

    /// The name to save under: the country's, or the job number's.
    fn label(&self) -> Option<String> {
        match (&self.country, self.number) {
            (Some(country), _) => Some(country.clone()),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        }
    }

    fn finish(self, outcome: Result<(u64, String), FetchError>) -> CodeResult {
        match outcome {
            Ok((bytes, file)) => CodeResult::ok(self.code, bytes, file, self.country, self.retries),
            Err(error) => CodeResult::failed(self.code, &error, self.country, self.retries),
        }
    }
}

/// Reads the `country` of a `metadata.json` body.
pub(crate) fn parse_country(body: &[u8]) -> Result<String, FetchError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| FetchError::BadMetadata(format!("not JSON ({e})")))?;
    match value.get("country").and_then(|c| c.as_str()) {
        Some(country) if !country.trim().is_empty() => Ok(country.to_owned()),
        _ => Err(FetchError::BadMetadata("no 'country' field".into())),
    }
}

/// Saves a downloaded flag atomically under its safe name. Once the run has
/// ended (the output folder is closed) nothing more is saved.
fn save_flag(
    output: &OutputDir,
    code: &str,
    label: Option<&str>,
    body: &[u8],
) -> Result<(u64, String), FetchError> {
    let name = store::flag_file_name(code, label);
    match output.save(&name, body) {
        Ok(_) => Ok((body.len() as u64, name)),
        Err(SaveError::Closed) => Err(FetchError::Cancelled),
        Err(error) => Err(FetchError::Save(error.to_string())),
    }
}

/// What an I/O error under an HTTP client means, in the contract's terms.
fn io_cause(error: &io::Error) -> Cause {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Cause::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Cause::Reset,
        io::ErrorKind::UnexpectedEof => Cause::Eof,
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            Cause::Invalid(error.to_string())
        }
        io::ErrorKind::ConnectionRefused => Cause::Connect("connection refused".into()),
        _ => Cause::Other(error.to_string()),
    }
}

/// The innermost message of an error's chain: the most specific one.
fn root_message(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_checked() {
        assert_eq!(
            parse_country(br#"{"country": "Brazil"}"#),
            Ok("Brazil".into())
        );
        assert!(matches!(
            parse_country(b"{nope"),
            Err(FetchError::BadMetadata(_))
        ));
        assert!(matches!(
            parse_country(b"{}"),
            Err(FetchError::BadMetadata(_))
        ));
        assert!(matches!(
            parse_country(br#"{"country": ""}"#),
            Err(FetchError::BadMetadata(_))
        ));
    }
}
