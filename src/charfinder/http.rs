//! `charfinder http`: a JSON search API that serves results in pages, and one
//! self-contained page that fetches them a page at a time.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{Index, MAX_PAGE, MAX_QUERY_BYTES, Query as SearchQuery};

/// The search page: HTML, CSS and JS in one file, embedded in the binary.
pub(crate) const PAGE: &str = include_str!("page.html");

/// Characters per page when the client does not say.
const DEFAULT_PAGE: usize = 20;

/// The router of the HTTP service.
pub(crate) fn router(index: Arc<Index>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/search", get(search))
        .with_state(index)
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// A position parameter: a whole number up to `u32::MAX` (no result list
/// is longer), so that no arithmetic on it can overflow.
fn number(params: &HashMap<String, String>, key: &str) -> Result<Option<usize>, String> {
    params
        .get(key)
        .map(|v| match v.trim().parse::<u64>() {
            Ok(n) if n <= u64::from(u32::MAX) => Ok(n as usize),
            Ok(_) => Err(format!("'{key}' is too large: {v}")),
            Err(_) => Err(format!("'{key}' must be a whole number, not '{v}'")),
        })
        .transpose()
}

/// `GET /api/search?q=cat+face&start=0&stop=20`.
async fn search(
    State(index): State<Arc<Index>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let text = params.get("q").map(String::as_str).unwrap_or("").trim();
    if text.is_empty() {
        return bad_request("missing query: give q, e.g. /api/search?q=cat+face".into());
    }
    if text.len() > MAX_QUERY_BYTES {
        return bad_request(format!("q is longer than {MAX_QUERY_BYTES} bytes"));
    }
    let query = match SearchQuery::parse(text) {
        Ok(query) => query,
        Err(why) => return bad_request(why),
    };
    let (start, stop) = match (number(&params, "start"), number(&params, "stop")) {
        (Ok(start), Ok(stop)) => {
            let start = start.unwrap_or(0);
            (start, stop.unwrap_or(start.saturating_add(DEFAULT_PAGE)))
        }
        (Err(message), _) | (_, Err(message)) => return bad_request(message),
    };
    if stop < start {
        return bad_request(format!("stop ({stop}) is before start ({start})"));
    }
    let stop = stop.min(start.saturating_add(MAX_PAGE));
    // The search may scan a long list: on the blocking pool, not a worker.
    let searcher = Arc::clone(&index);
    let Ok(page) = tokio::task::spawn_blocking(move || searcher.page(&query, start, stop)).await
    else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "search failed").into_response();
    };
    tracing::info!(
        "GET /api/search \"{}\" {start}..{stop} -> {} of {}",
        crate::text::inert(text),
        page.chars.len(),
        page.total
    );
    Json(page).into_response()
}
