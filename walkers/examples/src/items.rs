//! Walkers on the persistent graph: `make_item` and `ws_item` of `chat.jac`, and a small
//! item list (`list_items`, `rename_item`, `delete_item`), a per-user `counter`, and
//! `fail_after_write`, which shows that a failed run writes nothing.

use serde::{Deserialize, Serialize};
use walker_sdk::graph::{self, Archetype, Node, Query};
use walker_sdk::{Context, EntryType, Error, Method, Result, Spec, Walker, walker};

/// `node Item { has name: str; }`
#[derive(Serialize, Deserialize, Archetype)]
pub struct Item {
    pub name: String,
}

/// `node Counter { has value: int = 0; }`
#[derive(Serialize, Deserialize, Archetype)]
struct Counter {
    value: i64,
}

/// `here ++> Item(name=…)`, reported as jac-cloud reports a node.
fn make(cx: &mut Context, name: String) -> Result {
    let item = graph::spawn(&graph::here().id, &Item { name })?;
    cx.report(&item);
    Ok(())
}

walker! {
    /// `chat.jac`'s `make_item`: POST, signed-in callers.
    pub struct MakeItem { name: String = "a" }
}
impl Walker for MakeItem {
    const NAME: &'static str = "make_item";
    fn run(self, cx: &mut Context) -> Result {
        make(cx, self.name)
    }
}

walker! {
    /// `chat.jac`'s `ws_item`: a walker event or POST, signed-in callers.
    pub struct WsItem { name: String = "w" }
}
impl Walker for WsItem {
    const NAME: &'static str = "ws_item";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post])
    }
    fn run(self, cx: &mut Context) -> Result {
        make(cx, self.name)
    }
}

/// The caller's items: `[root -->](`?Item)`, in creation order.
fn items() -> Result<Vec<Node<Item>>> {
    graph::neighbours::<Item>(&graph::root(), Query::out())
}

walker! {
    /// Reports one list of the caller's items.
    pub struct ListItems {}
}
impl Walker for ListItems {
    const NAME: &'static str = "list_items";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post, Method::Get]).entry(EntryType::Root)
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(items()?);
        Ok(())
    }
}

/// The entry node, which must be an item.
fn entry_item() -> Result<Node<Item>> {
    let here = graph::here();
    match here.type_name() {
        "Item" => here.typed(),
        _ => Err(Error::msg("call it on an item: /walker/<name>/<item id>")),
    }
}

walker! {
    /// On an item: sets its name and reports it.
    pub struct RenameItem { name: String }
}
impl Walker for RenameItem {
    const NAME: &'static str = "rename_item";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post]).entry(EntryType::Node)
    }
    fn run(self, cx: &mut Context) -> Result {
        let item = entry_item()?;
        cx.report(graph::update(&item.id, &Item { name: self.name })?);
        Ok(())
    }
}

walker! {
    /// On an item: deletes it.
    pub struct DeleteItem {}
}
impl Walker for DeleteItem {
    const NAME: &'static str = "delete_item";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post, Method::Delete]).entry(EntryType::Node)
    }
    fn run(self, _cx: &mut Context) -> Result {
        graph::delete(&entry_item()?.id)
    }
}

walker! {
    /// Increments the `value` of the caller's `Counter` (made on first use) and reports it.
    pub struct CounterWalker {}
}
impl Walker for CounterWalker {
    const NAME: &'static str = "counter";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post]).entry(EntryType::Root)
    }
    fn run(self, cx: &mut Context) -> Result {
        let root = graph::root();
        let value = match graph::neighbours::<Counter>(&root, Query::out().page(1))?.into_iter().next() {
            Some(counter) => {
                let value = counter.context.value + 1;
                graph::update(&counter.id, &Counter { value })?;
                value
            }
            None => graph::spawn(&root, &Counter { value: 1 })?.context.value,
        };
        cx.report(value);
        Ok(())
    }
}

walker! {
    /// Makes an item, then fails: nothing is written.
    pub struct FailAfterWrite { name: String }
}
impl Walker for FailAfterWrite {
    const NAME: &'static str = "fail_after_write";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post])
    }
    fn run(self, _cx: &mut Context) -> Result {
        graph::spawn(&graph::root(), &Item { name: self.name })?;
        Err(Error::msg("failed after writing"))
    }
}

/// `node Note { has text: str; }`: the polyglot examples' shared node type.
#[derive(Serialize, Deserialize, Archetype)]
struct Note {
    text: String,
}

walker! {
    /// `root ++> Note(text=…)`; the same walker exists in every example language.
    pub struct MakeNote { text: String }
}
impl Walker for MakeNote {
    const NAME: &'static str = "make_note";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post])
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::spawn(&graph::root(), &Note { text: self.text })?);
        Ok(())
    }
}

walker! {
    /// The caller's notes, made in any language, in creation order.
    pub struct ListNotes {}
}
impl Walker for ListNotes {
    const NAME: &'static str = "list_notes";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket, Method::Post])
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::neighbours::<Note>(&graph::root(), Query::out())?);
        Ok(())
    }
}
