//! jac-cloud 0.2.11's own test app, `jac_cloud/tests/simple_graph.jac` (MIT), ported to
//! the Rust SDK's walker model walker for walker, under jac's names; the jac each port
//! stands for is in its comment. Also walkers that exercise `skip`, `disengage` and
//! edges as values, which the app uses without testing them one by one.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use walker_sdk::graph::{self, Archetype, Level, Node, Query};
use walker_sdk::{
    Abilities, Context, EntryType, Error, Method, NodeAbilities, Result, Spec, Walker, export_walkers, walker,
};

#[derive(Serialize, Deserialize, Archetype)]
struct A {
    val: i64,
}

/// `has val: str | int`.
#[derive(Serialize, Deserialize, Archetype)]
struct B {
    val: Value,
}

/// `has val: Any`.
#[derive(Serialize, Deserialize, Archetype)]
struct C {
    val: Value,
}

/// `enum Enum { A = "a", B = "b", C = "c" }`: jac-cloud stores and reports a member's
/// name.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
enum Enum {
    A,
    B,
    C,
}

#[derive(Serialize, Deserialize)]
struct Child {
    val: i64,
    arr: Vec<i64>,
    data: serde_json::Map<String, Value>,
    enum_field: Enum,
}

/// `obj Parent(Child) { has child: Child; }`
#[derive(Serialize, Deserialize)]
struct Parent {
    val: i64,
    arr: Vec<i64>,
    data: serde_json::Map<String, Value>,
    enum_field: Enum,
    child: Child,
}

/// The fields `Nested` and `SavableObject` share.
#[derive(Serialize, Deserialize)]
struct Fields {
    val: i64,
    arr: Vec<i64>,
    data: serde_json::Map<String, Value>,
    parent: Parent,
    enum_field: Enum,
}

/// `def __jac_access__ { return self.access; }`: other roots' level is `access`.
#[derive(Serialize, Deserialize, Archetype)]
#[archetype(access = "access")]
struct Nested {
    #[serde(flatten)]
    fields: Fields,
    access: Option<String>,
}

/// `obj SavableObject { has val: int, arr: list[int], data: dict[str, int], parent: Parent, enum_field: Enum; }`
#[derive(Serialize, Deserialize, Archetype)]
#[serde(transparent)]
struct SavableObject {
    fields: Fields,
}

fn data(pairs: &[(&str, i64)]) -> serde_json::Map<String, Value> {
    pairs.iter().map(|(key, value)| (key.to_string(), json!(value))).collect()
}

/// Reports `here` and visits `[-->]`: most of the app's traversals at each node.
fn report_and_visit<T: Serialize>(here: &Node<T>, cx: &mut Context) -> Result {
    cx.report(here);
    cx.visit(Query::out())
}

// walker create_graph { can enter_root with `root entry {
//     a = A(val=0); b = B(val=1); c = C(val=2); a ++> b; b ++> c; here ++> a;
//     report here; report a; report b; report c; } }
walker! { pub struct CreateGraph {} }

impl Walker for CreateGraph {
    const NAME: &'static str = "create_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let a = graph::create(&A { val: 0 })?;
            let b = graph::create(&B { val: json!(1) })?;
            let c = graph::create(&C { val: json!(2) })?;
            graph::connect(&a.id, &b.id, "", &json!({}))?;
            graph::connect(&b.id, &c.id, "", &json!({}))?;
            graph::connect(&here.id, &a.id, "", &json!({}))?;
            for node in [json!(here), json!(a), json!(b), json!(c)] {
                cx.report(node);
            }
            Ok(())
        });
    }
}

// Not in the app: `count` A nodes off the root, for tests on large graphs.
walker! { pub struct FanOut { count: u32 } }

impl Walker for FanOut {
    const NAME: &'static str = "fan_out";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, here, _| {
            for val in 0..walker.count {
                let a = graph::create(&A { val: val.into() })?;
                graph::connect(&here.id, &a.id, "", &json!({}))?;
            }
            Ok(())
        });
    }
}

// walker traverse_graph: `root`, `A` and `B` entries `report here; visit [-->];`, `C`'s
// `report here;`.
walker! { pub struct TraverseGraph {} }

