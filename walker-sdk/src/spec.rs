//! How a walker may be called: methods, auth, query fields, custom path.

use crate::Field;
use crate::bindings::jac::walker::declare::WalkerOptions;
use crate::bindings::jac::walker::types::{self as wit, WalkerSpec};

pub use wit::{EntryType, Method};

/// Builder for a walker's spec; mirrors jac-cloud's `class __specs__`.
#[derive(Debug, Clone)]
pub struct Spec {
    methods: Vec<Method>,
    auth: bool,
    as_query: Vec<String>,
    path: Option<String>,
    warm_runs: u32,
    entry: EntryType,
    vars: Vec<String>,
    /// Whether it follows jac-cloud's access rules (declared apart from the WIT spec).
    jac_cloud_access: bool,
    /// jac-cloud's other options (declared apart from the WIT spec, when any is set).
    options: Options,
}

/// jac-cloud's `__specs__` options that the host reads through `declare`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Options {
    summary: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    deprecated: bool,
    hidden: bool,
    private: bool,
    excluded: Vec<String>,
    response_schema: Option<String>,
}

impl Default for Spec {
    fn default() -> Self {
        Self::new()
    }
}

impl Spec {
    /// jac-cloud's defaults: `post` only, signed-in callers only.
    pub fn new() -> Self {
        Spec {
            methods: Vec::new(),
            auth: true,
            as_query: Vec::new(),
            path: None,
            warm_runs: 0,
            entry: EntryType::Both,
            vars: Vec::new(),
            jac_cloud_access: false,
            options: Options::default(),
        }
    }

    /// `Method::Websocket` makes it a walker event; the others are HTTP methods.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Anonymous callers may run it too (`has auth: bool = False`).
    pub fn public(mut self) -> Self {
        self.auth = false;
        self
    }

    /// Fields read from the query string (`has as_query: list = [...]`).
    pub fn query<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.as_query = fields.into_iter().map(Into::into).collect();
        self
    }

    /// A custom REST path such as `/custom/{key}`, or one relative to `/walker/<name>/`
    /// such as `{key}` (jac-cloud's relative paths); each `{name}` is a field. It is
    /// also served followed by `/<node>`, for a node entry.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Reuses a warm instance for up to `runs` runs of the same user, instead of a fresh
    /// instance per run; globals then persist between those runs.
    pub fn warm(mut self, runs: u32) -> Self {
        self.warm_runs = runs;
        self
    }

    /// Which REST routes it has (jac-cloud's `entry_type`): `/walker/<name>` (`Root`),
    /// `/walker/<name>/<node>` (`Node`), or both (the default).
    pub fn entry(mut self, entry: EntryType) -> Self {
        self.entry = entry;
        self
    }

    /// The tenant variables it reads with [`crate::config::get`]; it may read no other.
    pub fn vars<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.vars = names.into_iter().map(Into::into).collect();
        self
    }

    /// Follows jac-cloud's access rules rather than the strict default: `graph::get`
    /// reads another root's node by id (jac's `&(id)`), a write the caller may not make
    /// is dropped and answered as if made (the node changed in memory is still what the
    /// walker reports), and node types with `#[archetype(access = "field")]` take the
    /// level other roots get from that field (jac's `__jac_access__`).
    pub fn jac_cloud_access(mut self) -> Self {
        self.jac_cloud_access = true;
        self
    }

    /// Its operation's summary in `/openapi.json`.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.options.summary = Some(summary.into());
        self
    }

    /// Its operation's description in `/openapi.json`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.options.description = Some(description.into());
        self
    }

    /// Its operation's tags in `/openapi.json` (jac-cloud's default: `Walker APIs`).
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.options.tags = Some(tags.into_iter().map(Into::into).collect());
        self
    }

    /// Marked deprecated in `/openapi.json`.
    pub fn deprecated(mut self) -> Self {
        self.options.deprecated = true;
        self
    }

    /// Served, but left out of `/openapi.json` (jac-cloud's `include_in_schema = False`).
    pub fn hidden(mut self) -> Self {
        self.options.hidden = true;
        self
    }

    /// Served over neither REST nor the WebSocket (jac-cloud's `private`).
    pub fn private(mut self) -> Self {
        self.options.private = true;
        self
    }

    /// Fields a client may not set, `"*"` for all (jac-cloud's `excluded`): they take
    /// their defaults, which they must have.
    pub fn excluded<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.options.excluded = fields.into_iter().map(Into::into).collect();
        self
    }

    /// The JSON Schema of a successful reply's body in `/openapi.json` (jac-cloud's
    /// `response_model`).
    pub fn response_schema(mut self, schema: serde_json::Value) -> Self {
        self.options.response_schema = Some(schema.to_string());
        self
    }

    /// Its options for the host, if any is set.
    pub(crate) fn declared_options(&self, walker: &str) -> Option<WalkerOptions> {
        if self.options == Options::default() {
            return None;
        }
        let options = self.options.clone();
        Some(WalkerOptions {
            walker: walker.to_string(),
            summary: options.summary,
            description: options.description,
            tags: options.tags,
            deprecated: options.deprecated,
            include_in_schema: !options.hidden,
            private: options.private,
            excluded: options.excluded,
            response_schema: options.response_schema,
        })
    }

    pub(crate) fn follows_jac_cloud_access(&self) -> bool {
        self.jac_cloud_access
    }

    pub(crate) fn into_wit(self, name: &str, fields: Vec<Field>) -> WalkerSpec {
        WalkerSpec {
            name: name.to_string(),
            methods: self.methods,
            auth: self.auth,
            as_query: self.as_query,
            path: self.path,
            fields: fields.into_iter().map(Field::into_wit).collect(),
            warm_runs: self.warm_runs,
            entry: self.entry,
            vars: self.vars,
        }
    }
}
