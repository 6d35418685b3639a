//! One flag's download, written twice in straight-line code: once on a
//! blocking client (ureq, for the sequential and threaded modes) and once on
//! an async client (reqwest, for the async mode). Everything around it, the
//! plan, the retry policy, the verdict on each response (`contract`), the
//! statuses and the saving, is shared: the two clients only move bytes.

use std::error::Error as StdError;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use rand::Rng;

use crate::download::cancel::is_cancelled;
use crate::download::contract::{self, Next, Phase};
use crate::download::plan::{Plan, RequestOptions};
use crate::download::progress::Reporter;
use crate::download::status::{CodeResult, FetchError};
use crate::download::store;

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

    /// After a failed attempt of one request (`attempt` retries made so far):
    /// the wait before the next attempt, counted and shown, or the error to
    /// give up with. A run being interrupted gives up on what it would retry.
    fn after(
        &self,
        error: FetchError,
        attempt: &mut u32,
        ctx: &mut FlagContext,
        reporter: &Reporter,
    ) -> Result<Duration, FetchError> {
        if is_cancelled() && error.is_retryable() {
            return Err(FetchError::Cancelled);
        }
        if !self.should_retry(&error, *attempt) {
            return Err(error);
        }
        let wait = self.backoff(*attempt, error.retry_after());
        *attempt += 1;
        ctx.retries += 1;
        reporter.retrying(ctx.code, *attempt, &error, wait);
        Ok(wait)
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

/// What went wrong under an HTTP client, in the contract's terms.
fn io_cause(error: &io::Error) -> contract::Cause {
    use contract::Cause;
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

/// The blocking client of the sequential and threaded modes: one ureq agent
/// whose connection pool is sized to the number of threads that share it.
/// It follows no redirects and turns no status into an error: the contract
/// decides.
pub struct BlockingClient {
    agent: ureq::Agent,
    policy: RetryPolicy,
    max_size: u64,
}

impl BlockingClient {
    /// A client for `pool_size` threads.
    pub fn new(options: &RequestOptions, pool_size: usize) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            .max_idle_connections(pool_size)
            .max_idle_connections_per_host(pool_size)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            IpLiterals::default(),
        );
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
                Err(error) => {
                    std::thread::sleep(self.policy.after(error, &mut attempt, ctx, reporter)?)
                }
                body => return body,
            }
        }
    }

    /// One GET, its redirects followed and its body judged by the contract.
    fn get_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut request = contract::Request::new(url, self.max_size)?;
        loop {
            let response = self
                .agent
                .get(request.url().as_str())
                .call()
                .map_err(|e| contract::verdict(ureq_cause(&e), Phase::Head))?;
            let Next::Read(framing) = request.judge(response.status(), response.headers())? else {
                continue;
            };
            let mut body = Vec::with_capacity(framing.capacity(self.max_size));
            response
                .into_body()
                .into_reader()
                .take(self.max_size + 1)
                .read_to_end(&mut body)
                .map_err(|e| contract::verdict(ureq_io_cause(&e), Phase::Body))?;
            request.check_size(body.len() as u64)?;
            framing.check(body.len() as u64)?;
            return Ok(body);
        }
    }
}

/// ureq's default resolver starts a thread for every lookup when a timeout
/// is set (so that a slow `getaddrinfo` can be abandoned), even for an IP
/// address, which would add a thread per connection to the threaded mode.
/// An IP address needs no lookup; names still go through ureq's resolver.
#[derive(Debug, Default)]
struct IpLiterals(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for IpLiterals {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or("").trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                Ok(addrs)
            }
            Err(_) => self.0.resolve(uri, config, timeout),
        }
    }
}

/// What a ureq error means, in the contract's terms.
fn ureq_cause(error: &ureq::Error) -> contract::Cause {
    use contract::Cause;
    match error {
        ureq::Error::Timeout(_) => Cause::Timeout,
        ureq::Error::Io(io) => ureq_io_cause(io),
        ureq::Error::Protocol(protocol) => Cause::Invalid(protocol.to_string()),
        ureq::Error::LargeResponseHeader(..) => Cause::Invalid(error.to_string()),
        ureq::Error::HostNotFound => Cause::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => Cause::Connect("connection failed".into()),
        ureq::Error::Tls(why) => Cause::Connect(format!("TLS: {why}")),
        other => Cause::Other(other.to_string()),
    }
}

/// ureq's body reader reports its own errors wrapped in `io::Error`.
fn ureq_io_cause(error: &io::Error) -> contract::Cause {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
    {
        Some(inner) => ureq_cause(inner),
        None => io_cause(error),
    }
}

/// The async client of the async mode: one reqwest client, whose pool keeps
/// up to `concurrency` idle connections to the server. Like the blocking
/// client, it follows no redirects itself: the contract decides.
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
            .redirect(reqwest::redirect::Policy::none())
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
                Err(error) => {
                    tokio::time::sleep(self.policy.after(error, &mut attempt, ctx, reporter)?).await
                }
                body => return body,
            }
        }
    }

    /// One GET, its redirects followed and its body judged by the contract.
    async fn get_once(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut request = contract::Request::new(url, self.max_size)?;
        loop {
            let mut response = self
                .client
                .get(request.url().clone())
                .send()
                .await
                .map_err(|e| contract::verdict(reqwest_cause(&e), Phase::Head))?;
            let Next::Read(framing) = request.judge(response.status(), response.headers())? else {
                continue;
            };
            let mut body = Vec::with_capacity(framing.capacity(self.max_size));
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| contract::verdict(reqwest_cause(&e), Phase::Body))?
            {
                body.extend_from_slice(&chunk);
                request.check_size(body.len() as u64)?;
            }
            framing.check(body.len() as u64)?;
            return Ok(body);
        }
    }
}

/// What a reqwest (hyper) error means, in the contract's terms.
fn reqwest_cause(error: &reqwest::Error) -> contract::Cause {
    use contract::Cause;
    if error.is_timeout() {
        return Cause::Timeout;
    }
    if error.is_connect() {
        return Cause::Connect(root_message(error));
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_parse() || hyper.is_parse_status() || hyper.is_parse_too_large() {
                return Cause::Invalid(root_message(hyper));
            }
            if hyper.is_timeout() {
                return Cause::Timeout;
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return io_cause(io);
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return Cause::Eof;
            }
        }
        current = e.source();
    }
    Cause::Other(root_message(error))
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
