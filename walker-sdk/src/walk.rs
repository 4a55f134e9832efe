//! jac's walker model: a walker walks from node to node, and at each runs the abilities
//! it declares for that node's type (`can … with A entry`), then the node type's own, in
//! jac's order. `visit` queues nodes, breadth-first; `skip` leaves the current node;
//! `disengage` ends the walk. Fields of the node an ability runs on that it changed are
//! saved when the ability returns, as jac saves `here.val = 1`.
//!
//! ```no_run
//! use walker_sdk::graph::{Archetype, Node, Query};
//! use walker_sdk::{Abilities, Context, Result, Walker, walker};
//! # use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize, Archetype)]
//! struct A { val: i64 }
//!
//! walker! { pub struct Bump {} }
//!
//! impl Walker for Bump {
//!     const NAME: &'static str = "bump";
//!
//!     fn abilities(on: &mut Abilities<Self>) {
//!         on.root(|_, _, cx| cx.visit(Query::out()));          // can enter with `root entry { visit [-->]; }
//!         on.entry(|_, here: &mut Node<A>, cx| {                // can enter_a with A entry {
//!             here.val += 1;                                    //     here.val += 1;
//!             cx.report(&here);                                 //     report here;
//!             cx.visit(Query::out())                            //     visit [-->];
//!         });                                                   // }
//!     }
//! }
//! ```
//!
//! Order at each node, as jac-cloud's `visit_sequence` test records it: the walker's
//! `Type entry`, the node's `with entry`, then its exits, then the walker's `Type exit`.
//! The walker's `with entry` runs once before the first node, its `with exit` once after
//! the last (not after a `disengage`). Unlike jac, a node is visited at most once per
//! walk, so a cycle in the graph cannot loop a walker until its time runs out.

use std::collections::{HashSet, VecDeque};

use serde_json::{Map, Value};

use crate::graph::{self, Archetype, Node, Query};
use crate::{Context, Error, Result, Walker};

/// How an ability left its node: on to the next ability, `skip`, or `disengage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Skip,
    Disengage,
}

type Plain<W> = Box<dyn Fn(&mut W, &mut Context) -> Result>;
type AtNode<W> = Box<dyn Fn(&mut W, &mut Node, &mut Context) -> Result>;

/// Which nodes an ability is for: roots, or nodes of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum For {
    Root,
    Type(&'static str),
}

impl For {
    /// Whether an ability for `self` runs on a node of type `type_name` (a root if `root`).
    fn matches(self, root: bool, type_name: &str) -> bool {
        match self {
            For::Root => root,
            For::Type(wanted) => !root && wanted == type_name,
        }
    }
}

/// A walker's abilities, declared in [`Walker::abilities`].
pub struct Abilities<W> {
    start: Vec<Plain<W>>,
    end: Vec<Plain<W>>,
    entries: Vec<(For, AtNode<W>)>,
    exits: Vec<(For, AtNode<W>)>,
}

impl<W> Default for Abilities<W> {
    fn default() -> Self {
        Abilities { start: Vec::new(), end: Vec::new(), entries: Vec::new(), exits: Vec::new() }
    }
}

/// What an ability returns: nothing, or a [`Result`] (`?` on graph calls, `cx.skip()`).
pub trait Outcome: 'static {
    fn into_result(self) -> Result;
}

impl Outcome for () {
    fn into_result(self) -> Result {
        Ok(())
    }
}

impl Outcome for Result {
    fn into_result(self) -> Result {
        self
    }
}

