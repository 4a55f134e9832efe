//! What a component declares about its walkers while it lists them (the WIT's `declare`
//! interface): which follow jac-cloud's access rules, and which node types compute their
//! level from a field. Folded into the specs at load.

use std::collections::HashMap;
use std::sync::Arc;

use walker_core::access::{AccessRules, ComputedAccess};
use walker_core::ids;

use super::bindings::jac::walker::declare::{ComputedAccess as WitComputed, Host};
use super::sandbox::RunState;
use super::spec::WalkerSpec;

/// Names (walkers and node types together) one component may declare: far more than
/// any real component, small next to the memory a guest could otherwise make the host
/// hold.
pub const MAX_DECLARED: usize = 1024;

/// What the component declared so far.
#[derive(Debug, Default)]
pub struct Declared {
    jac_cloud_walkers: Vec<String>,
    computed: ComputedAccess,
    /// It declared more than `MAX_DECLARED` names: loading fails.
    too_many: bool,
}

impl Declared {
    fn add(&mut self, walkers: Vec<String>, computed: Vec<WitComputed>) {
        if self.jac_cloud_walkers.len() + self.computed.len() + walkers.len() + computed.len() > MAX_DECLARED {
            self.too_many = true;
            return;
        }
        self.jac_cloud_walkers.extend(walkers);
        self.computed.extend(computed.into_iter().map(|access| (access.node_type, access.field)));
    }

    /// Gives the declared walkers jac-cloud's rules; the error says what is wrong.
    pub fn apply(self, specs: &mut [WalkerSpec]) -> Result<(), String> {
        if self.too_many {
            return Err(format!("declares more than {MAX_DECLARED} names"));
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
        Ok(())
    }
}

impl Host for RunState {
    fn jac_cloud_access(&mut self, walkers: Vec<String>, computed: Vec<WitComputed>) {
        if let Some(declared) = self.declared.as_mut() {
            declared.add(walkers, computed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::EntryType;

    fn spec(name: &str) -> WalkerSpec {
        WalkerSpec {
            name: name.into(),
            methods: Vec::new(),
            auth: true,
            as_query: Vec::new(),
            path: None,
            fields: Vec::new(),
            warm_runs: 0,
            entry: EntryType::Both,
            routes: Vec::new(),
            vars: Arc::from([]),
            access: AccessRules::Strict,
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
}
