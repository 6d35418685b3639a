//! One flag's download, written twice in straight-line code: once on a
//! blocking client ([`blocking`], ureq, for the sequential and threaded
//! modes) and once on an async client ([`nonblocking`], reqwest, for the
//! async mode). Everything around it, the plan, the retry policy, the
//! verdict on each response ([`contract`](crate::download::contract)), the
//! statuses and the saving, is shared: the two clients only move bytes,
//! and `causes.rs` reads each library's errors in the contract's terms.

pub mod blocking;
mod causes;
pub mod nonblocking;

use std::time::{Duration, Instant};

use url::Url;

use crate::download::Run;
use crate::download::retry::{Decision, RetryPolicy};
use crate::download::status::{CodeResult, FetchError};
use crate::download::store::{self, SaveError};
pub(crate) use crate::download::timeline::Target;
use crate::download::timeline::{Lanes, Phase, Recorder, Step};

/// A code no selection can produce (codes are letters): its download panics,
/// so that tests can check a panic is counted and the run goes on.
#[cfg(test)]
pub(crate) const PANIC_CODE: &str = "!!";

/// What one flag's download has gathered so far, kept across its
/// requests; it holds a lane (a slot) from start to end.
pub(crate) struct FlagContext<'a> {
    pub(crate) code: &'a str,
    /// The file name's suffix with `--count` (`<CC>-<n>.gif`).
    number: Option<usize>,
    pub(crate) retries: u32,
    country: Option<String>,
    /// Where its phases are recorded.
    pub(crate) recorder: Recorder<'a>,
    lanes: &'a Lanes,
}

impl<'a> FlagContext<'a> {
    /// Starts job `job`: it takes a slot, after waiting since the run began.
    fn new(run: &'a Run, job: usize) -> Self {
        let code = run.plan.codes[job].as_str();
        // Lanes only matter to a timeline; without one, none is taken.
        let lane = if run.timeline.is_some() {
            run.lanes.take()
        } else {
            0
        };
        let connection = run.plan.request.http2.map(|connections| job % connections);
        let recorder =
            Recorder::new(run.timeline.as_ref(), job, code, lane).on_connection(connection);
        recorder.record(Step::first(Phase::Wait, Target::Flag), run.started);
        let context = Self {
            code,
            number: run.plan.numbered.then_some(job),
            retries: 0,
            country: None,
            recorder,
            lanes: &run.lanes,
        };
        #[cfg(test)]
        if code == PANIC_CODE {
            panic!("a panic injected by a test");
        }
        context
    }

    /// After a failed attempt of its request: the wait before the next,
    /// counted and shown, or the error to give up with.
    fn retry_or_give_up(
        &mut self,
        policy: &RetryPolicy,
        error: FetchError,
        attempt: &mut u32,
        run: &Run,
    ) -> Result<Duration, FetchError> {
        match policy.decide(error, *attempt, run.cancel.is_cancelled()) {
            Decision::GiveUp(error) => Err(error),
            Decision::Retry { wait, error } => {
                *attempt += 1;
                self.retries += 1;
                run.progress.retrying(self.code, *attempt, &error, wait);
                Ok(wait)
            }
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

    fn finish(mut self, outcome: Result<Saved, FetchError>) -> CodeResult {
        let (code, country, retries) = (self.code, self.country.take(), self.retries);
        let result = match outcome {
            Ok(saved) => CodeResult::ok(code, saved.bytes, saved.file, country, retries),
            Err(error) => CodeResult::failed(code, &error, country, retries),
        };
        if let Some(timeline) = self.recorder.timeline() {
            timeline.status(self.recorder.job(), result.status);
        }
        result
    }
}

impl Drop for FlagContext<'_> {
    /// The slot is free again, however the download ended (even a panic).
    fn drop(&mut self) {
        if self.recorder.timeline().is_some() {
            self.lanes.give(self.recorder.lane());
        }
    }
}

/// A flag saved: how many bytes, under which name in the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    /// Bytes written, as the server sent them.
    pub bytes: u64,
    /// The name inside the output folder (safe, whatever the server said).
    pub file: String,
}

impl Target {
    /// The URL of this target of `code`: the run's base URL, parsed once,
    /// with its path extended (no parsing per request).
    fn url(self, run: &Run, code: &str) -> Url {
        let cc = code.to_ascii_lowercase();
        let base = run.base.path().trim_end_matches('/');
        let path = match self {
            Target::Flag => format!("{base}/{cc}/{cc}.gif"),
            Target::Metadata => format!("{base}/{cc}/metadata.json"),
        };
        let mut url = run.base.clone();
        url.set_path(&path);
        url
    }
}

/// One attempt of one request, for the timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    target: Target,
    /// 0 for the first try, then 1, 2... for the retries.
    number: u32,
}

impl Attempt {
    /// Records `phase` of this attempt, from `start` until now.
    fn record(self, ctx: &FlagContext, phase: Phase, start: Instant) {
        let step = Step {
            phase,
            target: self.target,
            attempt: self.number,
        };
        ctx.recorder.record(step, start);
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

/// Saves a downloaded flag atomically under its safe name, taking at least
/// `--save-delay` (a slow disk, simulated by sleeping on this thread), and
/// records the save with the thread it ran on. Once the run has ended (the
/// output folder is closed) nothing more is saved.
fn save_flag(
    run: &Run,
    recorder: Recorder<'_>,
    code: &str,
    label: Option<&str>,
    body: &[u8],
) -> Result<Saved, FetchError> {
    let started = Instant::now();
    if !run.plan.save.delay.is_zero() {
        std::thread::sleep(run.plan.save.delay);
    }
    let name = store::flag_file_name(code, label);
    let saved = run.output.save(&name, body);
    recorder.record(Step::first(Phase::Save, Target::Flag), started);
    match saved {
        Ok(_) => Ok(Saved {
            bytes: body.len() as u64,
            file: name,
        }),
        Err(SaveError::Closed) => Err(FetchError::Cancelled),
        Err(error) => Err(FetchError::Save(error.to_string())),
    }
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
