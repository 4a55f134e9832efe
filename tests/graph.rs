//! The persistent graph against a real server on loopback, real clients and real
//! compiled walkers: jac-cloud's reply shapes, entry nodes, the access matrix, one
//! transaction per run, concurrent updates, durability across restarts and `kill -9`,
//! quotas and per-run limits.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::server::{Backend, TestServer};
use walker_host::config::Config;

fn is_item_id(id: &Value) -> bool {
    id.as_str()
        .and_then(|id| id.strip_prefix("n:Item:"))
        .is_some_and(|hex| hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

/// A server with the example walkers and the graph test walkers, on `backend`.
async fn graph_server(backend: &Backend, configure: impl FnOnce(&mut Config)) -> TestServer {
    let server = TestServer::start_with(|config| {
        backend.configure(config);
        configure(config);
    })
    .await;
    support::deploy(&support::fixture("graph.wasm"), &server.walkers_dir().join("graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("g_make").is_some() }).await;
    server
}

/// Calls a walker over REST and returns its reports, asserting it succeeded.
async fn reports(server: &TestServer, path: &str, body: Value, token: Option<&str>) -> Value {
    let (status, reply) = server.post(path, body, token).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply["reports"].clone()
}

async fn walker_error(server: &TestServer, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    let (status, reply) = server.post(path, body, token).await;
    assert_ne!(status, 200, "{path} should fail: {reply}");
    (status, reply["errors"][0].clone())
}

async fn make_item_and_ws_item_reply_as_jac_cloud_and_items_can_be_listed_renamed_and_deleted(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (token, _) = server.user("items@example.com").await;

    let (status, reply) = server.post("/walker/make_item", json!({"name": "first"}), Some(&token)).await;
    assert_eq!(status, 200);
    let first = reply["reports"][0].clone();
    assert!(is_item_id(&first["id"]), "{reply}");
    assert_eq!(reply, json!({"status": 200, "reports": [{"id": first["id"], "context": {"name": "first"}}]}));
    let default = reports(&server, "/walker/make_item", json!({}), Some(&token)).await;
    assert_eq!(default[0]["context"], json!({"name": "a"}), "jac-cloud's default name");

    let (mut client, _) = server.connect(&format!("?auth={token}")).await;
    let reply = client
        .call(json!({"type": "walker", "walker": "ws_item", "context": {"name": "third"}, "response": true}))
        .await;
    let third = reply["reports"][0].clone();
    assert!(is_item_id(&third["id"]));
    assert_eq!(reply, json!({"status": 200, "reports": [{"id": third["id"], "context": {"name": "third"}}]}));
    assert_eq!(server.post("/walker/make_item", json!({}), None).await, (403, json!({"detail": "Not authenticated"})));

    let listed = reports(&server, "/walker/list_items", json!({}), Some(&token)).await;
    assert_eq!(listed, json!([[first, default[0], third]]), "one list, in creation order");

    // On a node entry: over REST and over the WebSocket.
    let renamed = reports(
        &server,
        &format!("/walker/rename_item/{}", first["id"].as_str().unwrap()),
        json!({"name": "renamed"}),
        Some(&token),
    )
    .await;
    assert_eq!(renamed, json!([{"id": first["id"], "context": {"name": "renamed"}}]));
    let reply =
        client.call(json!({"type": "walker", "walker": "delete_item", "node": third["id"], "response": true})).await;
    assert_eq!(reply, json!({"status": 200, "reports": []}));
    let whoami =
        client.call(json!({"type": "walker", "walker": "whoami", "node": first["id"], "response": true})).await;
    assert_eq!(
        whoami["reports"],
        json!([{"id": first["id"], "context": {"name": "renamed"}}]),
        "here is the entry node"
    );
    let listed = reports(&server, "/walker/list_items", json!({}), Some(&token)).await;
    assert_eq!(listed[0].as_array().unwrap().len(), 2);
    assert_eq!(listed[0][0]["context"]["name"], "renamed");

    // Routes follow `entry_type`.
    let item_path = |walker: &str| format!("/walker/{walker}/{}", first["id"].as_str().unwrap());
    assert_eq!(server.post(&item_path("list_items"), json!({}), Some(&token)).await.0, 404, "root only");
    assert_eq!(server.post("/walker/rename_item", json!({"name": "x"}), Some(&token)).await.0, 404, "node only");
}

async fn entry_nodes_must_exist_and_be_readable(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (alice, _) = server.user("alice@example.com").await;
    let (bob, _) = server.user("bob@example.com").await;
    let item =
        reports(&server, "/walker/make_item", json!({}), Some(&alice)).await[0]["id"].as_str().unwrap().to_string();
    let unknown = "n:Item:0123456789abcdef01234567";

    for node in [item.as_str(), unknown] {
        let denied = json!({"detail": {"error": format!("You don't have access on target entry {node}!")}});
        assert_eq!(
            server.post(&format!("/walker/rename_item/{node}"), json!({"name": "x"}), Some(&bob)).await,
            (403, denied)
        );
        let (mut client, _) = server.connect(&format!("?auth={bob}")).await;
        let refused = client
            .call(json!({"type": "walker", "walker": "rename_item", "node": node, "context": {"name": "x"}}))
            .await;
        assert_eq!(
            refused,
            json!({"type": "walker", "error": format!("You don't have access on target entry {node}!")})
        );
    }
    // Its id with another type part names no node, for its owner too.
    let retyped = item.replacen("n:Item:", "n:Note:", 1);
    let denied = json!({"detail": {"error": format!("You don't have access on target entry {retyped}!")}});
    let path = format!("/walker/rename_item/{retyped}");
    assert_eq!(server.post(&path, json!({"name": "x"}), Some(&alice)).await, (403, denied));
    let (status, body) = server.post("/walker/rename_item/n:Item:nothex", json!({"name": "x"}), Some(&bob)).await;
    assert_eq!((status, body["detail"][0]["loc"].clone()), (422, json!(["path", "node"])));
    // The owner still may, and nothing changed.
    let renamed = reports(&server, &format!("/walker/rename_item/{item}"), json!({"name": "mine"}), Some(&alice)).await;
    assert_eq!(renamed[0]["context"], json!({"name": "mine"}));
}

async fn access_follows_jac_clouds_rules_and_grants(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (alice, alice_root) = server.user("alice@example.com").await;
    let (bob, bob_root) = server.user("bob@example.com").await;
    let (carol, _) = server.user("carol@example.com").await;
    let make = |name: &'static str| {
        let server = &server;
        let alice = alice.clone();
        async move { reports(server, "/walker/g_make", json!({"name": name}), Some(&alice)).await[0].clone() }
    };
    let x = make("x").await;
    let y = make("y").await;
    let x_id = x["id"].as_str().unwrap();
    let alice_root_id = format!("n::{alice_root}");
    let get = |token: &str, id: &str| {
        let (server, token, id) = (&server, token.to_string(), id.to_string());
        async move { reports(server, "/walker/g_get", json!({"id": id}), Some(&token)).await[0].clone() }
    };
    let access = |token: &str, id: &str| {
        let (server, token, id) = (&server, token.to_string(), id.to_string());
        async move { reports(server, "/walker/g_access", json!({"id": id}), Some(&token)).await[0].clone() }
    };
    let grant = |id: &str, grantee: Option<&str>, level: &str| {
        let body = json!({"id": id, "grantee": grantee, "level": level});
        let (server, alice) = (&server, alice.clone());
        async move { reports(server, "/walker/g_grant", body, Some(&alice)).await }
    };
    let update = |token: &str, id: &str| {
        let (server, token, id) = (&server, token.to_string(), id.to_string());
        async move { server.post("/walker/g_update", json!({"id": id, "name": "changed"}), Some(&token)).await }
    };
    let connect = |token: &str, from: &str, to: &str| {
        let (server, token, body) = (&server, token.to_string(), json!({"from": from, "to": to}));
        async move { server.post("/walker/g_connect", body, Some(&token)).await }
    };

    // The owner may do anything; others see nothing.
    assert_eq!(get(&alice, x_id).await, x);
    assert_eq!(access(&alice, x_id).await, "write");
    assert_eq!(get(&bob, x_id).await, Value::Null);
    assert_eq!(access(&bob, x_id).await, "no_access");
    let (status, error) = walker_error(&server, "/walker/g_update", json!({"id": x_id, "name": "b"}), Some(&bob)).await;
    assert_eq!((status, error["type"].clone()), (500, json!("walker_error")));
    assert_eq!(error["msg"], format!("walker g_update failed: not found: no node, edge or object {x_id}"));

    // Read: visible, not writable, not connectable.
    grant(x_id, Some(&bob_root), "read").await;
    assert_eq!(get(&bob, x_id).await, x);
    let (_, body) = update(&bob, x_id).await;
    assert_eq!(body["errors"][0]["msg"], format!("walker g_update failed: denied: no write access on {x_id}"));
    let (_, body) = connect(&bob, &format!("n::{bob_root}"), x_id).await;
    assert_eq!(body["errors"][0]["msg"], format!("walker g_connect failed: denied: no connect access on {x_id}"));

    // Connect needs it on both ends; the edge is the connector's.
    grant(x_id, Some(&bob_root), "connect").await;
    let (status, edge) = connect(&bob, &format!("n::{bob_root}"), x_id).await;
    assert_eq!(status, 200, "{edge}");
    let edge = &edge["reports"][0];
    assert_eq!((edge["source"].clone(), edge["target"].clone()), (json!(format!("n::{bob_root}")), x["id"].clone()));
    assert_eq!(edge["context"], json!({"at": 1}));
    let (_, body) = connect(&carol, x_id, y["id"].as_str().unwrap()).await;
    assert!(body["errors"][0]["msg"].as_str().unwrap().contains("not found"), "{body}");
    let denied = format!("walker g_update failed: denied: no write access on {x_id}");
    assert_eq!(update(&bob, x_id).await, (500, json!({"errors": [{"type": "walker_error", "msg": denied}]})));
    // Removing an edge is deleting it: connect access on both ends is not enough for
    // someone else's edge.
    let y_id = y["id"].as_str().unwrap();
    grant(y_id, Some(&bob_root), "connect").await;
    let (status, alices) = connect(&alice, x_id, y_id).await;
    assert_eq!(status, 200, "{alices}");
    let unlink = json!({"from": x_id, "to": y_id});
    let (_, body) = server.post("/walker/g_disconnect", unlink.clone(), Some(&bob)).await;
    let edge_id = alices["reports"][0]["id"].as_str().unwrap();
    let denied = format!("walker g_disconnect failed: denied: no write access on {edge_id}");
    assert_eq!(body["errors"][0]["msg"], denied, "{body}");
    assert_eq!(reports(&server, "/walker/g_disconnect", unlink, Some(&alice)).await, json!([1]), "still there");
    reports(&server, "/walker/g_revoke", json!({"id": y_id, "grantee": bob_root}), Some(&alice)).await;

    // Write.
    grant(x_id, Some(&bob_root), "write").await;
    let (status, body) = update(&bob, x_id).await;
    assert_eq!((status, body["reports"][0]["context"].clone()), (200, json!({"name": "changed"})));

    // Revoke: back to nothing.
    reports(&server, "/walker/g_revoke", json!({"id": x_id, "grantee": bob_root}), Some(&alice)).await;
    assert_eq!(get(&bob, x_id).await, Value::Null);

    // A grant on a root covers its graph; one on a node overrides it.
    grant(&alice_root_id, Some(&bob_root), "read").await;
    assert_eq!(get(&bob, y["id"].as_str().unwrap()).await, y);
    let listed = reports(&server, "/walker/g_list", json!({"id": alice_root_id}), Some(&bob)).await;
    assert_eq!(listed[0].as_array().unwrap().len(), 2, "bob traverses alice's graph: {listed}");
    grant(x_id, Some(&bob_root), "no_access").await;
    let listed = reports(&server, "/walker/g_list", json!({"id": alice_root_id}), Some(&bob)).await;
    assert_eq!(listed, json!([[y]]), "traversal skips what bob may not read");
    assert_eq!(get(&carol, y["id"].as_str().unwrap()).await, Value::Null, "the root grant was bob's only");

    // Everyone.
    grant(y["id"].as_str().unwrap(), None, "read").await;
    assert_eq!(get(&carol, y["id"].as_str().unwrap()).await, y);
    assert_eq!(access(&carol, y["id"].as_str().unwrap()).await, "read");
    reports(&server, "/walker/g_revoke", json!({"id": y["id"]}), Some(&alice)).await;
    assert_eq!(get(&carol, y["id"].as_str().unwrap()).await, Value::Null);

    // Only a writer may grant, and roots cannot be deleted.
    let (_, body) =
        server.post("/walker/g_grant", json!({"id": x_id, "grantee": bob_root, "level": "write"}), Some(&bob)).await;
    assert!(body["errors"][0]["msg"].as_str().unwrap().contains("not found"), "{body}");
    let (_, body) = server.post("/walker/g_delete", json!({"id": alice_root_id}), Some(&alice)).await;
    assert_eq!(body["errors"][0]["msg"], "walker g_delete failed: invalid: a root cannot be deleted");
}

async fn a_failed_run_writes_nothing_and_reads_see_their_own_writes(backend: Backend) {
    // A megabyte report takes a loaded machine more than the tests' usual 300 ms to build.
    let server = graph_server(&backend, |config| {
        config.walker_report_bytes = 1 << 20;
        config.walker_time_ms = 1_000;
    })
    .await;
    let (token, root) = server.user("fail@example.com").await;
    let root_id = format!("n::{root}");
    let items = || async { reports(&server, "/walker/g_list", json!({"id": root_id}), Some(&token)).await };

    for (how, kind) in [
        ("error", "walker_error"),
        ("trap", "walker_trap"),
        ("spin", "time_limit"),
        ("memory", "memory_limit"),
        ("report", "report_size_limit"),
    ] {
        let (_, error) = walker_error(&server, "/walker/g_fail", json!({"name": how, "how": how}), Some(&token)).await;
        assert_eq!(error["type"], kind, "{how}: {error}");
        assert_eq!(items().await, json!([[]]), "{how}: nothing was written");
    }
    let (_, error) = walker_error(&server, "/walker/fail_after_write", json!({"name": "n"}), Some(&token)).await;
    assert_eq!(error["msg"], "walker fail_after_write failed: failed after writing");
    assert_eq!(reports(&server, "/walker/list_items", json!({}), Some(&token)).await, json!([[]]));

    // Notifications are delivered as the walker runs, so a failed run's have been sent.
    let (mut client, _) = server.connect(&format!("?auth={token}")).await;
    client.send(json!({"type": "walker", "walker": "g_fail", "context": {"name": "n", "how": "notify"}})).await;
    assert_eq!(client.recv().await, json!({"before": "failing"}));
    assert_eq!(client.recv().await["error"][0]["msg"], "walker g_fail failed: failed after notifying");
    assert_eq!(items().await, json!([[]]));

    // Within a run: remove an edge, then delete the node it led to.
    let doomed = reports(&server, "/walker/g_make", json!({"name": "doomed"}), Some(&token)).await[0]["id"].clone();
    let unlinked =
        reports(&server, "/walker/g_unlink_and_delete", json!({"from": root_id, "to": doomed}), Some(&token)).await;
    assert_eq!(unlinked, json!([1]));
    assert_eq!(items().await, json!([[]]));
    assert_eq!(reports(&server, "/walker/g_get", json!({"id": doomed}), Some(&token)).await, json!([null]));

    // Within a run: create, update, list, delete, list.
    let seen = reports(&server, "/walker/g_make_and_change", json!({"name": "temp"}), Some(&token)).await;
    assert_eq!(seen[0]["listed"].as_array().unwrap().len(), 1);
    assert_eq!(seen[0]["listed"][0]["context"], json!({"name": "renamed"}));
    assert_eq!(seen[0]["after_delete"], json!([]));
    assert_eq!(items().await, json!([[]]));

    // The entry node deleted mid-run: `here` is an error, never the caller's root.
    let entry = reports(&server, "/walker/g_make", json!({"name": "entry"}), Some(&token)).await[0]["id"].clone();
    let path = format!("/walker/g_delete_here_then_spawn/{}", entry.as_str().unwrap());
    let (status, error) = walker_error(&server, &path, json!({}), Some(&token)).await;
    assert_eq!((status, error["type"].as_str()), (409, Some("conflict")), "{error}");
    let listed = items().await;
    assert_eq!(listed[0].as_array().map(|items| items.len()), Some(1), "nothing written: {listed}");
    assert_eq!(listed[0][0]["id"], entry);
}

async fn concurrent_increments_of_one_counter_lose_no_update(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (token, _) = server.user("count@example.com").await;
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(server.connect(&format!("?auth={token}")).await.0);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut values = Vec::new();
                for _ in 0..25 {
                    let reply = client.call(json!({"type": "walker", "walker": "counter", "response": true})).await;
                    values.push(reply["reports"][0].as_i64().unwrap_or_else(|| panic!("{reply}")));
                }
                values
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        for value in tokio::time::timeout(Duration::from_secs(60), task).await.unwrap().unwrap() {
            assert!(seen.insert(value), "{value} reported twice");
        }
    }
    assert_eq!(seen, (1..=400).collect(), "every increment counted once");
    assert_eq!(reports(&server, "/walker/counter", json!({}), Some(&token)).await, json!([401]));
}

async fn concurrent_writers_of_different_roots_lose_no_update(backend: Backend) {
    // One re-run is all a run may need: then it holds the owner's lock from its first
    // call, and no other writer can make it lose. A run's time limit counts its wait for
    // the owner's earlier runs: 16 in line on a loaded machine must not fail a call.
    let server = graph_server(&backend, |config| {
        config.walker_reruns = 1;
        config.walker_time_ms = 10_000;
    })
    .await;
    let (alice, _) = server.user("alice@example.com").await;
    let (bob, bob_root) = server.user("bob@example.com").await;
    let (carol, carol_root) = server.user("carol@example.com").await;
    let node = reports(&server, "/walker/g_make", json!({"name": "shared"}), Some(&alice)).await[0]["id"].clone();
    for grantee in [&bob_root, &carol_root] {
        let grant = json!({"id": node, "grantee": grantee, "level": "write"});
        reports(&server, "/walker/g_grant", grant, Some(&alice)).await;
    }

    // The owner and two grantees: every writer of the node takes its owner's lock, so
    // runs of all three are ordered, and none loses twice (each call answers 200).
    let mut tasks = Vec::new();
    for token in [&alice, &bob, &carol, &bob, &carol, &bob, &carol, &alice].repeat(2) {
        let (mut client, _) = server.connect(&format!("?auth={token}")).await;
        let event = json!({"type": "walker", "walker": "g_increment", "context": {"id": node}, "response": true});
        tasks.push(tokio::spawn(async move {
            let mut values = Vec::new();
            for _ in 0..25 {
                let reply = client.call(event.clone()).await;
                values.push(reply["reports"][0].as_i64().unwrap_or_else(|| panic!("{reply}")));
            }
            values
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for value in tokio::time::timeout(Duration::from_secs(60), task).await.unwrap().unwrap() {
            assert!(seen.insert(value), "{value} reported twice");
        }
    }
    assert_eq!(seen, (1..=400).collect());
}

/// Every anonymous caller has the public root: its runs take no lock, so one that made
/// a graph call and then computes holds up no other anonymous run.
async fn anonymous_graph_runs_never_wait_for_each_other(backend: Backend) {
    let server = graph_server(&backend, |config| config.walker_time_ms = 3_000).await;
    let spin = server.http.post(server.url("/walker/g_fail")).json(&json!({"name": "spinner", "how": "spin"}));
    let runtime = server.running.shared.catalog.runtime().clone();
    let spinner = tokio::spawn(async move { support::server::read(spin.send().await.unwrap()).await });
    // Long runs take a lane once past their first CPU slice: the spinner has spawned its
    // node by then and computes.
    assert!(support::eventually(Duration::from_secs(2), || runtime.cores_in_use() == 1).await);
    let public_root = json!({"id": "n::000000000000000000000001"});
    let listed = reports(&server, "/walker/g_list", public_root, None).await;
    assert!(!spinner.is_finished(), "the reader answered while the spinner still ran: {listed}");
    let (_, reply) = spinner.await.unwrap();
    assert_eq!(reply["errors"][0]["type"], "time_limit", "{reply}");
}

/// Grants count against their target owner's storage quota (96 bytes a row, plus the
/// target's and grantee's ids), go only to roots that exist, and go with their target.
async fn grants_are_charged_to_the_target_owner_and_go_with_their_edge(backend: Backend) {
    let server = graph_server(&backend, |config| config.quota_bytes = 400).await;
    let (alice, alice_root) = server.user("alice@example.com").await;
    let (_, bob_root) = server.user("bob@example.com").await;
    let (_, carol_root) = server.user("carol@example.com").await;
    let call = |walker: &str| format!("/walker/{walker}");
    // 112 bytes: "Item" and {"name":"x"}, with no edge.
    let node = reports(&server, &call("g_big"), json!({"bytes": 1}), Some(&alice)).await[0].clone();
    let root_id = format!("n::{alice_root}");
    // 108 more: "Link" and {"at":1}.
    let edge =
        reports(&server, &call("g_connect"), json!({"from": root_id, "to": node}), Some(&alice)).await[0]["id"].clone();
    let grant = |id: &Value, grantee: &str| json!({"id": id, "grantee": grantee, "level": "read"});
    // 151 more, 371 of 400: a grant on the edge.
    reports(&server, &call("g_grant"), grant(&edge, &bob_root), Some(&alice)).await;
    // Removing the edge takes its grant along: back to 112, then 263 with a grant (the
    // node kept, which the orphan rule would delete).
    let unlink = json!({"from": root_id, "to": node, "keep": true});
    let unlinked = reports(&server, &call("g_disconnect"), unlink, Some(&alice)).await;
    assert_eq!(unlinked, json!([1]));
    reports(&server, &call("g_grant"), grant(&node, &bob_root), Some(&alice)).await;
    // A second grant would take 414 bytes.
    let (status, error) = walker_error(&server, &call("g_grant"), grant(&node, &carol_root), Some(&alice)).await;
    assert_eq!((status, error["type"].as_str()), (507, Some("storage_quota")), "{error}");
    // Revoking repays it.
    let revoke = json!({"id": node, "grantee": bob_root});
    reports(&server, &call("g_revoke"), revoke, Some(&alice)).await;
    reports(&server, &call("g_grant"), grant(&node, &carol_root), Some(&alice)).await;

    // A grantee that is nobody's root is refused.
    let nobody = "0123456789abcdef01234567";
    let (_, error) = walker_error(&server, &call("g_grant"), grant(&node, nobody), Some(&alice)).await;
    assert!(error["msg"].as_str().unwrap().contains("no root"), "{error}");
}

/// One neighbours call reads at most `graph_scan` stored edges, whatever its filters
/// leave: past that it answers what it found and a cursor, and the walker goes on.
async fn a_filtered_neighbours_call_reads_a_bounded_number_of_edges(backend: Backend) {
    // 100 a call: more than SQLite reads inline (64), so a call reads on two threads.
    let server = graph_server(&backend, |config| config.graph_scan = 100).await;
    let (token, root) = server.user("scan@example.com").await;
    let root_id = format!("n::{root}");
    assert_eq!(reports(&server, "/walker/g_writes", json!({"count": 250}), Some(&token)).await, json!([250]));
    let listed = reports(&server, "/walker/g_list", json!({"id": root_id}), Some(&token)).await;
    let names: Vec<&str> =
        listed[0].as_array().unwrap().iter().map(|item| item["context"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, (0..250).map(|n| n.to_string()).collect::<Vec<_>>(), "every item once, in creation order");
    let page = reports(&server, "/walker/g_find_page", json!({"id": root_id, "name": "none"}), Some(&token)).await;
    assert_eq!(page[0]["items"], json!([]));
    assert!(page[0]["cursor"].is_string(), "the budget ran out before the edges: {page}");
    // Through the cursor, a walker still finds what lies past one budget.
    let found = reports(&server, "/walker/g_find", json!({"id": root_id, "name": "249"}), Some(&token)).await;
    assert_eq!(found[0].as_array().map(|items| items.len()), Some(1), "{found}");
}

async fn the_graph_survives_a_restart(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (token, _) = server.user("durable@example.com").await;
    for name in ["a", "b", "c"] {
        reports(&server, "/walker/make_item", json!({"name": name}), Some(&token)).await;
    }
    let before = reports(&server, "/walker/list_items", json!({}), Some(&token)).await;
    let (walkers, data) = server.stop().await;
    let server = TestServer::start_in(walkers, data, |config| backend.configure(config)).await;
    assert_eq!(reports(&server, "/walker/list_items", json!({}), Some(&token)).await, before);
}

async fn quotas_and_per_run_limits_are_structured_errors_and_write_nothing(backend: Backend) {
    let server = graph_server(&backend, |config| {
        config.quota_nodes = 3;
        config.public_quota_nodes = 1;
        config.graph_writes = 5;
        config.context_bytes = 1024;
    })
    .await;
    let (token, root) = server.user("quota@example.com").await;
    let root_id = format!("n::{root}");
    for name in ["1", "2", "3"] {
        reports(&server, "/walker/g_make", json!({"name": name}), Some(&token)).await;
    }
    let (status, error) = walker_error(&server, "/walker/g_make", json!({"name": "4"}), Some(&token)).await;
    assert_eq!(
        (status, error),
        (
            507,
            json!({"type": "storage_quota", "msg": "walker g_make exceeded the node quota of 3 per root; nothing was written"})
        )
    );
    let listed = reports(&server, "/walker/g_list", json!({"id": root_id}), Some(&token)).await;
    assert_eq!(listed[0].as_array().unwrap().len(), 3);
    // Deleting frees quota.
    reports(&server, "/walker/g_delete", json!({"id": listed[0][0]["id"]}), Some(&token)).await;
    reports(&server, "/walker/g_make", json!({"name": "4"}), Some(&token)).await;

    // The public root, shared by anonymous callers, has its own (tighter) quota.
    reports(&server, "/walker/g_make", json!({"name": "anon"}), None).await;
    let (status, error) = walker_error(&server, "/walker/g_make", json!({"name": "anon2"}), None).await;
    assert_eq!((status, error["type"].clone()), (507, json!("storage_quota")));

    // Per run: writes and context size.
    let (_, error) = walker_error(&server, "/walker/g_writes", json!({"count": 6}), Some(&token)).await;
    assert_eq!(
        error,
        json!({"type": "graph_write_limit", "msg": "walker g_writes exceeded its limit of 5 graph writes per run"})
    );
    let (_, error) = walker_error(&server, "/walker/g_big", json!({"bytes": 2000}), Some(&token)).await;
    assert_eq!(error["type"], "context_size_limit");
    let listed = reports(&server, "/walker/g_list", json!({"id": root_id}), Some(&token)).await;
    assert_eq!(listed[0].as_array().unwrap().len(), 3, "the failed runs wrote nothing");
}

async fn neighbours_page_in_creation_order_and_filter_by_field(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (token, root) = server.user("pages@example.com").await;
    let root_id = format!("n::{root}");
    let mut made = Vec::new();
    for name in ["a", "b", "c", "b", "e"] {
        made.push(reports(&server, "/walker/g_make", json!({"name": name}), Some(&token)).await[0].clone());
    }
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..3 {
        let page =
            reports(&server, "/walker/g_page", json!({"id": root_id, "limit": 2, "cursor": cursor}), Some(&token))
                .await;
        listed.extend(page[0]["items"].as_array().unwrap().clone());
        cursor = page[0]["cursor"].clone();
    }
    assert_eq!(listed, made);
    assert_eq!(cursor, Value::Null, "the last page says so");
    let found = reports(&server, "/walker/g_find", json!({"id": root_id, "name": "b"}), Some(&token)).await;
    assert_eq!(found, json!([[made[1], made[3]]]));
}

async fn neighbours_follow_direction_and_edge_type_and_page_in_both_directions(backend: Backend) {
    let server = graph_server(&backend, |_| {}).await;
    let (token, root) = server.user("directions@example.com").await;
    let root_id = format!("n::{root}");
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let made = reports(&server, "/walker/g_make", json!({"name": name}), Some(&token)).await;
        ids.push(made[0]["id"].as_str().unwrap().to_string());
    }
    let (a, b, c) = (ids[0].as_str(), ids[1].as_str(), ids[2].as_str());
    for (from, to, edge) in [(a, b, "Link"), (c, a, "Follows")] {
        let body = json!({"from": from, "to": to, "edge": edge});
        reports(&server, "/walker/g_connect_typed", body, Some(&token)).await;
    }
    let query = |direction: &'static str, edge: Option<&'static str>| {
        let body = json!({"id": a, "direction": direction, "edge": edge});
        let (server, token) = (&server, &token);
        async move {
            let page = reports(server, "/walker/g_query", body, Some(token)).await;
            let mut ids: Vec<String> = serde_json::from_value(page[0]["ids"].clone()).unwrap();
            ids.sort();
            ids
        }
    };
    let sorted = |ids: &[&str]| {
        let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(query("out", None).await, sorted(&[b]));
    assert_eq!(query("in", None).await, sorted(&[&root_id, c]), "spawned from the root, followed by c");
    assert_eq!(query("both", None).await, sorted(&[&root_id, b, c]));
    assert_eq!(query("in", Some("Follows")).await, sorted(&[c]));
    assert_eq!(query("both", Some("Link")).await, sorted(&[b]));
    assert_eq!(query("out", Some("Follows")).await, sorted(&[]));
    // One at a time in both directions: each neighbour once, then no cursor.
    let (mut paged, mut cursor, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let body = json!({"id": a, "direction": "both", "limit": 1, "cursor": cursor});
        let page = reports(&server, "/walker/g_query", body, Some(&token)).await;
        let ids: Vec<String> = serde_json::from_value(page[0]["ids"].clone()).unwrap();
        assert!(ids.len() <= 1, "{page}");
        paged.extend(ids);
        cursor = page[0]["cursor"].clone();
        pages += 1;
        if cursor.is_null() || pages > 4 {
            break;
        }
    }
    assert!(pages <= 4, "three neighbours, one a page, and the last page may be empty");
    paged.sort();
    assert_eq!(paged, sorted(&[&root_id, b, c]));
}

/// A run that lost its owner's lock to another run is run again, unless it has already
/// notified someone: a second run would notify twice, so it answers 409 instead.
async fn a_run_that_notified_then_lost_its_owners_lock_answers_409(backend: Backend) {
    let server = graph_server(&backend, |config| config.walker_time_ms = 5_000).await;
    let (alice, _) = server.user("alice@example.com").await;
    let (bob, bob_root) = server.user("bob@example.com").await;
    let node = reports(&server, "/walker/g_make", json!({"name": "shared"}), Some(&alice)).await[0]["id"].clone();
    let grant = json!({"id": node, "grantee": bob_root, "level": "write"});
    reports(&server, "/walker/g_grant", grant, Some(&alice)).await;
    let (mut bob_socket, _) = server.connect(&format!("?auth={bob}")).await;
    // Alice's run holds her root's lock, from its first graph call, while it naps.
    let nap = server.http.post(server.url("/walker/g_read_then_nap")).bearer_auth(&alice).json(&json!({"ms": 1_500}));
    let napping = tokio::spawn(async move { support::server::read(nap.send().await.unwrap()).await });
    server.until_slots_in_use(1).await;
    let update = json!({"id": node, "name": "bob's"});
    let (status, body) = server.post("/walker/g_notify_then_update", update.clone(), Some(&bob)).await;
    assert_eq!((status, &body["errors"][0]["type"]), (409, &json!("conflict")), "{body}");
    assert_eq!(bob_socket.recv().await, json!({"updating": node}), "notified once, before it lost");
    // Without a notification, the same update waits for alice's run and goes through.
    let (status, body) = server.post("/walker/g_update", update, Some(&bob)).await;
    assert_eq!((status, &body["reports"][0]["context"]), (200, &json!({"name": "bob's"})), "{body}");
    assert_eq!(napping.await.unwrap().0, 200);
    bob_socket.expect_nothing_queued().await;
}

on_both_backends!(
    make_item_and_ws_item_reply_as_jac_cloud_and_items_can_be_listed_renamed_and_deleted,
    entry_nodes_must_exist_and_be_readable,
    access_follows_jac_clouds_rules_and_grants,
    a_failed_run_writes_nothing_and_reads_see_their_own_writes,
    concurrent_increments_of_one_counter_lose_no_update,
    concurrent_writers_of_different_roots_lose_no_update,
    anonymous_graph_runs_never_wait_for_each_other,
    grants_are_charged_to_the_target_owner_and_go_with_their_edge,
    a_filtered_neighbours_call_reads_a_bounded_number_of_edges,
    the_graph_survives_a_restart,
    quotas_and_per_run_limits_are_structured_errors_and_write_nothing,
    neighbours_page_in_creation_order_and_filter_by_field,
    neighbours_follow_direction_and_edge_type_and_page_in_both_directions,
    a_run_that_notified_then_lost_its_owners_lock_answers_409,
);

/// SQLite only: committed pages are copied back into the database file in the background,
/// with the server idle, rather than waiting in the WAL for a commit to cross SQLite's
/// checkpoint mark (1 000 pages, far more than three items write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_committed_writes_in_the_background() {
    let server = graph_server(&Backend::sqlite(), |_| {}).await;
    let (token, _) = server.user("checkpoint@example.com").await;
    for name in ["a", "b", "c"] {
        reports(&server, "/walker/make_item", json!({"name": name}), Some(&token)).await;
    }
    // The database file alone, as a copy without its WAL would see it.
    let items_in_file = || {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(server.data.path().join("graph.sqlite3"), copy.path().join("graph.sqlite3")).ok()?;
        let db = rusqlite::Connection::open(copy.path().join("graph.sqlite3")).ok()?;
        db.query_row("SELECT count(*) FROM node WHERE type = 'Item'", [], |row| row.get::<_, i64>(0)).ok()
    };
    let reached = support::eventually(Duration::from_secs(10), || items_in_file() == Some(3)).await;
    assert!(reached, "the three items reached the database file: {:?} there", items_in_file());
}

/// The CPU the host spends inside graph calls (reading rows, matching contexts) is the
/// run's: it is charged to the tenant, as the walker's own computing is, though the
/// walker itself computes next to nothing while it waits for each call; and it is
/// charged once, though handing the walker its result calls back into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_work_of_graph_calls_is_charged_to_the_tenant() {
    let server = graph_server(&Backend::sqlite(), |_| {}).await;
    let (token, root) = server.user("host-cpu@example.com").await;
    let root_id = format!("n::{root}");
    for _ in 0..2 {
        assert_eq!(reports(&server, "/walker/g_writes", json!({"count": 400}), Some(&token)).await, json!([400]));
    }
    let cpu = r#"walker_host_walker_cpu_seconds_total{tenant="default"}"#;
    let before = support::metric(&server.metrics().await, cpu);
    // Each run scans the root's 800 edges for a name none has.
    let started = std::time::Instant::now();
    for _ in 0..100 {
        let found = reports(&server, "/walker/g_find", json!({"id": root_id, "name": "none"}), Some(&token)).await;
        assert_eq!(found, json!([[]]));
    }
    let (wall, used) = (started.elapsed().as_secs_f64(), support::metric(&server.metrics().await, cpu) - before);
    // Runs one after the other use at most the time they take: more is host time
    // counted twice (as the walker's slices and as the host's).
    let charged = format!("100 scans of 800 edges in {wall:.3} s were charged {used:.3} s of CPU time");
    assert!(used > 0.2 * wall && used < wall, "{charged}");
}

/// A walker tells the graph's refusals apart by their kind (the SDK's `ErrorKind`), not
/// by their text: not found, denied, invalid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walker_tells_the_graphs_refusals_apart_by_kind() {
    let server = graph_server(&Backend::sqlite(), |_| {}).await;
    let (alice, _) = server.user("kinds-alice@example.com").await;
    let (bob, bob_root) = server.user("kinds-bob@example.com").await;
    let item = reports(&server, "/walker/g_make", json!({"name": "a"}), Some(&alice)).await[0]["id"].clone();
    let read = json!({"id": item, "grantee": bob_root, "level": "read"});
    reports(&server, "/walker/g_grant", read, Some(&alice)).await;
    let kinds = |id: Value, token: String| {
        let server = &server;
        async move { reports(server, "/walker/g_refusal_kinds", json!({"id": id}), Some(&token)).await[0].clone() }
    };
    assert_eq!(kinds(item.clone(), alice.clone()).await, json!({"update": "ok", "filter": "invalid"}));
    assert_eq!(kinds(item, bob).await, json!({"update": "denied", "filter": "invalid"}));
    let nobody = json!("n:Item:0123456789abcdef01234567");
    assert_eq!(kinds(nobody, alice).await, json!({"update": "not_found", "filter": "invalid"}));
}

/// Roots are a type of their own, as in jac: `Root`, not an empty name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_is_typed_root_and_a_node_by_its_type() {
    let server = graph_server(&Backend::sqlite(), |_| {}).await;
    let (token, _) = server.user("types@example.com").await;
    let at_root = reports(&server, "/walker/g_here_type", json!({}), Some(&token)).await;
    assert_eq!(at_root, json!([{"type": "Root", "root": true}]));
    let item = reports(&server, "/walker/g_make", json!({"name": "a"}), Some(&token)).await[0]["id"].clone();
    let path = format!("/walker/g_here_type/{}", item.as_str().unwrap());
    assert_eq!(reports(&server, &path, json!({}), Some(&token)).await, json!([{"type": "Item", "root": false}]));
}
