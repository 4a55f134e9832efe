//! Client events: the JSON objects a client sends, discriminated by `type`, parsed with
//! jac-cloud's (pydantic's) error shapes so clients see the same validation errors.

use serde_json::{Map, Value};

use walker_core::ids::parse_root;
use walker_runtime::FieldError;

pub enum ClientEvent {
    Connection,
    Walker(WalkerEvent),
    User { root_ids: Vec<String>, data: Value },
    Channel { channel_ids: Vec<String>, data: Value },
    Client { client_ids: Vec<String>, data: Value },
    ChangeUser { token: Option<String> },
}

impl ClientEvent {
    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientEvent::Connection => "connection",
            ClientEvent::Walker(_) => "walker",
            ClientEvent::User { .. } => "user",
            ClientEvent::Channel { .. } => "channel",
            ClientEvent::Client { .. } => "client",
            ClientEvent::ChangeUser { .. } => "change_user",
        }
    }
}

pub struct WalkerEvent {
    pub walker: String,
    pub context: Map<String, Value>,
    pub response: bool,
    pub node: Option<String>,
}

/// pydantic's error for a value that should be a string.
const STRING: (&str, &str) = ("string_type", "Input should be a valid string");

const TAGS: &str = "'connection', 'walker', 'user', 'channel', 'client', 'change_user'";

/// The optional `req_id` of an event, echoed in its reply and errors (a compatible
/// addition: jac-cloud ignores unknown keys).
pub fn req_id(event: &Value) -> Option<Value> {
    event.get("req_id").filter(|id| id.is_string() || id.is_number()).cloned()
}

/// Parses a client event; `max_targets` bounds the distinct ids of a `user`, `channel`
/// or `client` event, whose repeated ids are dropped.
pub fn parse(event: Value, max_targets: usize) -> Result<ClientEvent, Vec<FieldError>> {
    let Value::Object(fields) = event else {
        return Err(vec![FieldError::new(
            "model_attributes_type",
            loc(&[]),
            "Input should be a valid dictionary or object to extract fields from",
            Some(event),
        )]);
    };
    let tag = match fields.get("type") {
        Some(Value::String(tag)) => tag.clone(),
        _ => {
            return Err(vec![FieldError::new(
                "union_tag_not_found",
                loc(&[]),
                "Unable to extract tag using discriminator 'type'",
                Some(Value::Object(fields)),
            )]);
        }
    };
    let mut parser = Parser { tag: &tag, fields: &fields, errors: Vec::new(), max_targets };
    let event = match tag.as_str() {
        "connection" => ClientEvent::Connection,
        "walker" => {
            let walker = parser.string("walker");
            let context = parser.object("context", false).unwrap_or_default();
            let response = parser.boolean("response").unwrap_or(false);
            let node = parser.optional_string("node");
            ClientEvent::Walker(WalkerEvent { walker: walker.unwrap_or_default(), context, response, node })
        }
        "user" | "channel" | "client" => {
            type Build = fn(Vec<String>, Value) -> ClientEvent;
            let (ids_field, build): (&str, Build) = match tag.as_str() {
                "user" => ("root_ids", |root_ids, data| ClientEvent::User { root_ids, data }),
                "channel" => ("channel_ids", |channel_ids, data| ClientEvent::Channel { channel_ids, data }),
                _ => ("client_ids", |client_ids, data| ClientEvent::Client { client_ids, data }),
            };
            let mut ids = parser.ids(ids_field);
            if tag == "user" {
                parser.check_roots(ids.as_deref().unwrap_or_default());
            }
            let key = if tag == "user" { walker_core::targets::user_key } else { str::to_string };
            ids = ids.and_then(|ids| parser.distinct(ids_field, ids, key));
            let data = parser.object("data", true).map(Value::Object);
            build(ids.unwrap_or_default(), data.unwrap_or_default())
        }
        "change_user" => ClientEvent::ChangeUser { token: parser.optional_string("token") },
        _ => {
            return Err(vec![FieldError::new(
                "union_tag_invalid",
                loc(&[]),
                format!("Input tag '{tag}' found using 'type' does not match any of the expected tags: {TAGS}"),
                Some(Value::Object(fields.clone())),
            )]);
        }
    };
    if parser.errors.is_empty() { Ok(event) } else { Err(parser.errors) }
}

