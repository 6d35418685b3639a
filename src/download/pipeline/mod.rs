//! One flag's download, written once: the metadata first with `--names`,
//! then the flag, each request tried again as the retry policy (at the
//! end of this file) says, each response judged by the client contract
//! ([`contract`]), then the atomic save ([`store`]) on the thread its
//! driver chooses. The story is an
//! `async fn` over a `Transport` that makes one request: [`blocking`]
//! (ureq, for the sequential and threaded modes) or [`nonblocking`]
//! (reqwest, for the async mode). On the blocking transport every step
//! blocks its thread and returns a finished future, so the blocking modes
//! poll the story once with `futures::executor::block_on`: no runtime, no
//! other thread, the same blocking calls as code written without `async`.
//! The observers (`observers::Observers`) hear of each step.

pub mod blocking;
mod causes;
pub mod contract;
mod handshake;
pub(crate) mod lookup;
pub mod nonblocking;
pub mod store;
pub mod trust;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use rand::Rng;
use url::Url;

use tokio_util::sync::CancellationToken;

use crate::download::observers::timeline::{Phase, Step};
use crate::download::observers::{Observers, Watched};
pub(crate) use crate::download::plan::Target;
use crate::download::plan::{FlagUrls, Plan, RequestOptions};
use crate::download::status::{CodeResult, FetchError};
use contract::{Cause, Framing, Next, Stage};
use lookup::Lookups;
use store::{OutputDir, SaveError};
use trust::Roots;

/// What moves the bytes of one request: a blocking or an async HTTP
/// client. It follows no redirect and turns no status into an error: the
/// story does both through the contract.
pub(crate) trait Transport: Send + Sync {
    /// A response whose head has arrived and whose body has not been read.
    type Response: Send;

    /// Sends a GET of `url`, for download `job`'s `target`, and waits for
    /// the answer's head; a failure is its cause in the contract's terms.
    fn send(
        &self,
        url: &Url,
        job: usize,
        target: Target,
    ) -> impl Future<Output = Result<Self::Response, Cause>> + Send;

    /// The head of `response`.
    fn head(response: &Self::Response) -> Head<'_>;

    /// Reads the body of `response`, `framing` as the contract read it, and
    /// stops past `limit` bytes (the story then refuses it as too large).
    fn read(
        &self,
        response: Self::Response,
        framing: Framing,
        limit: u64,
    ) -> impl Future<Output = Result<Bytes, Cause>> + Send;

    /// Waits `wait` before a retry.
    fn pause(&self, wait: Duration) -> impl Future<Output = ()> + Send;

    /// Waits until the connection job `job`'s requests ride can take one
    /// more request (over HTTP/2, a stream of `--streams`); the request
    /// holds the slot until its body is read. Sent only then, its timeout
    /// runs only then: waiting one's turn is not failing.
    fn slot(&self, _job: usize) -> impl Future<Output = Option<Slot>> + Send {
        std::future::ready(None)
    }

    /// The HTTP/2 connection job `job`'s requests ride (`--connections
    /// N`), if any: the timeline draws each on a track of its own.
    fn connection(&self, _job: usize) -> Option<usize> {
        None
    }
}

/// A request's place on its connection, given back when dropped.
pub(crate) type Slot = tokio::sync::OwnedSemaphorePermit;

/// A response's head, as the contract judges it.
pub(crate) struct Head<'a> {
    /// The HTTP version it came in.
    pub version: Version,
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: &'a HeaderMap,
}

/// What the story of every download of a run reads: the jobs, their
/// URLs, the rules of a request, and whether the run still goes on. The
/// same for every download, made once.
pub(crate) struct Jobs {
    /// The country code of each job.
    codes: Vec<String>,
    /// Every URL of the plan, from its base URL parsed once.
    urls: FlagUrls,
    /// Extra attempts for errors worth retrying.
    retries: u32,
    /// A body larger than this is an error and is not saved.
    max_size: u64,
    /// Fetch `metadata.json` first and save under the country's name.
    names: bool,
    /// Save job `i` as `<CC>-<i>.gif`.
    numbered: bool,
    /// Cancelled by the first Ctrl-C: no new download starts, no retry.
    pub(crate) cancel: CancellationToken,
}

