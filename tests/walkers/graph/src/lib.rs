//! Walkers that expose each graph call to tests: access checks, grants, failures after
//! writes, and the per-run limits. Public, over WebSocket and POST; ids are arguments.

use serde::{Deserialize, Serialize};
use walker_sdk::graph::{self, Archetype, Level, Query};
use walker_sdk::{Context, Error, ErrorKind, Method, Result, Spec, Walker, export_walkers, json, walker};

fn spec() -> Spec {
    Spec::new().methods([Method::Websocket, Method::Post]).public()
}

#[derive(Serialize, Deserialize, Archetype)]
struct Item {
    name: String,
}

macro_rules! graph_walker {
    ($name:literal, $ty:ident { $($field:ident : $fty:ty $(= $default:expr)?),* }, |$this:ident, $cx:ident| $body:block) => {
        walker! { pub struct $ty { $($field: $fty $(= $default)?),* } }
        impl Walker for $ty {
            const NAME: &'static str = $name;
            fn spec() -> Spec {
                spec()
            }
            fn run(self, $cx: &mut Context) -> Result {
                let $this = self;
                $body
            }
        }
    };
}

graph_walker!("g_make", Make { name: String }, |this, cx| {
    cx.report(graph::spawn(&graph::root(), &Item { name: this.name })?);
    Ok(())
});

graph_walker!("g_get", Get { id: String }, |this, cx| {
    cx.report(graph::get(&this.id)?);
    Ok(())
});

graph_walker!("g_update", Update { id: String, name: String }, |this, cx| {
    cx.report(graph::update(&this.id, &json!({"name": this.name}))?);
    Ok(())
});

graph_walker!("g_here_type", HereType {}, |_this, cx| {
    let here = graph::here();
    cx.report(json!({"type": here.type_name(), "root": here.is_root()}));
    Ok(())
});

// Each graph refusal by its kind, as a walker handles it: updating node `id`, and a
// neighbours filter that is not an object.
graph_walker!("g_refusal_kinds", RefusalKinds { id: String }, |this, cx| {
    let kind = |result: Result<()>| match result.map_err(|err| err.kind()) {
        Ok(()) => "ok",
        Err(ErrorKind::NotFound) => "not_found",
        Err(ErrorKind::Denied) => "denied",
        Err(ErrorKind::Invalid) => "invalid",
        Err(ErrorKind::Other) => "other",
    };
    let updated = graph::update(&this.id, &json!({"name": "changed"})).map(drop);
    let filtered = graph::neighbours_page(&graph::root(), &Query::out().equals(json!("a")), None).map(drop);
    cx.report(json!({"update": kind(updated), "filter": kind(filtered)}));
    Ok(())
});

graph_walker!("g_notify_then_update", NotifyThenUpdate { id: String, name: String }, |this, cx| {
    let me = cx.caller().root_id.clone();
    cx.notify_users([me], json!({"updating": this.id}));
    cx.report(graph::update(&this.id, &json!({"name": this.name}))?);
    Ok(())
});

graph_walker!("g_read_then_nap", ReadThenNap { ms: u64 }, |this, cx| {
    // The first graph call takes the caller's root lock, held until the run ends.
    cx.report(graph::get(&graph::root())?);
    std::thread::sleep(std::time::Duration::from_millis(this.ms));
    Ok(())
});

graph_walker!("g_delete", Delete { id: String }, |this, _cx| { graph::delete(&this.id) });

graph_walker!("g_connect", Connect { from: String, to: String }, |this, cx| {
    cx.report(graph::connect(&this.from, &this.to, "Link", &json!({"at": 1}))?);
    Ok(())
});

// `keep`: spares the ends from the orphan rule, for tests of what stays after it.
graph_walker!("g_disconnect", Disconnect { from: String, to: String, keep: bool = false }, |this, cx| {
    cx.report(graph::disconnect(&this.from, &this.to, None)?);
    if this.keep {
        graph::keep_orphans();
    }
    Ok(())
});

fn level(name: &str) -> Result<Level> {
    Ok(match name {
        "no_access" => Level::NoAccess,
        "read" => Level::Read,
        "connect" => Level::Connect,
        "write" => Level::Write,
        other => return Err(Error::msg(format!("unknown level {other}"))),
    })
}

graph_walker!("g_unlink_and_delete", UnlinkAndDelete { from: String, to: String }, |this, cx| {
    // In one run: remove an edge, then delete the node it led to.
    cx.report(graph::disconnect(&this.from, &this.to, None)?);
    graph::delete(&this.to)
});

graph_walker!("g_grant", Grant { id: String, grantee: Option<String>, level: String }, |this, _cx| {
    graph::grant(&this.id, this.grantee.as_deref(), level(&this.level)?)
});

graph_walker!("g_revoke", Revoke { id: String, grantee: Option<String> }, |this, _cx| {
    graph::revoke(&this.id, this.grantee.as_deref())
});

