//! Writes: each is checked (type names, contexts, access, limits) and kept in the run
//! until its commit. Under jac-cloud's rules, one the caller may not make is dropped
//! (see `Permit`) and answered as if made.

use serde_json::{Map, Value};

use walker_runtime::graph::{GraphError, Outcome};

use super::{Change, Permit, RunGraph, Seen, edge_json, node_json, store_failure};
use walker_core::access::AccessRules;
use walker_core::ids::{self, Kind, Ref};
use walker_store::{EVERYONE, EdgeRow, GrantWrite, Level, NodeRow};

impl RunGraph {
    pub async fn create(&mut self, node_type: &str, context: &str) -> Outcome<String> {
        Ok(self.new_node(node_type, context, false)?.map(|row| node_json(&row)))
    }

    /// jac's `save(Obj(..))`: an object, owned by the caller's root.
    pub async fn create_object(&mut self, object_type: &str, context: &str) -> Outcome<String> {
        Ok(self.new_node(object_type, context, true)?.map(|row| node_json(&row)))
    }

    fn new_node(&mut self, type_name: &str, context: &str, object: bool) -> Outcome<NodeRow> {
        if !ids::is_type_name(type_name) {
            let what = if object { "an object" } else { "a node" };
            return Ok(Err(GraphError::Invalid(format!("{type_name:?} is not {what} type"))));
        }
        let context = refused!(self.context(context)?);
        self.count_write(context.len())?;
        let row = NodeRow {
            hex: ids::new_hex(),
            type_name: type_name.to_string(),
            object,
            owner: self.caller.clone(),
            context,
            version: 0,
        };
        self.nodes.insert(row.hex.clone(), Seen { row: Some(row.clone()), change: Change::Created });
        Ok(Ok(row))
    }

    pub async fn spawn(
        &mut self,
        from: &str,
        edge_type: &str,
        edge_context: &str,
        node_type: &str,
        context: &str,
    ) -> Outcome<String> {
        let (source, dropped) = refused!(self.permit_node(from, Level::Connect).await?);
        refused!(check_edge_type(edge_type));
        let edge_context = refused!(self.context(edge_context)?);
        // The node is the caller's to make; only the edge to it may be dropped, and then
        // the orphan rule deletes the node at commit, as jac-cloud's save does.
        let node = refused!(self.new_node(node_type, context, false)?);
        let id = ids::node_id(&node.type_name, &node.hex);
        if dropped {
            self.orphans.spawned_without_edge(&id);
        } else {
            self.new_edge(source, id, edge_type, edge_context)?;
        }
        Ok(Ok(node_json(&node)))
    }

    pub async fn connect(&mut self, from: &str, to: &str, edge_type: &str, context: &str) -> Outcome<String> {
        refused!(check_edge_type(edge_type));
        let (source, source_dropped) = refused!(self.permit_node(from, Level::Connect).await?);
        let (target, target_dropped) = refused!(self.permit_node(to, Level::Connect).await?);
        let context = refused!(self.context(context)?);
        if source_dropped || target_dropped {
            return Ok(Ok(edge_json(&self.edge_row(source, target, edge_type, context))));
        }
        Ok(Ok(self.new_edge(source, target, edge_type, context)?))
    }

    fn new_edge(
        &mut self,
        source: String,
        target: String,
        edge_type: &str,
        context: String,
    ) -> wasmtime::Result<String> {
        self.count_write(context.len())?;
        let row = self.edge_row(source, target, edge_type, context);
        let json = edge_json(&row);
        self.new_edges.push(row.hex.clone());
        self.edges.insert(row.hex.clone(), Seen { row: Some(row), change: Change::Created });
        Ok(json)
    }

    /// A new edge of the caller's, not yet kept anywhere.
    fn edge_row(&self, source: String, target: String, edge_type: &str, context: String) -> EdgeRow {
        EdgeRow {
            hex: ids::new_hex(),
            type_name: edge_type.to_string(),
            owner: self.caller.clone(),
            source,
            target,
            context,
            version: 0,
            seq: 0,
        }
    }

