//! REST routes: accounts (`/user/register`, `/user/login`), `/healthz`, `/util/traverse`
//! (`traverse`), and walkers on `/walker/<name>[/<node>]` or their custom paths, resolved
//! against the catalog on every request so hot-reloaded walkers are routed at once.

// Handlers bail out with a ready `Response`, axum's idiom; its size does not matter here.
#![allow(clippy::result_large_err)]

mod reply;
mod routes;
pub mod traverse;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use walker_accounts::auth::Identity;
use walker_accounts::{HashPoolFull, RegisterError, is_valid_email};
use walker_core::access::{AccessRules, StoreError};
use walker_core::ids::wire_root;
use walker_runtime::catalog::CallError;
use walker_runtime::{
    Caller, FieldError, LimitHit, Method, RunError, RunErrorKind, Transport, WalkerSpec, path_params,
};

use crate::frames::Problem;
use crate::{NodeAccess, Shared, check_node, user_fields};

fn json_response(status: StatusCode, body: impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

pub fn detail(status: StatusCode, detail: &str) -> Response {
    json_response(status, json!({ "detail": detail }))
}

/// A refusal that clears by itself: `status` with `body` and a `Retry-After` of `wait`,
/// in whole seconds, at least one.
pub fn retry_after(status: StatusCode, wait: Duration, body: Value) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = json_response(status, body);
    response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    response
}

fn unprocessable(errors: &[FieldError]) -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "detail": errors }))
}

/// The request body, or a structured error (413 over the body limit).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
        }
        _ => detail(StatusCode::BAD_REQUEST, "Could not read the request body"),
    })
}

/// Parses a JSON object body; an empty body is an empty object.
fn object_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(unprocessable(&[FieldError::new(
            "model_attributes_type",
            vec!["body".into()],
            "Input should be a valid dictionary or object to extract fields from",
            Some(other),
        )])),
        Err(err) => Err(unprocessable(&[FieldError::new(
            "json_invalid",
            vec!["body".into()],
            format!("JSON decode error: {err}"),
            None,
        )])),
    }
}

/// `email` and `password`, both required strings, and the whole body.
fn credentials(body: Result<Bytes, BytesRejection>) -> Result<(String, String, Map<String, Value>), Response> {
    let body = object_body(&read_body(body)?)?;
    let mut errors = Vec::new();
    let mut field = |name: &str| match body.get(name) {
        Some(Value::String(value)) => Some(value.clone()),
        Some(other) => {
            let loc = vec!["body".into(), name.into()];
            errors.push(FieldError::new("string_type", loc, "Input should be a valid string", Some(other.clone())));
            None
        }
        None => {
            let loc = vec!["body".into(), name.into()];
            errors.push(FieldError::new("missing", loc, "Field required", Some(Value::Object(body.clone()))));
            None
        }
    };
    match (field("email"), field("password")) {
        (Some(email), Some(password)) => Ok((email, password, body)),
        _ => Err(unprocessable(&without_password(errors))),
    }
}

/// `errors` as a client may see them: pydantic echoes the refused input, but a
/// password, given alone or within the body, is never sent back.
fn without_password(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    for error in &mut errors {
        match &mut error.input {
            _ if error.loc.last().and_then(Value::as_str) == Some("password") => error.input = None,
            Some(Value::Object(body)) => {
                body.remove("password");
            }
            _ => {}
        }
    }
    errors
}

pub async fn register(
    State(shared): State<Arc<Shared>>,
    extensions: axum::http::Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (email, password, body) = match credentials(body) {
        Ok(credentials) => credentials,
        Err(response) => return response,
    };
    if !is_valid_email(&email) {
        return unprocessable(&[FieldError::new(
            "value_error",
            vec!["body".into(), "email".into()],
            "value is not a valid email address",
            Some(Value::String(email)),
        )]);
    }
    let min = shared.settings.min_password_length;
    if password.chars().count() < min {
        // pydantic's error for a short string, without echoing the password.
        return unprocessable(&[FieldError::new(
            "string_too_short",
            vec!["body".into(), "password".into()],
            format!("String should have at least {min} characters"),
            None,
        )]);
    }
    let settings = &shared.settings;
    let declared = user_fields::current(&settings.user_fields, &shared.catalog.snapshot());
    let fields = match user_fields::read(&declared, &body, settings.user_fields_bytes) {
        Ok(fields) => fields,
        Err(errors) => return unprocessable(&without_password(errors)),
    };
    if let Some(Err(wait)) = client_address(&extensions).map(|address| shared.registrations.admit(address)) {
        let body = json!({"detail": "too many registrations from your address; try again later"});
        return retry_after(StatusCode::TOO_MANY_REQUESTS, wait, body);
    }
    match shared.accounts.register(email, password, fields).await {
        Ok(_) => json_response(StatusCode::CREATED, json!({"message": "Successfully Registered!"})),
        Err(RegisterError::Exists) => detail(StatusCode::CONFLICT, "Already Exists!"),
        Err(RegisterError::Internal(err)) => account_failure("registering", err),
    }
}

