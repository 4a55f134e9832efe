//! Walker specs as the host keeps them: checked once at load, then used to route calls
//! and to validate each call's context before any guest code runs.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};
use walker_core::access::AccessRules;

use super::bindings::{self, EntryType, FieldType, Method};

/// Errors a walker's refusal may carry, the length of each string in one, and the
/// steps of its `loc`.
const MAX_GUEST_ERRORS: usize = 64;
const MAX_GUEST_TEXT: usize = 1_024;
const MAX_GUEST_LOC: usize = 32;

/// A walker's declaration, validated.
#[derive(Debug, Clone)]
pub struct WalkerSpec {
    pub name: String,
    /// Never empty: an empty WIT list means jac-cloud's default, `post`.
    pub methods: Vec<Method>,
    pub auth: bool,
    pub as_query: Vec<String>,
    /// Its custom path, absolute: a relative one (jac-cloud's `path: "{a}"`) is kept
    /// under `/walker/<name>/`.
    pub path: Option<String>,
    pub fields: Vec<FieldSpec>,
    /// Runs a warm instance may serve; 0: a fresh instance per run.
    pub warm_runs: u32,
    /// Which REST routes it has: `/walker/<name>`, `/walker/<name>/<node>`, or both.
    pub entry: EntryType,
    /// Its REST routes as jac-cloud serves them, each with whether it takes an entry
    /// node: its path (custom, or `/walker/<name>`) for the root entry, and that path
    /// followed by `/{node}` for a node entry, as `entry` allows. Made once, at load.
    pub routes: Vec<(String, bool)>,
    /// The tenant variables it may read.
    pub vars: Arc<[String]>,
    /// The access rules its runs follow: strict unless its component declares
    /// jac-cloud's (see `declare`).
    pub access: AccessRules,
    /// What `/openapi.json` says of it (see `declare`).
    pub docs: Docs,
    /// Served over neither REST nor the WebSocket (jac-cloud's `private`): it has no
    /// routes, and allows no method.
    pub private: bool,
    /// Public, and over REST run on the public root as an anonymous caller whatever
    /// token the request carries, as jac-cloud runs public walkers (see `declare`).
    pub public_root: bool,
}

/// A walker's documentation, as jac-cloud's `__specs__` give it.
#[derive(Debug, Clone)]
pub struct Docs {
    pub summary: Option<String>,
    pub description: Option<String>,
    /// `None`: jac-cloud's `["Walker APIs"]`.
    pub tags: Option<Vec<String>>,
    pub deprecated: bool,
    /// Whether `/openapi.json` lists it (`include_in_schema`).
    pub listed: bool,
    /// The JSON Schema of a successful reply's body (`response_model`).
    pub response_schema: Option<Value>,
}

impl Default for Docs {
    fn default() -> Self {
        Docs { summary: None, description: None, tags: None, deprecated: false, listed: true, response_schema: None }
    }
}

#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldType,
    /// `None`: required.
    pub default: Option<Value>,
    /// Its JSON Schema, when the component declares one finer than `kind` (see
    /// `declare`): for the documents only.
    pub schema: Option<Value>,
    /// A client may not set it (jac-cloud's `excluded`): it always takes its default.
    pub excluded: bool,
}

impl FieldSpec {
    /// Fields as a component declares them, checked: each named once, defaults JSON.
    /// `owner` names whose they are, for the error.
    pub(crate) fn from_wit_fields(
        declared: Vec<bindings::jac::walker::types::Field>,
        owner: &str,
    ) -> Result<Vec<FieldSpec>, String> {
        let mut fields: Vec<FieldSpec> = Vec::with_capacity(declared.len());
        for field in declared {
            if fields.iter().any(|f| f.name == field.name) {
                return Err(format!("{owner} declares field {} twice", field.name));
            }
            let default = match field.default {
                None => None,
                Some(text) => Some(
                    serde_json::from_str(&text)
                        .map_err(|_| format!("{owner}: the default of field {} is not JSON", field.name))?,
                ),
            };
            fields.push(FieldSpec { name: field.name, kind: field.type_, default, schema: None, excluded: false });
        }
        Ok(fields)
    }
}

/// Names jac-cloud's own user and token already use: an app's user field may not.
pub const RESERVED_USER_FIELDS: [&str; 10] =
    ["id", "email", "password", "root_id", "is_activated", "is_admin", "sso", "expiration", "state", "exp"];

/// A user field's name: an identifier of at most 64 bytes, none of jac-cloud's own.
pub fn is_user_field_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
        && !RESERVED_USER_FIELDS.contains(&name)
}