impl Walker for TraverseGraph {
    const NAME: &'static str = "traverse_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<A>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<B>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<C>, cx| cx.report(&here));
    }
}

// walker detach_node: `visit [-->]` from root and A; at B `report here del --> [-->];`.
walker! { pub struct DetachNode {} }

impl Walker for DetachNode {
    const NAME: &'static str = "detach_node";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| cx.visit(Query::out()));
        on.entry(|_, _: &mut Node<A>, cx| cx.visit(Query::out()));
        on.entry(|_, here: &mut Node<B>, cx| {
            for far in graph::all_neighbours(&here.id, &Query::out())? {
                graph::disconnect(&here.id, &far.id, None)?;
            }
            cx.report(true);
            Ok(())
        });
    }
}

// walker update_graph: `here.val = 1` at A and `here.val = 2` at B, each reported, saved
// with no `save`.
walker! { pub struct UpdateGraph {} }

impl Walker for UpdateGraph {
    const NAME: &'static str = "update_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<A>, cx| {
            here.val = 1;
            report_and_visit(here, cx)
        });
        on.entry(|_, here: &mut Node<B>, cx| {
            here.val = json!(2);
            report_and_visit(here, cx)
        });
    }
}

// walker create_nested_node { can enter_root with `root entry { n = Nested(…); here ++> n; report n; } }
walker! { pub struct CreateNestedNode {} }

impl Walker for CreateNestedNode {
    const NAME: &'static str = "create_nested_node";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let nested = Nested { fields: original_fields(), access: None };
            cx.report(graph::spawn(&here.id, &nested)?);
            Ok(())
        });
    }
}

/// The fields `create_nested_node` and `create_custom_object` make.
fn original_fields() -> Fields {
    let child = Child { val: 2, arr: vec![1, 2], data: data(&[("a", 1), ("b", 2)]), enum_field: Enum::C };
    let parent = Parent { val: 1, arr: vec![1], data: data(&[("a", 1)]), enum_field: Enum::B, child };
    Fields { val: 0, arr: vec![], data: data(&[]), parent, enum_field: Enum::A }
}

/// `update_nested_node`'s changes (and `update_custom_object`'s), wherever reached.
fn update_nested(nested: &mut Fields) {
    let child = &mut nested.parent.child;
    child.data.insert("c".into(), json!(3));
    child.arr.push(3);
    child.val = 3;
    child.enum_field = Enum::A;
    nested.parent.data.insert("b".into(), json!(2));
    nested.parent.arr.push(2);
    nested.parent.val = 2;
    nested.parent.enum_field = Enum::C;
    nested.data.insert("a".into(), json!(1));
    nested.arr.push(1);
    nested.val = 1;
    nested.enum_field = Enum::B;
}

// walker update_nested_node: from root, updates `[-->(`?Nested)][0]` and reports it; at a
// Nested entry node, updates `here`. Saved with no `save` either way; with jac-cloud's
// access rules, as jac-cloud runs every walker of the app, on another root's node too.
walker! { pub struct UpdateNestedNode {} }

impl Walker for UpdateNestedNode {
    const NAME: &'static str = "update_nested_node";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let Some(mut nested) = graph::neighbours::<Nested>(&here.id, Query::out())?.into_iter().next() else {
                return Ok(());
            };
            update_nested(&mut nested.fields);
            cx.report(graph::save(&nested)?);
            Ok(())
        });
        on.entry(|_, here: &mut Node<Nested>, cx| {
            update_nested(&mut here.fields);
            cx.report(&here)
        });
    }
}

// walker detach_nested_node { `root entry { report here del--> [-->(`?Nested)]; } }
walker! { pub struct DetachNestedNode {} }

impl Walker for DetachNestedNode {
    const NAME: &'static str = "detach_nested_node";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let mut detached = 0;
            for nested in graph::neighbours::<Nested>(&here.id, Query::out())? {
                detached += graph::disconnect(&here.id, &nested.id, None)?;
            }
            cx.report(detached > 0);
            Ok(())
        });
    }
}

// Not in the app: `detach_nested_node` keeping what it detaches (jac's `commit(nested)`,
// or `keep_orphans` for all), so the orphan rule spares it.
walker! { pub struct DetachNestedNodeKept { all: bool = false } }

