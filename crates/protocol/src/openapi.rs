//! `GET /openapi.json` (and the same in YAML at `/openapi.yaml`): an OpenAPI 3.1
//! document of the routes the server has right now, built from the loaded walkers' specs
//! once per catalog snapshot, so a hot reload shows at once: paths and methods, fields with their
//! types (or the schemas their components declare), defaults and required flags,
//! `as_query` fields as query parameters, custom paths, node routes, bearer auth, the
//! documentation jac-cloud's spec options give; and the account (with the app's user
//! fields) and utility routes. `x-walkers` lists every walker the document shows,
//! WebSocket-only ones too, for the playground. `GET /docs` and `GET /playground`: pages, built into the
//! binary, that call them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use walker_runtime::catalog::Snapshot;
use walker_runtime::{FieldSpec, FieldType, Method, WalkerSpec, path_params};

use crate::Shared;

/// The interactive docs page: self-contained, since deployments are often offline.
pub async fn docs() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("docs.html"))
}

/// The playground: connect, sign in, call walkers over WebSocket or REST, watch frames.
pub async fn playground() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("playground.html"))
}

/// The document of the catalog snapshot last asked about, as JSON and as YAML text:
/// built once per snapshot (a hot reload makes a new one), not on every request, since
/// anyone may ask and it is megabytes at the declaration limits.
#[derive(Default)]
pub struct DocumentCache {
    current: Mutex<Option<Cached>>,
    /// Documents built so far: one per snapshot asked about.
    builds: AtomicU64,
}

struct Cached {
    /// The snapshot it documents. Weak, so a replaced snapshot's walkers are not kept;
    /// while it is held, no new snapshot can take the old one's address.
    snapshot: Weak<Snapshot>,
    json: Bytes,
    /// Written at the first YAML request.
    yaml: Option<Bytes>,
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Yaml,
}

impl DocumentCache {
    /// How many documents it has built.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// The current snapshot's document in `format`, built if this snapshot has none yet.
    fn text(&self, shared: &Shared, format: Format) -> Result<Bytes, String> {
        let snapshot = shared.catalog.snapshot();
        // Held while building: concurrent first requests wait for one build.
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cached = match current.as_mut() {
            Some(cached) if std::ptr::eq(cached.snapshot.as_ptr(), Arc::as_ptr(&snapshot)) => cached,
            _ => {
                self.builds.fetch_add(1, Ordering::Relaxed);
                let document = build(shared, &snapshot);
                let json = serde_json::to_vec(&document).map_err(|err| err.to_string())?;
                let snapshot = Arc::downgrade(&snapshot);
                current.insert(Cached { snapshot, json: json.into(), yaml: None })
            }
        };
        match format {
            Format::Json => Ok(cached.json.clone()),
            Format::Yaml => {
                if cached.yaml.is_none() {
                    let document: Value = serde_json::from_slice(&cached.json).map_err(|err| err.to_string())?;
                    cached.yaml = Some(serde_norway::to_string(&document).map_err(|err| err.to_string())?.into());
                }
                Ok(cached.yaml.clone().unwrap_or_default())
            }
        }
    }
}

/// `GET /openapi.json`.
pub async fn document(State(shared): State<Arc<Shared>>) -> Response {
    serve(&shared, Format::Json)
}

/// `GET /openapi.yaml`: the same document in YAML, as jac-cloud serves it.
pub async fn yaml(State(shared): State<Arc<Shared>>) -> Response {
    serve(&shared, Format::Yaml)
}

