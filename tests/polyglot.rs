//! The same end-to-end scenarios against the example walkers of every language (Rust,
//! Python, JavaScript, C, Zig), built from source by `scripts/build-walkers.sh`: a WebSocket
//! client calls each language's chat walkers and another client receives the
//! notifications; a validation error; a walker error. Plus warm instances in Python,
//! JavaScript and C, the C SDK's graph calls, spec options and walk, and a new Python
//! build hot-reloaded while it is being called.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::server::TestServer;

/// Walker-name prefix and `language` reported by each example set.
const LANGUAGES: [(&str, &str); 5] =
    [("", "rust"), ("py_", "python"), ("js_", "javascript"), ("c_", "c"), ("zig_", "zig")];
const COMPONENTS: [&str; 4] = ["python-chat.wasm", "js-chat.wasm", "c-chat.wasm", "zig-chat.wasm"];

/// A server with every language's walkers; compiled code is shared between test servers,
/// since Python and JavaScript components take seconds to compile.
async fn polyglot_server() -> TestServer {
    let server = TestServer::start_with(|config| {
        config.cache_dir = Some(support::repo().join("target/test-compiled"));
        config.walker_time_ms = 5_000;
    })
    .await;
    let mut changes = server.running.shared.catalog.subscribe();
    for component in COMPONENTS {
        support::deploy(&support::example_wasm(component), &server.walkers_dir().join(component));
    }
    let catalog = &server.running.shared.catalog;
    tokio::time::timeout(Duration::from_secs(120), async {
        while !COMPONENTS.iter().all(|c| catalog.snapshot().files().any(|f| f == *c)) {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("every language's walkers load");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_runs_the_same_chat_scenarios() {
    let server = polyglot_server().await;
    let (sender_token, sender_root) = server.user("sender@example.com").await;
    let (receiver_token, receiver_root) = server.user("receiver@example.com").await;
    let chat = json!({"type": "chat", "data": {"message": "string"}});

    for (prefix, language) in LANGUAGES {
        let room = format!("room-{language}");
        let (mut sender, _) = server.connect_with("", Some(&format!("Bearer {sender_token}"))).await;
        let (mut receiver, hello) =
            server.connect_with(&format!("?channel_id={room}"), Some(&format!("Bearer {receiver_token}"))).await;
        let receiver_id = hello["data"]["client_id"].clone();
        let walker = |name: &str| format!("{prefix}{name}");

        for (name, context) in [
            ("send_chat_to_user", json!({"root_id": format!("n::{receiver_root}")})),
            ("send_chat_to_group", json!({"channel_id": room})),
            ("send_chat_to_client", json!({"client_id": receiver_id})),
        ] {
            sender.send(json!({"type": "walker", "walker": walker(name), "context": context})).await;
            assert_eq!(receiver.recv().await, chat, "{language}: {name}");
        }

        let reply = sender
            .call(json!({"type": "walker", "walker": walker("report_context"), "context": {"name": "ada", "count": 2}, "response": true}))
            .await;
        assert_eq!(
            reply,
            json!({"status": 200, "reports": [{"name": "ada", "count": 2, "root_id": format!("n::{sender_root}"), "language": language}]}),
            "{language}"
        );
        let reply =
            sender.call(json!({"type": "walker", "walker": walker("report_context"), "context": {"count": 2}})).await;
        assert_eq!(reply["error"][0]["loc"], json!(["name"]), "{language}: {reply}");
        let reply = sender
            .call(json!({"type": "walker", "walker": walker("report_context"), "context": {"name": "x", "count": -1}}))
            .await;
        assert_eq!(
            reply,
            json!({"error": [{"type": "walker_error", "msg": format!("walker {} failed: count must not be negative", walker("report_context"))}]}),
            "{language}"
        );
        sender.expect_nothing_queued().await;
        receiver.expect_nothing_queued().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_javascript_and_c_walkers_opt_in_to_warm_instances_per_caller() {
    let server = polyglot_server().await;
    let (token, _) = server.user("warm@example.com").await;
    for prefix in ["py_", "js_", "c_"] {
        let event = json!({"type": "walker", "walker": format!("{prefix}warm_count"), "response": true});
        let (mut first, _) = server.connect("").await;
        let (mut second, _) = server.connect("").await;
        // Three runs per instance (`warm_runs=3`), then a fresh one.
        for expected in [1, 2, 3, 1] {
            assert_eq!(first.call(event.clone()).await["reports"], json!([expected]), "{prefix}");
        }
        assert_eq!(
            second.call(event.clone()).await["reports"],
            json!([1]),
            "{prefix}: anonymous connections never share"
        );
        assert_eq!(first.call(event.clone()).await["reports"], json!([2]), "{prefix}: the first connection's instance");

        // Anonymous HTTP calls never reuse an instance; a signed-in user's calls do.
        let path = format!("/walker/{prefix}warm_count");
        for _ in 0..2 {
            assert_eq!(server.post(&path, json!({}), None).await, (200, json!({"status": 200, "reports": [1]})));
        }
        for expected in [1, 2] {
            assert_eq!(server.post(&path, json!({}), Some(&token)).await.1["reports"], json!([expected]), "{prefix}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_build_replaces_the_old_one_under_load() {
    // A fresh compiled-code cache: the new version is really compiled while calls run.
    let server = TestServer::start_with(|config| config.walker_time_ms = 5_000).await;
    let catalog = server.running.shared.catalog.clone();
    let target = server.walkers_dir().join("python-chat.wasm");
    support::deploy(&support::example_wasm("python-chat.wasm"), &target);
    let compiled = || async { catalog.walker("py_report_context").is_some() };
    support::wait_until_within(&catalog, Duration::from_secs(120), compiled).await;

    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let caller = {
        let (url, stop, answers) = (server.url("/walker/py_report_context"), stop.clone(), answers.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let response = http.post(&url).json(&json!({"name": "reload"})).send().await.unwrap();
                let (status, body) = support::server::read(response).await;
                assert_eq!(status, 200, "every call succeeds during the reload: {body}");
                let language = body["reports"][0]["language"].as_str().unwrap().to_string();
                answers.lock().unwrap().push(language);
            }
        })
    };
    let answered = |language: &str| answers.lock().unwrap().iter().any(|answer| answer == language);
    let limit = Duration::from_secs(120);
    assert!(support::eventually(limit, || answered("python")).await, "the first version answers");
    support::deploy(&support::fixture("python-chat-v2.wasm"), &target);
    assert!(support::eventually(limit, || answered("python-v2")).await, "the new version answers");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    caller.await.expect("no call failed");

    let answers = answers.lock().unwrap();
    let switched = answers.iter().position(|answer| answer == "python-v2").unwrap();
    assert!(switched > 0 && answers[..switched].iter().all(|a| a == "python"), "old version first");
    assert!(answers[switched..].iter().all(|a| a == "python-v2"), "then only the new one: {answers:?}");
    assert!(answers.len() > switched + 1, "calls ran after the swap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_writes_and_reads_the_same_graph() {
    let server = polyglot_server().await;
    let (token, _) = server.user("notes@example.com").await;
    let (mut client, _) = server.connect(&format!("?auth={token}")).await;
    let call = |walker: String, context: serde_json::Value| json!({"type": "walker", "walker": walker, "context": context, "response": true});
    let mut notes = Vec::new();
    for (prefix, language) in LANGUAGES {
        let reply = client.call(call(format!("{prefix}make_note"), json!({"text": language}))).await;
        let note = reply["reports"][0].clone();
        let hex = note["id"].as_str().and_then(|id| id.strip_prefix("n:Note:")).unwrap_or_else(|| panic!("{reply}"));
        assert_eq!(hex.len(), 24, "{language}: {reply}");
        assert_eq!(reply, json!({"status": 200, "reports": [{"id": note["id"], "context": {"text": language}}]}));
        notes.push(note);
        // Every language reads the notes every language wrote, in creation order.
        for (lister, _) in LANGUAGES {
            let listed = client.call(call(format!("{lister}list_notes"), json!({}))).await;
            assert_eq!(listed, json!({"status": 200, "reports": [notes]}), "{lister}list_notes after {language}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_chat_room_keeps_its_history_and_pushes_new_messages() {
    let server = polyglot_server().await;
    let (alice, alice_root) = server.user("alice@example.com").await;
    let (bob, _) = server.user("bob@example.com").await;
    let (carol, carol_root) = server.user("carol@example.com").await;

    let (status, reply) = server.post("/walker/py_room_create", json!({"name": "lobby"}), Some(&alice)).await;
    assert_eq!(status, 200, "{reply}");
    let room = reply["reports"][0].clone();
    let room_id = room["id"].as_str().unwrap().to_string();
    assert_eq!(room["context"], json!({"name": "lobby"}));

    // Bob listens on the room's channel; Carol posts over REST, Alice over her socket.
    let (mut listener, _) = server.connect(&format!("?channel_id={room_id}&auth={bob}")).await;
    let (status, reply) =
        server.post(&format!("/walker/py_room_post/{room_id}"), json!({"text": "hello"}), Some(&carol)).await;
    assert_eq!(status, 200, "{reply}");
    let first = reply["reports"][0].clone();
    assert_eq!(first["context"], json!({"text": "hello", "author": format!("n::{carol_root}")}));
    assert_eq!(listener.recv().await, json!({"type": "message", "room": room_id, "message": first}));

    let (mut alice_socket, _) = server.connect(&format!("?auth={alice}")).await;
    let event = json!({"type": "walker", "walker": "py_room_post", "node": room_id, "context": {"text": "hi all"}, "response": true});
    let second = alice_socket.call(event).await["reports"][0].clone();
    assert_eq!(second["context"], json!({"text": "hi all", "author": format!("n::{alice_root}")}));
    assert_eq!(listener.recv().await["message"], second);

    // Anyone reads the history, in order; bad posts are refused and change nothing.
    let history = server.post(&format!("/walker/py_room_history/{room_id}"), json!({}), Some(&bob)).await;
    assert_eq!(history, (200, json!({"status": 200, "reports": [[first, second]]})));
    let (status, reply) =
        server.post(&format!("/walker/py_room_post/{room_id}"), json!({"text": " "}), Some(&bob)).await;
    assert_eq!(
        (status, reply["errors"][0]["msg"].clone()),
        (500, json!("walker py_room_post failed: a message needs text"))
    );
    let not_a_room = first["id"].as_str().unwrap();
    let (status, reply) =
        server.post(&format!("/walker/py_room_post/{not_a_room}"), json!({"text": "x"}), Some(&bob)).await;
    let msg = "walker py_room_post failed: call it on a room: /walker/<name>/<room id>";
    assert_eq!((status, reply), (500, json!({"errors": [{"type": "walker_error", "msg": msg}]})));
    let history = server.post(&format!("/walker/py_room_history/{room_id}"), json!({}), Some(&carol)).await;
    assert_eq!(history.1["reports"][0].as_array().unwrap().len(), 2);
    listener.expect_nothing_queued().await;
}

/// Python fields annotated with typing's forms, under postponed annotations, declare
/// their real types: the server refuses what does not fit (422) before the walker runs,
/// and `Optional[X]` may be omitted or null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_fields_declare_the_types_their_annotations_name() {
    let server = polyglot_server().await;
    let call = |body: Value| server.post("/walker/py_typed_fields", body, None);
    let (status, reply) = call(json!({"tags": ["a"]})).await;
    assert_eq!((status, reply["reports"].clone()), (200, json!([{"tags": ["a"], "limit": null, "scores": null}])));
    let (status, reply) = call(json!({"tags": ["a"], "limit": null, "scores": {"x": 1.5}})).await;
    assert_eq!((status, reply["reports"][0]["scores"].clone()), (200, json!({"x": 1.5})));
    for (body, field, kind) in [
        (json!({"tags": "a"}), "tags", "list_type"),
        (json!({"tags": [], "limit": "many"}), "limit", "int_parsing"),
        (json!({"tags": [], "scores": [1]}), "scores", "dict_type"),
    ] {
        let (status, reply) = call(body.clone()).await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["detail"][0]["loc"], json!(["body", field]), "{body}: {reply}");
        assert_eq!(reply["detail"][0]["type"], json!(kind), "{body}: {reply}");
    }
}

/// Python and JavaScript walkers tell the graph's refusals apart by their kind
/// (`GraphError.kind`), as Rust's do by `ErrorKind`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_walkers_tell_graph_refusals_apart_by_kind() {
    let server = polyglot_server().await;
    for prefix in ["py_", "js_"] {
        let path = format!("/walker/{prefix}refusal_kinds");
        let (status, reply) = server.post(&path, json!({"id": "n:Item:0123456789abcdef01234567"}), None).await;
        assert_eq!(status, 200, "{prefix}: {reply}");
        assert_eq!(reply["reports"], json!([{"update": "not_found", "filter": "invalid"}]), "{prefix}");
    }
}

/// The C SDK's edges: typed edges made and listed with their fields, neighbours by
/// direction and edge type, a read grant that another user's walker then honours, and
/// the link removed with its grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_walkers_link_list_share_and_unlink_nodes() {
    let server = polyglot_server().await;
    let (owner, _) = server.user("c-owner@example.com").await;
    let (friend, friend_root) = server.user("c-friend@example.com").await;
    let friend_root = format!("n::{friend_root}");
    let (status, reply) = server.post("/walker/c_link_notes", json!({"friend": friend_root}), Some(&owner)).await;
    assert_eq!(status, 200, "{reply}");
    let reports = reply["reports"].as_array().unwrap();
    let ids = &reports[3];
    let (a, b) = (ids["a"].as_str().unwrap(), ids["b"].as_str().unwrap());
    let edges = reports[0].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{reply}");
    assert!(edges[0]["id"].as_str().unwrap().starts_with("e:Link:"), "{reply}");
    assert_eq!(
        (&edges[0]["source"], &edges[0]["target"], &edges[0]["context"]),
        (&json!(a), &json!(b), &json!({"weight": 3}))
    );
    let linking_b: Vec<&Value> = reports[1].as_array().unwrap().iter().map(|node| &node["id"]).collect();
    assert_eq!(linking_b, [&json!(a)], "[b <-:Link:-]");
    assert_eq!(reports[2], json!([]), "the root's edges are untyped");

    let server = &server;
    let read = |token: String| async move { server.post("/walker/c_read_node", json!({"id": b}), Some(&token)).await };
    let (_, seen) = read(friend.clone()).await;
    assert_eq!(seen["reports"][0]["context"], json!({"text": "b"}), "granted read: {seen}");
    let unlink = json!({"a": a, "b": b, "friend": friend_root});
    let (status, reply) = server.post("/walker/c_unlink_notes", unlink, Some(&owner)).await;
    assert_eq!((status, &reply["reports"]), (200, &json!([{"removed": 1}])), "{reply}");
    let (_, seen) = read(friend.clone()).await;
    assert_eq!(seen["reports"], json!([null]), "revoked: {seen}");
    let (_, seen) = read(owner.clone()).await;
    assert_eq!(seen["reports"][0]["context"], json!({"text": "b"}), "b kept: the root's edge to it remains");
}

/// The C SDK's spec options: a custom path with a field in it, a field read from the
/// query string, root entry only, and tenant variables (unset reads null; undeclared
/// fails the walker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_walkers_declare_paths_query_fields_entry_and_vars() {
    let server = polyglot_server().await;
    let (status, reply) = server.get("/c/items/abc?tag=red").await;
    assert_eq!(
        (status, &reply["reports"]),
        (200, &json!([{"item": "abc", "tag": "red", "greeting": null}])),
        "{reply}"
    );
    let (status, reply) = server.get("/c/items/abc").await;
    assert_eq!((status, &reply["reports"][0]["tag"]), (200, &json!("none")), "{reply}");
    let (status, _) = server.get(&format!("/c/items/abc/n::{}", "0".repeat(24))).await;
    assert_eq!(status, 404, "root entry only: no node route");
    let (status, reply) = server.get("/c/items/abc?var=secret").await;
    let error = &reply["errors"][0];
    assert_eq!((status, &error["type"]), (500, &json!("walker_error")), "{reply}");
    assert!(error["msg"].as_str().unwrap().contains("denied"), "{reply}");
}

/// The C SDK decodes what JSON allows and stays within its buffer on what it does not:
/// a `\u` escape with fewer than four hex digits, or a surrogate without its other
/// half, is U+FFFD and the characters after it are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_sdk_decodes_malformed_escapes_as_replacement_characters() {
    let server = polyglot_server().await;
    let cases = [
        (r#"{"s":"\u00e9\ud83d\ude00"}"#, "é😀"),
        (r#"{"s":"\u"}"#, "\u{fffd}"),
        (r#"{"s":"a\uZZ"}"#, "a\u{fffd}ZZ"),
        (r#"{"s":"\u12"}"#, "\u{fffd}"),
        (r#"{"s":"\ud800\u0041"}"#, "\u{fffd}A"),
        (r#"{"s":"\ude00x"}"#, "\u{fffd}x"),
        (r#"{"s":"\u\u\u\u"}"#, "\u{fffd}\u{fffd}\u{fffd}\u{fffd}"),
    ];
    for (text, decoded) in cases {
        let (status, reply) = server.post("/walker/c_decode", json!({"json": text}), None).await;
        assert_eq!((status, &reply["reports"][0]["s"]), (200, &json!(decoded)), "{text}: {reply}");
    }
}

/// The C SDK's walk keeps the nodes it has queued in a hash set: a walk over 100 000
/// nodes ends well within the run's time limit (a list scanned per node took minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c_walk_over_a_hundred_thousand_nodes_ends_within_its_time_limit() {
    let server = TestServer::start_with(|config| {
        config.cache_dir = Some(support::repo().join("target/test-compiled"));
        config.walker_time_ms = 5_000;
        config.graph_writes = 50_000;
        config.graph_calls = 100_000;
        config.graph_write_bytes = 64 << 20;
        (config.quota_nodes, config.quota_edges) = (200_000, 200_000);
    })
    .await;
    support::deploy(&support::example_wasm("c-chat.wasm"), &server.walkers_dir().join("c-chat.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("c_walk_all").is_some() }).await;
    let (token, _) = server.user("c-wide@example.com").await;
    for _ in 0..4 {
        let (status, reply) = server.post("/walker/c_fan_out", json!({"count": 25_000}), Some(&token)).await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = server.post("/walker/c_walk_all", json!({}), Some(&token)).await;
    assert_eq!((status, &reply["reports"]), (200, &json!([100_000])), "{reply}");
}

/// The C SDK's walk: abilities by node type in table order, `visit` breadth-first from
/// the entry node, and `disengage`, on jac-cloud's create_graph chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_walkers_walk_by_node_type_from_the_entry_node() {
    let server = polyglot_server().await;
    let (token, _) = server.user("c-walker@example.com").await;
    let call = |path: String, body: Value| {
        let (server, token) = (&server, &token);
        async move {
            let (status, reply) = server.post(&path, body, Some(token)).await;
            assert_eq!(status, 200, "{path}: {reply}");
            reply["reports"].as_array().unwrap().clone()
        }
    };
    let created = call("/walker/c_create_graph".into(), json!({})).await;
    let vals = |nodes: &[Value]| nodes.iter().map(|node| node["context"]["val"].clone()).collect::<Vec<_>>();
    assert_eq!(vals(&created[1..]), [json!(0), json!(1), json!(2)]);
    let walked = call("/walker/c_traverse_graph".into(), json!({})).await;
    assert_eq!(walked[0]["id"], created[0]["id"], "the root first");
    assert_eq!(vals(&walked[1..]), [json!(0), json!(1), json!(2)], "then A, B and C, each once");
    let b = created[2]["id"].as_str().unwrap();
    let from_b = call(format!("/walker/c_traverse_graph/{b}"), json!({})).await;
    assert_eq!(vals(&from_b), [json!(1), json!(2)], "from B: B, then C");
    let stopped = call("/walker/c_traverse_graph".into(), json!({"stop_at": "B"})).await;
    assert_eq!(vals(&stopped[1..]), [json!(0)], "disengaged at B: the root and A");
}