    pub async fn disconnect(&mut self, from: &str, to: &str, edge_type: Option<&str>) -> Outcome<u32> {
        let (source, source_dropped) = refused!(self.permit_node(from, Level::Connect).await?);
        let (target, target_dropped) = refused!(self.permit_node(to, Level::Connect).await?);
        if source_dropped || target_dropped {
            return Ok(Ok(0));
        }
        // The stored edges from `source` to `target`, then the ones this run made. More
        // than a run may write would fail at the write limit anyway: no more are read.
        let most = self.service.limits.writes as usize + 1;
        let stored = self.service.store().edges_between(&source, &target, edge_type, most);
        let mut matching = Vec::new();
        for edge in stored.await.map_err(store_failure)? {
            matching.push(edge.hex.clone());
            self.edges.entry(edge.hex.clone()).or_insert(Seen { row: Some(edge), change: Change::Read });
        }
        matching.extend(self.new_edges.iter().cloned());
        // Removing an edge is deleting it: write access on each, as `delete` needs, or
        // none is removed (under jac-cloud's rules, the others are).
        let mut doomed = Vec::new();
        for hex in matching {
            // Seen as this run left it: an edge it deleted is not removed twice.
            let Some(edge) = self.edges.get(&hex).and_then(|seen| seen.row.as_ref()) else { continue };
            if edge.source != source || edge.target != target || edge_type.is_some_and(|t| t != edge.type_name) {
                continue;
            }
            let (id, owner) = (ids::edge_id(&edge.type_name, &hex), edge.owner.clone());
            if self.level(&id, &owner).await? < Level::Write {
                match self.rules {
                    AccessRules::Strict => return Ok(Err(GraphError::Denied(format!("no write access on {id}")))),
                    AccessRules::JacCloud(_) => continue,
                }
            }
            doomed.push((hex, owner));
        }
        for (hex, owner) in &doomed {
            self.count_write(0)?;
            self.order_with(owner).await?;
            self.delete_edge(hex);
        }
        if !doomed.is_empty() {
            self.orphans.edge_removed(&source, &target);
        }
        Ok(Ok(doomed.len() as u32))
    }

    /// The owner of a stored node or edge this run has read.
    fn owner_of(&self, parsed: &Ref) -> String {
        let owner = match parsed.kind {
            Kind::Node | Kind::Object => self.nodes[&parsed.hex].row.as_ref().map(|row| row.owner.clone()),
            Kind::Edge => self.edges[&parsed.hex].row.as_ref().map(|row| row.owner.clone()),
        };
        owner.expect("required")
    }

    fn delete_edge(&mut self, hex: &str) {
        let Some(seen) = self.edges.get_mut(hex) else { return };
        let version = seen.row.as_ref().map_or(0, |row| row.version);
        seen.change = match seen.change {
            Change::Created => Change::Deleted(0),
            _ => Change::Deleted(version),
        };
        seen.row = None;
    }

    pub async fn update(&mut self, id: &str, fields: &str) -> Outcome<String> {
        let (parsed, dropped) = refused!(self.permit(id, Level::Write).await?).split();
        if parsed.is_root() {
            return Ok(Err(GraphError::Invalid("a root's context cannot change".into())));
        }
        let Ok(fields) = serde_json::from_str::<Map<String, Value>>(fields) else {
            return Ok(Err(GraphError::Invalid("fields must be a JSON object".into())));
        };
        let current = match parsed.kind {
            Kind::Node | Kind::Object => self.nodes[&parsed.hex].row.as_ref().map(|row| row.context.clone()),
            Kind::Edge => self.edges[&parsed.hex].row.as_ref().map(|row| row.context.clone()),
        };
        let mut context: Map<String, Value> = serde_json::from_str(&current.unwrap_or_default()).unwrap_or_default();
        context.extend(fields);
        let context = refused!(self.context(&Value::Object(context).to_string())?);
        if dropped {
            return Ok(Ok(self.changed_json(&parsed, context)));
        }
        self.count_write(context.len())?;
        self.order_with(&self.owner_of(&parsed)).await?;
        let mark = |change: &mut Change| {
            if *change == Change::Read {
                *change = Change::Updated;
            }
        };
        let json = match parsed.kind {
            Kind::Node | Kind::Object => {
                let seen = self.nodes.get_mut(&parsed.hex).expect("required");
                mark(&mut seen.change);
                let row = seen.row.as_mut().expect("required");
                row.context = context;
                node_json(row)
            }
            Kind::Edge => {
                let seen = self.edges.get_mut(&parsed.hex).expect("required");
                mark(&mut seen.change);
                let row = seen.row.as_mut().expect("required");
                row.context = context;
                edge_json(row)
            }
        };
        Ok(Ok(json))
    }