/// An account call that failed: 503 when the store is unreachable or every hashing place
/// is taken (try again), else 500.
fn account_failure(doing: &str, err: anyhow::Error) -> Response {
    if err.is::<HashPoolFull>() {
        let body = json!({"detail": "too many sign-ins at once; try again shortly"});
        return retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO, body);
    }
    tracing::error!("{doing}: {err:#}");
    if err.is::<StoreError>() {
        let body = json!({"detail": "the account store is unavailable; try again shortly"});
        return retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO, body);
    }
    internal_error()
}

/// The TCP peer's address (behind a proxy, the proxy's).
pub fn client_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
}

pub async fn login(
    State(shared): State<Arc<Shared>>,
    extensions: axum::http::Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (email, password, _) = match credentials(body) {
        Ok(credentials) => credentials,
        Err(response) => return response,
    };
    let address = client_address(&extensions);
    // Held, then refused before any hashing: a flood of wrong passwords costs no CPU.
    if let Some(wait) = shared.logins.hold(&email, address).await {
        let seconds = wait.as_secs_f64().ceil() as u64;
        let body = json!({"detail": format!("too many failed logins; try again in {seconds} s")});
        return retry_after(StatusCode::TOO_MANY_REQUESTS, wait, body);
    }
    let user = match shared.accounts.login(email.clone(), password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            shared.logins.failed(&email, address);
            return json_response(StatusCode::BAD_REQUEST, json!({"message": "Invalid Email/Password!"}));
        }
        Err(err) => return account_failure("logging in", err),
    };
    shared.logins.succeeded(&email);
    match shared.tokens.issue(&user) {
        Ok((token, claims)) => {
            // jac-cloud's `User.serialize()`: its own fields, then the app's.
            let mut body = json!({
                "id": user.id,
                "email": user.email,
                "root_id": user.root,
                "is_activated": claims.is_activated,
                "is_admin": claims.is_admin,
                "expiration": claims.expiration,
                "state": claims.state,
            });
            body.as_object_mut().expect("an object").extend(user.fields);
            json_response(StatusCode::OK, json!({"token": token, "user": body}))
        }
        Err(err) => {
            tracing::error!("issuing a token: {err:#}");
            internal_error()
        }
    }
}

/// `GET /readyz`: 200 once every walker file found at start is loaded (or failed), 503
/// before; the body lists the files loaded, loading and failed, and in cluster mode
/// whether the bus receives (`"cluster": {"connected": …}`; the instance serves its own
/// sockets either way, so it is ready either way).
pub async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let readiness = shared.catalog.readiness();
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = serde_json::to_value(readiness).unwrap_or_default();
    if let Some(connected) = shared.hub.cluster_connected() {
        body["cluster"] = serde_json::json!({"connected": connected});
    }
    (status, axum::Json(body)).into_response()
}

pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// A known route called with a method it does not serve.
pub async fn method_not_allowed() -> Response {
    detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// Longest error text kept when a plain-text rejection is turned into JSON.
const REJECTION_TEXT_BYTES: usize = 1024;

/// Makes every error the server answers JSON: the framework's own rejections (a
/// `GET /websocket` without an upgrade, a malformed query string…) are plain text,
/// and become `{"detail": "<their text>"}` with the same status. A body the walker wrote
/// itself (`reply::WalkerBody`) is its own and passes as it is.
pub async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let is_error = response.status().is_client_error() || response.status().is_server_error();
    if is_json || !is_error || response.extensions().get::<reply::WalkerBody>().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let text = if text.trim().is_empty() { parts.status.canonical_reason().unwrap_or("Error") } else { text.trim() };
    let mut json = json_response(parts.status, json!({ "detail": text }));
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

fn internal_error() -> Response {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"errors": [{"type": "internal_error", "msg": "internal server error"}]}),
    )
}

fn http_method(method: &HttpMethod) -> Option<Method> {
    Some(match *method {
        HttpMethod::GET => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::PUT => Method::Put,
        HttpMethod::PATCH => Method::Patch,
        HttpMethod::DELETE => Method::Delete,
        _ => return None,
    })
}

/// Runs a walker over HTTP: routing, method, auth, node access, input, reply.
pub async fn walker(
    State(shared): State<Arc<Shared>>,
    method: HttpMethod,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(route) = routes::resolve(&shared.catalog.snapshot(), uri.path()) else {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    };
    let spec = route.walker.spec();
    if !spec.methods.iter().any(|m| *m != Method::Websocket) {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    }
    let Some(method) = http_method(&method).filter(|m| spec.allows(*m)) else {
        return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    };

    let identity = match bearer_identity(&shared, &headers) {
        // jac-cloud's public walkers run as nobody, on the public root (see `declare`).
        Ok(_) if spec.public_root => Identity::anonymous(),
        Ok(identity) => identity,
        Err(response) => return response,
    };
    if spec.auth && !identity.authenticated {
        return detail(StatusCode::FORBIDDEN, "Not authenticated");
    }
    let entry = match &route.node {
        Some(node) => match entry_node(&shared, node, &identity, &spec.access).await {
            Ok(id) => Some(id),
            Err(response) => return response,
        },
        None => None,
    };
    let sources = Sources { spec, body_fields: method != Method::Get || body.as_ref().is_ok_and(|b| !b.is_empty()) };
    let input = match sources.input(body, query, &route.path_values) {
        Ok(input) => input,
        Err(response) => return response,
    };
    let caller = Caller {
        client_id: None,
        root_id: wire_root(&identity.root),
        channel_id: None,
        authenticated: identity.authenticated,
        transport: Transport::Http,
    };
    let call = reply::HttpCall { walker: route.walker.clone(), caller, account: identity.account, input, entry };
    let result = match reply::run(&shared, call).await {
        reply::Answer::Streaming(response) => return response,
        reply::Answer::Done(result) => result,
        reply::Answer::Lost => return internal_error(),
    };
    match result {
        Ok(reply) => reply::finished(&reply),
        Err(CallError::Invalid(errors)) => unprocessable(&FieldError::located(errors, |field| sources.origin(field))),
        Err(CallError::Run(err)) => run_failed(&err),
    }
}