/// One reason an input was refused, in pydantic's shape (as jac-cloud reports it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    /// Field names, and list indices as numbers (pydantic's shape).
    pub loc: Vec<Value>,
    pub msg: Cow<'static, str>,
    /// The refused value (for a missing field, the object it is missing from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

impl FieldError {
    pub fn new(kind: &'static str, loc: Vec<Value>, msg: impl Into<Cow<'static, str>>, input: Option<Value>) -> Self {
        FieldError { kind: Cow::Borrowed(kind), loc, msg: msg.into(), input }
    }

    /// `errors` with the part of the request each field was read from (`"body"`,
    /// `"query"`, `"path"`, as `origin` names it for the field) first in its `loc`, as
    /// FastAPI reports them.
    pub fn located(mut errors: Vec<FieldError>, origin: impl Fn(&str) -> &'static str) -> Vec<FieldError> {
        for error in &mut errors {
            let origin = origin(error.loc.first().and_then(Value::as_str).unwrap_or_default());
            error.loc.insert(0, origin.into());
        }
        errors
    }

    /// The errors of a reply by which the walker refused its input: status 422 with the
    /// custom report `{"detail": [{"type", "loc", "msg", "input"?}, …]}`, as the SDKs
    /// answer a context that their types reject (see `walker-sdk`'s `input`). Bounded:
    /// at most `MAX_GUEST_ERRORS`, each with short strings and a short `loc`.
    pub fn refused_by_walker(status: u16, custom: &str) -> Option<Vec<FieldError>> {
        if status != 422 {
            return None;
        }
        let Ok(Value::Object(mut reply)) = serde_json::from_str::<Value>(custom) else { return None };
        let Some(Value::Array(details)) = reply.remove("detail") else { return None };
        if !reply.is_empty() || details.is_empty() || details.len() > MAX_GUEST_ERRORS {
            return None;
        }
        details.into_iter().map(FieldError::from_guest).collect()
    }

    fn from_guest(detail: Value) -> Option<FieldError> {
        let Value::Object(mut detail) = detail else { return None };
        let short = |value: Option<Value>| match value {
            Some(Value::String(text)) if text.len() <= MAX_GUEST_TEXT => Some(text),
            _ => None,
        };
        let kind = short(detail.remove("type"))?;
        let msg = short(detail.remove("msg"))?;
        let Some(Value::Array(loc)) = detail.remove("loc") else { return None };
        let step = |step: &Value| step.as_str().is_some_and(|key| key.len() <= MAX_GUEST_TEXT) || step.is_u64();
        if loc.len() > MAX_GUEST_LOC || !loc.iter().all(step) {
            return None;
        }
        Some(FieldError { kind: kind.into(), loc, msg: msg.into(), input: detail.remove("input") })
    }
}

impl WalkerSpec {
    /// Checks a spec read from a component; the error says what is wrong with it.
    pub fn from_wit(spec: bindings::WalkerSpec) -> Result<Self, String> {
        let name = spec.name;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("walker name {name:?} is not an identifier"));
        }
        let fields = FieldSpec::from_wit_fields(spec.fields, &format!("walker {name}"))?;
        let declared = |field: &str| fields.iter().any(|f| f.name == field);
        if let Some(undeclared) = spec.as_query.iter().find(|f| !declared(f)) {
            return Err(format!("walker {name}: query field {undeclared} is not declared"));
        }
        let path = spec.path.map(|path| absolute_path(&name, &path)).transpose()?;
        if let Some(undeclared) = path.iter().flat_map(|path| path_params(path)).find(|f| !declared(f)) {
            return Err(format!("walker {name}: path parameter {undeclared} is not declared"));
        }
        if let Some(bad) = spec.vars.iter().find(|var| !is_var_name(var)) {
            return Err(format!("walker {name}: variable name {bad:?} is not [a-z0-9_], starting with a letter"));
        }
        let mut methods = spec.methods;
        if methods.is_empty() {
            methods.push(Method::Post);
        }
        methods.dedup();
        Ok(WalkerSpec {
            routes: routes(&name, path.as_deref(), spec.entry),
            name,
            methods,
            auth: spec.auth,
            as_query: spec.as_query,
            path,
            fields,
            warm_runs: spec.warm_runs,
            entry: spec.entry,
            vars: spec.vars.into(),
            access: AccessRules::Strict,
            docs: Docs::default(),
            private: false,
            public_root: false,
        })
    }

    pub fn allows(&self, method: Method) -> bool {
        !self.private && self.methods.contains(&method)
    }

    /// Validates `input` against the declared fields and completes it with defaults.
    /// Returns the context the walker receives: exactly the declared fields. Like
    /// pydantic's lax mode, numbers and booleans may be written as strings, which is
    /// also how query-string and path values arrive.
    pub fn validate(&self, input: &Map<String, Value>) -> Result<Map<String, Value>, Vec<FieldError>> {
        validate_fields(&self.fields, input)
    }
}

