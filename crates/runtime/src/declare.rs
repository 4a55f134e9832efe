//! What a component declares about its walkers while it lists them (the WIT's `declare`
//! interface): which follow jac-cloud's access rules, which node types compute their
//! level from a field, the JSON Schemas of fields, jac-cloud's other spec options
//! (documentation, listing, `private`, `excluded`), which public walkers run on the
//! public root, and the app's own user fields. Bounded as it arrives, folded into the
//! specs at load.

use std::collections::HashMap;
use std::sync::Arc;

use walker_core::access::{AccessRules, ComputedAccess};
use walker_core::ids;

use serde_json::Value;

use crate::bindings::jac::walker::declare::{ComputedAccess as WitComputed, FieldSchema, WalkerOptions};
use crate::bindings::jac::walker::types::Field as WitField;
use crate::spec::{Docs, FieldSpec, WalkerSpec, is_user_field_name};

/// Names (walkers and node types together) one component may declare: far more than
/// any real component, small next to the memory a guest could otherwise make the host
/// hold.
pub const MAX_DECLARED: usize = 1024;

/// Bytes one component may declare, all together: every name, schema and text it
/// passes. The strings reach the host once, bounded by the guest's memory; this budget
/// bounds what the host keeps of them.
pub const MAX_DECLARED_BYTES: usize = 256 * 1024;

/// What the component declared so far.
#[derive(Debug, Default)]
pub struct Declared {
    jac_cloud_walkers: Vec<String>,
    /// Public walkers that run on the public root over REST.
    public_root_walkers: Vec<String>,
    /// The app's own user fields.
    user_fields: Vec<WitField>,
    computed: ComputedAccess,
    /// Each walker's field schemas, in the order declared (the walker named once).
    schemas: Vec<(String, Vec<FieldSchema>)>,
    options: Vec<WalkerOptions>,
    /// Names declared so far, against `MAX_DECLARED`.
    names: usize,
    /// Bytes of every string declared so far, against `MAX_DECLARED_BYTES`.
    bytes: usize,
    /// It declared past either budget: loading fails, and later declarations are dropped.
    too_many: bool,
}