/// Where a walker's input fields are read from over HTTP. Query-string fields come only
/// from the query string; the others from the JSON body (for a GET that sends none, from
/// the query string: jac-cloud reads a GET's body too); path values from the path.
struct Sources<'a> {
    spec: &'a WalkerSpec,
    /// Whether the request has a body to read fields from.
    body_fields: bool,
}

impl Sources<'_> {
    /// Whether `field` is read from the query string.
    fn in_query(&self, field: &str) -> bool {
        !self.body_fields || self.spec.as_query.iter().any(|q| q == field)
    }

    /// jac-cloud's name for where `field` came from, first in an error's `loc`.
    fn origin(&self, field: &str) -> &'static str {
        if self.spec.path.as_deref().is_some_and(|path| path_params(path).any(|param| param == field)) {
            "path"
        } else if self.in_query(field) {
            "query"
        } else {
            "body"
        }
    }

    /// The run's input: from the body, the query string and the path; or the answer to
    /// a body that is not a JSON object.
    fn input(
        &self,
        body: Result<Bytes, BytesRejection>,
        query: Vec<(String, String)>,
        path_values: &[(String, String)],
    ) -> Result<Map<String, Value>, Response> {
        let mut input = Map::new();
        if self.body_fields {
            input = read_body(body).and_then(|body| object_body(&body))?;
            input.retain(|field, _| !self.in_query(field));
        }
        let query = query.into_iter().filter(|(key, _)| self.in_query(key));
        input.extend(query.map(|(key, value)| (key, Value::String(value))));
        input.extend(path_values.iter().map(|(key, value)| (key.clone(), Value::String(value.clone()))));
        Ok(input)
    }
}

/// The entry node's full id, once the caller may read it; else the answer to send.
async fn entry_node(shared: &Shared, node: &str, identity: &Identity, rules: &AccessRules) -> Result<String, Response> {
    Err(match check_node(shared, node, identity, rules).await {
        NodeAccess::Allowed(id) => return Ok(id),
        NodeAccess::Denied => {
            // jac-cloud's shape: the message under `detail.error`.
            let error = format!("You don't have access on target entry {node}!");
            json_response(StatusCode::FORBIDDEN, json!({ "detail": { "error": error } }))
        }
        NodeAccess::Invalid(mut error) => {
            error.loc = vec!["path".into(), "node".into()];
            unprocessable(&[error])
        }
        NodeAccess::Unavailable => store_unavailable(),
    })
}

/// 503 with `Retry-After`: the graph store could not be read.
fn store_unavailable() -> Response {
    retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO, json!({ "errors": [Problem::STORE_UNAVAILABLE] }))
}

/// Who a request's bearer token proves it is: anonymous without one, 401 for one that
/// proves nothing.
fn bearer_identity(shared: &Shared, headers: &HeaderMap) -> Result<Identity, Response> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(Identity::anonymous()),
        Some(value) => (value.to_str().ok().and_then(|token| shared.tokens.verify(token)))
            .ok_or_else(|| detail(StatusCode::UNAUTHORIZED, "Unauthorized")),
    }
}

/// The answer to a run that failed: what the client may retry says when.
fn run_failed(err: &RunError) -> Response {
    let message = err.to_string();
    let body = json!({ "errors": [Problem::from_run(err, &message)] });
    match err.kind {
        RunErrorKind::Busy(_) | RunErrorKind::StoreUnavailable | RunErrorKind::Limit(LimitHit::TenantMemory(_)) => {
            retry_after(StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO, body)
        }
        RunErrorKind::RateLimited => retry_after(StatusCode::TOO_MANY_REQUESTS, Duration::ZERO, body),
        RunErrorKind::CpuQuota(debt) => retry_after(StatusCode::TOO_MANY_REQUESTS, debt, body),
        RunErrorKind::Conflict => json_response(StatusCode::CONFLICT, body),
        RunErrorKind::Quota(_) => json_response(StatusCode::INSUFFICIENT_STORAGE, body),
        _ => json_response(StatusCode::INTERNAL_SERVER_ERROR, body),
    }
}
