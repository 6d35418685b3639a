//! The flags server's answers: the two files of each code, with the
//! latency, errors and faults the configuration asks for.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::ServerConfig;
use super::connection::Connection;
use super::faults::{self, FaultKind, FaultyRequest};
use super::folder::Folder;
use crate::dataset;
use crate::text::inert;

/// Shared state of a running server.
pub(crate) struct ServerState {
    config: ServerConfig,
    /// Canonical `--dir`, so that symlinks pointing out of it can be refused.
    folder: Option<Folder>,
    seed: u64,
    /// How many times each path was requested: the n-th request of a path gets
    /// its own random draw, so a retry can succeed where the first try failed,
    /// and the same seed gives the same answers whatever the arrival order.
    hits: Mutex<HashMap<String, u64>>,
}

impl ServerState {
    /// The state of a server with `config`, serving `folder` if given.
    pub(crate) fn new(config: ServerConfig, folder: Option<Folder>) -> Self {
        let seed = config.seed.unwrap_or_else(rand::random);
        Self {
            config,
            folder,
            seed,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// The random source of one request, reproducible from the seed.
    fn rng_for(&self, path: &str) -> StdRng {
        let nth = {
            let mut hits = self.hits.lock();
            match hits.get_mut(path) {
                Some(n) => {
                    *n += 1;
                    *n
                }
                None => {
                    hits.insert(path.to_owned(), 1);
                    1
                }
            }
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, path, nth).hash(&mut hasher);
        StdRng::seed_from_u64(hasher.finish())
    }
}

/// Builds the router of the flags server.
pub(crate) fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/flags/{cc}/{file}", get(serve_flag_file))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    tracing::info!("{method} {} -> 404 Not Found", inert(&uri.to_string()));
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `true` when `cc` is two lower-case ASCII letters and `file` is one of its two files.
fn is_valid_request(cc: &str, file: &str) -> bool {
    cc.len() == 2
        && cc.bytes().all(|b| b.is_ascii_lowercase())
        && (file == "metadata.json" || file.strip_suffix(".gif") == Some(cc))
}

async fn serve_flag_file(
    State(state): State<Arc<ServerState>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path((cc, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    version: Version,
) -> Response {
    let path = format!("/flags/{cc}/{file}");
    // The path as the client sent it, decoded: outside text.
    let log = |status: &dyn std::fmt::Display, delay: Duration| {
        tracing::info!(
            "{method} {} {} -> {status} (delay {})",
            inert(&path),
            inert(&cc.to_ascii_uppercase()),
            crate::duration::human(delay)
        );
    };
    if !is_valid_request(&cc, &file) {
        log(&StatusCode::NOT_FOUND, Duration::ZERO);
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let is_metadata = file == "metadata.json";
    let content_type = if is_metadata {
        "application/json"
    } else {
        "image/gif"
    };
    // A request already in the redirect loop stays in it.
    let hop = query
        .as_deref()
        .and_then(|q| q.strip_prefix("hop="))
        .and_then(|n| n.parse::<u32>().ok());
    let (delay, fail, fault) = match hop {
        Some(_) => (Duration::ZERO, false, Some(FaultKind::RedirectLoop)),
        None => match state.config.delay.fixed() {
            // Nothing to draw: no request needs a random source of its own.
            Some(delay) if state.config.error_rate <= 0.0 && state.config.faults.is_empty() => {
                (delay, false, None)
            }
            _ => {
                let mut rng = state.rng_for(&path);
                let delay = state.config.delay.sample(&mut rng);
                let fail = rng.random_bool(state.config.error_rate.clamp(0.0, 1.0));
                let fault = faults::pick(&state.config.faults, rng.random(), is_metadata);
                (delay, fail, fault)
            }
        },
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        let status = state.config.error_status;
        log(&status, delay);
        let reason = status.canonical_reason().unwrap_or("simulated error");
        let mut response = (status, format!("{reason}\n")).into_response();
        if matches!(status.as_u16(), 429 | 503) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    let Some(bytes) = load(&state, &cc, &file).await else {
        log(&StatusCode::NOT_FOUND, delay);
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if let Some(kind) = fault {
        log(&format_args!("fault {kind}"), delay);
        let request = FaultyRequest {
            code: &cc,
            path: &path,
            hop: hop.unwrap_or(0),
            fd: conn.fd.filter(|_| version < Version::HTTP_2),
            drip_speed: state.config.drip_speed,
        };
        return faults::respond(kind, bytes, content_type, request);
    }
    log(&StatusCode::OK, delay);
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Reads one file of the data set; `None` when it does not exist or would
/// lead outside the data set.
async fn load(state: &ServerState, cc: &str, file: &str) -> Option<Bytes> {
    let path = format!("{cc}/{file}");
    match &state.folder {
        None => dataset::embedded_file(&path).map(Bytes::from_static),
        Some(folder) => folder.read(&path).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_files_of_a_code_are_valid() {
        assert!(is_valid_request("br", "br.gif"));
        assert!(is_valid_request("br", "metadata.json"));
        assert!(!is_valid_request("br", "us.gif"));
        assert!(!is_valid_request("..", "metadata.json"));
        assert!(!is_valid_request("BR", "BR.gif"));
        assert!(!is_valid_request("b", "b.gif"));
        assert!(!is_valid_request("br", "../br.gif"));
    }
}
