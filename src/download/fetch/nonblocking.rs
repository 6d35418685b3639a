//! The async client of the async mode: reqwest (over hyper) on tokio.

use std::error::Error as StdError;
use std::io;

use crate::download::contract::{self, Cause, Next, Phase};
use crate::download::plan::RequestOptions;
use crate::download::retry::RetryPolicy;
use crate::download::status::{CodeResult, FetchError};
use crate::download::Run;

use super::{io_cause, parse_country, root_message, save_flag, FlagContext};

/// The async client of the async mode: one reqwest client, whose pool keeps
/// up to `concurrency` idle connections to the server. Like the blocking
/// client, it follows no redirects itself: the contract decides.
pub(crate) struct AsyncClient {
    client: reqwest::Client,
    policy: RetryPolicy,
    max_size: u64,
}

impl AsyncClient {
    /// A client for `concurrency` requests in flight.
    pub(crate) fn new(
        options: &RequestOptions,
        concurrency: usize,
    ) -> Result<Self, reqwest::Error> {
        // HTTPS (the remote server) with rustls over ring, like ureq; set
        // once per process, and already set is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_max_idle_per_host(concurrency)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            policy: RetryPolicy::new(options.retries),
            max_size: options.max_size,
        })
    }

    /// Downloads job `job` of the run (metadata first with `--names`) and
    /// saves it; the two steps are plain `.await`s one after the other.
    pub(crate) async fn download_flag(&self, run: &Run, job: usize) -> CodeResult {
        let mut ctx = FlagContext::new(run, job);
        let outcome = self.try_download_flag(run, &mut ctx).await;
        ctx.finish(outcome)
    }

    async fn try_download_flag(
        &self,
        run: &Run,
        ctx: &mut FlagContext<'_>,
    ) -> Result<(u64, String), FetchError> {
        if run.plan.request.names {
            let metadata = self.get(&run.plan.metadata_url(ctx.code), ctx, run).await?;
            ctx.country = Some(parse_country(&metadata)?);
        }
        let gif = self.get(&run.plan.gif_url(ctx.code), ctx, run).await?;
        let (output, code, label) = (run.output.clone(), ctx.code.to_owned(), ctx.label());
        tokio::task::spawn_blocking(move || save_flag(&output, &code, label.as_deref(), &gif))
            .await
            .map_err(|e| FetchError::Save(e.to_string()))?
    }

    /// GET with retries.
    async fn get(
        &self,
        url: &str,
        ctx: &mut FlagContext<'_>,
        run: &Run,
    ) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url).await {
                Err(error) => {
                    tokio::time::sleep(self.policy.after(error, &mut attempt, ctx, run)?).await
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
fn reqwest_cause(error: &reqwest::Error) -> Cause {
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