impl Jobs {
    /// The jobs of `plan`, its URLs under `urls`, stopped by `cancel`.
    pub(crate) fn new(plan: &Plan, urls: FlagUrls, cancel: CancellationToken) -> Self {
        Self {
            codes: plan.codes.clone(),
            urls,
            retries: plan.request.retries,
            max_size: plan.request.max_size,
            names: plan.request.names,
            numbered: plan.numbered,
            cancel,
        }
    }

    /// How many jobs there are.
    pub(crate) fn len(&self) -> usize {
        self.codes.len()
    }

    /// The country code of job `job`.
    pub(crate) fn code(&self, job: usize) -> &str {
        &self.codes[job]
    }

    /// Whether the run was interrupted: no new download starts.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// How a run's clients reach its server, made once for the run: the
/// request options they are built with, the roots https servers are
/// verified against (and the TLS configurations made from them), and the
/// host names looked up.
pub(crate) struct Network {
    /// Timeouts, HTTP/2 connections and streams, trust.
    pub(crate) options: RequestOptions,
    /// What https servers are verified against, read once for the run.
    pub(crate) roots: Arc<Roots>,
    /// Host names, looked up once each for the whole run.
    pub(crate) lookups: Arc<Lookups>,
}

impl Network {
    /// The network of a run of `plan`: its roots decided from its base URL.
    pub(crate) fn new(plan: &Plan) -> Self {
        Self {
            roots: Arc::new(plan.request.trust.roots_for(&plan.base_url)),
            lookups: Arc::new(Lookups::new(plan.request.connect_timeout)),
            options: plan.request.clone(),
        }
    }
}

/// Downloads job `job` over `transport`, telling `observers` of each step,
/// and hands the flag to `save`: the driver, not the transport, decides
/// which thread writes files.
pub(crate) async fn download<T, S, F>(
    transport: &T,
    jobs: &Jobs,
    observers: &Observers,
    job: usize,
    save: S,
) -> CodeResult
where
    T: Transport,
    S: FnOnce(FlagFile) -> F,
    F: Future<Output = Result<Saved, FetchError>>,
{
    let mut download = Download::new(jobs, observers, job, transport.connection(job));
    let outcome = match download.fetch(transport).await {
        Ok(flag) => save(flag).await,
        Err(error) => Err(error),
    };
    download.finish(outcome)
}

/// One download in progress: what it has gathered so far, kept across
/// its requests, and how the observers know it.
struct Download<'a> {
    jobs: &'a Jobs,
    observers: &'a Observers,
    job: usize,
    code: &'a str,
    retries: u32,
    country: Option<String>,
    watched: Watched,
}

impl<'a> Download<'a> {
    /// Starts job `job`: the observers give it a slot.
    fn new(
        jobs: &'a Jobs,
        observers: &'a Observers,
        job: usize,
        connection: Option<usize>,
    ) -> Self {
        let code = jobs.code(job);
        Self {
            jobs,
            observers,
            job,
            code,
            retries: 0,
            country: None,
            watched: observers.started(job, code, connection),
        }
    }

    /// The story: the metadata first with `--names`, then the flag, ready
    /// to save.
    async fn fetch<T: Transport>(&mut self, transport: &T) -> Result<FlagFile, FetchError> {
        if self.jobs.names {
            let metadata = self.get(transport, Target::Metadata).await?;
            self.country = Some(parse_country(&metadata)?);
        }
        let body = self.get(transport, Target::Flag).await?;
        Ok(FlagFile {
            watched: self.watched,
            code: self.code.to_owned(),
            label: self.label(),
            body,
        })
    }

    /// GET with retries: the one retry loop of every mode.
    async fn get<T: Transport>(
        &mut self,
        transport: &T,
        target: Target,
    ) -> Result<Bytes, FetchError> {
        let url = self.jobs.urls.of(self.code, target);
        let policy = RetryPolicy::new(self.jobs.retries);
        let mut attempt = 0;
        loop {
            let error = match self.get_once(transport, &url, target, attempt).await {
                Ok(body) => return Ok(body),
                Err(error) => error,
            };
            let cancelled = self.jobs.cancelled();
            let (wait, error) = match policy.decide(error, attempt, cancelled) {
                Decision::GiveUp(error) => return Err(error),
                Decision::Retry { wait, error } => (wait, error),
            };
            attempt += 1;
            self.retries += 1;
            self.observers.retrying(self.code, attempt, &error, wait);
            let waited = Instant::now();
            transport.pause(wait).await;
            self.phase(Phase::Backoff, target, attempt, waited);
        }
    }