graph_walker!("g_access", Access { id: String }, |this, cx| {
    cx.report(match graph::access(&this.id)? {
        Level::NoAccess => "no_access",
        Level::Read => "read",
        Level::Connect => "connect",
        Level::Write => "write",
    });
    Ok(())
});

graph_walker!("g_list", List { id: String }, |this, cx| {
    cx.report(graph::all_neighbours(&this.id, &Query::out())?);
    Ok(())
});

graph_walker!("g_page", Page { id: String, limit: u32, cursor: Option<String> }, |this, cx| {
    let page = graph::neighbours_page(&this.id, &Query::out().page(this.limit), this.cursor)?;
    cx.report(json!({"items": page.items, "cursor": page.cursor}));
    Ok(())
});

graph_walker!("g_connect_typed", ConnectTyped { from: String, to: String, edge: String }, |this, cx| {
    cx.report(graph::connect(&this.from, &this.to, &this.edge, &json!({}))?);
    Ok(())
});

graph_walker!(
    "g_query",
    QueryNeighbours { id: String, direction: String, edge: Option<String>, limit: u32 = 0, cursor: Option<String> },
    |this, cx| {
        let mut query = match this.direction.as_str() {
            "in" => Query::incoming(),
            "both" => Query::both(),
            _ => Query::out(),
        };
        if let Some(edge) = &this.edge {
            query = query.edge(edge);
        }
        let page = graph::neighbours_page(&this.id, &query.page(this.limit), this.cursor)?;
        let ids: Vec<&str> = page.items.iter().map(|node| node.id.as_str()).collect();
        cx.report(json!({"ids": ids, "cursor": page.cursor}));
        Ok(())
    }
);

graph_walker!("g_find", Find { id: String, name: String }, |this, cx| {
    cx.report(graph::all_neighbours(&this.id, &Query::out().node("Item").equals(json!({"name": this.name})))?);
    Ok(())
});

graph_walker!("g_fail", Fail { name: String, how: String }, |this, cx| {
    graph::spawn(&graph::root(), &Item { name: this.name })?;
    match this.how.as_str() {
        "error" => Err(Error::msg("failed after writing")),
        "trap" => panic!("trapped after writing"),
        "spin" => loop {
            std::hint::black_box(());
        },
        "memory" => {
            let block = vec![1u8; 1 << 30];
            cx.report(std::hint::black_box(&block).len());
            Ok(())
        }
        "report" => {
            cx.report("x".repeat(8 << 20));
            Ok(())
        }
        "notify" => {
            cx.notify_self(json!({"before": "failing"}));
            Err(Error::msg("failed after notifying"))
        }
        other => Err(Error::msg(format!("unknown failure {other}"))),
    }
});

graph_walker!("g_find_page", FindPage { id: String, name: String }, |this, cx| {
    let query = Query::out().node("Item").equals(json!({"name": this.name}));
    let page = graph::neighbours_page(&this.id, &query, None)?;
    cx.report(json!({"items": page.items, "cursor": page.cursor}));
    Ok(())
});

graph_walker!("g_increment", Increment { id: String }, |this, cx| {
    // Read, modify, write: concurrent runs must not lose an increment.
    let node = graph::get(&this.id)?.ok_or_else(|| Error::msg("no such node"))?;
    let value = node.context["value"].as_i64().unwrap_or(0) + 1;
    graph::update(&this.id, &json!({"value": value}))?;
    cx.report(value);
    Ok(())
});

graph_walker!("g_writes", Writes { count: u32 }, |this, cx| {
    for n in 0..this.count {
        graph::spawn(&graph::root(), &Item { name: n.to_string() })?;
    }
    cx.report(this.count);
    Ok(())
});

graph_walker!("g_big", Big { bytes: usize }, |this, cx| {
    cx.report(graph::create(&Item { name: "x".repeat(this.bytes) })?.id);
    Ok(())
});

graph_walker!("g_make_and_change", MakeAndChange { name: String }, |this, cx| {
    // Reads see the run's own writes: create, rename, list, delete, list.
    let root = graph::root();
    let item = graph::spawn(&root, &Item { name: this.name })?;
    graph::update(&item.id, &json!({"name": "renamed"}))?;
    let listed = graph::all_neighbours(&root, &Query::out().node("Item"))?;
    graph::delete(&item.id)?;
    let after = graph::all_neighbours(&root, &Query::out().node("Item"))?;
    cx.report(json!({"listed": listed, "after_delete": after}));
    Ok(())
});

walker! { pub struct DeleteHereThenSpawn {} }
impl Walker for DeleteHereThenSpawn {
    const NAME: &'static str = "g_delete_here_then_spawn";
    fn spec() -> Spec {
        spec().entry(walker_sdk::EntryType::Node)
    }
    fn run(self, cx: &mut Context) -> Result {
        // The entry node goes away mid-run; `here` must not become the caller's root.
        graph::delete(&graph::here().id)?;
        cx.report(graph::spawn(&graph::here().id, &Item { name: "orphan".into() })?);
        Ok(())
    }
}

export_walkers!();
