//! One flag's download, written twice in straight-line code: once on a
//! blocking client (ureq, for the sequential and threaded modes) and once on
//! an async client (reqwest, for the async mode). Everything around it, the
//! plan, the retry policy, the statuses, the saving, is shared.

use std::error::Error as StdError;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use rand::Rng;

use crate::cancel::is_cancelled;
use crate::outcome::{CodeResult, FetchError};
use crate::plan::{Plan, RequestOptions};
use crate::report::Reporter;
use crate::store;

/// Backoff with jitter between attempts, honouring `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Extra attempts allowed per request.
    pub retries: u32,
    /// Wait before the first retry; doubled each time.
    pub base: Duration,
    /// Longest wait between attempts.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The policy of a run.
    pub fn new(options: &RequestOptions) -> Self {
        Self {
            retries: options.retries,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }

    /// Whether `error`, after `attempt` retries already made, gets another try.
    pub fn should_retry(&self, error: &FetchError, attempt: u32) -> bool {
        attempt < self.retries && error.is_retryable()
    }

    /// How long to wait before retry number `attempt + 1`: exponential with
    /// "equal jitter" (half fixed, half random), or what the server asked for.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(Duration::from_secs(60));
        }
        let exp = self.base.saturating_mul(1 << attempt.min(16)).min(self.cap);
        let half = exp / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }
}

/// What one flag's download has gathered so far, kept across its requests.
struct FlagContext<'a> {
    code: &'a str,
    /// The file name's suffix with `--count` (`<CC>-<n>.gif`).
    number: Option<usize>,
    retries: u32,
    country: Option<String>,
}

impl<'a> FlagContext<'a> {
    fn new(plan: &'a Plan, job: usize) -> Self {
        Self {
            code: &plan.codes[job],
            number: plan.numbered.then_some(job),
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
pub fn parse_country(body: &[u8]) -> Result<String, FetchError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| FetchError::BadMetadata(format!("not JSON ({e})")))?;
    match value.get("country").and_then(|c| c.as_str()) {
        Some(country) if !country.trim().is_empty() => Ok(country.to_owned()),
        _ => Err(FetchError::BadMetadata("no 'country' field".into())),
    }
}

/// Saves a downloaded flag atomically under its safe name; a run cancelled
/// before this point saves nothing more.
fn save_flag(
    output: &Path,
    code: &str,
    label: Option<&str>,
    body: &[u8],
) -> Result<(u64, String), FetchError> {
    if is_cancelled() {
        return Err(FetchError::Cancelled);
    }
    let name = store::flag_file_name(code, label);
    store::save_atomic(output, &name, body).map_err(|e| FetchError::Save(e.to_string()))?;
    Ok((body.len() as u64, name))
}

fn retry_after_seconds(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Maps an I/O error met while talking to the server to a status reason.
fn classify_io(error: &io::Error) -> FetchError {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FetchError::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => FetchError::Reset,
        io::ErrorKind::UnexpectedEof => FetchError::Truncated,
        io::ErrorKind::ConnectionRefused => FetchError::Connect("connection refused".into()),
        _ => FetchError::Other(error.to_string()),
    }
}

/// The deepest I/O error in an error's chain, if any.
fn io_cause<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e io::Error> {
    let mut current = Some(error);
    let mut found = None;
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            found = Some(io);
        }
        current = e.source();
    }
    found
}

/// The innermost message of an error's chain: the most specific one.
fn root_message(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The blocking client of the sequential and threaded modes: one ureq agent
/// whose connection pool is sized to the number of threads that share it.
pub struct BlockingClient {
    agent: ureq::Agent,
    policy: RetryPolicy,
    max_size: u64,
}

impl BlockingClient {
    /// A client for `pool_size` threads.
    pub fn new(options: &RequestOptions, pool_size: usize) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.connect_timeout)
            .timeout(options.timeout)
            .max_idle_connections(pool_size)
            .max_idle_connections_per_host(pool_size)
            .redirects(5)
            .build();
        Self {
            agent,
            policy: RetryPolicy::new(options),
            max_size: options.max_size,
        }
    }

    /// Downloads job `job` of the plan (metadata first with `--names`) and saves it.
    pub fn download_flag(&self, plan: &Plan, job: usize, reporter: &Reporter) -> CodeResult {
        let mut ctx = FlagContext::new(plan, job);
        let outcome = self.try_download_flag(plan, &mut ctx, reporter);
        ctx.finish(outcome)
    }

    fn try_download_flag(
        &self,
        plan: &Plan,
        ctx: &mut FlagContext,
        reporter: &Reporter,
    ) -> Result<(u64, String), FetchError> {
        if plan.request.names {
            let metadata = self.get(&plan.metadata_url(ctx.code), ctx, reporter)?;
            ctx.country = Some(parse_country(&metadata)?);
        }
        let gif = self.get(&plan.gif_url(ctx.code), ctx, reporter)?;
        save_flag(&plan.output, ctx.code, ctx.label().as_deref(), &gif)
    }

    /// GET with retries.
    fn get(
        &self,
        url: &str,
        ctx: &mut FlagContext,
        reporter: &Reporter,
    ) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url) {
                Err(error) if is_cancelled() && error.is_retryable() => {
                    return Err(FetchError::Cancelled)
                }
                Err(error) if self.policy.should_retry(&error, attempt) => {
                    let wait = self.policy.backoff(attempt, error.retry_after());
                    attempt += 1;
                    ctx.retries += 1;
                    reporter.retrying(ctx.code, attempt, &error, wait);
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }

    /// One GET, its body capped at `max_size`.
    fn get_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let response = match self.agent.get(url).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                let retry_after = retry_after_seconds(response.header("Retry-After"));
                return Err(FetchError::status(code, retry_after));
            }
            Err(ureq::Error::Transport(transport)) => return Err(classify_ureq(&transport)),
        };
        let announced = response
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > self.max_size) {
            return Err(FetchError::TooLarge(self.max_size));
        }
        let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
        response
            .into_reader()
            .take(self.max_size + 1)
            .read_to_end(&mut body)
            .map_err(|e| classify_io(&e))?;
        if body.len() as u64 > self.max_size {
            return Err(FetchError::TooLarge(self.max_size));
        }
        Ok(body)
    }
}