    /// The JSON of `parsed` with `context`, changing nothing: a dropped update's answer.
    fn changed_json(&self, parsed: &Ref, context: String) -> String {
        match parsed.kind {
            Kind::Node | Kind::Object => {
                let row = self.nodes[&parsed.hex].row.as_ref().expect("required");
                node_json(&NodeRow { context, ..row.clone() })
            }
            Kind::Edge => edge_json(&EdgeRow { context, ..self.edges[&parsed.hex].row.clone().expect("required") }),
        }
    }

    pub async fn delete(&mut self, id: &str) -> Outcome<()> {
        let Permit::Granted(parsed) = refused!(self.permit(id, Level::Write).await?) else { return Ok(Ok(())) };
        if parsed.is_root() {
            return Ok(Err(GraphError::Invalid("a root cannot be deleted".into())));
        }
        self.count_write(0)?;
        self.order_with(&self.owner_of(&parsed)).await?;
        match parsed.kind {
            Kind::Edge => {
                let edge = self.edges[&parsed.hex].row.as_ref().expect("required");
                let (source, target) = (edge.source.clone(), edge.target.clone());
                self.orphans.edge_removed(&source, &target);
                self.delete_edge(&parsed.hex);
            }
            Kind::Node | Kind::Object => {
                let full = parsed.full();
                // Its stored edges go at commit; the ones this run made go now.
                let touching: Vec<String> = self
                    .new_edges
                    .iter()
                    .filter(|hex| {
                        self.edges[*hex].row.as_ref().is_some_and(|edge| edge.source == full || edge.target == full)
                    })
                    .cloned()
                    .collect();
                for hex in touching {
                    self.delete_edge(&hex);
                }
                // Stored edges already seen by this run are gone too.
                for seen in self.edges.values_mut() {
                    if seen.row.as_ref().is_some_and(|edge| edge.source == full || edge.target == full) {
                        seen.row = None;
                    }
                }
                let seen = self.nodes.get_mut(&parsed.hex).expect("required");
                if seen.change != Change::Created {
                    let version = seen.row.as_ref().map_or(0, |row| row.version);
                    self.deleted_nodes.push((full, version));
                }
                seen.change = Change::Deleted(0);
                seen.row = None;
            }
        }
        Ok(Ok(()))
    }

    pub async fn grant(&mut self, target: &str, grantee: Option<&str>, level: Option<Level>) -> Outcome<()> {
        let Permit::Granted(parsed) = refused!(self.permit(target, Level::Write).await?) else { return Ok(Ok(())) };
        let full = parsed.full();
        let owner = if parsed.is_root() { parsed.hex.clone() } else { self.owner_of(&parsed) };
        let grantee = match grantee {
            None => EVERYONE.to_string(),
            Some(root) => match ids::parse_root(root) {
                Some(hex) => hex,
                None => return Ok(Err(GraphError::Invalid(format!("{root} is not a root id")))),
            },
        };
        let exists = grantee == EVERYONE
            || grantee == ids::PUBLIC_ROOT
            || self.service.store().root_exists(&grantee).await.map_err(store_failure)?;
        if level.is_some() && !exists {
            return Ok(Err(GraphError::NotFound(format!("no root n::{grantee}"))));
        }
        self.count_write(0)?;
        self.grants_on(&full).await?;
        let grants = self.grants.get_mut(&full).expect("just read");
        grants.retain(|(who, _)| *who != grantee);
        if let Some(level) = level {
            grants.push((grantee.clone(), level));
        }
        self.grant_writes.push(GrantWrite { target: full, grantee, level, owner });
        Ok(Ok(()))
    }
}

/// An edge type: a type name, or "" for an untyped edge.
fn check_edge_type(edge_type: &str) -> Result<(), GraphError> {
    if edge_type.is_empty() || ids::is_type_name(edge_type) {
        Ok(())
    } else {
        Err(GraphError::Invalid(format!("{edge_type:?} is not an edge type")))
    }
}