impl Walker for DetachNestedNodeKept {
    const NAME: &'static str = "detach_nested_node_kept";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, here, cx| {
            for nested in graph::neighbours::<Nested>(&here.id, Query::out())? {
                graph::disconnect(&here.id, &nested.id, None)?;
                match walker.all {
                    true => graph::keep_orphans(),
                    false => graph::keep(&nested.id),
                }
                cx.report(&nested.id);
            }
            Ok(())
        });
    }
}

// Not in the app (which reads jac-cloud's database for it): whether node `id` exists.
walker! { pub struct NodeExists { id: String } }

impl Walker for NodeExists {
    const NAME: &'static str = "node_exists";

    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::get(&self.id)?.is_some());
        Ok(())
    }
}

// walker visit_nested_node: at root, reports `[-->(`?Nested)][0]` (or `[]`); at a Nested
// entry node, reports it.
walker! { pub struct VisitNestedNode {} }

impl Walker for VisitNestedNode {
    const NAME: &'static str = "visit_nested_node";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let nesteds = graph::neighbours::<Nested>(&here.id, Query::out())?;
            match nesteds.into_iter().next() {
                Some(first) => cx.report(first),
                None => cx.report(json!([])),
            }
            Ok(())
        });
        on.entry(|_, here: &mut Node<Nested>, cx| cx.report(&here));
    }
}

// walker delete_nested_node { `root entry { destroy([-->(`?Nested)][0]); report [-->(`?Nested)]; } }
walker! { pub struct DeleteNestedNode {} }

impl Walker for DeleteNestedNode {
    const NAME: &'static str = "delete_nested_node";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            if let Some(nested) = graph::neighbours::<Nested>(&here.id, Query::out())?.first() {
                graph::delete(&nested.id)?;
            }
            cx.report(graph::neighbours::<Nested>(&here.id, Query::out())?);
            Ok(())
        });
    }
}

// walker delete_nested_edge { `root entry { destroy([edge -->][0]); report [-->(`?Nested)]; } }
walker! { pub struct DeleteNestedEdge {} }

impl Walker for DeleteNestedEdge {
    const NAME: &'static str = "delete_nested_edge";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            if let Some(edge) = graph::edges(&here.id, &Query::out())?.first() {
                graph::delete(&edge.id)?;
            }
            cx.report(graph::neighbours::<Nested>(&here.id, Query::out())?);
            Ok(())
        });
    }
}

/// `node Node { has val: str; … }`, renamed in Rust where `Node` is the SDK's.
#[derive(Serialize, Deserialize, Archetype)]
#[archetype(name = "Node")]
struct Step {
    val: String,
}

// The node's own abilities: `can entry1 with entry { report f"{self.val}-2"; }`,
// `with visit_sequence entry` (-3), `with visit_sequence exit` (-4), `with exit` (-5).
impl NodeAbilities for Step {
    fn entry(here: &mut Node<Self>, walker: &str, cx: &mut Context) -> Result {
        cx.report(format!("{}-2", here.val));
        if walker == VisitSequence::NAME {
            cx.report(format!("{}-3", here.val));
        }
        Ok(())
    }

    fn exit(here: &mut Node<Self>, walker: &str, cx: &mut Context) -> Result {
        if walker == VisitSequence::NAME {
            cx.report(format!("{}-4", here.val));
        }
        cx.report(format!("{}-5", here.val));
        Ok(())
    }
}

// walker visit_sequence: `with entry` reports "walker entry"; at root, `here ++> Node(val=…)`
// for a, b, c, `visit [-->]`, "walker enter to root"; `Node entry` (-1), `Node exit` (-6);
// `with exit` reports "walker exit". Anyone may call it.
walker! { pub struct VisitSequence {} }

impl Walker for VisitSequence {
    const NAME: &'static str = "visit_sequence";

    fn spec() -> walker_sdk::Spec {
        walker_sdk::Spec::new().public()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.start(|_, cx| cx.report("walker entry"));
        on.root(|_, here, cx| {
            for val in ["a", "b", "c"] {
                graph::spawn(&here.id, &Step { val: val.into() })?;
            }
            cx.visit(Query::out())?;
            cx.report("walker enter to root");
            Ok(())
        });
        on.entry(|_, here: &mut Node<Step>, cx| cx.report(format!("{}-1", here.val)));
        on.exit(|_, here: &mut Node<Step>, cx| cx.report(format!("{}-6", here.val)));
        on.end(|_, cx| cx.report("walker exit"));
    }
}

