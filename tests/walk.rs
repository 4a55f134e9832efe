//! Walkers as jac writes them, against a real server on loopback and real compiled
//! walkers: abilities dispatched by node type in jac's order, `visit`, `skip`,
//! `disengage`, implicit save, and edges as values. The Rust walkers are jac-cloud's own
//! test app (`simple_graph.jac`) ported walker for walker, and these tests port its
//! assertions (`test_simple_graph.py`) where it has them; the Python and JavaScript
//! examples have the same walkers under `py_` and `js_`, held to the same replies.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

#[path = "walk/access.rs"]
mod access;
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::{Backend, TestServer};
use walker_host::core::access::AccessRules;

/// Walker-name prefixes of the languages whose SDKs walk as jac does.
const LANGUAGES: [&str; 3] = ["", "py_", "js_"];
/// And of every SDK's, for what the C SDK (and Zig, through its header) has too.
const EVERY_SDK: [&str; 5] = ["", "py_", "js_", "c_", "zig_"];
const EXAMPLES: [&str; 4] = ["python-chat.wasm", "js-chat.wasm", "c-chat.wasm", "zig-chat.wasm"];

/// A server with the ported app and the other languages' examples, and a signed-in
/// user's token.
async fn app_server() -> (TestServer, String) {
    app_server_on(&Backend::sqlite()).await
}

async fn app_server_on(backend: &Backend) -> (TestServer, String) {
    let server = TestServer::start_with(|config| {
        backend.configure(config);
        // Python and JavaScript components take seconds to compile: shared between servers.
        config.cache_dir = Some(support::repo().join("target/test-compiled"));
        config.walker_time_ms = 5_000;
    })
    .await;
    support::deploy(&support::fixture("simple_graph.wasm"), &server.walkers_dir().join("simple_graph.wasm"));
    for component in EXAMPLES {
        support::deploy(&support::example_wasm(component), &server.walkers_dir().join(component));
    }
    let catalog = &server.running.shared.catalog;
    let loaded =
        || async { EVERY_SDK.iter().all(|prefix| catalog.walker(&format!("{prefix}html_response")).is_some()) };
    support::wait_until_within(catalog, Duration::from_secs(120), loaded).await;
    let (token, _) = server.user("walker@example.com").await;
    (server, token)
}

/// The token of a new user `name`: a root of its own, with an empty graph.
async fn new_user(server: &TestServer, name: &str) -> String {
    server.user(&format!("{name}@example.com")).await.0
}

/// Runs a walker over REST and returns its reports, asserting it succeeded.
async fn reports(server: &TestServer, token: &str, path: &str, body: Value) -> Vec<Value> {
    let (status, reply) = server.post(&format!("/walker/{path}"), body, Some(token)).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply["reports"].as_array().cloned().unwrap_or_default()
}

fn contexts(reports: &[Value]) -> Vec<Value> {
    reports.iter().map(|report| report["context"].clone()).collect()
}

/// jac-cloud's assertion after each graph change: from root the walk reports the root
/// then the chain's nodes with `val`s `first, first + 1, …`, and from each of those the
/// rest of the chain.
async fn assert_chain(server: &TestServer, token: &str, traverse: &str, first: i64, length: usize) {
    let mut walked = reports(server, token, traverse, json!({})).await;
    let root = walked.remove(0);
    assert!(root["id"].as_str().unwrap().starts_with("n::"), "{root}");
    assert_eq!(root["context"], json!({}));
    let expected: Vec<Value> = (0..length as i64).map(|i| json!({"val": first + i})).collect();
    assert_eq!(contexts(&walked), expected, "from root");
    for (i, node) in walked.iter().enumerate() {
        let from_node =
            reports(server, token, &format!("{traverse}/{}", node["id"].as_str().unwrap()), json!({})).await;
        assert_eq!(contexts(&from_node), expected[i..], "from {node}");
    }
}

#[tokio::test]
async fn abilities_by_node_type_walk_breadth_first_and_save_implicitly_in_every_language() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        let token = new_user(&server, &format!("{prefix}chain")).await;
        let created = reports(&server, &token, &format!("{prefix}create_graph"), json!({})).await;
        assert!(created[0]["id"].as_str().unwrap().starts_with("n::"), "{prefix}: {created:?}");
        assert_eq!(contexts(&created[1..]), [json!({"val": 0}), json!({"val": 1}), json!({"val": 2})], "{prefix}");
        assert_eq!(created[1]["id"].as_str().unwrap().split(':').nth(1), Some("A"));
        assert_chain(&server, &token, &format!("{prefix}traverse_graph"), 0, 3).await;

        // `here.val = 1` at A and `= 2` at B, with no save: reported, then read back.
        let updated = reports(&server, &token, &format!("{prefix}update_graph"), json!({})).await;
        assert_eq!(contexts(&updated[1..]), [json!({"val": 1}), json!({"val": 2})], "{prefix}: C has no ability");
        let mut walked = reports(&server, &token, &format!("{prefix}traverse_graph"), json!({})).await;
        walked.remove(0);
        assert_eq!(contexts(&walked), [json!({"val": 1}), json!({"val": 2}), json!({"val": 2})], "{prefix}");
    }
}