    /// One GET, its redirects followed and its body judged by the contract;
    /// each request and body is a phase the observers hear of.
    async fn get_once<T: Transport>(
        &self,
        transport: &T,
        url: &Url,
        target: Target,
        attempt: u32,
    ) -> Result<Bytes, FetchError> {
        let max_size = self.jobs.max_size;
        let mut request = contract::Request::new(url.clone(), max_size);
        loop {
            let _slot = transport.slot(self.job).await;
            let _in_flight = self.observers.sending();
            let sent = Instant::now();
            let (response, handshake) =
                handshake::timed(transport.send(request.url(), self.job, target)).await;
            let answered = Instant::now();
            self.span(Phase::Request, target, attempt, sent, answered);
            // A handshake is this request's if it was done, or if the
            // request failed during it.
            if let Some((start, end)) = handshake
                && let Some(end) = end.or(response.is_err().then_some(answered))
            {
                self.span(Phase::Handshake, target, attempt, start, end);
            }
            let response = response.map_err(|cause| {
                if cause == Cause::Refused {
                    self.observers.refused(self.watched);
                }
                contract::verdict(cause, Stage::Head)
            })?;
            let head = T::head(&response);
            let Next::Read(framing) = request.judge(head.version, head.status, head.headers)?
            else {
                continue;
            };
            let receiving = Instant::now();
            let read = transport.read(response, framing, max_size).await;
            self.phase(Phase::Body, target, attempt, receiving);
            let body = read.map_err(|cause| contract::verdict(cause, Stage::Body))?;
            request.check_size(body.len() as u64)?;
            framing.check(body.len() as u64)?;
            return Ok(body);
        }
    }

    /// Tells the observers of `phase` of attempt `attempt` at `target`,
    /// from `start` until now.
    fn phase(&self, phase: Phase, target: Target, attempt: u32, start: Instant) {
        self.span(phase, target, attempt, start, Instant::now());
    }

    /// Tells the observers of `phase` of attempt `attempt` at `target`,
    /// from `start` until `end`.
    fn span(&self, phase: Phase, target: Target, attempt: u32, start: Instant, end: Instant) {
        let step = Step {
            phase,
            target,
            attempt,
        };
        self.observers
            .span(self.watched, self.code, step, start, end);
    }

    /// The name to save under: the country's, or the job number's.
    fn label(&self) -> Option<String> {
        match (&self.country, self.jobs.numbered) {
            (Some(country), _) => Some(country.clone()),
            (None, true) => Some(self.job.to_string()),
            (None, false) => None,
        }
    }

    /// The download's result, told to the observers.
    fn finish(mut self, outcome: Result<Saved, FetchError>) -> CodeResult {
        let (code, country, retries) = (self.code, self.country.take(), self.retries);
        let result = match outcome {
            Ok(saved) => CodeResult::ok(code, saved.bytes, saved.file, country, retries),
            Err(error) => CodeResult::failed(code, &error, country, retries),
        };
        self.observers.ended(self.watched, &result);
        result
    }
}

impl Drop for Download<'_> {
    /// The slot is free again, however the download ended (even a panic).
    fn drop(&mut self) {
        self.observers.release(self.watched);
    }
}

/// A flag downloaded and not yet saved.
pub(crate) struct FlagFile {
    /// How the observers know its download.
    pub watched: Watched,
    /// Its country code.
    pub code: String,
    /// The name to save under, if not the code's.
    pub label: Option<String>,
    /// The bytes, as the server sent them.
    pub body: Bytes,
}

/// A flag saved: how many bytes, under which name in the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Saved {
    /// Bytes written, as the server sent them.
    pub bytes: u64,
    /// The name inside the output folder (safe, whatever the server said).
    pub file: String,
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

/// Where a run's flags are written, and how slowly (`--save-delay`).
pub(crate) struct Store {
    /// The output folder, closed when the run ends.
    pub(crate) output: OutputDir,
    /// Every save takes at least this long: a slow disk.
    delay: Duration,
}

impl Store {
    /// Saves into `output`, each save taking at least `delay`.
    pub(crate) fn new(output: OutputDir, delay: Duration) -> Self {
        Self { output, delay }
    }