impl<W: 'static> Abilities<W> {
    /// `can … with entry`: once, before the first node.
    pub fn start<R: Outcome>(&mut self, ability: fn(&mut W, &mut Context) -> R) -> &mut Self {
        self.start.push(Box::new(move |walker, cx| ability(walker, cx).into_result()));
        self
    }

    /// `can … with exit`: once, after the last node.
    pub fn end<R: Outcome>(&mut self, ability: fn(&mut W, &mut Context) -> R) -> &mut Self {
        self.end.push(Box::new(move |walker, cx| ability(walker, cx).into_result()));
        self
    }

    /// `can … with `root entry`.
    pub fn root<R: Outcome>(&mut self, ability: fn(&mut W, &mut Node, &mut Context) -> R) -> &mut Self {
        self.entries.push((For::Root, Box::new(move |walker, node, cx| ability(walker, node, cx).into_result())));
        self
    }

    /// `can … with `root exit`.
    pub fn root_exit<R: Outcome>(&mut self, ability: fn(&mut W, &mut Node, &mut Context) -> R) -> &mut Self {
        self.exits.push((For::Root, Box::new(move |walker, node, cx| ability(walker, node, cx).into_result())));
        self
    }

    /// `can … with T entry`: `here` is the node, typed; fields it changes are saved.
    pub fn entry<T: Archetype + 'static, R: Outcome>(
        &mut self,
        ability: fn(&mut W, &mut Node<T>, &mut Context) -> R,
    ) -> &mut Self {
        self.entries.push((For::Type(T::TYPE), typed(ability)));
        self
    }

    /// `can … with T exit`.
    pub fn exit<T: Archetype + 'static, R: Outcome>(
        &mut self,
        ability: fn(&mut W, &mut Node<T>, &mut Context) -> R,
    ) -> &mut Self {
        self.exits.push((For::Type(T::TYPE), typed(ability)));
        self
    }
}

fn typed<W: 'static, T: Archetype + 'static, R: Outcome>(
    ability: fn(&mut W, &mut Node<T>, &mut Context) -> R,
) -> AtNode<W> {
    Box::new(move |walker, node, cx| on_typed(node, |here| ability(walker, here, cx).into_result()))
}

/// A node type's own abilities (`can … with entry` in a `node`), run whenever a walker
/// arrives; `walker` is its name, for `can … with <walker> entry`. Listed after `nodes:`
/// in [`export_walkers!`](crate::export_walkers).
pub trait NodeAbilities: Archetype {
    fn entry(_here: &mut Node<Self>, _walker: &str, _cx: &mut Context) -> Result {
        Ok(())
    }

    fn exit(_here: &mut Node<Self>, _walker: &str, _cx: &mut Context) -> Result {
        Ok(())
    }
}

/// A node type's abilities, untyped, as the walk dispatches them.
#[doc(hidden)]
pub struct Reactions {
    type_name: &'static str,
    entry: fn(&mut Node, &str, &mut Context) -> Result,
    exit: fn(&mut Node, &str, &mut Context) -> Result,
}

impl Reactions {
    pub fn of<T: NodeAbilities>() -> Self {
        Reactions {
            type_name: T::TYPE,
            entry: |node, walker, cx| on_typed(node, |here: &mut Node<T>| T::entry(here, walker, cx)),
            exit: |node, walker, cx| on_typed(node, |here: &mut Node<T>| T::exit(here, walker, cx)),
        }
    }
}

/// Runs `ability` on `node`'s typed copy, then saves the top-level fields it changed
/// and brings `node` up to date, so the next ability sees them.
fn on_typed<T: Archetype>(node: &mut Node, ability: impl FnOnce(&mut Node<T>) -> Result) -> Result {
    let mut here: Node<T> = node.clone().typed()?;
    let outcome = ability(&mut here);
    if outcome.as_ref().is_err_and(|err| err.as_flow().is_none()) {
        return outcome; // the run fails: nothing it wrote survives
    }
    let after = serde_json::to_value(&here.context)?;
    save_changes(node, after)?;
    outcome
}

fn save_changes(node: &mut Node, after: Value) -> Result {
    let (Value::Object(before), Value::Object(after)) = (&node.context, after) else {
        return Err(Error::msg(format!("{} must serialize as an object", node.id)));
    };
    let changed: Map<String, Value> =
        after.into_iter().filter(|(key, value)| before.get(key).unwrap_or(&Value::Null) != value).collect();
    if !changed.is_empty() {
        *node = graph::update(&node.id, &changed)?;
    }
    Ok(())
}

/// Where a walk is: the nodes queued, those already queued once, the current node.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    queue: VecDeque<Queued>,
    queued: HashSet<String>,
    here: Option<String>,
}

/// A queued node, as it was when queued (`writes`: the run's write count then).
#[derive(Debug)]
struct Queued {
    node: Node,
    writes: u64,
}

