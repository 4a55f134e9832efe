//! What a running walker can do: report, set its status, notify connections.

use std::fmt;

use serde::Serialize;

use crate::Caller;
use crate::bindings::jac::walker::{socket, types::Response};
use crate::walk::{Flow, Reactions, Walk};

/// A walker's result: `Ok(())`, or an error the caller sees as a walker error.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// A walker failure, with the message the caller sees, and its kind: a graph call's
/// refusal says which it was, so a walker can handle "not found" without reading text.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Set for `skip` and `disengage`, which leave an ability as an error does; the
    /// walk takes them, and a walker's caller never sees them.
    flow: Option<Flow>,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such node or edge, or one the caller may not read (the same, so that ids
    /// cannot be probed), or a malformed id.
    NotFound,
    /// The caller lacks the access level the graph call needs.
    Denied,
    /// A bad type name, a context that is not a JSON object, a bad filter.
    Invalid,
    /// The walker's own error, or anything else.
    Other,
}

impl Error {
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::of(ErrorKind::Other, message)
    }

    pub(crate) fn of(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Error { kind, message: message.to_string(), flow: None }
    }

    pub(crate) fn flow(flow: Flow) -> Self {
        Error { kind: ErrorKind::Other, message: format!("{flow:?} outside a walk"), flow: Some(flow) }
    }

    pub(crate) fn as_flow(&self) -> Option<Flow> {
        self.flow
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(err: E) -> Self {
        Error::msg(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The running walker's view of its call: the caller, and what it reports.
pub struct Context {
    caller: Caller,
    status: u16,
    reports: Vec<String>,
    custom: Option<String>,
    /// The walk's queue and position, when the walker walks.
    pub(crate) walk: Walk,
    /// The node types' own abilities, for the walk to dispatch.
    pub(crate) reactions: Vec<Reactions>,
}

impl Context {
    pub(crate) fn new(caller: Caller, reactions: Vec<Reactions>) -> Self {
        Context { caller, status: 200, reports: Vec::new(), custom: None, walk: Walk::default(), reactions }
    }

    pub(crate) fn into_response(self) -> Response {
        Response { status: self.status, reports: self.reports, custom: self.custom }
    }

    /// Who runs the walker, and on which root.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The caller's account as its token carries it: `{"id", "email", "root_id", …}`
    /// with the app's own user fields (`--user-fields`); `None` for an anonymous caller.
    pub fn account(&self) -> Option<serde_json::Value> {
        let account = crate::bindings::jac::walker::account::current()?;
        serde_json::from_str(&account).ok()
    }

    /// Adds a value to the reply's `reports` (jac's `report`).
    pub fn report(&mut self, value: impl Serialize) {
        self.reports.push(to_json(&value));
    }

    /// The reply's status, 200 by default (jac's `get_context().status`).
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// Replies with `value` itself instead of the `{status, reports}` envelope.
    pub fn custom_report(&mut self, value: impl Serialize) {
        self.custom = Some(to_json(&value));
    }

    /// Replies with `body` as `content_type` (`"text/html"`) instead of the reports, as
    /// jac-cloud's `HTMLResponse`.
    pub fn respond(&mut self, content_type: &str, body: &str) {
        crate::bindings::jac::walker::respond::body(content_type, body);
    }

    /// Sends `chunk` of a reply streamed as `content_type` now, as jac-cloud's
    /// `StreamingResponse` sends each item of its generator: the first chunk starts the
    /// reply (status 200). Waits while the client is behind; an error means the reply
    /// cannot stream (the client left), and the walker should stop.
    pub fn stream(&mut self, content_type: &str, chunk: &str) -> Result {
        crate::bindings::jac::walker::respond::stream(content_type, chunk).map_err(Error::msg)
    }

    /// Sends `payload` to the calling WebSocket connection; does nothing over HTTP.
    pub fn notify_self(&self, payload: impl Serialize) {
        socket::notify_self(&to_json(&payload));
    }

    /// Sends `payload` to every connection of each user (root ids, `n::<hex>` or bare hex).
    pub fn notify_users<S: AsRef<str>>(&self, root_ids: impl IntoIterator<Item = S>, payload: impl Serialize) {
        socket::notify_users(&ids(root_ids), &to_json(&payload));
    }

    /// Sends `payload` to every connection subscribed to each channel.
    pub fn notify_channels<S: AsRef<str>>(&self, channel_ids: impl IntoIterator<Item = S>, payload: impl Serialize) {
        socket::notify_channels(&ids(channel_ids), &to_json(&payload));
    }

    /// Sends `payload` to each listed connection; unknown ids are ignored.
    pub fn notify_clients<S: AsRef<str>>(&self, client_ids: impl IntoIterator<Item = S>, payload: impl Serialize) {
        socket::notify_clients(&ids(client_ids), &to_json(&payload));
    }
}

fn ids<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Vec<String> {
    ids.into_iter().map(|id| id.as_ref().to_string()).collect()
}

fn to_json(value: &impl Serialize) -> String {
    // Serializing a value that is not JSON-representable (a map with non-string keys)
    // is a bug in the walker; fail loudly rather than send something else.
    serde_json::to_string(value).expect("walker payloads must serialize to JSON")
}
