//! What a component declares about its walkers while it lists them (the WIT's `declare`
//! interface): which follow jac-cloud's access rules, which node types compute their
//! level from a field, the JSON Schemas of fields, and jac-cloud's other spec options
//! (documentation, listing, `private`, `excluded`). Folded into the specs at load.

use std::collections::HashMap;
use std::sync::Arc;

use walker_core::access::{AccessRules, ComputedAccess};
use walker_core::ids;

use serde_json::Value;

use super::bindings::jac::walker::declare::{ComputedAccess as WitComputed, FieldSchema, Host, WalkerOptions};
use super::sandbox::RunState;
use super::spec::{Docs, WalkerSpec};

/// Names (walkers and node types together) one component may declare: far more than
/// any real component, small next to the memory a guest could otherwise make the host
/// hold.
pub const MAX_DECLARED: usize = 1024;

/// Bytes of schemas and documentation one component may declare, all together.
pub const MAX_DECLARED_BYTES: usize = 256 * 1024;

/// What the component declared so far.
#[derive(Debug, Default)]
pub struct Declared {
    jac_cloud_walkers: Vec<String>,
    computed: ComputedAccess,
    /// (walker, field, schema text), in the order declared.
    schemas: Vec<(String, String, String)>,
    options: Vec<WalkerOptions>,
    declared_bytes: usize,
    /// It declared more than `MAX_DECLARED` names or `MAX_DECLARED_BYTES`: loading fails.
    too_many: bool,
}

impl Declared {
    fn names(&self) -> usize {
        self.jac_cloud_walkers.len() + self.computed.len() + self.schemas.len() + self.options.len()
    }

    fn add(&mut self, walkers: Vec<String>, computed: Vec<WitComputed>) {
        if self.names() + walkers.len() + computed.len() > MAX_DECLARED {
            self.too_many = true;
            return;
        }
        self.jac_cloud_walkers.extend(walkers);
        self.computed.extend(computed.into_iter().map(|access| (access.node_type, access.field)));
    }

    fn add_schemas(&mut self, walker: String, schemas: Vec<FieldSchema>) {
        let bytes: usize = schemas.iter().map(|schema| schema.schema.len()).sum();
        self.declared_bytes = self.declared_bytes.saturating_add(bytes);
        if self.names() + schemas.len() > MAX_DECLARED || self.declared_bytes > MAX_DECLARED_BYTES {
            self.too_many = true;
            return;
        }
        self.schemas.extend(schemas.into_iter().map(|schema| (walker.clone(), schema.field, schema.schema)));
    }

    fn add_options(&mut self, options: WalkerOptions) {
        let texts = [&options.summary, &options.description, &options.response_schema];
        let tags = options.tags.iter().flatten().chain(&options.excluded);
        let bytes = texts.into_iter().flatten().chain(tags).map(String::len).sum::<usize>();
        self.declared_bytes = self.declared_bytes.saturating_add(bytes);
        if self.names() + 1 > MAX_DECLARED || self.declared_bytes > MAX_DECLARED_BYTES {
            self.too_many = true;
            return;
        }
        self.options.push(options);
    }

    /// Gives the declared walkers jac-cloud's rules, their fields' schemas and their
    /// options; the error says what is wrong.
    pub fn apply(self, specs: &mut [WalkerSpec]) -> Result<(), String> {
        if self.too_many {
            return Err(format!(
                "declares more than {MAX_DECLARED} names or {MAX_DECLARED_BYTES} bytes of schemas and documentation"
            ));
        }
        if let Some(bad) = self.computed.keys().find(|node_type| !ids::is_type_name(node_type)) {
            return Err(format!("declares computed access for {bad:?}, which is not a node type"));
        }
        let exported: HashMap<String, usize> =
            specs.iter().enumerate().map(|(index, spec)| (spec.name.clone(), index)).collect();
        let rules = AccessRules::JacCloud(Arc::new(self.computed));
        for walker in &self.jac_cloud_walkers {
            let Some(&index) = exported.get(walker) else {
                return Err(format!("declares jac-cloud access for {walker:?}, which it does not export"));
            };
            specs[index].access = rules.clone();
        }
        for (walker, field, text) in self.schemas {
            let spec = exported.get(&walker).map(|&index| &mut specs[index]);
            let Some(spec_field) = spec.and_then(|spec| spec.fields.iter_mut().find(|f| f.name == field)) else {
                return Err(format!("declares a schema for {walker}.{field}, which it does not export"));
            };
            match serde_json::from_str(&text) {
                Ok(schema @ Value::Object(_)) => spec_field.schema = Some(schema),
                _ => return Err(format!("the schema of {walker}.{field} is not a JSON object")),
            }
        }
        for options in self.options {
            let Some(&index) = exported.get(&options.walker) else {
                return Err(format!("declares options for {:?}, which it does not export", options.walker));
            };
            apply_options(&mut specs[index], options)?;
        }
        Ok(())
    }
}

/// jac-cloud's spec options on `spec`, checked.
fn apply_options(spec: &mut WalkerSpec, options: WalkerOptions) -> Result<(), String> {
    let name = &spec.name;
    let every = options.excluded.iter().any(|field| field == "*");
    for field in &options.excluded {
        if field != "*" && !spec.fields.iter().any(|f| &f.name == field) {
            return Err(format!("walker {name} excludes {field}, which it does not declare"));
        }
    }
    for field in spec.fields.iter_mut().filter(|field| every || options.excluded.contains(&field.name)) {
        if field.default.is_none() {
            return Err(format!("walker {name} excludes {}, which has no default", field.name));
        }
        field.excluded = true;
    }
    let response_schema = match options.response_schema.map(|text| serde_json::from_str(&text)) {
        None => None,
        Some(Ok(schema @ Value::Object(_))) => Some(schema),
        Some(_) => return Err(format!("the response schema of {name} is not a JSON object")),
    };
    spec.docs = Docs {
        summary: options.summary,
        description: options.description,
        tags: options.tags,
        deprecated: options.deprecated,
        listed: options.include_in_schema,
        response_schema,
    };
    if options.private {
        spec.private = true;
        spec.routes.clear();
    }
    Ok(())
}