macro_rules! populated_nodes {
    ($($name:ident),+) => {$(
        #[derive(Serialize, Deserialize, Archetype)]
        struct $name {
            id: i64,
        }
    )+};
}

populated_nodes!(D, E, F, G, H);

/// `for i in range(2) { here ++> Next(id=i); } visit [-->];`
fn spawn_two_and_visit<Next: Archetype>(here: &str, make: fn(i64) -> Next, cx: &mut Context) -> Result {
    for id in 0..2 {
        graph::spawn(here, &make(id))?;
    }
    cx.visit(Query::out())
}

// walker populate_graph: two Ds under root, two Es under each D, … down to H.
walker! { pub struct PopulateGraph {} }

impl Walker for PopulateGraph {
    const NAME: &'static str = "populate_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| spawn_two_and_visit(&here.id, |id| D { id }, cx));
        on.entry(|_, here: &mut Node<D>, cx| spawn_two_and_visit(&here.id, |id| E { id }, cx));
        on.entry(|_, here: &mut Node<E>, cx| spawn_two_and_visit(&here.id, |id| F { id }, cx));
        on.entry(|_, here: &mut Node<F>, cx| spawn_two_and_visit(&here.id, |id| G { id }, cx));
        on.entry(|_, here: &mut Node<G>, cx| spawn_two_and_visit(&here.id, |id| H { id }, cx));
    }
}

// walker traverse_populated_graph: at root and every D…H, `report here; visit [-->];`.
walker! { pub struct TraversePopulatedGraph {} }

impl Walker for TraversePopulatedGraph {
    const NAME: &'static str = "traverse_populated_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<D>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<E>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<F>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<G>, cx| report_and_visit(here, cx));
        on.entry(|_, here: &mut Node<H>, cx| report_and_visit(here, cx));
    }
}

// walker purge_populated_graph { `root entry { report reset_graph(); } }
walker! { pub struct PurgePopulatedGraph {} }

impl Walker for PurgePopulatedGraph {
    const NAME: &'static str = "purge_populated_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| {
            cx.report(graph::reset()?);
            Ok(())
        });
    }
}

// walker check_populated_graph: the root, its nodes and its edges, counted (jac-cloud
// reads its database for them, and adds the root's walkers, of which it keeps none here).
walker! { pub struct CheckPopulatedGraph {} }

impl Walker for CheckPopulatedGraph {
    const NAME: &'static str = "check_populated_graph";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| {
            let counts = graph::count();
            cx.report(1 + counts.nodes + counts.edges);
        });
    }
}

// Not in the app: the root's own nodes listed, of one type or all.
walker! { pub struct OwnedNodes { node_type: Option<String> } }

impl Walker for OwnedNodes {
    const NAME: &'static str = "owned_nodes";

    fn run(self, cx: &mut Context) -> Result {
        let nodes = graph::owned(self.node_type.as_deref())?;
        cx.report(nodes.iter().map(|node| node.type_name()).collect::<Vec<_>>());
        Ok(())
    }
}

// Not in the app: the root's graph counted and listed, then reset if asked.
walker! { pub struct GraphSize { reset: bool = false } }

impl Walker for GraphSize {
    const NAME: &'static str = "graph_size";

    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::count());
        cx.report(graph::owned(None)?.iter().map(|node| node.type_name()).collect::<Vec<_>>());
        if self.reset {
            cx.report(graph::reset()?);
        }
        Ok(())
    }
}

// Not in the app: `skip` and `disengage` on create_graph's A → B → C, and the walker's
// fields carried from node to node. At each node it reports `<Type>-entry`, visits
// `[-->]`, bumps A's and B's `val` by 10 (saved even when it then leaves), skips or
// disengages at the type named, and reports `<Type>-exit`; at the end, how many nodes
// it entered.
walker! { pub struct WalkControl { skip_at: String = "", disengage_at: String = "", entered: u32 = 0 } }

