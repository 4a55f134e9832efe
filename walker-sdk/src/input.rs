//! Reading a run's context into the walker's struct. The host has checked the
//! top-level fields against the declared types; what only Rust's types say (a nested
//! struct, an enum's variants, the range of a `u8` or a `char`) is checked here, before
//! the walker runs. A context that does not fit is refused as jac-cloud refuses it:
//! 422 with pydantic-shaped errors under `detail`, which the host reports as a
//! validation error (with `body`, `query` or `path` before each `loc` over REST).

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::bindings::jac::walker::types::Response;

/// The status, and the custom report's shape, that the host reads as refused input.
const UNPROCESSABLE: u16 = 422;

/// The walker read from `context`, or the reply that refuses it.
pub fn read<W: DeserializeOwned>(context: &str) -> Result<W, Response> {
    let value: Value = serde_json::from_str(context).map_err(|err| refusal("json_invalid", Vec::new(), err, None))?;
    serde_path_to_error::deserialize(&value).map_err(|err| {
        let mut loc: Vec<Value> = err.path().iter().filter_map(segment).collect();
        let message = err.inner().to_string();
        let input = at(&value, &loc);
        match missing_field(&message) {
            Some(field) => {
                loc.push(field.into());
                refusal("missing", loc, "Field required", input)
            }
            None => {
                let kind = if message.starts_with("unknown variant") { "enum" } else { "value_error" };
                refusal(kind, loc, message, input)
            }
        }
    })
}

fn refusal(kind: &str, loc: Vec<Value>, msg: impl ToString, input: Option<Value>) -> Response {
    let mut error = json!({"type": kind, "loc": loc, "msg": msg.to_string()});
    if let Some(input) = input {
        error["input"] = input;
    }
    Response { status: UNPROCESSABLE, reports: Vec::new(), custom: Some(json!({ "detail": [error] }).to_string()) }
}

/// One step of a path, as pydantic writes it in `loc`: a key, or a list index.
fn segment(segment: &serde_path_to_error::Segment) -> Option<Value> {
    use serde_path_to_error::Segment;
    match segment {
        Segment::Map { key } => Some(key.as_str().into()),
        Segment::Seq { index } => Some((*index).into()),
        Segment::Enum { variant } => Some(variant.as_str().into()),
        Segment::Unknown => None,
    }
}

/// serde's "missing field `name`": the name.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// The value at `loc` in `value`, if there is one.
fn at(value: &Value, loc: &[Value]) -> Option<Value> {
    loc.iter()
        .try_fold(value, |value, step| match step {
            Value::String(key) => value.get(key.as_str()),
            Value::Number(index) => value.get(index.as_u64()? as usize),
            _ => None,
        })
        .cloned()
}
