//! `charfinder http`: a JSON search API that serves results in pages, and one
//! self-contained page that fetches them a page at a time.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{Index, MAX_PAGE, MAX_QUERY_BYTES};
use crate::errln;

/// The search page: HTML, CSS and JS in one file, embedded in the binary.
pub(crate) const PAGE: &str = include_str!("page.html");

/// Characters per page when the client does not say.
const DEFAULT_PAGE: usize = 20;

/// The router of the HTTP service.
pub(crate) fn router(index: Arc<Index>, verbose: bool) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/search", get(search))
        .with_state((index, verbose))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

fn number(params: &HashMap<String, String>, key: &str) -> Result<Option<usize>, String> {
    params
        .get(key)
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{key}' must be a whole number, not '{v}'"))
        })
        .transpose()
}

/// `GET /api/search?q=cat+face&start=0&stop=20`.
async fn search(
    State((index, verbose)): State<(Arc<Index>, bool)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = params.get("q").map(String::as_str).unwrap_or("").trim();
    if query.is_empty() {
        return bad_request("missing query: give q, e.g. /api/search?q=cat+face".into());
    }
    if query.len() > MAX_QUERY_BYTES {
        return bad_request(format!("q is longer than {MAX_QUERY_BYTES} bytes"));
    }
    let (start, stop) = match (number(&params, "start"), number(&params, "stop")) {
        (Ok(start), Ok(stop)) => {
            let start = start.unwrap_or(0);
            (start, stop.unwrap_or(start + DEFAULT_PAGE))
        }
        (Err(message), _) | (_, Err(message)) => return bad_request(message),
    };
    if stop < start {
        return bad_request(format!("stop ({stop}) is before start ({start})"));
    }
    let page = index.page(query, start, stop.min(start.saturating_add(MAX_PAGE)));
    if verbose {
        errln!(
            "GET /api/search {query:?} {start}..{stop} -> {} of {}",
            page.chars.len(),
            page.total
        );
    }
    Json(page).into_response()
}
