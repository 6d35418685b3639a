//! The client contract's verdicts, at the level where
//! `download::pipeline::contract` decides: a status, headers, a body's length.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use url::Url;

use crate::download::pipeline::contract::{Framing, MAX_REDIRECTS, Next, Request};
use crate::download::pipeline::{Decision, RetryPolicy};
use crate::download::status::FetchError;

/// Headers the contract reads, so that the fuzzer meets them often.
const NAMES: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "location",
    "retry-after",
    "content-type",
    "x-other",
];

/// A response head as the fuzzer draws it.
#[derive(Debug, Arbitrary)]
struct Head {
    status: u16,
    headers: Vec<(u8, Vec<u8>)>,
    max_size: u16,
    received: u32,
}

impl Head {
    /// HTTP/1.0 for one status value in eight, else HTTP/1.1.
    fn version(&self) -> Version {
        if self.status % 8 == 7 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        }
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(100 + self.status % 900).expect("100..=999 is a status")
    }

    fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_static(NAMES[usize::from(*name) % NAMES.len()]);
            if let Ok(value) = HeaderValue::from_bytes(value) {
                map.append(name, value);
            }
        }
        map
    }
}

/// A verdict for every head, and the right one: a body is read only for
/// `200` with exactly one length (at most the size cap) or `chunked` alone
/// or neither; `404` and only `404` is NOT_FOUND; a redirect is followed
/// only to an `http(s)` URL with a host, at most `MAX_REDIRECTS` (5) times;
/// any other status is an ERROR naming it; a body shorter than its length
/// is truncated, never OK.
pub fn verdict(data: &[u8]) {
    let Ok(head) = Head::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let (status, headers) = (head.status(), head.headers());
    let max_size = u64::from(head.max_size);
    let base = Url::parse("http://127.0.0.1:8000/flags/br/br.gif").expect("a URL");
    let mut request = Request::new(base, max_size);
    let mut follows = 0;
    let outcome = loop {
        match request.judge(head.version(), status, &headers) {
            Ok(Next::Follow(target)) => {
                follows += 1;
                assert!(follows <= MAX_REDIRECTS, "followed {follows} redirects");
                assert!(matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308));
                assert!(matches!(target.scheme(), "http" | "https") && target.has_host());
                assert_eq!(request.url(), &target);
            }
            other => break other,
        }
    };
    let lengths: Vec<&HeaderValue> = headers.get_all("content-length").iter().collect();
    let codings: Vec<&HeaderValue> = headers.get_all("transfer-encoding").iter().collect();
    match outcome {
        Ok(Next::Read(framing)) => {
            assert_eq!(status, StatusCode::OK);
            match framing {
                Framing::Length(n) => {
                    assert!(n <= max_size && codings.is_empty() && !lengths.is_empty());
                    let received = u64::from(head.received);
                    let check = framing.check(received);
                    assert_eq!(check.is_err(), received < n);
                    if let Err(e) = check {
                        assert_eq!(e, FetchError::Truncated);
                    }
                }
                Framing::Chunked => {
                    assert!(lengths.is_empty() && head.version() == Version::HTTP_11);
                    assert!(
                        matches!(codings.as_slice(), [c] if c.as_bytes().eq_ignore_ascii_case(b"chunked"))
                    );
                }
                Framing::Close => assert!(lengths.is_empty() && codings.is_empty()),
            }
        }
        Ok(Next::Follow(_)) => unreachable!("followed above"),
        Err(FetchError::NotFound) => assert_eq!(status, StatusCode::NOT_FOUND),
        Err(FetchError::Status { code, .. }) => {
            assert_eq!(code, status.as_u16());
            assert!(!matches!(code, 200 | 404));
        }
        Err(FetchError::TooLarge(cap)) => assert_eq!((status.as_u16(), cap), (200, max_size)),
        Err(FetchError::Redirects) => assert_eq!(follows, MAX_REDIRECTS),
        Err(FetchError::BadRedirect(target)) => {
            assert!(matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308));
            assert!(!super::has_control(&crate::text::inert(&target)));
        }
        Err(FetchError::Invalid(why)) => assert!(!why.is_empty()),
        Err(other) => panic!("a head cannot end in {other:?}"),
    }
}

/// A `Retry-After` value of any bytes on a 503: the wait before the next
/// attempt is at most a minute whatever the server asks, is what it asked
/// (in whole seconds) when that is less, and a request is never retried
/// more often than `--retries` says.
pub fn retry_after(data: &[u8]) {
    let (retries, value) = match data.split_first() {
        Some((first, rest)) => (u32::from(*first % 4), rest),
        None => (0, data),
    };
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", value.clone());
    let base = Url::parse("http://127.0.0.1:8000/flags/br/br.gif").expect("a URL");
    let error = match Request::new(base, 1 << 20).judge(
        Version::HTTP_11,
        StatusCode::SERVICE_UNAVAILABLE,
        &headers,
    ) {
        Err(FetchError::Invalid(_))
            if value.len() > crate::download::pipeline::contract::MAX_HEAD / 2 =>
        {
            return; // a head too large to read
        }
        Err(error) => error,
        Ok(next) => panic!("a 503 is not a download: {next:?}"),
    };
    let asked = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    assert_eq!(error.retry_after(), asked);
    let policy = RetryPolicy::new(retries);
    for attempt in 0..=retries + 1 {
        match policy.decide(error.clone(), attempt, false) {
            Decision::Retry { wait, .. } => {
                assert!(attempt < retries, "retry {attempt} of {retries}");
                assert!(wait <= Duration::from_secs(60), "{value:?}: waits {wait:?}");
                if let Some(asked) = asked {
                    assert_eq!(wait, asked.min(Duration::from_secs(60)));
                }
            }
            Decision::GiveUp(e) => {
                assert!(attempt >= retries);
                assert_eq!(e, error);
            }
        }
    }
}
