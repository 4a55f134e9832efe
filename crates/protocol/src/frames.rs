//! Server frames and reply bodies, shared by the WebSocket and REST sides: the exact
//! JSON shapes of PROTOCOL.md (M1–M3, E1–E3), serialized once into text.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use walker_core::ids::wire_root;
use walker_runtime::{FieldError, Reply, ReplyBody, RunError};

/// M1: `{"type":"connection","data":{client_id, root_id, channel_id}}`.
pub fn connection(client_id: &str, root: &str, channel_id: &str) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        client_id: &'a str,
        root_id: String,
        channel_id: &'a str,
    }
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        data: Data<'a>,
    }
    let data = Data { client_id, root_id: wire_root(root), channel_id };
    to_text(&Frame { r#type: "connection", data })
}

/// M2 `{"status":S,"reports":[…]}`, or M3 the custom report itself, or a body of the
/// walker's content type as `{"status","content_type","body"}`. A `req_id` is added to
/// M2 and that body, and to M3 when the custom report is an object.
pub fn reply(reply: &Reply, req_id: Option<&Value>) -> String {
    match &reply.body {
        ReplyBody::Reports(reports) => {
            #[derive(Serialize)]
            struct Envelope<'a> {
                status: u16,
                reports: &'a [Box<RawValue>],
                #[serde(skip_serializing_if = "Option::is_none")]
                req_id: Option<&'a Value>,
            }
            to_text(&Envelope { status: reply.status, reports, req_id })
        }
        ReplyBody::Raw(raw) => {
            #[derive(Serialize)]
            struct Raw<'a> {
                status: u16,
                content_type: &'a str,
                body: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                req_id: Option<&'a Value>,
            }
            to_text(&Raw { status: reply.status, content_type: &raw.content_type, body: &raw.body, req_id })
        }
        ReplyBody::Custom(custom) => match req_id {
            Some(req_id) => match serde_json::from_str::<Value>(custom.get()) {
                Ok(Value::Object(mut object)) => {
                    object.insert("req_id".into(), req_id.clone());
                    to_text(&object)
                }
                _ => custom.get().to_string(),
            },
            None => custom.get().to_string(),
        },
    }
}

/// One chunk of a walker's streamed reply, before its reply frame:
/// `{"type":"stream","data":chunk}`.
pub fn stream_chunk(chunk: &str, req_id: Option<&Value>) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        data: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: Option<&'a Value>,
    }
    to_text(&Frame { r#type: "stream", data: chunk, req_id })
}

/// E1: a walker event refused before running: `{"type":"walker","error":"…"}`.
pub fn refusal(event_type: &str, message: &str, req_id: Option<&Value>) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'a str,
        error: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: Option<&'a Value>,
    }
    to_text(&Frame { r#type: event_type, error: message, req_id })
}

/// E2: validation errors, `{"error":[{type, loc, msg, input}, …]}`.
pub fn invalid(errors: &[FieldError], req_id: Option<&Value>) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        error: &'a [FieldError],
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: Option<&'a Value>,
    }
    to_text(&Frame { error: errors, req_id })
}

/// One structured error: `{"type": kind, "msg": message}`.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub msg: &'a str,
}

impl Problem<'static> {
    /// An entry node could not be checked because the graph store is unreachable.
    pub const STORE_UNAVAILABLE: Problem<'static> =
        Problem { kind: walker_runtime::STORE_UNAVAILABLE, msg: "the graph store is unavailable; try again shortly" };
}

impl<'a> Problem<'a> {
    pub fn from_run(err: &'a RunError, message: &'a str) -> Self {
        Problem { kind: err.kind_name(), msg: message }
    }
}

/// E3: anything else, `{"error":[{"type":"…","msg":"…"}]}`; never internals.
pub fn problem(problem: Problem<'_>, req_id: Option<&Value>) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        error: [Problem<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: Option<&'a Value>,
    }
    to_text(&Frame { error: [problem], req_id })
}

fn to_text(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("frames serialize")
}