    /// Saves a downloaded flag atomically under its safe name, taking at
    /// least the store's delay (a slow disk, simulated by sleeping on this
    /// thread), and tells `observers` of the save, on the thread it ran
    /// on. Once the run has ended (the output folder is closed) nothing
    /// more is saved.
    pub(crate) fn save(&self, flag: &FlagFile, observers: &Observers) -> Result<Saved, FetchError> {
        let started = Instant::now();
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let name = store::flag_file_name(&flag.code, flag.label.as_deref());
        let saved = self.output.save(&name, &flag.body);
        let step = Step::first(Phase::Save, Target::Flag);
        observers.phase(flag.watched, &flag.code, step, started);
        match saved {
            Ok(_) => Ok(Saved {
                bytes: flag.body.len() as u64,
                file: name,
            }),
            Err(SaveError::Closed) => Err(FetchError::Cancelled),
            Err(error) => Err(FetchError::Save(error.to_string())),
        }
    }
}

// When to try a request again, and how long to wait: the policy of the
// retry loop above, one for every mode.

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again; the error is why.
    Retry {
        /// The wait before the next attempt.
        wait: Duration,
        /// What went wrong this time.
        error: FetchError,
    },
    /// Stop: this is the request's error.
    GiveUp(FetchError),
}

/// Retries of a request refused before processing, whatever `--retries` says.
pub(crate) const REFUSED_RETRIES: u32 = 3;

/// Backoff with jitter between attempts, honouring `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Extra attempts allowed per request.
    pub retries: u32,
    /// Wait before the first retry; doubled each time.
    pub base: Duration,
    /// Longest wait between attempts.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The policy of a run with `retries` extra attempts per request.
    pub(crate) fn new(retries: u32) -> Self {
        Self {
            retries,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }

    /// Whether `error`, after `attempt` retries already made, gets another
    /// try. A request an HTTP/2 server refused before processing it is
    /// sent again even with `--retries 0`, up to [`REFUSED_RETRIES`] times:
    /// the server did none of it (RFC 9113, section 8.7), as when a
    /// connection is refused before a byte of the request was sent.
    pub(crate) fn should_retry(&self, error: &FetchError, attempt: u32) -> bool {
        let allowed = match error {
            FetchError::Refused => self.retries.max(REFUSED_RETRIES),
            _ => self.retries,
        };
        attempt < allowed && error.is_retryable()
    }

    /// After a failed attempt of one request (`attempt` retries made so
    /// far): try again after a wait, or give up with the error. A run being
    /// interrupted gives up on what it would retry. The caller counts and
    /// shows the retry.
    pub(crate) fn decide(&self, error: FetchError, attempt: u32, cancelled: bool) -> Decision {
        if cancelled && error.is_retryable() {
            return Decision::GiveUp(FetchError::Cancelled);
        }
        if !self.should_retry(&error, attempt) {
            return Decision::GiveUp(error);
        }
        let wait = self.backoff(attempt, error.retry_after());
        Decision::Retry { wait, error }
    }

    /// How long to wait before retry number `attempt + 1`: exponential with
    /// "equal jitter" (half fixed, half random), or what the server asked for.
    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(Duration::from_secs(60));
        }
        let exp = self.base.saturating_mul(1 << attempt.min(16)).min(self.cap);
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
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

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy::new(2);
        for attempt in 0..10 {
            let wait = policy.backoff(attempt, None);
            let exp = (policy.base * (1 << attempt)).min(policy.cap);
            assert!(wait >= exp / 2 && wait <= exp, "{attempt}: {wait:?}");
        }
        assert_eq!(
            policy.backoff(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn decisions() {
        let policy = RetryPolicy::new(1);
        let busy = || FetchError::status(503, Some(Duration::from_secs(1)));
        assert_eq!(
            policy.decide(busy(), 0, false),
            Decision::Retry {
                wait: Duration::from_secs(1),
                error: busy()
            }
        );
        assert_eq!(policy.decide(busy(), 1, false), Decision::GiveUp(busy()));
        assert_eq!(
            policy.decide(busy(), 0, true),
            Decision::GiveUp(FetchError::Cancelled)
        );
        assert_eq!(
            policy.decide(FetchError::NotFound, 0, false),
            Decision::GiveUp(FetchError::NotFound)
        );
    }

    #[test]
    fn a_refused_stream_is_retried_even_without_retries_but_not_forever() {
        let policy = RetryPolicy::new(0);
        assert!(policy.should_retry(&FetchError::Refused, 0));
        assert!(policy.should_retry(&FetchError::Refused, REFUSED_RETRIES - 1));
        assert!(!policy.should_retry(&FetchError::Refused, REFUSED_RETRIES));
        assert!(!policy.should_retry(&FetchError::Reset, 0));
    }
}
