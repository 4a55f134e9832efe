//! Cross-origin access for browser apps: CORS on every HTTP route (jac-cloud allows any
//! origin by default), and an optional `Origin` allow-list for WebSocket upgrades, which
//! browsers do not subject to CORS.

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use crate::Settings;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

fn any(list: &[String]) -> bool {
    list.iter().any(|item| item.trim() == "*")
}

/// The CORS layer the configuration asks for; a value that is not a valid origin,
/// method or header name is an error naming its flag.
pub fn layer(settings: &Settings) -> anyhow::Result<CorsLayer> {
    let origins = if any(&settings.cors_origins) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(parse(&settings.cors_origins, "--cors-origins", |o| HeaderValue::from_str(o).ok())?)
    };
    let methods = if any(&settings.cors_methods) {
        AllowMethods::mirror_request()
    } else {
        AllowMethods::list(parse(&settings.cors_methods, "--cors-methods", |m| m.parse::<Method>().ok())?)
    };
    let headers = if any(&settings.cors_headers) {
        AllowHeaders::mirror_request()
    } else {
        AllowHeaders::list(parse(&settings.cors_headers, "--cors-headers", |h| h.parse::<header::HeaderName>().ok())?)
    };
    Ok(CorsLayer::new().allow_origin(origins).allow_methods(methods).allow_headers(headers).max_age(PREFLIGHT_MAX_AGE))
}

fn parse<T>(list: &[String], flag: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<Vec<T>> {
    list.iter().map(|item| parse(item.trim()).with_context(|| format!("{flag}: {item:?} is not valid"))).collect()
}

/// Whether a WebSocket upgrade may proceed: always without an allow-list or without an
/// `Origin` header (not a browser), else only from a listed origin.
pub fn websocket_allowed(settings: &Settings, headers: &HeaderMap) -> bool {
    let (Some(allowed), Some(origin)) = (&settings.ws_origins, headers.get(header::ORIGIN)) else { return true };
    any(allowed) || origin.to_str().is_ok_and(|origin| allowed.iter().any(|item| item.trim() == origin))
}