impl Host for RunState {
    fn jac_cloud_access(&mut self, walkers: Vec<String>, computed: Vec<WitComputed>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add(walkers, computed);
        }
    }

    fn field_schemas(&mut self, walker: String, schemas: Vec<FieldSchema>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_schemas(walker, schemas);
        }
    }

    fn spec_options(&mut self, options: WalkerOptions) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add_options(options);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldSpec;
    use crate::bindings::{EntryType, FieldType};

    fn spec(name: &str) -> WalkerSpec {
        let field = |name: &str, default: Option<Value>| FieldSpec {
            name: name.into(),
            kind: FieldType::Int,
            default,
            schema: None,
            excluded: false,
        };
        WalkerSpec {
            name: name.into(),
            methods: Vec::new(),
            auth: true,
            as_query: Vec::new(),
            path: None,
            fields: vec![field("quantity", None), field("count", Some(0.into()))],
            warm_runs: 0,
            entry: EntryType::Both,
            routes: Vec::new(),
            vars: Arc::from([]),
            access: AccessRules::Strict,
            docs: Docs::default(),
            private: false,
        }
    }

    fn computed(node_type: &str) -> Vec<WitComputed> {
        vec![WitComputed { node_type: node_type.into(), field: "access".into() }]
    }

    #[test]
    fn declared_walkers_follow_jac_clouds_rules_and_the_rest_stay_strict() {
        let mut specs = [spec("visit"), spec("strict")];
        let mut declared = Declared::default();
        declared.add(vec!["visit".into()], computed("Nested"));
        declared.apply(&mut specs).unwrap();
        let AccessRules::JacCloud(computed) = &specs[0].access else { panic!("{:?}", specs[0].access) };
        assert_eq!(computed.get("Nested").map(String::as_str), Some("access"));
        assert_eq!(specs[1].access, AccessRules::Strict);
    }

    #[test]
    fn an_unknown_walker_a_bad_type_or_too_many_names_fail_the_load() {
        for (walkers, node_type) in [(vec!["missing".to_string()], "Nested"), (vec!["visit".to_string()], "not a type")]
        {
            let mut declared = Declared::default();
            declared.add(walkers, computed(node_type));
            assert!(declared.apply(&mut [spec("visit")]).is_err(), "{node_type}");
        }
        let mut declared = Declared::default();
        declared.add(vec!["visit".into(); MAX_DECLARED + 1], Vec::new());
        assert!(declared.apply(&mut [spec("visit")]).unwrap_err().contains("more than"));
    }

    fn schema(field: &str, schema: &str) -> Vec<FieldSchema> {
        vec![FieldSchema { field: field.into(), schema: schema.into() }]
    }

    #[test]
    fn a_declared_schema_documents_its_field() {
        let mut specs = [spec("order")];
        let mut declared = Declared::default();
        declared.add_schemas("order".into(), schema("quantity", r#"{"type": "integer", "maximum": 255}"#));
        declared.apply(&mut specs).unwrap();
        assert_eq!(specs[0].fields[0].schema, Some(serde_json::json!({"type": "integer", "maximum": 255})));
    }

    #[test]
    fn a_schema_for_an_unknown_field_or_not_an_object_or_too_large_fails_the_load() {
        let cases = [
            ("order", "missing", "{}"),
            ("other", "quantity", "{}"),
            ("order", "quantity", "[1]"),
            ("order", "quantity", "{"),
        ];
        for (walker, field, text) in cases {
            let mut declared = Declared::default();
            declared.add_schemas(walker.into(), schema(field, text));
            assert!(declared.apply(&mut [spec("order")]).is_err(), "{walker}.{field}: {text}");
        }
        let mut declared = Declared::default();
        let large = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_DECLARED_BYTES));
        declared.add_schemas("order".into(), schema("quantity", &large));
        assert!(declared.apply(&mut [spec("order")]).unwrap_err().contains("bytes of schemas"));
    }

    fn options(excluded: &[&str], private: bool) -> WalkerOptions {
        WalkerOptions {
            walker: "order".into(),
            summary: Some("Orders".into()),
            description: None,
            tags: Some(vec!["shop".into()]),
            deprecated: true,
            include_in_schema: false,
            private,
            excluded: excluded.iter().map(|field| field.to_string()).collect(),
            response_schema: Some(r#"{"type": "object"}"#.into()),
        }
    }

    #[test]
    fn spec_options_document_exclude_fields_with_defaults_and_make_a_walker_private() {
        let mut specs = [spec("order")];
        specs[0].routes.push(("/walker/order".into(), false));
        let mut declared = Declared::default();
        declared.add_options(options(&["count"], true));
        declared.apply(&mut specs).unwrap();
        let [order] = &specs;
        assert_eq!((order.fields[0].excluded, order.fields[1].excluded), (false, true));
        assert!(order.private && order.routes.is_empty() && !order.allows(crate::Method::Post));
        assert_eq!(
            (order.docs.summary.as_deref(), order.docs.listed, order.docs.deprecated),
            (Some("Orders"), false, true)
        );
        for excluded in [&["quantity"][..], &["*"], &["missing"]] {
            let mut declared = Declared::default();
            declared.add_options(options(excluded, false));
            assert!(declared.apply(&mut [spec("order")]).is_err(), "{excluded:?}: quantity has no default");
        }
    }
}