#[tokio::test]
async fn a_roots_whole_graph_is_counted_listed_and_reset_in_every_language() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        let token = new_user(&server, &format!("{prefix}size")).await;
        let size = |body: Value| {
            let (server, token) = (&server, &token);
            async move { reports(server, token, &format!("{prefix}graph_size"), body).await }
        };
        assert_eq!(size(json!({})).await, [json!({"nodes": 0, "edges": 0}), json!([])], "{prefix}");
        reports(&server, &token, &format!("{prefix}create_graph"), json!({})).await;
        // Listed in id order, and ids are random: compared as a set.
        let sorted = |mut reported: Vec<Value>| {
            reported[1].as_array_mut().unwrap().sort_by_key(|name| name.to_string());
            reported
        };
        let counted = [json!({"nodes": 3, "edges": 3}), json!(["A", "B", "C"])];
        assert_eq!(sorted(size(json!({})).await), counted, "{prefix}");
        let reset = sorted(size(json!({"reset": true})).await);
        assert_eq!(reset, [counted[0].clone(), counted[1].clone(), json!(6)], "{prefix}: 3 nodes and 3 edges deleted");
        assert_eq!(size(json!({})).await, [json!({"nodes": 0, "edges": 0}), json!([])], "{prefix}: only the root left");
    }
}

async fn exists(server: &TestServer, token: &str, id: &Value) -> bool {
    reports(server, token, "node_exists", json!({"id": id})).await == [json!(true)]
}

async fn detaching_ends_the_walk_there_and_deletes_what_it_orphans_as_jac_cloud(backend: Backend) {
    let (server, token) = app_server_on(&backend).await;
    let created = reports(&server, &token, "create_graph", json!({})).await;
    // At B, `here del --> [-->]`: the walk from root ends at B, and C, left with no
    // edges, is gone (jac-cloud's test counts it gone); B still has A's.
    assert_eq!(reports(&server, &token, "detach_node", json!({})).await, [json!(true)]);
    assert_chain(&server, &token, "traverse_graph", 0, 2).await;
    assert!(!exists(&server, &token, &created[3]["id"]).await, "C, orphaned, deleted at commit");
    assert!(exists(&server, &token, &created[2]["id"]).await, "B keeps an edge");
    assert!(exists(&server, &token, &created[0]["id"]).await, "a root is never an orphan");

    // Kept, by id (jac's `commit(node)`) or all of a run's: not deleted.
    let token = new_user(&server, "orphans").await;
    for all in [false, true] {
        let made = reports(&server, &token, "create_nested_node", json!({})).await;
        let detached = reports(&server, &token, "detach_nested_node_kept", json!({"all": all})).await;
        assert_eq!(detached, [made[0]["id"].clone()]);
        assert!(exists(&server, &token, &made[0]["id"]).await, "kept (all: {all})");
    }
    let made = reports(&server, &token, "create_nested_node", json!({})).await;
    assert_eq!(reports(&server, &token, "detach_nested_node", json!({})).await, [json!(true)]);
    assert!(!exists(&server, &token, &made[0]["id"]).await, "not kept: deleted");
    // An edge deleted by id orphans its ends as well.
    let made = reports(&server, &token, "create_nested_node", json!({})).await;
    reports(&server, &token, "delete_nested_edge", json!({})).await;
    assert!(!exists(&server, &token, &made[0]["id"]).await);
}

#[tokio::test]
async fn abilities_run_in_jac_clouds_visit_sequence_with_the_node_types_own_in_every_language() {
    let (server, _) = app_server().await;
    let mut expected = vec![json!("walker entry"), json!("walker enter to root")];
    for node in ["a", "b", "c"] {
        expected.extend((1..=6).map(|step| json!(format!("{node}-{step}"))));
    }
    expected.push(json!("walker exit"));
    for prefix in LANGUAGES {
        // Public, but signed in: on a root of its own rather than the shared public one.
        let token = new_user(&server, &format!("{prefix}sequence")).await;
        let sequence = reports(&server, &token, &format!("{prefix}visit_sequence"), json!({})).await;
        assert_eq!(sequence, expected, "{prefix}: jac-cloud's test_14_visit_sequence");
    }
}