impl Context {
    /// `visit [-->]` (with `Query::out()`), filtered as the query says: queues the
    /// current node's neighbours.
    pub fn visit(&mut self, query: Query) -> Result {
        let here = self.walk.here.clone().unwrap_or_else(|| graph::here().id); // outside a walk: the entry node
        let neighbours = graph::all_neighbours(&here, &query)?;
        self.visit_nodes(neighbours);
        Ok(())
    }

    /// `visit node` (or a list): queues nodes not queued before in this walk.
    pub fn visit_nodes<C: serde::Serialize>(&mut self, nodes: impl IntoIterator<Item = Node<C>>) {
        let writes = graph::writes_made();
        for node in nodes {
            if self.walk.queued.insert(node.id.clone()) {
                let context = serde_json::to_value(&node.context).expect("graph contexts serialize to JSON");
                self.walk.queue.push_back(Queued { node: Node { id: node.id, context }, writes });
            }
        }
    }

    /// `skip`: `return cx.skip();` leaves the current node, running none of its
    /// remaining abilities.
    pub fn skip(&self) -> Result {
        Err(Error::flow(Flow::Skip))
    }

    /// `disengage`: `return cx.disengage();` ends the walk.
    pub fn disengage(&self) -> Result {
        Err(Error::flow(Flow::Disengage))
    }

    /// The next queued node, as it is now if the run wrote since it was queued
    /// (skipped if it is gone).
    fn next_node(&mut self) -> Result<Option<Node>> {
        while let Some(queued) = self.walk.queue.pop_front() {
            let node = match queued.writes == graph::writes_made() {
                true => Some(queued.node),
                false => graph::get(&queued.node.id)?,
            };
            if let Some(node) = node {
                self.walk.here = Some(node.id.clone());
                return Ok(Some(node));
            }
        }
        Ok(None)
    }
}

/// An ability's result as a flow: `Ok(None)` to go on.
fn flow(result: Result) -> Result<Option<Flow>> {
    match result {
        Ok(()) => Ok(None),
        Err(err) => err.as_flow().map(Some).ok_or(err),
    }
}

/// Runs `walker` from the entry node with its abilities and the node types' own.
pub(crate) fn walk<W: Walker>(mut walker: W, cx: &mut Context) -> Result {
    let reactions = std::mem::take(&mut cx.reactions);
    let reactions = reactions.as_slice();
    let mut on = Abilities::default();
    W::abilities(&mut on);
    // The entry node first; a `visit` in a start ability queues its neighbours after it.
    let entry = graph::here();
    cx.walk.here = Some(entry.id.clone());
    cx.visit_nodes([entry]);
    for ability in &on.start {
        if flow(ability(&mut walker, cx))? == Some(Flow::Disengage) {
            return Ok(());
        }
    }
    while let Some(mut node) = cx.next_node()? {
        if at_node(&mut walker, &on, reactions, &mut node, cx)? == Some(Flow::Disengage) {
            return Ok(());
        }
    }
    for ability in &on.end {
        if flow(ability(&mut walker, cx))? == Some(Flow::Disengage) {
            break;
        }
    }
    Ok(())
}

/// The abilities for one node, in jac's order, until one skips or disengages.
fn at_node<W: Walker>(
    walker: &mut W,
    on: &Abilities<W>,
    reactions: &[Reactions],
    node: &mut Node,
    cx: &mut Context,
) -> Result<Option<Flow>> {
    let (root, type_name) = (node.is_root(), node.type_name().to_string());
    let own = reactions.iter().find(|own| For::Type(own.type_name).matches(root, &type_name));
    for (_, ability) in on.entries.iter().filter(|(ability_for, _)| ability_for.matches(root, &type_name)) {
        if let Some(stop) = flow(ability(walker, node, cx))? {
            return Ok(Some(stop));
        }
    }
    for reaction in own.iter().flat_map(|own| [own.entry, own.exit]) {
        if let Some(stop) = flow(reaction(node, W::NAME, cx))? {
            return Ok(Some(stop));
        }
    }
    for (_, ability) in on.exits.iter().filter(|(ability_for, _)| ability_for.matches(root, &type_name)) {
        if let Some(stop) = flow(ability(walker, node, cx))? {
            return Ok(Some(stop));
        }
    }
    Ok(None)
}