impl WalkControl {
    fn step<T: Archetype>(&mut self, _: &mut Node<T>, cx: &mut Context) -> Result {
        let kind = T::TYPE;
        self.entered += 1;
        cx.report(format!("{kind}-entry"));
        cx.visit(Query::out())?;
        if kind == self.skip_at {
            return cx.skip();
        }
        if kind == self.disengage_at {
            return cx.disengage();
        }
        Ok(())
    }
}

impl Walker for WalkControl {
    const NAME: &'static str = "walk_control";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| cx.visit(Query::out()));
        on.entry(|walker, here: &mut Node<A>, cx| {
            here.val += 10;
            walker.step(here, cx)
        });
        on.entry(|walker, here: &mut Node<B>, cx| {
            here.val = json!(here.val.as_i64().unwrap_or_default() + 10);
            walker.step(here, cx)
        });
        on.entry(Self::step::<C>);
        on.exit(|_, _: &mut Node<A>, cx| cx.report("A-exit"));
        on.exit(|_, _: &mut Node<B>, cx| cx.report("B-exit"));
        on.exit(|_, _: &mut Node<C>, cx| cx.report("C-exit"));
        on.end(|walker, cx| cx.report(json!({"entered": walker.entered})));
    }
}

/// An edge type with a field.
#[derive(Serialize, Deserialize, Archetype)]
struct Link {
    weight: i64,
}

// Not in the app: edges as values. Under root, an A by a `Link(weight=3)` and a B by an
// untyped edge; reports root's edges (type, ends, fields), its neighbours' types (mixed
// in one list), then deletes the Link by id and reports what is left.
walker! { pub struct EdgeValues {} }

impl Walker for EdgeValues {
    const NAME: &'static str = "edge_values";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, here, cx| {
            let a = graph::create(&A { val: 1 })?;
            let link = graph::connect_with(&here.id, &a.id, &Link { weight: 3 })?;
            graph::spawn(&here.id, &B { val: json!("b") })?;
            let edges = graph::edges(&here.id, &Query::out())?;
            let described: Vec<Value> = edges
                .iter()
                .map(|edge| {
                    let far = graph::get(&edge.target).ok().flatten().map(|node| node.type_name().to_string());
                    json!({"type": edge.type_name(), "from_here": edge.source == here.id, "to": far, "context": edge.context})
                })
                .collect();
            cx.report(described);
            let mixed = graph::all_neighbours(&here.id, &Query::out())?;
            cx.report(mixed.iter().map(|node| node.type_name()).collect::<Vec<_>>());
            cx.report(mixed.iter().filter_map(|node| node.to::<A>()).map(|a| a.val).collect::<Vec<_>>());
            cx.report(link.context.weight);
            graph::delete(&link.id)?;
            let typed_only = graph::edges(&here.id, &Query::out().edge(Link::TYPE))?;
            let neighbours_left = graph::all_neighbours(&here.id, &Query::out())?.len();
            cx.report(json!({"links_left": typed_only.len(), "neighbours_left": neighbours_left}));
            Ok(())
        });
    }
}

// walker create_custom_object { `root entry { o = SavableObject(…); save(o); report o; } }
walker! { pub struct CreateCustomObject {} }

impl Walker for CreateCustomObject {
    const NAME: &'static str = "create_custom_object";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| {
            cx.report(graph::save_object(&SavableObject { fields: original_fields() })?);
            Ok(())
        });
    }
}

// walker get_custom_object { has object_id: str; `root entry { report &(self.object_id); } },
// reporting None for an id that names nothing.
walker! { pub struct GetCustomObject { object_id: String } }

impl Walker for GetCustomObject {
    const NAME: &'static str = "get_custom_object";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            cx.report(graph::get_as::<SavableObject>(&walker.object_id)?);
            Ok(())
        });
    }
}

// walker update_custom_object { has object_id: str;
//     `root entry { o = &(self.object_id); o.parent.child.data["c"] = 3; …; report o; } }
walker! { pub struct UpdateCustomObject { object_id: String } }

impl Walker for UpdateCustomObject {
    const NAME: &'static str = "update_custom_object";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            let Some(mut object) = graph::get_as::<SavableObject>(&walker.object_id)? else { return Ok(()) };
            update_nested(&mut object.fields);
            cx.report(graph::save(&object)?);
            Ok(())
        });
    }
}