fn loc(path: &[&str]) -> Vec<Value> {
    std::iter::once("event").chain(path.iter().copied()).map(Value::from).collect()
}

/// Collects every error of one event, as pydantic does, rather than stopping at the first.
struct Parser<'a> {
    tag: &'a str,
    fields: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    max_targets: usize,
}

impl Parser<'_> {
    fn error(&mut self, kind: &'static str, field: &str, msg: &'static str, input: Value) {
        self.errors.push(FieldError::new(kind, loc(&[self.tag, field]), msg, Some(input)));
    }

    fn missing(&mut self, field: &str) {
        self.error("missing", field, "Field required", Value::Object(self.fields.clone()));
    }

    /// The field converted by `accept`, or pydantic's error (`expected` names the type)
    /// when it is of another type, or missing and `required`.
    fn field<T>(
        &mut self,
        field: &str,
        required: bool,
        expected: (&'static str, &'static str),
        accept: impl FnOnce(Value) -> Result<T, Value>,
    ) -> Option<T> {
        match self.fields.get(field).cloned() {
            None if required => {
                self.missing(field);
                None
            }
            None => None,
            Some(value) => match accept(value) {
                Ok(value) => Some(value),
                Err(other) => {
                    self.error(expected.0, field, expected.1, other);
                    None
                }
            },
        }
    }

    fn string(&mut self, field: &str) -> Option<String> {
        self.field(field, true, STRING, |value| match value {
            Value::String(s) => Ok(s),
            other => Err(other),
        })
    }

    /// Absent or null is `None`.
    fn optional_string(&mut self, field: &str) -> Option<String> {
        self.field(field, false, STRING, |value| match value {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(other),
        })
        .flatten()
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        self.field(field, false, ("bool_type", "Input should be a valid boolean"), |value| match value {
            Value::Bool(b) => Ok(b),
            other => Err(other),
        })
    }

    fn object(&mut self, field: &str, required: bool) -> Option<Map<String, Value>> {
        self.field(field, required, ("dict_type", "Input should be a valid dictionary"), |value| match value {
            Value::Object(map) => Ok(map),
            other => Err(other),
        })
    }

    /// Every id of a `user` event must be a root reference; a malformed one is reported
    /// with its index, and the event delivers nothing.
    fn check_roots(&mut self, ids: &[String]) {
        for (index, id) in ids.iter().enumerate() {
            if parse_root(id).is_none() {
                let mut loc = loc(&[self.tag, "root_ids"]);
                loc.push(Value::from(index));
                let msg = format!("[{id}] is not a valid reference!");
                self.errors.push(FieldError::new("value_error", loc, msg, Some(Value::String(id.clone()))));
            }
        }
    }

    /// The ids each once, or pydantic's `too_long` error past the limit on targets.
    fn distinct(&mut self, field: &str, ids: Vec<String>, key: fn(&str) -> String) -> Option<Vec<String>> {
        let max = self.max_targets;
        walker_core::targets::distinct_targets(ids, key, max)
            .map_err(|ids| {
                let msg = format!("List should have at most {max} distinct items after validation, not more");
                self.errors.push(FieldError::new("too_long", loc(&[self.tag, field]), msg, Some(Value::from(ids))));
            })
            .ok()
    }

    fn ids(&mut self, field: &str) -> Option<Vec<String>> {
        match self.fields.get(field).cloned() {
            None => {
                self.missing(field);
                None
            }
            Some(Value::Array(items)) if items.is_empty() => {
                self.error(
                    "too_short",
                    field,
                    "List should have at least 1 item after validation, not 0",
                    Value::Array(items),
                );
                None
            }
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Some(items.into_iter().filter_map(|item| item.as_str().map(str::to_string)).collect())
            }
            Some(Value::Array(items)) => {
                self.error(STRING.0, field, STRING.1, Value::Array(items));
                None
            }
            Some(other) => {
                self.error("list_type", field, "Input should be a valid list", other);
                None
            }
        }
    }
}