fn serve(shared: &Shared, format: Format) -> Response {
    let content_type = match format {
        Format::Json => "application/json",
        Format::Yaml => "text/yaml; charset=utf-8",
    };
    match shared.openapi.text(shared, format) {
        Ok(text) => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(err) => {
            tracing::error!("writing the OpenAPI document as {format:?}: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn build(shared: &Shared, snapshot: &Snapshot) -> Value {
    let mut specs: Vec<&WalkerSpec> =
        (snapshot.walkers().map(|walker| walker.spec())).filter(|spec| !spec.private && spec.docs.listed).collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut paths = fixed_paths(&crate::user_fields::current(&shared.settings.user_fields, snapshot));
    let walkers: Vec<Value> = specs.iter().map(|spec| walker_summary(spec)).collect();
    for spec in specs {
        for (path, node) in spec.routes.iter().cloned() {
            let operations: Map<String, Value> = (spec.methods.iter())
                .filter_map(|method| Some((method_name(*method)?, operation(spec, *method, &path, node))))
                .map(|(method, operation)| (method.to_string(), operation))
                .collect();
            if !operations.is_empty() {
                paths.insert(path, Value::Object(operations));
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "walker-host", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Reply": {"type": "object", "properties": {"status": {"type": "integer"}, "reports": {"type": "array"}}},
                "ValidationError": {"type": "object", "properties": {"detail": {"type": "array"}}},
            },
        },
        "x-walkers": walkers,
    })
}

/// Every loaded walker, WebSocket-only ones too (which have no path above), in a form a
/// client can build calls from: the playground's walker list.
fn walker_summary(spec: &WalkerSpec) -> Value {
    let methods: Vec<&str> = spec.methods.iter().map(|method| method_name(*method).unwrap_or("websocket")).collect();
    let rest = spec.methods.iter().any(|method| method_name(*method).is_some());
    let routes: Vec<Value> =
        (spec.routes.iter()).filter(|_| rest).map(|(path, node)| json!({"path": path, "node": node})).collect();
    let fields: Vec<Value> = (spec.fields.iter().filter(|field| !field.excluded))
        .map(|field| json!({"name": field.name, "schema": schema(field), "required": field.default.is_none()}))
        .collect();
    json!({"name": spec.name, "methods": methods, "auth": spec.auth, "as_query": spec.as_query,
           "routes": routes, "fields": fields})
}

fn method_name(method: Method) -> Option<&'static str> {
    Some(match method {
        Method::Get => "get",
        Method::Post => "post",
        Method::Put => "put",
        Method::Patch => "patch",
        Method::Delete => "delete",
        Method::Websocket => return None,
    })
}

/// The field's declared schema, else one from its type; with its default.
fn schema(field: &FieldSpec) -> Value {
    let mut schema = field.schema.clone().unwrap_or_else(|| match field.kind {
        FieldType::Str => json!({"type": "string"}),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Float => json!({"type": "number"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::List => json!({"type": "array"}),
        FieldType::Dict => json!({"type": "object"}),
        FieldType::Any => json!({}),
    });
    if let Some(default) = &field.default {
        schema["default"] = default.clone();
    }
    schema
}

/// jac-cloud's tag for walkers whose specs name none.
const DEFAULT_TAG: &str = "Walker APIs";

fn operation(spec: &WalkerSpec, method: Method, path: &str, node: bool) -> Value {
    let reply_schema =
        spec.docs.response_schema.clone().unwrap_or_else(|| json!({"$ref": "#/components/schemas/Reply"}));
    let in_path: Vec<&str> = path_params(path).collect();
    let in_query = |field: &FieldSpec| spec.as_query.contains(&field.name);
    let mut parameters = Vec::new();
    if node {
        let description = "the entry node's id (`n:<Type>:<hex>`)";
        parameters.push(json!({"name": "node", "in": "path", "required": true, "description": description,
                               "schema": {"type": "string"}}));
    }
    let mut body = Map::new();
    let mut required = Vec::new();
    for field in spec.fields.iter().filter(|field| !field.excluded) {
        let place = if in_path.contains(&field.name.as_str()) {
            "path"
        } else if in_query(field) {
            "query"
        } else {
            body.insert(field.name.clone(), schema(field));
            if field.default.is_none() {
                required.push(field.name.clone());
            }
            continue;
        };
        parameters
            .push(json!({"name": field.name, "in": place, "required": place == "path" || field.default.is_none(),
                               "schema": schema(field)}));
    }
    let mut operation = json!({
        "operationId": format!("{}_{}{}", spec.name, method_name(method).unwrap_or_default(), if node { "_node" } else { "" }),
        "tags": spec.docs.tags.clone().unwrap_or_else(|| vec![DEFAULT_TAG.to_string()]),
        "parameters": parameters,
        "responses": {
            "200": {"description": "Successful Response",
                    "content": {"application/json": {"schema": reply_schema}}},
            "422": {"description": "invalid fields",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}}},
        },
        // A public walker also takes a token (it then runs as that user).
        "security": if spec.auth { json!([{"bearer": []}]) } else { json!([{}, {"bearer": []}]) },
    });
    let docs = &spec.docs;
    for (key, text) in [("summary", &docs.summary), ("description", &docs.description)] {
        if let Some(text) = text {
            operation[key] = text.as_str().into();
        }
    }
    if docs.deprecated {
        operation["deprecated"] = true.into();
    }
    // A GET's other fields come from its JSON body when one is sent, else from the query
    // string; documented as a body, which every client can send.
    if !body.is_empty() {
        let schema = json!({"type": "object", "properties": body, "required": required});
        operation["requestBody"] =
            json!({"required": !required.is_empty(), "content": {"application/json": {"schema": schema}}});
    }
    operation
}

/// The account and utility routes; registration takes the app's user fields too.
fn fixed_paths(user_fields: &[FieldSpec]) -> Map<String, Value> {
    let credentials = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["email", "password"],
        "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string"}},
    }}}});
    let mut registration = credentials.clone();
    let schema = &mut registration["content"]["application/json"]["schema"];
    for field in user_fields {
        schema["properties"][&field.name] = self::schema(field);
        if field.default.is_none() {
            schema["required"].as_array_mut().expect("a list").push(field.name.as_str().into());
        }
    }
    let answer = |description: &str| json!({"description": description});
    let query = |name: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "schema": schema});
    let listed = json!({"type": "array", "items": {"type": "string"}});
    let traverse = json!({"get": {"operationId": "traverse", "tags": ["Utility APIs"], "security": [{"bearer": []}],
        "parameters": [query("source", json!({"type": "string"})), query("detailed", json!({"type": "boolean", "default": false})),
                       query("depth", json!({"type": "integer", "default": 1})), query("node_types", listed.clone()),
                       query("edge_types", listed)],
        "responses": {"200": answer("the caller's graph: {nodes, edges}"), "422": answer("invalid query")}}});
    let paths = json!({
        "/util/traverse": traverse,
        "/user/register": {"post": {"operationId": "register", "tags": ["accounts"], "requestBody": registration,
            "responses": {"201": answer("registered"), "409": answer("the email is taken"), "422": answer("invalid email")}}},
        "/user/login": {"post": {"operationId": "login", "tags": ["accounts"], "requestBody": credentials,
            "responses": {"200": answer("a token and the user"), "400": answer("wrong email or password")}}},
        "/healthz": {"get": {"operationId": "healthz", "tags": ["operations"], "responses": {"200": answer("alive")}}},
        "/readyz": {"get": {"operationId": "readyz", "tags": ["operations"],
            "responses": {"200": answer("every walker loaded"), "503": answer("still loading")}}},
    });
    match paths {
        Value::Object(paths) => paths,
        _ => unreachable!("an object literal"),
    }
}