// walker delete_custom_object { has object_id: str; `root entry { destroy(&(self.object_id)); } }
walker! { pub struct DeleteCustomObject { object_id: String } }

impl Walker for DeleteCustomObject {
    const NAME: &'static str = "delete_custom_object";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, _| graph::delete(&walker.object_id));
    }
}

// walker update_nested_node_trigger_save: `update_nested_node`'s changes at a Nested entry
// node, then `save(here)`.
walker! { pub struct UpdateNestedNodeTriggerSave {} }

impl Walker for UpdateNestedNodeTriggerSave {
    const NAME: &'static str = "update_nested_node_trigger_save";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.entry(|_, here: &mut Node<Nested>, _| {
            update_nested(&mut here.fields);
            graph::save(here).map(drop)
        });
    }
}

// walker update_nested_node_access { has access: str | None = None;
//     can enter_nested with Nested entry { here.access = self.access; report here; } }
walker! { pub struct UpdateNestedNodeAccess { access: Option<String> } }

impl Walker for UpdateNestedNodeAccess {
    const NAME: &'static str = "update_nested_node_access";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.entry(|walker, here: &mut Node<Nested>, cx| {
            here.access = walker.access.clone();
            cx.report(&here)
        });
    }
}

// walker allow_other_root_access { has root_id: str, level: int | str = 0, via_all: bool = False;
//     root and Nested entries: `perm_grant(here, self.level)` if via_all, else
//     `allow_root(here, NodeAnchor.ref(self.root_id), self.level)`; }
walker! { pub struct AllowOtherRootAccess { root_id: String, level: Value = json!(0), via_all: bool = false } }

impl Walker for AllowOtherRootAccess {
    const NAME: &'static str = "allow_other_root_access";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        fn grant_here(walker: &mut AllowOtherRootAccess, here: &str) -> Result {
            let level = Level::from_jac(&walker.level).ok_or_else(|| Error::msg("level is not an access level"))?;
            graph::grant(here, (!walker.via_all).then_some(&walker.root_id), level)
        }
        on.root(|walker, here, _| grant_here(walker, &here.id));
        on.entry(|walker, here: &mut Node<Nested>, _| grant_here(walker, &here.id));
    }
}

// walker disallow_other_root_access { has root_id: str, via_all: bool = False;
//     root and Nested entries: `perm_revoke(here)` if via_all, else
//     `disallow_root(here, NodeAnchor.ref(self.root_id))`; }
walker! { pub struct DisallowOtherRootAccess { root_id: String, via_all: bool = false } }

impl Walker for DisallowOtherRootAccess {
    const NAME: &'static str = "disallow_other_root_access";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        fn revoke_here(walker: &mut DisallowOtherRootAccess, here: &str) -> Result {
            graph::revoke(here, (!walker.via_all).then_some(&walker.root_id))
        }
        on.root(|walker, here, _| revoke_here(walker, &here.id));
        on.entry(|walker, here: &mut Node<Nested>, _| revoke_here(walker, &here.id));
    }
}

// walker check_memory_sync { has other_node_id: str;
//     can enter with `root entry { n = &(self.other_node_id); n.val = 4; report n; } }
walker! { pub struct CheckMemorySync { other_node_id: String } }

impl Walker for CheckMemorySync {
    const NAME: &'static str = "check_memory_sync";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            let Some(mut node) = graph::get(&walker.other_node_id)? else { return Ok(()) };
            node.context["val"] = json!(4);
            cx.report(graph::save(&node)?);
            Ok(())
        });
    }
}

// Not in the app: every other write on node `id` under jac-cloud's rules, each answer
// reported (a write the caller may not make is answered as if made, and dropped).
walker! { pub struct WritesOnNode { id: String } }

impl Walker for WritesOnNode {
    const NAME: &'static str = "writes_on_node";

    fn spec() -> Spec {
        Spec::new().jac_cloud_access()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, here, cx| {
            let edge = graph::connect(&here.id, &walker.id, "", &json!({}))?;
            cx.report(edge.id.starts_with("e::"));
            cx.report(graph::disconnect(&here.id, &walker.id, None)?);
            cx.report(graph::spawn(&walker.id, &A { val: 7 })?.val);
            graph::grant(&walker.id, Some(&here.id), Level::Write)?;
            graph::delete(&walker.id)?;
            cx.report(graph::get(&walker.id)?.is_some());
            Ok(())
        });
    }
}