#[tokio::test]
async fn skip_leaves_a_node_disengage_ends_the_walk_and_both_keep_what_was_saved_in_every_language() {
    let (server, _) = app_server().await;
    let full = ["A-entry", "A-exit", "B-entry", "B-exit", "C-entry", "C-exit"].map(|step| json!(step));
    for prefix in LANGUAGES {
        let token = new_user(&server, &format!("{prefix}control")).await;
        let walk = |body: Value| {
            let (server, token) = (&server, &token);
            async move { reports(server, token, &format!("{prefix}walk_control"), body).await }
        };
        reports(&server, &token, &format!("{prefix}create_graph"), json!({})).await;
        let mut walked = walk(json!({})).await;
        assert_eq!(walked.pop(), Some(json!({"entered": 3})), "{prefix}: the walker's fields carried through the walk");
        assert_eq!(walked, full, "{prefix}");

        let skipped = walk(json!({"skip_at": "B"})).await;
        let without_b_exit: Vec<Value> = full.iter().filter(|step| *step != "B-exit").cloned().collect();
        assert_eq!(skipped[..5], without_b_exit[..], "{prefix}: skip leaves B but the walk goes on to C");
        assert_eq!(skipped[5], json!({"entered": 3}), "{prefix}");

        let disengaged = walk(json!({"disengage_at": "B"})).await;
        assert_eq!(disengaged, full[..3], "{prefix}: no exit, no C, no walker exit after disengage");
        assert_eq!(walk(json!({"disengage_at": "A"})).await, [json!("A-entry")], "{prefix}");

        // Each run added 10 to A's val, and to B's when it reached B, before any skip or
        // disengage: those changes were saved.
        let mut walked = reports(&server, &token, &format!("{prefix}traverse_graph"), json!({})).await;
        walked.remove(0);
        assert_eq!(contexts(&walked), [json!({"val": 40}), json!({"val": 31}), json!({"val": 2})], "{prefix}");
    }
}

/// The fields `Nested` and `SavableObject` share.
fn fields(val: i64, arr: Value, data: Value, parent: Value, enum_field: &str) -> Value {
    json!({"val": val, "arr": arr, "data": data, "parent": parent, "enum_field": enum_field})
}

fn nested(val: i64, arr: Value, data: Value, parent: Value, enum_field: &str) -> Value {
    let mut nested = fields(val, arr, data, parent, enum_field);
    nested["access"] = Value::Null;
    nested
}

/// `create_nested_node`'s fields, and `create_custom_object`'s.
fn original(make: fn(i64, Value, Value, Value, &str) -> Value) -> Value {
    let child = child(2, json!([1, 2]), json!({"a": 1, "b": 2}), "C");
    make(0, json!([]), json!({}), parent(1, json!([1]), json!({"a": 1}), "B", child), "A")
}

/// Them after `update_nested_node` or `update_custom_object`.
fn updated_once(make: fn(i64, Value, Value, Value, &str) -> Value) -> Value {
    let child = child(3, json!([1, 2, 3]), json!({"a": 1, "b": 2, "c": 3}), "A");
    make(1, json!([1]), json!({"a": 1}), parent(2, json!([1, 2]), json!({"a": 1, "b": 2}), "C", child), "B")
}

fn parent(val: i64, arr: Value, data: Value, enum_field: &str, child: Value) -> Value {
    json!({"val": val, "arr": arr, "data": data, "enum_field": enum_field, "child": child})
}

fn child(val: i64, arr: Value, data: Value, enum_field: &str) -> Value {
    json!({"val": val, "arr": arr, "data": data, "enum_field": enum_field})
}

#[tokio::test]
async fn nested_fields_change_in_place_from_root_or_at_the_node_and_edges_delete_by_id() {
    let (server, token) = app_server().await;
    let created = reports(&server, &token, "create_nested_node", json!({})).await;
    assert_eq!(created[0]["context"], original(nested));
    let id = created[0]["id"].as_str().unwrap().to_string();

    let once = updated_once(nested);
    let updated = reports(&server, &token, "update_nested_node", json!({})).await;
    assert_eq!(contexts(&updated), std::slice::from_ref(&once));
    assert_eq!(contexts(&reports(&server, &token, "visit_nested_node", json!({})).await), [once]);

    // At the node itself (a node entry), `here`'s nested fields, saved with no `save`.
    let twice = reports(&server, &token, &format!("update_nested_node/{id}"), json!({})).await;
    assert_eq!(twice[0]["context"]["arr"], json!([1, 1]));
    assert_eq!(twice[0]["context"]["parent"]["child"]["arr"], json!([1, 2, 3, 3]));
    let seen = reports(&server, &token, &format!("visit_nested_node/{id}"), json!({})).await;
    assert_eq!(seen[0]["context"], twice[0]["context"]);

    assert_eq!(reports(&server, &token, "detach_nested_node", json!({})).await, [json!(true)]);
    assert_eq!(reports(&server, &token, "visit_nested_node", json!({})).await, [json!([])]);

    reports(&server, &token, "create_nested_node", json!({})).await;
    assert_eq!(reports(&server, &token, "delete_nested_edge", json!({})).await, [json!([])], "[edge -->][0] destroyed");
    reports(&server, &token, "create_nested_node", json!({})).await;
    assert_eq!(reports(&server, &token, "delete_nested_node", json!({})).await, [json!([])]);
}