/// Validates `input` against `fields` as `WalkerSpec::validate` does (for walkers, and
/// for the app's user fields at registration).
pub fn validate_fields(
    fields: &[FieldSpec],
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut context = Map::new();
    let mut errors = Vec::new();
    for field in fields {
        let loc = || vec![Value::from(field.name.as_str())];
        let given = if field.excluded { None } else { input.get(&field.name) };
        match (given, &field.default) {
            (Some(Value::Null), Some(Value::Null)) => {
                context.insert(field.name.clone(), Value::Null);
            }
            (Some(value), _) => match coerce(field.kind, value) {
                Ok(value) => {
                    context.insert(field.name.clone(), value);
                }
                Err((kind, msg)) => errors.push(FieldError::new(kind, loc(), msg, Some(value.clone()))),
            },
            (None, Some(default)) => {
                context.insert(field.name.clone(), default.clone());
            }
            (None, None) => {
                errors.push(FieldError::new("missing", loc(), "Field required", Some(Value::Object(input.clone()))))
            }
        }
    }
    if errors.is_empty() { Ok(context) } else { Err(errors) }
}

/// Tenant variable names, as Spin and `wasi:config` spell them.
pub fn is_var_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// See `WalkerSpec::routes`.
fn routes(name: &str, path: Option<&str>, entry: EntryType) -> Vec<(String, bool)> {
    let path = path.map_or_else(|| format!("/walker/{name}"), str::to_string);
    let mut routes = Vec::with_capacity(2);
    if entry != EntryType::Root {
        routes.push((format!("{path}/{{node}}"), true));
    }
    if entry != EntryType::Node {
        routes.insert(0, (path, false));
    }
    routes
}

/// A custom path made absolute, as jac-cloud does: one without a leading `/` is under
/// `/walker/<name>/`. Its segments are literal, or whole `{param}`s.
fn absolute_path(name: &str, path: &str) -> Result<String, String> {
    let path = if path.starts_with('/') { path.to_string() } else { format!("/walker/{name}/{path}") };
    let path = path.trim_end_matches('/');
    let well_formed = |segment: &str| {
        let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(segment);
        !inner.is_empty() && !inner.contains(['{', '}', '?', '#'])
    };
    if path.is_empty() || !path.split('/').skip(1).all(well_formed) {
        return Err(format!("walker {name}: path {path:?} has an empty or malformed segment"));
    }
    Ok(path.to_string())
}

/// The `{name}` parameters of a custom path.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// Checks `value` against a field type, converting where pydantic's lax mode does
/// (numeric strings, whole floats for ints, "true"/"false" for booleans).
fn coerce(kind: FieldType, value: &Value) -> Result<Value, (&'static str, &'static str)> {
    match (kind, value) {
        (FieldType::Any, value) => Ok(value.clone()),
        (FieldType::Str, Value::String(_)) => Ok(value.clone()),
        (FieldType::Str, _) => Err(("string_type", "Input should be a valid string")),
        (FieldType::Int, Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(i.into()),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok((f as i64).into()),
            _ => Err(("int_from_float", "Input should be a valid integer, got a number with a fractional part")),
        },
        (FieldType::Int, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")),
        (FieldType::Int, _) => Err(("int_type", "Input should be a valid integer")),
        (FieldType::Float, Value::Number(_)) => Ok(value.clone()),
        (FieldType::Float, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or(("float_parsing", "Input should be a valid number, unable to parse string as a number")),
        (FieldType::Float, _) => Err(("float_type", "Input should be a valid number")),
        (FieldType::Bool, Value::Bool(_)) => Ok(value.clone()),
        (FieldType::Bool, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true.into()),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false.into()),
            _ => Err(("bool_parsing", "Input should be a valid boolean, unable to interpret input")),
        },
        (FieldType::Bool, Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok((n.as_i64() == Some(1)).into())
        }
        (FieldType::Bool, _) => Err(("bool_type", "Input should be a valid boolean")),
        (FieldType::List, Value::Array(_)) => Ok(value.clone()),
        (FieldType::List, _) => Err(("list_type", "Input should be a valid list")),
        (FieldType::Dict, Value::Object(_)) => Ok(value.clone()),
        (FieldType::Dict, _) => Err(("dict_type", "Input should be a valid dictionary")),
    }
}