// Not in the app: what connecting the root to `id` answers (an object is no edge's end).
walker! { pub struct ConnectTo { id: String } }

impl Walker for ConnectTo {
    const NAME: &'static str = "connect_to";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, here, cx| match graph::connect(&here.id, &walker.id, "", &json!({})) {
            Ok(edge) => cx.report(edge),
            Err(err) => cx.report(format!("{:?}", err.kind())),
        });
    }
}

// Not in the app: a profile kept by id, made on first use (`object_or_save`).
walker! { pub struct VisitCounter { counter_id: String = "" } }

#[derive(Serialize, Deserialize, Archetype)]
struct Counter {
    visits: i64,
}

impl Walker for VisitCounter {
    const NAME: &'static str = "visit_counter";

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            let id = Some(walker.counter_id.as_str()).filter(|id| !id.is_empty());
            let mut counter = graph::object_or_save(id, || Counter { visits: 0 })?;
            counter.visits += 1;
            cx.report(graph::save(&counter)?);
            Ok(())
        });
    }
}

// walker exclude_in_specs { class __specs__ { has include_in_schema: bool = False; } }
walker! { pub struct ExcludeInSpecs {} }

impl Walker for ExcludeInSpecs {
    const NAME: &'static str = "exclude_in_specs";

    fn spec() -> Spec {
        Spec::new().hidden()
    }

    fn abilities(_: &mut Abilities<Self>) {}
}

// walker html_response { (auth: False, methods: ["get"], entry_type: "ROOT")
//     can enter with `root entry { log_report(HTMLResponse(html), custom=True); } }
walker! { pub struct HtmlResponse {} }

impl Walker for HtmlResponse {
    const NAME: &'static str = "html_response";

    fn spec() -> Spec {
        Spec::new().methods([Method::Get, Method::Websocket]).public().entry(EntryType::Root)
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| {
            cx.respond("text/html", r#"<!DOCTYPE html><html lang="en"><body>HELLO WORLD</body></html>"#)
        });
    }
}

// walker stream_response { (auth: False, methods: ["get"], entry_type: "ROOT")
//     can enter with `root entry { log_report(StreamingResponse(generator(),
//         media_type="text/event-stream"), custom=True); } }, the generator yielding 0 to 99
walker! { pub struct StreamResponse {} }

impl Walker for StreamResponse {
    const NAME: &'static str = "stream_response";

    fn spec() -> Spec {
        Spec::new().methods([Method::Get, Method::Websocket]).public().entry(EntryType::Root)
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|_, _, cx| (0..100).try_for_each(|i| cx.stream("text/event-stream", &i.to_string())));
    }
}

// Not in the app: the walker's own error page (`status`, `size` bytes of HTML), which
// jac-cloud sends as it is.
walker! { pub struct HtmlError { status: u16 = 404, size: u32 = 0 } }

impl Walker for HtmlError {
    const NAME: &'static str = "html_error";

    fn spec() -> Spec {
        Spec::new().methods([Method::Get]).query(["status", "size"]).public().entry(EntryType::Root)
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            cx.set_status(walker.status);
            let padding = "x".repeat(walker.size as usize);
            cx.respond("text/html", &format!("<html><body>Not here{padding}</body></html>"));
            Ok(())
        });
    }
}

// Not in the app: `count` chunks of `size` bytes, then, if `fail`, an error.
walker! { pub struct StreamBulk { count: u32, size: u32, fail: bool = false } }

impl Walker for StreamBulk {
    const NAME: &'static str = "stream_bulk";

    fn spec() -> Spec {
        Spec::new().methods([Method::Post, Method::Websocket]).public()
    }

    fn abilities(on: &mut Abilities<Self>) {
        on.root(|walker, _, cx| {
            let chunk = "x".repeat(walker.size as usize);
            (0..walker.count).try_for_each(|_| cx.stream("application/octet-stream", &chunk))?;
            if walker.fail { Err(Error::msg("failed after streaming")) } else { Ok(()) }
        });
    }
}

export_walkers!(nodes: Step);