impl Declared {
    /// Counts a declaration against the budgets before anything of it is kept; false
    /// when it is past them.
    fn charge<'a>(&mut self, names: usize, strings: impl IntoIterator<Item = &'a String>) -> bool {
        if !self.too_many {
            self.names = self.names.saturating_add(names);
            self.bytes = strings.into_iter().fold(self.bytes, |bytes, text| bytes.saturating_add(text.len()));
            self.too_many = self.names > MAX_DECLARED || self.bytes > MAX_DECLARED_BYTES;
        }
        !self.too_many
    }

    pub(crate) fn add(&mut self, walkers: Vec<String>, computed: Vec<WitComputed>) {
        let strings = walkers.iter().chain(computed.iter().flat_map(|access| [&access.node_type, &access.field]));
        if self.charge(walkers.len() + computed.len(), strings) {
            self.jac_cloud_walkers.extend(walkers);
            self.computed.extend(computed.into_iter().map(|access| (access.node_type, access.field)));
        }
    }

    pub(crate) fn add_public_root(&mut self, walkers: Vec<String>) {
        if self.charge(walkers.len(), &walkers) {
            self.public_root_walkers.extend(walkers);
        }
    }

    pub(crate) fn add_user_fields(&mut self, fields: Vec<WitField>) {
        let strings = fields.iter().flat_map(|field| std::iter::once(&field.name).chain(&field.default));
        if self.charge(fields.len(), strings) {
            self.user_fields.extend(fields);
        }
    }

    pub(crate) fn add_schemas(&mut self, walker: String, schemas: Vec<FieldSchema>) {
        let strings = schemas.iter().flat_map(|schema| [&schema.field, &schema.schema]);
        if self.charge(1 + schemas.len(), strings.chain([&walker])) {
            self.schemas.push((walker, schemas));
        }
    }

    pub(crate) fn add_options(&mut self, options: WalkerOptions) {
        let texts = [&options.summary, &options.description, &options.response_schema].into_iter().flatten();
        let strings = texts.chain(options.tags.iter().flatten()).chain(&options.excluded).chain([&options.walker]);
        if self.charge(1, strings) {
            self.options.push(options);
        }
    }

    /// Gives the declared walkers jac-cloud's rules, their fields' schemas and their
    /// options; returns the app's user fields. The error says what is wrong.
    pub fn apply(self, specs: &mut [WalkerSpec]) -> Result<Vec<FieldSpec>, String> {
        if self.too_many {
            return Err(format!(
                "declares more than {MAX_DECLARED} names or {MAX_DECLARED_BYTES} bytes of names, schemas and documentation"
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
        for walker in &self.public_root_walkers {
            let Some(&index) = exported.get(walker) else {
                return Err(format!("declares the public root for {walker:?}, which it does not export"));
            };
            if specs[index].auth {
                return Err(format!("declares the public root for {walker}, which requires sign-in"));
            }
            specs[index].public_root = true;
        }
        for (walker, schemas) in self.schemas {
            for FieldSchema { field, schema: text } in schemas {
                let spec = exported.get(&walker).map(|&index| &mut specs[index]);
                let Some(spec_field) = spec.and_then(|spec| spec.fields.iter_mut().find(|f| f.name == field)) else {
                    return Err(format!("declares a schema for {walker}.{field}, which it does not export"));
                };
                match serde_json::from_str(&text) {
                    Ok(schema @ Value::Object(_)) => spec_field.schema = Some(schema),
                    _ => return Err(format!("the schema of {walker}.{field} is not a JSON object")),
                }
            }
        }
        for options in self.options {
            let Some(&index) = exported.get(&options.walker) else {
                return Err(format!("declares options for {:?}, which it does not export", options.walker));
            };
            apply_options(&mut specs[index], options)?;
        }
        let user_fields = FieldSpec::from_wit_fields(self.user_fields, "its user")?;
        if let Some(bad) = user_fields.iter().find(|field| !is_user_field_name(&field.name)) {
            return Err(format!("declares user field {:?}, which is not a name an account may have", bad.name));
        }
        Ok(user_fields)
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

#[cfg(test)]
mod tests {
    use super::*;
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
            public_root: false,
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
        assert!(declared.apply(&mut [spec("order")]).unwrap_err().contains("bytes of names"));
    }

    #[test]
    fn every_declared_string_counts_against_the_byte_budget_before_it_is_kept() {
        let long = "w".repeat(MAX_DECLARED_BYTES);
        let mut by_walker_name = Declared::default();
        by_walker_name.add_schemas(long.clone(), schema("quantity", "{}"));
        let mut by_computed_field = Declared::default();
        by_computed_field.add(Vec::new(), vec![WitComputed { node_type: "Nested".into(), field: long.clone() }]);
        let mut by_options_walker = Declared::default();
        by_options_walker.add_options(WalkerOptions { walker: long, ..options(&[], false) });
        for declared in [by_walker_name, by_computed_field, by_options_walker] {
            assert!(declared.schemas.is_empty() && declared.computed.is_empty() && declared.options.is_empty());
            assert!(declared.apply(&mut [spec("order")]).unwrap_err().contains("bytes of names"));
        }
    }

    #[test]
    fn user_fields_are_the_apps_and_jac_clouds_own_names_fail_the_load() {
        let field = |name: &str| WitField { name: name.into(), type_: FieldType::Str, default: None };
        let mut declared = Declared::default();
        declared.add_user_fields(vec![field("name")]);
        let fields = declared.apply(&mut [spec("order")]).unwrap();
        assert_eq!((fields.len(), fields[0].name.as_str(), fields[0].default.is_none()), (1, "name", true));
        for bad in ["email", "exp", "not a name"] {
            let mut declared = Declared::default();
            declared.add_user_fields(vec![field(bad)]);
            assert!(declared.apply(&mut [spec("order")]).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_root_walkers_must_be_public_and_exported() {
        let mut specs = [spec("visit"), spec("signed_in")];
        specs[0].auth = false;
        let mut declared = Declared::default();
        declared.add_public_root(vec!["visit".into()]);
        declared.apply(&mut specs).unwrap();
        assert!(specs[0].public_root && !specs[1].public_root);
        for walker in ["signed_in", "missing"] {
            let mut declared = Declared::default();
            declared.add_public_root(vec![walker.into()]);
            assert!(declared.apply(&mut [spec("signed_in")]).is_err(), "{walker}");
        }
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
