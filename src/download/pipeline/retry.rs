//! When to try a request again, and how long to wait: one policy for both
//! clients.

use std::time::Duration;

use rand::Rng;

use crate::download::status::FetchError;

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