#[tokio::test]
async fn objects_are_saved_read_updated_and_destroyed_by_id_in_every_language() {
    let (server, _) = app_server().await;
    let stranger = new_user(&server, "stranger").await;
    for prefix in LANGUAGES {
        let token = new_user(&server, &format!("{prefix}objects")).await;
        let call = |walker: &str, body: Value| {
            let (server, token, path) = (&server, &token, format!("{prefix}{walker}"));
            async move { reports(server, token, &path, body).await }
        };
        // jac-cloud's test_09, walker for walker.
        let created = call("create_custom_object", json!({})).await.remove(0);
        let id = created["id"].as_str().unwrap();
        assert!(id.starts_with("o:SavableObject:"), "{prefix}: {created}");
        assert_eq!(created["context"], original(fields), "{prefix}");
        let by_id = json!({"object_id": id});
        assert_eq!(call("get_custom_object", by_id.clone()).await, std::slice::from_ref(&created), "{prefix}");
        let updated = call("update_custom_object", by_id.clone()).await.remove(0);
        assert_eq!(updated["context"], updated_once(fields), "{prefix}: the changes made in place, reported");
        assert_eq!(call("get_custom_object", by_id.clone()).await, [updated], "{prefix}: and saved, with no save");

        // An object is not a node: not listed among the root's nodes, nor read by a node id.
        assert_eq!(call("graph_size", json!({})).await[1], json!([]), "{prefix}");
        let as_node = json!({"object_id": id.replacen("o:", "n:", 1)});
        assert_eq!(call("get_custom_object", as_node).await, [Value::Null], "{prefix}");
        let connected = reports(&server, &token, "connect_to", json!({"id": id})).await;
        assert_eq!(connected, [json!("Invalid")], "{prefix}: no edge ends at an object");
        // Owned as a node is: another user cannot read it.
        let theirs = reports(&server, &stranger, &format!("{prefix}get_custom_object"), by_id.clone()).await;
        assert_eq!(theirs, [Value::Null], "{prefix}");

        assert_eq!(call("delete_custom_object", by_id.clone()).await, Vec::<Value>::new());
        assert_eq!(call("get_custom_object", by_id).await, [Value::Null], "{prefix}: destroyed");

        // Get or create: made on the first run, found by its id on the next.
        let first = call("visit_counter", json!({})).await.remove(0);
        assert!(first["id"].as_str().unwrap().starts_with("o:Counter:"), "{prefix}: {first}");
        assert_eq!(first["context"], json!({"visits": 1}));
        let again = call("visit_counter", json!({"counter_id": first["id"]})).await.remove(0);
        assert_eq!((&again["id"], &again["context"]), (&first["id"], &json!({"visits": 2})), "{prefix}");
    }
}

async fn a_populated_graph_is_walked_level_by_level_counted_and_reset(backend: Backend) {
    let (server, token) = app_server_on(&backend).await;
    assert_eq!(reports(&server, &token, "populate_graph", json!({})).await, Vec::<Value>::new());
    let walked = reports(&server, &token, "traverse_populated_graph", json!({})).await;
    let types: Vec<&str> = walked.iter().map(|node| node["id"].as_str().unwrap().split(':').nth(1).unwrap()).collect();
    let mut expected = vec![""];
    for (level, kind) in ["D", "E", "F", "G", "H"].into_iter().enumerate() {
        expected.extend(std::iter::repeat_n(kind, 2 << level));
    }
    assert_eq!(types, expected, "breadth-first: root, 2 Ds, 4 Es, … 32 Hs");

    // jac-cloud's test_12: the root, 62 nodes and 62 edges; `reset_graph()` deletes all
    // but the root and says how many (nodes and edges).
    let counted = || reports(&server, &token, "check_populated_graph", json!({}));
    assert_eq!(counted().await, [json!(125)]);
    let owned = reports(&server, &token, "owned_nodes", json!({"node_type": "E"})).await;
    assert_eq!(owned, [json!(["E", "E", "E", "E"])], "the root's own nodes of one type");
    assert_eq!(reports(&server, &token, "owned_nodes", json!({})).await[0].as_array().unwrap().len(), 62);
    assert_eq!(reports(&server, &token, "purge_populated_graph", json!({})).await, [json!(124)]);
    assert_eq!(counted().await, [json!(1)]);
    assert_eq!(reports(&server, &token, "traverse_populated_graph", json!({})).await.len(), 1, "only the root");
    assert_eq!(reports(&server, &token, "owned_nodes", json!({})).await, [json!([])]);
}

#[tokio::test]
async fn edges_are_values_with_types_fields_and_ends_and_neighbours_come_in_mixed_types_in_every_language() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        let token = new_user(&server, &format!("{prefix}edges")).await;
        let reported = reports(&server, &token, &format!("{prefix}edge_values"), json!({})).await;
        let described = json!([
            {"type": "Link", "from_here": true, "to": "A", "context": {"weight": 3}},
            {"type": "GenericEdge", "from_here": true, "to": "B", "context": {}},
        ]);
        assert_eq!(reported[0], described, "{prefix}");
        assert_eq!(reported[1], json!(["A", "B"]), "{prefix}: neighbours of mixed types, in one list");
        assert_eq!(reported[2], json!([1]), "{prefix}: the As among them");
        assert_eq!(reported[3], json!(3), "{prefix}: a typed edge's field");
        assert_eq!(reported[4], json!({"links_left": 0, "neighbours_left": 1}), "{prefix}: the Link deleted by id");
    }
}