fn classify_ureq(transport: &ureq::Transport) -> FetchError {
    use ureq::ErrorKind;
    let io = io_cause(transport);
    match (transport.kind(), io) {
        (ErrorKind::TooManyRedirects, _) => FetchError::Redirects,
        (_, Some(io))
            if matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            FetchError::Timeout
        }
        (ErrorKind::ConnectionFailed | ErrorKind::Dns, _) => {
            FetchError::Connect(io.map_or_else(|| root_message(transport), |e| e.to_string()))
        }
        (_, Some(io)) => classify_io(io),
        _ => FetchError::Other(transport.to_string()),
    }
}

/// The async client of the async mode: one reqwest client, whose pool keeps
/// up to `concurrency` idle connections to the server.
pub struct AsyncClient {
    client: reqwest::Client,
    policy: RetryPolicy,
    max_size: u64,
}

impl AsyncClient {
    /// A client for `concurrency` requests in flight.
    pub fn new(options: &RequestOptions, concurrency: usize) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(concurrency)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Self {
            client,
            policy: RetryPolicy::new(options),
            max_size: options.max_size,
        })
    }

    /// Downloads one flag (metadata first with `--names`) and saves it; the
    /// two steps are plain `.await`s one after the other.
    pub async fn download_flag(&self, plan: &Plan, job: usize, reporter: &Reporter) -> CodeResult {
        let mut ctx = FlagContext::new(plan, job);
        let outcome = self.try_download_flag(plan, &mut ctx, reporter).await;
        ctx.finish(outcome)
    }

    async fn try_download_flag(
        &self,
        plan: &Plan,
        ctx: &mut FlagContext<'_>,
        reporter: &Reporter,
    ) -> Result<(u64, String), FetchError> {
        if plan.request.names {
            let metadata = self
                .get(&plan.metadata_url(ctx.code), ctx, reporter)
                .await?;
            ctx.country = Some(parse_country(&metadata)?);
        }
        let gif = self.get(&plan.gif_url(ctx.code), ctx, reporter).await?;
        let (output, code, label) = (plan.output.clone(), ctx.code.to_owned(), ctx.label());
        tokio::task::spawn_blocking(move || save_flag(&output, &code, label.as_deref(), &gif))
            .await
            .map_err(|e| FetchError::Save(e.to_string()))?
    }

    /// GET with retries.
    async fn get(
        &self,
        url: &str,
        ctx: &mut FlagContext<'_>,
        reporter: &Reporter,
    ) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url).await {
                Err(error) if is_cancelled() && error.is_retryable() => {
                    return Err(FetchError::Cancelled)
                }
                Err(error) if self.policy.should_retry(&error, attempt) => {
                    let wait = self.policy.backoff(attempt, error.retry_after());
                    attempt += 1;
                    ctx.retries += 1;
                    reporter.retrying(ctx.code, attempt, &error, wait);
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// One GET, its body capped at `max_size`.
    async fn get_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(classify_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok());
            return Err(FetchError::status(
                status.as_u16(),
                retry_after_seconds(retry_after),
            ));
        }
        let announced = response.content_length();
        if announced.is_some_and(|len| len > self.max_size) {
            return Err(FetchError::TooLarge(self.max_size));
        }
        let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > self.max_size {
                return Err(FetchError::TooLarge(self.max_size));
            }
        }
        Ok(body)
    }
}

fn classify_reqwest(error: reqwest::Error) -> FetchError {
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    if error.is_redirect() {
        return FetchError::Redirects;
    }
    let root = root_message(&error);
    if error.is_connect() {
        return FetchError::Connect(root);
    }
    if let Some(io) = io_cause(&error) {
        if io.kind() != io::ErrorKind::Other {
            return classify_io(io);
        }
    }
    // hyper's own wording for a body cut short and a connection closed early.
    let text = format!("{error:?}").to_ascii_lowercase();
    if text.contains("end of file before message length reached") {
        FetchError::Truncated
    } else if text.contains("connection closed before message completed")
        || text.contains("incompletemessage")
        || text.contains("connection reset")
    {
        FetchError::Reset
    } else {
        FetchError::Other(root)
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
        let policy = RetryPolicy::new(&RequestOptions::default());
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
}