/// jac-cloud's test_01: the app's `User` has `name`, registered with a six-character
/// password, returned at login and carried in the token (`--user-fields name:str`, and
/// `--min-password-length 0` as jac-cloud has no minimum).
async fn the_apps_user_fields_are_registered_returned_at_login_and_carried_in_the_token(backend: Backend) {
    let server = TestServer::start_with(|config| {
        backend.configure(config);
        config.user_fields = vec!["name:str".into(), "age:int=0".into()];
        config.min_password_length = 0;
        config.cache_dir = Some(support::repo().join("target/test-compiled"));
    })
    .await;
    for component in EXAMPLES {
        support::deploy(&support::example_wasm(component), &server.walkers_dir().join(component));
    }
    let register = |body: Value| async { server.post("/user/register", body, None).await };
    let (status, body) = register(json!({"email": "user@example.com", "password": "string"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (body["detail"][0]["type"].clone(), body["detail"][0]["loc"].clone()),
        (json!("missing"), json!(["body", "name"]))
    );
    assert_eq!(body["detail"][0]["input"], json!({"email": "user@example.com"}), "the body, without its password");
    let (status, body) = register(json!({"email": "user@example.com", "password": "string", "name": 7})).await;
    assert_eq!((status, body["detail"][0]["loc"].clone()), (422, json!(["body", "name"])), "{body}");
    let doc = server.get("/openapi.json").await.1;
    let registration = &doc["paths"]["/user/register"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(registration["required"], json!(["email", "password", "name"]));
    assert_eq!(registration["properties"]["age"], json!({"type": "integer", "default": 0}));
    let account = json!({"email": "user@example.com", "password": "string", "name": "string", "extra": true});
    assert_eq!(register(account).await, (201, json!({"message": "Successfully Registered!"})));

    let (status, body) =
        server.post("/user/login", json!({"email": "USER@example.com", "password": "string"}), None).await;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(
        (user["email"].clone(), user["name"].clone(), user["age"].clone()),
        (json!("user@example.com"), json!("string"), json!(0))
    );
    assert!(user.get("extra").is_none(), "undeclared fields are ignored, as pydantic ignores them: {user}");
    use base64::Engine as _;
    let payload = body["token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["name"].clone(), claims["root_id"].clone()), (json!("string"), user["root_id"].clone()));
    // The token still signs the user in.
    // Walkers read the account, with the app's fields, over REST and over a WebSocket.
    let token = body["token"].as_str().unwrap();
    let account =
        json!({"id": user["id"], "email": "user@example.com", "root_id": user["root_id"], "name": "string", "age": 0});
    let catalog = &server.running.shared.catalog;
    let loaded = || async { EVERY_SDK.iter().all(|prefix| catalog.walker(&format!("{prefix}my_account")).is_some()) };
    support::wait_until_within(catalog, Duration::from_secs(120), loaded).await;
    let (mut signed_in, _) = server.connect_with("", Some(&format!("Bearer {token}"))).await;
    let (mut anonymous, _) = server.connect("").await;
    for prefix in EVERY_SDK {
        let walker = format!("{prefix}my_account");
        assert_eq!(reports(&server, token, &walker, json!({})).await, vec![account.clone()], "{walker}");
        assert_eq!(
            server.post(&format!("/walker/{walker}"), json!({}), None).await.1["reports"],
            json!([null]),
            "{walker}"
        );
        let event = json!({"type": "walker", "walker": walker, "response": true});
        assert_eq!(signed_in.call(event.clone()).await["reports"], json!([account]), "{walker} over a WebSocket");
        assert_eq!(anonymous.call(event).await["reports"], json!([null]), "{walker} over a WebSocket");
    }
}

/// jac-cloud's test_27 (`html_response`, `stream_response`): a body of the walker's own
/// content type, and one streamed chunk by chunk; over a WebSocket, the same as frames.
#[tokio::test]
async fn html_and_streamed_replies_as_jac_cloud_sends_them_over_http_and_websocket_in_every_language() {
    let (server, _) = app_server().await;
    let html = r#"<!DOCTYPE html><html lang="en"><body>HELLO WORLD</body></html>"#;
    let expected: String = (0..100).map(|i| i.to_string()).collect();
    let (mut client, _) = server.connect("").await;
    for prefix in EVERY_SDK {
        let page = server.http.get(server.url(&format!("/walker/{prefix}html_response"))).send().await.unwrap();
        let content_type = page.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!((page.status().as_u16(), content_type.as_str()), (200, "text/html; charset=utf-8"), "{prefix}");
        assert_eq!(page.text().await.unwrap(), html, "{prefix}");

        let streamed = server.http.get(server.url(&format!("/walker/{prefix}stream_response"))).send().await.unwrap();
        assert_eq!(streamed.headers()["content-type"], "text/event-stream; charset=utf-8", "{prefix}");
        assert_eq!(streamed.text().await.unwrap(), expected, "{prefix}");

        let event = |walker: &str| json!({"type": "walker", "walker": format!("{prefix}{walker}"), "response": true});
        let reply = client.call(event("html_response")).await;
        assert_eq!(reply, json!({"status": 200, "content_type": "text/html", "body": html}), "{prefix}");
        client.send(event("stream_response")).await;
        for i in 0..100 {
            assert_eq!(client.recv().await, json!({"type": "stream", "data": i.to_string()}), "{prefix}");
        }
        assert_eq!(client.recv().await, json!({"status": 200, "reports": []}), "{prefix}");
    }
}

/// A server with the Rust simple_graph walkers and the limits `configure` sets, and the
/// token and root (24 hex) of a user whose root has `count` A nodes.
async fn fanned_out(
    count: u32,
    configure: impl FnOnce(&mut walker_host::config::Config),
) -> (TestServer, String, String) {
    let server = TestServer::start_with(|config| {
        (config.walker_time_ms, config.graph_writes, config.graph_calls) = (10_000, 20_000, 100_000);
        configure(config);
    })
    .await;
    support::deploy(&support::fixture("simple_graph.wasm"), &server.walkers_dir().join("simple_graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("fan_out").is_some() }).await;
    let (token, root) = server.user("wide@example.com").await;
    for start in (0..count).step_by(1_000) {
        reports(&server, &token, "fan_out", json!({"count": (count - start).min(1_000)})).await;
    }
    (server, token, root)
}

async fn traverse(server: &TestServer, query: &str, token: &str) -> (u16, Value) {
    let request = server.http.get(server.url(&format!("/util/traverse{query}"))).bearer_auth(token);
    support::server::read(request.send().await.unwrap()).await
}

/// `/util/traverse` answers at most a run's report bytes: a larger graph is cut short,
/// and says so.
#[tokio::test]
async fn util_traverse_stops_at_the_report_bytes_and_says_it_was_truncated() {
    // The root alone lists 2 000 edge ids (about 62 KB); the whole graph takes 440 KB.
    let (server, token, _) = fanned_out(2_000, |config| config.walker_report_bytes = 256 * 1024).await;
    let (status, whole) = traverse(&server, "?depth=-1", &token).await;
    assert_eq!((status, &whole["truncated"]), (200, &json!(true)));
    assert!(whole.to_string().len() <= 256 * 1024, "{} bytes", whole.to_string().len());
    assert!(whole["nodes"].as_array().unwrap().len() < 2_001);
    let (_, root_only) = traverse(&server, "?depth=0", &token).await;
    assert!(root_only.get("truncated").is_none(), "{root_only}");
    let (status, _) = traverse(&server, "?depth=-1&detailed=true", &token).await;
    assert_eq!(status, 200);
}

/// `/util/traverse` takes no lock and stops at a run's time limit: a walker run of the
/// same user, started while a traverse of 40 000 nodes goes on, ends well, and the
/// traverse, cut off at the time limit, says it was truncated. (Had the traverse held
/// the user's lock to its end, the run would have waited past its own time limit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walker_run_of_the_same_user_goes_on_beside_a_large_traverse() {
    let (server, token, root) = fanned_out(40_000, |config| {
        (config.walker_time_ms, config.graph_calls, config.walker_report_bytes) = (1_000, 200_000, 64 << 20);
    })
    .await;
    let server = std::sync::Arc::new(server);
    let whole = tokio::spawn({
        let (server, token) = (server.clone(), token.clone());
        async move { traverse(&server, "?depth=-1", &token).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!whole.is_finished(), "the traverse is under way");
    // The user's lock is free: a run's first graph call takes it at once (while a
    // traverse held it, the call waited for the traverse to end).
    let mut run = server.running.shared.catalog.env().graph.clone().begin(root, None, Vec::new(), AccessRules::Strict);
    let locked = tokio::time::timeout(Duration::from_millis(500), run.begin_call()).await;
    assert!(locked.is_ok_and(|taken| taken.is_ok()), "the traverse holds the user's lock");
    drop(run);
    let (status, reply) = server.post("/walker/fan_out", json!({"count": 1}), Some(&token)).await;
    assert_eq!(status, 200, "the run went on beside the traverse: {reply}");
    let (status, whole) = whole.await.unwrap();
    assert_eq!((status, &whole["truncated"]), (200, &json!(true)), "cut off at the time limit");
}

/// A body of the walker's own type is sent as it is whatever its status: an error page
/// is not turned into `{"detail": …}`, small or large.
#[tokio::test]
async fn a_walkers_own_error_page_is_sent_unchanged() {
    let (server, _) = app_server().await;
    for (status, size) in [(404, 0), (400, 4096), (503, 0)] {
        let url = server.url(&format!("/walker/html_error?status={status}&size={size}"));
        let page = server.http.get(url).send().await.unwrap();
        let content_type = page.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!((page.status().as_u16(), content_type.as_str()), (status, "text/html; charset=utf-8"));
        let expected = format!("<html><body>Not here{}</body></html>", "x".repeat(size));
        assert_eq!(page.text().await.unwrap(), expected, "{status}");
    }
}

/// jac-cloud's other spec options (test_24's documentation, `excluded`, `private`), as
/// each SDK declares them.
#[tokio::test]
async fn spec_options_document_walkers_exclude_fields_and_keep_private_walkers_unserved_in_every_language() {
    let (server, _) = app_server().await;
    let doc = server.get("/openapi.json").await.1;
    let (mut client, _) = server.connect("").await;
    for prefix in LANGUAGES {
        let documented = &doc["paths"][format!("/walker/{prefix}documented")]["post"];
        let shown = (&documented["summary"], &documented["tags"], &documented["deprecated"]);
        assert_eq!(shown, (&json!("A documented walker"), &json!(["examples"]), &json!(true)), "{prefix}");
        let reply = &documented["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(reply["title"], "Documented", "{prefix}");
        let body = &documented["requestBody"]["content"]["application/json"]["schema"]["properties"];
        assert!(body.get("note").is_none() && body.get("val").is_some(), "{prefix}: {body}");
        let forged = json!({"val": 1, "note": "forged"});
        let (_, reply) = server.post(&format!("/walker/{prefix}documented"), forged, None).await;
        assert_eq!(reply["reports"], json!([{"val": 1, "note": "set by the server"}]), "{prefix}");

        assert!(doc["paths"].get(format!("/walker/{prefix}internal")).is_none(), "{prefix}");
        assert_eq!(server.post(&format!("/walker/{prefix}internal"), json!({}), None).await.0, 404, "{prefix}");
        let event = json!({"type": "walker", "walker": format!("{prefix}internal"), "response": true});
        assert!(client.call(event).await["error"].is_string(), "{prefix}");
    }
}

/// jac-cloud's `GET /util/traverse` (its test_21): levels of nodes (with their edges' ids)
/// and edges (with their ends) from the root or a given node or edge, by depth and type,
/// with contexts when detailed; only what the caller may read. On the Rust port of
/// jac-cloud's app, and on its own `simple_graph.jac`.
#[tokio::test]
async fn util_traverse_lists_the_callers_graph_by_levels_as_jac_cloud() {
    let (server, token) = app_server().await;
    util_traverse_cases(&server, &token).await;
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_nested_node").await;
    let token = new_user(&server, "jac-traverse").await;
    util_traverse_cases(&server, &token).await;
}

async fn util_traverse_cases(server: &TestServer, token: &str) {
    let made = reports(server, token, "create_graph", json!({})).await;
    let ids: Vec<&str> = made.iter().map(|node| node["id"].as_str().unwrap()).collect();
    let (root, a, b, c) = (ids[0], ids[1], ids[2], ids[3]);
    let traverse = |query: &str, token: Option<&str>| {
        let mut request = server.http.get(server.url(&format!("/util/traverse{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { support::server::read(request.send().await.unwrap()).await }
    };
    let ids_of = |items: &Value| -> Vec<String> {
        items.as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_string()).collect()
    };

    // Depth 1 (the default): the root, and its edge.
    let (status, first) = traverse("", Some(token)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids_of(&first["nodes"]), [root]);
    let root_edge = first["edges"][0].clone();
    assert_eq!((&root_edge["source"], &root_edge["target"]), (&json!(root), &json!(a)));
    assert_eq!(first["nodes"][0]["edges"], json!([root_edge["id"]]));
    assert!(first["nodes"][0].get("archetype").is_none());

    // All of it, with contexts.
    let (_, whole) = traverse("?depth=-1&detailed=true", Some(token)).await;
    assert_eq!(ids_of(&whole["nodes"]), [root, a, b, c]);
    assert_eq!(whole["edges"].as_array().unwrap().len(), 3);
    assert_eq!(whole["nodes"][1]["archetype"], json!({"val": 0}));
    assert_eq!(whole["nodes"][1]["edges"].as_array().unwrap().len(), 2, "A's edges both ways");
    // jac-cloud's test_21: by depth, a level of nodes then one of edges.
    for depth in 0..7 {
        let (_, level) = traverse(&format!("?depth={depth}"), Some(token)).await;
        let (edges, nodes) = (level["edges"].as_array().unwrap(), level["nodes"].as_array().unwrap());
        assert_eq!((edges.len(), nodes.len()), ((depth + 1).min(6) / 2, (depth / 2 + 1).min(4)), "depth {depth}");
        assert!(edges.iter().all(|edge| edge["id"].as_str().unwrap().starts_with("e::")));
        assert!(nodes.iter().all(|node| !node["edges"].as_array().unwrap().is_empty()));
    }
    // Only the node types asked for are entered; every edge of an entered node is.
    let (_, only_a) = traverse("?depth=-1&node_types=A", Some(token)).await;
    assert_eq!(ids_of(&only_a["nodes"]), [root, a]);
    let (_, a_and_b) = traverse("?depth=-1&detailed=true&node_types=A&node_types=B", Some(token)).await;
    assert_eq!(
        (ids_of(&a_and_b["nodes"]), a_and_b["edges"].as_array().unwrap().len()),
        (vec![root.to_string(), a.to_string(), b.to_string()], 3)
    );
    // From an edge: its ends, then theirs.
    let (_, from_edge) = traverse(&format!("?source={}&depth=1", root_edge["id"].as_str().unwrap()), Some(token)).await;
    assert_eq!(
        (ids_of(&from_edge["edges"]), ids_of(&from_edge["nodes"])),
        (vec![root_edge["id"].as_str().unwrap().to_string()], vec![root.to_string(), a.to_string()])
    );

    // Signed in only; bad values are jac-cloud's 422; another user's node is not read.
    assert_eq!(traverse("", None).await, (403, json!({"detail": "Not authenticated"})));
    let (status, bad) = traverse("?depth=deep", Some(token)).await;
    assert_eq!((status, bad["detail"][0]["loc"].clone()), (422, json!(["query", "depth"])));
    let other = new_user(server, "other").await;
    assert_eq!(traverse(&format!("?source={b}"), Some(&other)).await.1, json!({"edges": [], "nodes": []}));
}

/// jac-cloud's test_22 makes a walker type while serving (`generated_walker`): the
/// equivalent here is deploying a component while serving, routed at once. And
/// test_23's walker left out of the schema but served (`exclude_in_specs`).
#[tokio::test]
async fn a_walker_deployed_while_serving_is_routed_at_once_and_an_unlisted_one_is_served() {
    let (server, token) = app_server().await;
    assert_eq!(server.post("/walker/version", json!({}), None).await.0, 404);
    support::deploy(&support::fixture("version-v1.wasm"), &server.walkers_dir().join("generated.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("version").is_some() }).await;
    assert_eq!(server.post("/walker/version", json!({}), None).await, (200, json!({"status": 200, "reports": [1]})));

    let reply = server.post("/walker/exclude_in_specs", json!({}), Some(&token)).await;
    assert_eq!(reply, (200, json!({"status": 200, "reports": []})));
    assert!(server.get("/openapi.json").await.1["paths"].get("/walker/exclude_in_specs").is_none());
}

/// A streamed reply reaches a reader whole; a client that stops reading holds the walker
/// at the stream buffer (here one chunk), not the server's memory, until the walker's
/// time limit ends the run, which cuts the reply off; so does a failure after it started.
#[tokio::test]
async fn a_streamed_reply_waits_for_its_reader_and_is_cut_off_when_its_run_fails() {
    let server = TestServer::start_with(|config| {
        config.stream_buffer = 1;
        config.walker_time_ms = 1_000;
    })
    .await;
    support::deploy(&support::fixture("simple_graph.wasm"), &server.walkers_dir().join("simple_graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("stream_bulk").is_some() }).await;
    // 12 MiB: more than loopback's socket buffers hold, so the walker must wait for us.
    let (count, size) = (192, 64 * 1024);
    let bulk = |fail: bool| {
        let body = json!({"count": count, "size": size, "fail": fail});
        server.http.post(server.url("/walker/stream_bulk")).json(&body).send()
    };
    let read_all = |mut response: reqwest::Response| async move {
        let mut received = 0;
        while let Some(chunk) = response.chunk().await? {
            received += chunk.len();
        }
        Ok::<_, reqwest::Error>(received)
    };
    let streamed = bulk(false).await.unwrap();
    assert_eq!(streamed.headers()["content-type"], "application/octet-stream");
    assert_eq!(read_all(streamed).await.unwrap(), count * size);

    let mut stalled = bulk(false).await.unwrap();
    assert!(!stalled.chunk().await.unwrap().unwrap().is_empty());
    // Had the server taken the rest, the run would have ended at once and well.
    server.until_slots_in_use(0).await;
    assert!(read_all(stalled).await.is_err(), "the run ended at its time limit, waiting for us");

    let failed = bulk(true).await.unwrap();
    assert_eq!(failed.status(), 200, "the reply started before the failure");
    assert!(read_all(failed).await.is_err(), "a failed stream does not end as a complete one");
}

/// Over a WebSocket, a client that stops reading holds the walker at its connection's
/// queue limits (here 256 KiB) and the stream buffer, not the server's memory: while the
/// walker streams 24 chunks of 1 MB, the connection never holds more than its limit and
/// one chunk; the run is still waiting when the write timeout closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_reply_over_a_websocket_waits_for_a_reader_that_stopped() {
    let server = TestServer::start_with(|config| {
        config.stream_buffer = 1;
        config.queue_bytes = 256 * 1024;
        config.write_timeout_ms = 1_000;
        config.walker_time_ms = 30_000;
    })
    .await;
    support::deploy(&support::fixture("simple_graph.wasm"), &server.walkers_dir().join("simple_graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("stream_bulk").is_some() }).await;
    let (mut client, connected) = server.connect("").await;
    let client_id = connected["data"]["client_id"].as_str().expect("M1 names the client").to_string();
    // 24 MB: far more than loopback's socket buffers hold.
    let context = json!({"count": 24, "size": 1_000_000});
    client.send(json!({"type": "walker", "walker": "stream_bulk", "context": context, "response": true})).await;
    let hub = &server.running.shared.hub;
    let mut most = 0;
    while let Some(queued) = hub.queued_bytes(&client_id) {
        most = most.max(queued);
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    assert!(most <= 256 * 1024 + 1_000_100, "{most} bytes queued at once");
    assert_eq!(server.timeout_closes().0, 1, "the write timeout closed the connection");
    server.until_slots_in_use(0).await;
    let finished = catalog.metrics().runs.with_label_values(&["stream_bulk", "ok"]).get();
    assert_eq!(finished, 0, "the walker was still waiting for its reader");
}

on_both_backends!(
    detaching_ends_the_walk_there_and_deletes_what_it_orphans_as_jac_cloud,
    a_populated_graph_is_walked_level_by_level_counted_and_reset,
    the_apps_user_fields_are_registered_returned_at_login_and_carried_in_the_token,
);
