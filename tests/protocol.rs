//! The jac-cloud wire protocol (PROTOCOL.md) against a real server on loopback, with
//! real WebSocket and HTTP clients and the real example walkers.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::TestServer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use walker_host::config::Config;

const PUBLIC_ROOT: &str = "n::000000000000000000000001";

fn is_client_id(id: &Value) -> bool {
    let Some((secs, hex)) = id.as_str().and_then(|id| id.split_once(':')) else { return false };
    secs.parse::<u64>().is_ok() && hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn connection_frame_and_connection_event() {
    let server = TestServer::start().await;
    let (mut client, hello) = server.connect("?channel_id=room").await;
    assert!(is_client_id(&hello["data"]["client_id"]), "{hello}");
    assert_eq!(hello["data"]["root_id"], PUBLIC_ROOT);
    assert_eq!(hello["data"]["channel_id"], "room");
    assert_eq!(client.call(json!({"type": "connection"})).await, hello);

    let (_, other) = server.connect("").await;
    assert!(is_client_id(&other["data"]["channel_id"]), "a random channel: {other}");
    assert_ne!(other["data"]["client_id"], hello["data"]["client_id"]);
    let (_, last_wins) = server.connect("?channel_id=a&channel_id=b").await;
    assert_eq!(last_wins["data"]["channel_id"], "b");
}

#[tokio::test]
async fn walker_events_reply_only_when_asked_and_always_report_errors() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;

    let reply =
        client.call(json!({"type": "walker", "walker": "public_event", "context": {"val": 3}, "response": true})).await;
    assert_eq!(reply, json!({"status": 200, "reports": [{"val": 3}]}));

    client.send(json!({"type": "walker", "walker": "public_event", "context": {"val": 3}})).await;
    client.expect_nothing_queued().await;

    // Errors are sent even without `response`.
    let error = client.call(json!({"type": "walker", "walker": "boom"})).await;
    assert_eq!(error, json!({"error": [{"type": "walker_error", "msg": "walker boom failed: division by zero"}]}));

    let reply = client.call(json!({"type": "walker", "walker": "custom_status", "response": true})).await;
    assert_eq!(reply, json!({"status": 201, "reports": ["created"]}));
    let reply = client.call(json!({"type": "walker", "walker": "custom_report", "response": true})).await;
    assert_eq!(reply, json!({"custom": true, "list": [1, 2]}));

    // Notifications come before the reply, in order.
    client.send(json!({"type": "walker", "walker": "self_notif", "response": true})).await;
    assert_eq!(client.recv().await, json!({"progress": "0%"}));
    assert_eq!(client.recv().await, json!({"progress": "100%"}));
    assert_eq!(client.recv().await, json!({"status": 200, "reports": ["step 1", "step 2"]}));

    let reply = client.call(json!({"type": "walker", "walker": "whoami_pub", "response": true})).await;
    assert_eq!(reply, json!({"status": 200, "reports": [{"id": PUBLIC_ROOT, "context": {}}]}));
}

#[tokio::test]
async fn every_bad_input_gets_its_error_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;
    let walker = |name: &str| json!({"type": "walker", "walker": name, "response": true});
    let invalid_walker = json!({"type": "walker", "error": "Invalid request! Please use valid walker event!"});

    // E1: refusals before running.
    assert_eq!(client.call(walker("nope")).await, invalid_walker);
    assert_eq!(client.call(walker("get_q")).await, invalid_walker, "get_q is not a websocket walker");
    assert_eq!(
        client.call(json!({"type": "walker", "walker": "your_event_name", "context": {"val": 1}})).await,
        json!({"type": "walker", "error": "Event your_event_name requires to be authenticated!"})
    );
    let other_root = "n::0123456789abcdef01234567";
    let mut on_node = walker("whoami_pub");
    on_node["node"] = json!(other_root);
    assert_eq!(
        client.call(on_node).await,
        json!({"type": "walker", "error": format!("You don't have access on target entry {other_root}!")})
    );

    // E2: validation, pydantic's shapes.
    assert_eq!(
        client.call(json!({"type": "walker", "walker": "public_event", "context": {}})).await,
        json!({"error": [{"type": "missing", "loc": ["val"], "msg": "Field required", "input": {}}]})
    );
    assert_eq!(
        client.call(json!({"type": "walker", "walker": "public_event", "context": {"val": "x"}})).await["error"][0]["type"],
        "int_parsing"
    );
    // What only the walker's Rust types check (an enum inside a field) is refused alike.
    let order = json!({"line": {"name": "tea", "tags": []}, "size": "medium", "quantity": 1});
    assert_eq!(
        client.call(json!({"type": "walker", "walker": "place_order", "context": order})).await,
        json!({"error": [{"type": "enum", "loc": ["size"], "msg": "unknown variant `medium`, expected `small` or `large`",
                          "input": "medium"}]})
    );
    assert_eq!(
        client.call(json!({"type": "walker", "response": true})).await,
        json!({"error": [{"type": "missing", "loc": ["event", "walker", "walker"], "msg": "Field required",
                          "input": {"type": "walker", "response": true}}]})
    );
    assert_eq!(
        client.call(json!({"type": "walker", "walker": "public_event", "context": "str"})).await["error"][0]["loc"],
        json!(["event", "walker", "context"])
    );
    assert_eq!(client.call(json!({"type": "bogus"})).await["error"][0]["type"], "union_tag_invalid");
    assert_eq!(client.call(json!({"no": "type"})).await["error"][0]["type"], "union_tag_not_found");
    assert_eq!(client.call(json!([1, 2])).await["error"][0]["type"], "model_attributes_type");
    assert_eq!(
        client.call(json!({"type": "user", "root_ids": [], "data": {}})).await["error"][0],
        json!({"type": "too_short", "loc": ["event", "user", "root_ids"],
               "msg": "List should have at least 1 item after validation, not 0", "input": []})
    );
    assert_eq!(
        client.call(json!({"type": "channel", "channel_ids": ["x"], "data": "text"})).await["error"][0]["type"],
        "dict_type"
    );
    let mut bad_node = walker("whoami_pub");
    bad_node["node"] = json!("bad");
    assert_eq!(client.call(bad_node).await["error"][0]["loc"], json!(["event", "walker", "node"]));

    // E3: anything else, structured, never a traceback.
    client.send_raw(Message::Text("not json".into())).await;
    assert_eq!(client.recv().await["error"][0]["type"], "invalid_json");
    client.send_binary(b"\x00\x01").await;
    assert_eq!(client.recv().await["error"][0]["type"], "binary_frame");
    for (name, kind) in [("spin", "time_limit"), ("memory_bomb", "memory_limit"), ("panic", "walker_trap")] {
        let error = client.call(walker(name)).await;
        assert_eq!(error["error"][0]["type"], kind, "{name}: {error}");
        let msg = error["error"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(name) && !msg.contains('/'), "names the walker, no paths: {msg}");
    }

    let reply =
        client.call(json!({"type": "walker", "walker": "public_event", "context": {"val": 9}, "response": true})).await;
    assert_eq!(reply["reports"], json!([{"val": 9}]), "still usable");
}

#[tokio::test]
async fn req_id_is_echoed_in_replies_and_errors() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;
    let reply = client
        .call(json!({"type": "walker", "walker": "public_event", "context": {"val": 1}, "response": true, "req_id": 7}))
        .await;
    assert_eq!(reply, json!({"status": 200, "reports": [{"val": 1}], "req_id": 7}));
    let reply = client.call(json!({"type": "walker", "walker": "nope", "req_id": "a"})).await;
    assert_eq!(reply["req_id"], "a");
    let reply = client.call(json!({"type": "walker", "walker": "public_event", "req_id": "b"})).await;
    assert_eq!(reply["req_id"], "b");
    let reply = client.call(json!({"type": "walker", "walker": "boom", "req_id": "c"})).await;
    assert_eq!(reply["req_id"], "c");
}

#[tokio::test]
async fn user_channel_and_client_events_reach_their_targets() {
    let server = TestServer::start().await;
    let (token, root) = server.user("ada@example.com").await;
    let (mut ada_header, hello) = server.connect_with("?channel_id=room", Some(&format!("Bearer {token}"))).await;
    assert_eq!(hello["data"]["root_id"], format!("n::{root}"));
    let (mut ada_query, hello) = server.connect(&format!("?auth={token}")).await;
    assert_eq!(hello["data"]["root_id"], format!("n::{root}"));
    let (mut sender, hello) = server.connect("?channel_id=room").await;
    let sender_id = hello["data"]["client_id"].clone();
    let (mut outsider, _) = server.connect("?channel_id=elsewhere").await;

    // user: every connection of the user, either root id form.
    for root_id in [format!("n::{root}"), root.clone()] {
        sender.send(json!({"type": "user", "root_ids": [root_id], "data": {"to": "ada"}})).await;
        assert_eq!(ada_header.recv().await, json!({"to": "ada"}));
        assert_eq!(ada_query.recv().await, json!({"to": "ada"}));
    }

    // channel: every member, the sender too.
    sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"to": "room"}})).await;
    assert_eq!(ada_header.recv().await, json!({"to": "room"}));
    assert_eq!(sender.recv().await, json!({"to": "room"}));

    // client: the listed connection; unknown ids are ignored.
    ada_query.send(json!({"type": "client", "client_ids": [sender_id, "1:nobody"], "data": {"to": "sender"}})).await;
    assert_eq!(sender.recv().await, json!({"to": "sender"}));

    for client in [&mut ada_header, &mut ada_query, &mut sender, &mut outsider] {
        client.expect_nothing_queued().await;
    }
}

#[tokio::test]
async fn a_channel_event_reaches_every_member_of_a_large_channel_once_and_in_order() {
    let server = TestServer::start().await;
    let mut members = Vec::new();
    for _ in 0..50 {
        members.push(server.connect("?channel_id=hall").await.0);
    }
    let (mut sender, _) = server.connect("").await;
    // Delivered in slices with yields between them: every member still gets each event
    // once, in the order sent.
    for n in 0..3 {
        sender.send(json!({"type": "channel", "channel_ids": ["hall"], "data": {"n": n}})).await;
    }
    for member in &mut members {
        for n in 0..3 {
            assert_eq!(member.recv().await, json!({"n": n}));
        }
    }
    for member in &mut members {
        member.expect_nothing_queued().await;
    }
}

#[tokio::test]
async fn walkers_notify_from_websocket_and_from_rest() {
    let server = TestServer::start().await;
    let (token, root) = server.user("bob@example.com").await;
    let (mut bob_1, _) = server.connect_with("", Some(&format!("Bearer {token}"))).await;
    let (mut bob_2, _) = server.connect(&format!("?auth=Bearer%20{token}")).await;
    let (mut member, hello) = server.connect("?channel_id=lobby").await;
    let member_id = hello["data"]["client_id"].as_str().unwrap().to_string();
    let chat = json!({"type": "chat", "data": {"message": "string"}});

    // From a WebSocket walker: fan-out to both of Bob's connections.
    let reply = bob_1
        .call(json!({"type": "walker", "walker": "send_chat_to_user", "context": {"root_id": format!("n::{root}")}, "response": true}))
        .await;
    assert_eq!(reply, chat, "the sender is one of the user's connections: notified before its reply");
    assert_eq!(bob_1.recv().await, json!({"status": 200, "reports": []}));
    assert_eq!(bob_2.recv().await, chat);

    // From REST walkers.
    let (status, body) = server.post("/walker/public_group", json!({"channel_id": "lobby", "msg": "hey"}), None).await;
    assert_eq!((status, body), (200, json!({"status": 200, "reports": []})));
    assert_eq!(member.recv().await, json!({"type": "chat", "data": {"message": "hey"}}));
    let replied = server.post("/walker/send_chat_to_client", json!({"client_id": member_id}), Some(&token)).await;
    assert_eq!(replied, (200, json!({"status": 200, "reports": []})));
    assert_eq!(member.recv().await, chat);
    let replied = server.post("/walker/public_user", json!({"root_id": root}), None).await;
    assert_eq!(replied, (200, json!({"status": 200, "reports": []})));
    assert_eq!(bob_1.recv().await, chat);
    assert_eq!(bob_2.recv().await, chat);
}

#[tokio::test]
async fn change_user_switches_identity_on_the_same_connection() {
    let server = TestServer::start().await;
    let (token, root) = server.user("cy@example.com").await;
    let (mut client, hello) = server.connect("?channel_id=c").await;

    let after = client.call(json!({"type": "change_user", "token": format!("Bearer {token}")})).await;
    assert_eq!(after["data"]["root_id"], format!("n::{root}"));
    assert_eq!(after["data"]["client_id"], hello["data"]["client_id"]);
    assert_eq!(after["data"]["channel_id"], "c");
    let whoami = client.call(json!({"type": "walker", "walker": "whoami", "response": true})).await;
    assert_eq!(whoami["reports"][0]["id"], format!("n::{root}"));

    // The connection now receives the user's notifications.
    let (mut other, _) = server.connect("").await;
    other.send(json!({"type": "user", "root_ids": [root], "data": {"hi": 1}})).await;
    assert_eq!(client.recv().await, json!({"hi": 1}));

    // No token: anonymous again, and public walkers keep working on the public root.
    let after = client.call(json!({"type": "change_user"})).await;
    assert_eq!(after["data"]["root_id"], PUBLIC_ROOT);
    let refused = client.call(json!({"type": "walker", "walker": "whoami"})).await;
    assert_eq!(refused["error"], "Event whoami requires to be authenticated!");
    let whoami = client.call(json!({"type": "walker", "walker": "whoami_pub", "response": true})).await;
    assert_eq!(whoami["reports"][0]["id"], PUBLIC_ROOT);
    other.send(json!({"type": "user", "root_ids": [root], "data": {"hi": 2}})).await;
    other.expect_nothing_queued().await; // events are handled in order: the user event was handled
    client.expect_nothing_queued().await;

    let after = client.call(json!({"type": "change_user", "token": "garbage"})).await;
    assert_eq!(after["data"]["root_id"], PUBLIC_ROOT);
}

#[tokio::test]
async fn an_invalid_auth_query_wins_over_a_good_header() {
    let server = TestServer::start().await;
    let (token, _) = server.user("dee@example.com").await;
    let (_, hello) = server.connect_with("?auth=garbage", Some(&format!("Bearer {token}"))).await;
    assert_eq!(hello["data"]["root_id"], PUBLIC_ROOT);
    let (_, hello) = server.connect_with("", Some("Bearer garbage")).await;
    assert_eq!(hello["data"]["root_id"], PUBLIC_ROOT, "a bad token makes the connection anonymous");
}

#[tokio::test]
async fn an_oversize_message_closes_only_that_connection_with_1009() {
    let server = TestServer::start_with(|config| config.max_message_bytes = 1024).await;
    let (mut big, _) = server.connect("").await;
    let (mut bystander, _) = server.connect("").await;
    big.send(json!({"type": "connection", "padding": "x".repeat(4096)})).await;
    let frame = big.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009);
    bystander.expect_nothing_queued().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_cut_off_while_others_keep_receiving() {
    let server = TestServer::start_with(|config| {
        config.queue_bytes = 256 << 10;
        config.queue_messages = 64;
    })
    .await;
    let (mut slow, _) = server.connect("?channel_id=feed").await;
    let (mut fast, _) = server.connect("?channel_id=feed").await;
    let (mut sender, _) = server.connect("?channel_id=quiet").await;

    // Far more than the kernel's socket buffers and the slow reader's queue. The sender
    // never runs more than a few messages ahead of the fast reader.
    let (messages, ahead) = (3000, 8);
    let payload = "x".repeat(8 << 10);
    let (progress, mut received) = tokio::sync::watch::channel(0);
    let fast_reader = tokio::spawn(async move {
        for i in 0..messages {
            assert_eq!(fast.recv().await["n"], i);
            progress.send_replace(i + 1);
        }
        fast
    });
    for n in 0..messages {
        received.wait_for(|&done| done + ahead >= n).await.unwrap();
        sender.send(json!({"type": "channel", "channel_ids": ["feed"], "data": {"n": n, "pad": payload}})).await;
    }
    let mut fast = tokio::time::timeout(Duration::from_secs(60), fast_reader).await.unwrap().unwrap();
    fast.expect_nothing_queued().await;

    let frame = slow.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 4008, "{frame:?}");
    assert_eq!(server.running.shared.hub.connections(), 2, "the slow reader was unregistered");
}

#[tokio::test]
async fn client_event_policy_can_require_sign_in_or_disable_them() {
    let server =
        TestServer::start_with(|config| config.client_events = walker_host::config::ClientEvents::Authenticated).await;
    let (mut anonymous, _) = server.connect("?channel_id=x").await;
    let refused = anonymous.call(json!({"type": "channel", "channel_ids": ["x"], "data": {}})).await;
    assert_eq!(refused, json!({"type": "channel", "error": "Event channel requires to be authenticated!"}));
    let (token, _) = server.user("eve@example.com").await;
    let (mut signed_in, _) = server.connect_with("?channel_id=x", Some(&format!("Bearer {token}"))).await;
    signed_in.send(json!({"type": "channel", "channel_ids": ["x"], "data": {"ok": true}})).await;
    assert_eq!(anonymous.recv().await, json!({"ok": true}));

    let server = TestServer::start_with(|config| config.client_events = walker_host::config::ClientEvents::Off).await;
    let (mut client, _) = server.connect("").await;
    let refused = client.call(json!({"type": "user", "root_ids": ["n::000000000000000000000001"], "data": {}})).await;
    assert_eq!(refused["type"], "user");
    assert!(refused["error"].as_str().unwrap().contains("disabled"));
}

#[tokio::test]
async fn accounts_register_and_login() {
    let server = TestServer::start().await;
    // Passwords need 8 characters by default (jac-cloud takes any); the error never
    // repeats the password.
    let (status, body) =
        server.post("/user/register", json!({"email": "fay@example.com", "password": "1234567"}), None).await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"detail": [{"type": "string_too_short", "loc": ["body", "password"],
            "msg": "String should have at least 8 characters"}]})
        )
    );
    let credentials = json!({"email": "fay@example.com", "password": "12345678"});
    let (status, body) = server.post("/user/register", credentials.clone(), None).await;
    assert_eq!((status, body), (201, json!({"message": "Successfully Registered!"})));
    let (status, body) = server.post("/user/register", credentials.clone(), None).await;
    assert_eq!((status, body), (409, json!({"detail": "Already Exists!"})));
    let (status, body) =
        server.post("/user/register", json!({"email": "FAY@example.com", "password": "12345678"}), None).await;
    assert_eq!((status, body), (409, json!({"detail": "Already Exists!"})), "emails are case-insensitive");
    let (status, body) = server.post("/user/register", json!({"email": "nope", "password": "12345678"}), None).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
    let (status, body) = server.post("/user/register", json!({"email": "g@example.com"}), None).await;
    assert_eq!((status, body["detail"][0]["type"].clone()), (422, json!("missing")));
    // pydantic echoes what it refused, but never a password.
    for refused in [json!({"password": "hunter2hunter2"}), json!({"email": "g@example.com", "password": 20242024})] {
        let (status, body) = server.post("/user/register", refused.clone(), None).await;
        let text = body.to_string();
        assert!(status == 422 && !text.contains("hunter2") && !text.contains("2024"), "{refused}: {text}");
    }

    let (status, body) = server.post("/user/login", credentials, None).await;
    assert_eq!(status, 200);
    let user = &body["user"];
    assert_eq!(user["email"], "fay@example.com");
    let root = user["root_id"].as_str().unwrap();
    assert!(root.len() == 24 && root.bytes().all(|b| b.is_ascii_hexdigit()), "bare hex root: {root}");
    for key in ["id", "is_activated", "is_admin", "expiration", "state"] {
        assert!(user.get(key).is_some(), "user.{key} in {body}");
    }
    let (status, body) =
        server.post("/user/login", json!({"email": "fay@example.com", "password": "wrong"}), None).await;
    assert_eq!((status, body), (400, json!({"message": "Invalid Email/Password!"})));
    let (status, _) = server.post("/user/login", json!({"email": "who@example.com", "password": "pw"}), None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn rest_walker_routes_statuses_and_errors() {
    let server = TestServer::start().await;
    let (token, root) = server.user("gus@example.com").await;

    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(
        server.post("/walker/public_event", json!({"val": 4}), None).await,
        (200, json!({"status": 200, "reports": [{"val": 4}]}))
    );
    assert_eq!(
        server.post("/walker/custom_status", json!({}), None).await,
        (201, json!({"status": 201, "reports": ["created"]}))
    );
    assert_eq!(
        server.post("/walker/custom_report", json!({}), None).await,
        (200, json!({"custom": true, "list": [1, 2]}))
    );
    assert_eq!(server.get("/walker/get_q?a=5").await, (200, json!({"status": 200, "reports": [{"a": 5, "b": "x"}]})));
    assert_eq!(
        server.post("/walker/get_q?a=6", json!({"b": "y"}), None).await.1["reports"],
        json!([{"a": 6, "b": "y"}])
    );
    let (status, body) = server.post("/walker/get_q", json!({"a": 1}), None).await;
    assert_eq!((status, body["detail"][0]["loc"].clone()), (422, json!(["query", "a"])));
    assert_eq!(server.get("/custom/abc?val=3").await.1["reports"], json!([{"key": "abc", "val": 3}]));
    assert_eq!(server.get("/custom/a%20b").await.1["reports"], json!([{"key": "a b", "val": 0}]));

    // Floats are read exactly (as Python reads them): this one is not whole, though the
    // nearest whole float is one unit in the last place away.
    let (status, body) = server.post("/walker/public_event", json!({"val": -2093137148180755.8}), None).await;
    assert_eq!((status, body["detail"][0]["type"].clone()), (422, json!("int_from_float")), "{body}");
    // Nested fields, enums and integer ranges, checked by the walker's own types before it
    // runs: 422 with jac-cloud's `loc`, not a failed run.
    let order = json!({"line": {"name": "tea", "tags": ["green"]}, "size": "large", "quantity": 3});
    let placed = json!({"line": {"name": "tea", "tags": ["green"]}, "size": "large", "quantity": 3, "grade": "a"});
    assert_eq!(server.post("/walker/place_order", order.clone(), None).await.1["reports"], json!([placed]));
    let (server, order) = (&server, &order);
    let refused = |field: &str, value: Value| {
        let mut order = order.clone();
        order[field] = value;
        async move {
            let (status, body) = server.post("/walker/place_order", order, None).await;
            assert_eq!(status, 422, "{body}");
            body["detail"][0].clone()
        }
    };
    let size = refused("size", json!("medium")).await;
    assert_eq!(
        (size["type"].clone(), size["loc"].clone(), size["input"].clone()),
        (json!("enum"), json!(["body", "size"]), json!("medium"))
    );
    let quantity = refused("quantity", json!(300)).await;
    assert_eq!((quantity["loc"].clone(), quantity["input"].clone()), (json!(["body", "quantity"]), json!(300)));
    assert_eq!(refused("grade", json!("ab")).await["loc"], json!(["body", "grade"]));
    assert_eq!(
        refused("line", json!({"name": "tea"})).await,
        json!({"type": "missing", "loc": ["body", "line", "tags"], "msg": "Field required", "input": {"name": "tea"}})
    );
    let tag = refused("line", json!({"name": "tea", "tags": ["ok", 7]})).await;
    assert_eq!((tag["loc"].clone(), tag["input"].clone()), (json!(["body", "line", "tags", 1]), json!(7)));

    // An excluded field takes its default whatever the client sends; a hidden walker is
    // served; a private one is not, over REST or the WebSocket.
    let documented = server.post("/walker/documented", json!({"val": 1, "note": "forged"}), None).await;
    assert_eq!(documented.1["reports"], json!([{"val": 1, "note": "set by the server"}]));
    assert_eq!(server.post("/walker/undocumented", json!({}), None).await.1["reports"], json!(["served"]));
    assert_eq!(server.post("/walker/internal", json!({}), None).await.0, 404);
    let (mut client, _) = server.connect("").await;
    let refused = client.call(json!({"type": "walker", "walker": "internal", "response": true})).await;
    assert_eq!(refused["error"], "Invalid request! Please use valid walker event!", "{refused}");

    // Auth.
    assert_eq!(
        server.post("/walker/no_specs_default", json!({}), None).await,
        (403, json!({"detail": "Not authenticated"}))
    );
    assert_eq!(
        server.post("/walker/no_specs_default", json!({}), Some("forged")).await,
        (401, json!({"detail": "Unauthorized"}))
    );
    assert_eq!(
        server.post("/walker/no_specs_default", json!({}), Some(&token)).await.1["reports"],
        json!(["default specs"])
    );
    let whoami = server.post("/walker/whoami", json!({}), Some(&token)).await;
    assert_eq!(whoami.1["reports"], json!([{"id": format!("n::{root}"), "context": {}}]));
    let whoami_pub = server.post("/walker/whoami_pub", json!({}), Some(&token)).await;
    assert_eq!(whoami_pub.1["reports"][0]["id"], format!("n::{root}"), "public walkers run as the signed-in user");

    // Routing.
    assert_eq!(server.post("/walker/nope", json!({}), None).await, (404, json!({"detail": "Not Found"})));
    assert_eq!(server.post("/walker/your_event_name", json!({"val": 1}), Some(&token)).await.0, 404, "websocket only");
    assert_eq!(server.post("/walker/path_var", json!({"key": "k"}), None).await.0, 404, "served on its custom path");
    // Custom paths as jac-cloud serves them: each also on a node after it; a relative one
    // under `/walker/<name>/`; one under `/walker/` itself, over a walker's node route.
    let root_node = format!("n::{root}");
    let reported = |key: &str, here: &str| (200, json!({"status": 200, "reports": [{"key": key, "here": here}]}));
    let get_as = |path: String| {
        let request = server.http.get(server.url(&path)).bearer_auth(&token);
        async move { support::server::read(request.send().await.unwrap()).await }
    };
    assert_eq!(get_as(format!("/custom/k/{root_node}")).await.1["reports"], json!([{"key": "k", "val": 0}]));
    assert_eq!(get_as("/walker/path_rel/k1".into()).await, reported("k1", &root_node));
    assert_eq!(get_as(format!("/walker/path_rel/k2/{root_node}")).await, reported("k2", &root_node));
    assert_eq!(get_as("/walker/path_rel".into()).await.0, 404, "its path has a {{key}}");
    assert_eq!(get_as("/walker/legacy/k3".into()).await, reported("k3", &root_node));
    assert_eq!(get_as(format!("/walker/legacy/k4/{root_node}")).await, reported("k4", &root_node));
    assert_eq!(get_as("/walker/under_walker".into()).await.0, 404, "served on its custom path");
    let put = server.http.put(server.url("/walker/public_event")).json(&json!({"val": 1})).send().await.unwrap();
    assert_eq!(support::server::read(put).await, (405, json!({"detail": "Method Not Allowed"})));

    // Bodies.
    let (status, body) = server.post("/walker/public_event", json!({}), None).await;
    assert_eq!((status, body["detail"][0]["loc"].clone()), (422, json!(["body", "val"])));
    let raw = server.http.post(server.url("/walker/public_event")).body("not json").send().await.unwrap();
    let (status, body) = support::server::read(raw).await;
    assert_eq!((status, body["detail"][0]["type"].clone()), (422, json!("json_invalid")));

    // Nodes.
    let own_root = json!({"status": 200, "reports": [{"id": format!("n::{root}"), "context": {}}]});
    let own = server.post(&format!("/walker/whoami/n::{root}"), json!({}), Some(&token)).await;
    assert_eq!(own, (200, own_root.clone()));
    let bare = server.post(&format!("/walker/whoami/{root}"), json!({}), Some(&token)).await;
    assert_eq!(bare, (200, own_root), "bare hex roots are accepted");
    let other = server.post("/walker/whoami/n::0123456789abcdef01234567", json!({}), Some(&token)).await;
    assert_eq!(
        other,
        (403, json!({"detail": {"error": "You don't have access on target entry n::0123456789abcdef01234567!"}}))
    );
    let (status, body) = server.post("/walker/whoami/bad", json!({}), Some(&token)).await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"detail": [{"type": "value_error", "loc": ["path", "node"], "msg": "[bad] is not a valid reference!", "input": "bad"}]})
        )
    );

    // Oversize bodies and wrong methods on fixed routes are structured too.
    let big = server.http.post(server.url("/walker/public_event")).body(vec![b' '; 2 << 20]).send().await.unwrap();
    assert_eq!(support::server::read(big).await, (413, json!({"detail": "Request body too large"})));
    let get = server.http.get(server.url("/user/login")).send().await.unwrap();
    assert_eq!(support::server::read(get).await, (405, json!({"detail": "Method Not Allowed"})));

    // Failures are structured, and the HTTP connection stays usable.
    let (status, body) = server.post("/walker/boom", json!({}), None).await;
    assert_eq!(
        (status, body),
        (500, json!({"errors": [{"type": "walker_error", "msg": "walker boom failed: division by zero"}]}))
    );
    assert_eq!(server.post("/walker/public_event", json!({"val": 1}), None).await.0, 200);
}

#[tokio::test]
async fn tokens_survive_a_restart_and_bad_tokens_never_authenticate() {
    let server = TestServer::start().await;
    let (token, root) = server.user("hal@example.com").await;
    let (walkers, data) = server.stop().await;

    let server = TestServer::start_in(walkers, data, |_| {}).await;
    let whoami = server.post("/walker/whoami", json!({}), Some(&token)).await;
    assert_eq!(whoami.1["reports"][0]["id"], format!("n::{root}"), "the secret was kept");

    let secret = std::fs::read_to_string(server.data.path().join("token_secret")).unwrap();
    let claims = |exp: u64| {
        json!({"id": "x", "email": "hal@example.com", "root_id": root, "is_activated": true, "is_admin": false,
               "expiration": exp, "state": "s", "exp": exp})
    };
    let sign = |claims: &Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = sign(&claims(now - 10), &secret);
    let forged = sign(&claims(now + 3600), "another secret");
    let unsigned = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.", engine.encode(r#"{"alg":"none","typ":"JWT"}"#), engine.encode(claims(now + 3600).to_string()))
    };
    for bad in [expired, forged, unsigned] {
        assert_eq!(server.post("/walker/whoami", json!({}), Some(&bad)).await.0, 401);
        let (_, hello) = server.connect(&format!("?auth={bad}")).await;
        assert_eq!(hello["data"]["root_id"], PUBLIC_ROOT);
    }
    let valid = sign(&claims(now + 3600), &secret);
    assert_eq!(server.post("/walker/whoami", json!({}), Some(&valid)).await.0, 200);
}

#[tokio::test]
async fn a_websocket_whose_token_expires_is_signed_out_with_a_connection_frame() {
    let server =
        TestServer::start_with(|config| config.token_secret = Some("a secret for the token expiry test".into())).await;
    let (_, root) = server.user("brief@example.com").await;
    // A token that expires in two seconds (exp has whole-second precision).
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    let claims = json!({"id": "x", "email": "brief@example.com", "root_id": root, "is_activated": true,
                        "is_admin": false, "expiration": exp, "state": "s", "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(b"a secret for the token expiry test");
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    let (mut client, hello) = server.connect(&format!("?auth={token}")).await;
    assert_eq!(hello["data"]["root_id"], format!("n::{root}"));
    // At expiry: a connection frame with the public root, same client and channel.
    let signed_out = client.recv().await;
    assert_eq!(signed_out["type"], "connection");
    assert_eq!(signed_out["data"]["root_id"], PUBLIC_ROOT);
    assert_eq!(signed_out["data"]["client_id"], hello["data"]["client_id"]);
    // Notifications to the user no longer reach it; public walkers still run.
    let (mut other, _) = server.connect("").await;
    other.send(json!({"type": "user", "root_ids": [root], "data": {"to": "user"}})).await;
    other.expect_nothing_queued().await;
    client.expect_nothing_queued().await;
    let reply =
        client.call(json!({"type": "walker", "walker": "public_event", "context": {"val": 1}, "response": true})).await;
    assert_eq!(reply["status"], 200);
    let refused = client.call(json!({"type": "walker", "walker": "your_event_name", "context": {"val": 1}})).await;
    assert_eq!(refused["error"], "Event your_event_name requires to be authenticated!");
}

#[tokio::test]
async fn hot_reloaded_walkers_are_routed_at_once() {
    let server = TestServer::start().await;
    assert_eq!(server.post("/walker/version", json!({}), None).await.0, 404);
    let mut changes = server.running.shared.catalog.subscribe();
    support::deploy(&support::fixture("version-v1.wasm"), &server.walkers_dir().join("version.wasm"));
    tokio::time::timeout(Duration::from_secs(20), changes.changed()).await.unwrap().unwrap();
    assert_eq!(server.post("/walker/version", json!({}), None).await.1["reports"], json!([1]));
    let (mut client, _) = server.connect("").await;
    let reply = client.call(json!({"type": "walker", "walker": "version", "response": true})).await;
    assert_eq!(reply["reports"], json!([1]));
}

#[tokio::test]
async fn shutdown_closes_websockets_with_1001() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;
    let stopping = tokio::spawn(server.stop());
    let frame = client.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
    stopping.await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_running_walker_finish_and_reply_before_closing() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;
    client.send(json!({"type": "walker", "walker": "nap", "context": {"ms": 200}, "response": true})).await;
    // The run is under way when the server is told to stop.
    server.until_slots_in_use(1).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(client.recv().await, json!({"status": 200, "reports": [200]}));
    let frame = client.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
    stopping.await.unwrap();
}

#[tokio::test]
async fn an_unreadable_token_secret_fails_the_start_and_is_kept() {
    let (walkers, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stored = data.path().join("token_secret");
    std::fs::write(&stored, [0xff, 0xfe, b'x']).unwrap();
    let mut config = Config::with_dirs(walkers.path().to_path_buf(), data.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let error = walker_host::server::Running::start(config).await.err().expect("the start fails");
    assert!(format!("{error:#}").contains("reading the token secret"), "{error:#}");
    assert_eq!(std::fs::read(&stored).unwrap(), [0xff, 0xfe, b'x'], "not replaced: nobody is signed out");
}

#[tokio::test]
async fn a_configured_token_secret_and_lifetime_are_used() {
    let server = TestServer::start_with(|config| {
        config.token_secret = Some("a configured secret of 32 bytes!".into());
        config.token_ttl_secs = 600;
    })
    .await;
    assert!(!server.data.path().join("token_secret").exists(), "no secret is generated");
    let credentials = json!({"email": "ida@example.com", "password": "correct horse"});
    assert_eq!(server.post("/user/register", credentials.clone(), None).await.0, 201);
    let (status, body) = server.post("/user/login", credentials, None).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();

    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(b"a configured secret of 32 bytes!"),
        &validation,
    )
    .expect("signed with the configured secret")
    .claims;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let exp = claims["exp"].as_u64().unwrap();
    assert!((now + 595..=now + 600).contains(&exp), "expires after the configured 600 s: {exp} vs {now}");
    assert_eq!(body["user"]["expiration"], exp);
    assert_eq!(server.post("/walker/whoami", json!({}), Some(token)).await.0, 200);
}

#[tokio::test]
async fn browsers_may_call_from_any_origin_by_default_and_from_listed_ones_when_configured() {
    let server = TestServer::start().await;
    let origin = "http://app.example:5173";
    // A preflight for a login with a bearer token: allowed, as jac-cloud allows it.
    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, server.url("/walker/no_specs_default"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).map(|value| value.to_str().unwrap().to_ascii_lowercase())
    };
    assert_eq!(allowed(&preflight, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(allowed(&preflight, "access-control-allow-headers").as_deref(), Some("authorization,content-type"));
    assert_eq!(allowed(&preflight, "access-control-allow-methods").as_deref(), Some("post"));
    let call = server.http.post(server.url("/user/login")).header("origin", origin).json(&json!({})).send().await;
    assert_eq!(allowed(&call.unwrap(), "access-control-allow-origin").as_deref(), Some("*"), "errors carry it too");

    // With allow-lists: a listed origin is echoed, another gets no CORS headers.
    let server = TestServer::start_with(|config| {
        config.cors_origins = vec![origin.into()];
        config.ws_origins = Some(vec![origin.into()]);
    })
    .await;
    let from = |origin: &'static str| {
        server.http.post(server.url("/walker/public_event")).header("origin", origin).json(&json!({"val": 1})).send()
    };
    assert_eq!(allowed(&from(origin).await.unwrap(), "access-control-allow-origin").as_deref(), Some(origin));
    assert_eq!(allowed(&from("http://evil.example").await.unwrap(), "access-control-allow-origin"), None);

    // WebSockets: a listed origin or none (not a browser) connects; another is refused
    // before the upgrade.
    let open = |origin: Option<&'static str>| {
        let mut request = server.ws_url("").into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    assert!(open(Some(origin)).await.is_ok());
    assert!(open(None).await.is_ok());
    match open(Some("http://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test]
async fn a_get_walker_takes_fields_from_a_json_body_when_one_is_sent() {
    let server = TestServer::start().await;
    let get = |path: &'static str, body: Option<Value>| {
        let mut request = server.http.get(server.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { support::server::read(request.send().await.unwrap()).await }
    };
    // As jac-cloud: `as_query` fields from the query string, the others from the body.
    assert_eq!(get("/walker/get_q?a=3", Some(json!({"b": "y"}))).await.1["reports"], json!([{"a": 3, "b": "y"}]));
    assert_eq!(get("/custom/k1", Some(json!({"val": 4}))).await.1["reports"], json!([{"key": "k1", "val": 4}]));
    // Without a body, from the query string, as before.
    assert_eq!(get("/custom/k1?val=5", None).await.1["reports"], json!([{"key": "k1", "val": 5}]));
    // A body that is not a JSON object is refused like a POST's.
    assert_eq!(get("/custom/k1", Some(json!([1]))).await.0, 422);
}

#[tokio::test]
async fn a_user_event_with_a_malformed_root_id_is_refused_and_delivers_nothing() {
    let server = TestServer::start().await;
    let (mut sender, _) = server.connect("").await;
    let (mut anonymous, _) = server.connect("").await;
    let event = json!({"type": "user", "root_ids": ["n::000000000000000000000001", "garbage"], "data": {"x": 1}});
    assert_eq!(
        sender.call(event).await,
        json!({"error": [{"type": "value_error", "loc": ["event", "user", "root_ids", 1],
                          "msg": "[garbage] is not a valid reference!", "input": "garbage"}]})
    );
    // Not even to the valid id, and the connection stays usable.
    anonymous.expect_nothing_queued().await;
    sender.expect_nothing_queued().await;
}

/// The value of the Prometheus sample `name` whose labels include `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let matches = metric == name && labels.iter().all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")));
        matches.then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn metrics_count_connections_events_runs_and_deliveries() {
    let server = TestServer::start().await;
    let scrape = || async {
        let response = server.http.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let (mut alice, _) = server.connect("?channel_id=m").await;
    let (mut bob, _) = server.connect("?channel_id=m").await;
    alice.send(json!({"type": "channel", "channel_ids": ["m"], "data": {"hi": 1}})).await;
    assert_eq!(bob.recv().await, json!({"hi": 1}));
    assert_eq!(alice.recv().await, json!({"hi": 1}), "the sender is in the channel too");
    let reply =
        alice.call(json!({"type": "walker", "walker": "public_event", "context": {"val": 1}, "response": true}));
    assert_eq!(reply.await["status"], 200);
    assert_eq!(server.post("/walker/public_event", json!({"val": "x"}), None).await.0, 422);
    alice.call(json!({"type": "nonsense"})).await;

    let text = scrape().await;
    let value = |name, labels: &[(&str, &str)]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?}:\n{text}"))
    };
    assert_eq!(value("walker_host_connections", &[]), 2.0);
    assert_eq!(value("walker_host_client_events_total", &[("type", "channel")]), 1.0);
    assert_eq!(value("walker_host_client_events_total", &[("type", "walker")]), 1.0);
    assert_eq!(value("walker_host_client_events_total", &[("type", "invalid")]), 1.0);
    assert_eq!(value("walker_host_walker_runs_total", &[("walker", "public_event"), ("outcome", "ok")]), 1.0);
    assert_eq!(value("walker_host_walker_runs_total", &[("walker", "public_event"), ("outcome", "invalid")]), 1.0);
    assert_eq!(value("walker_host_walker_run_seconds_count", &[("walker", "public_event")]), 1.0);
    assert_eq!(value("walker_host_notifications_delivered_total", &[]), 2.0);
    assert_eq!(value("walker_host_walker_loads_total", &[("outcome", "loaded")]), 2.0, "chat and hostile");
    assert_eq!(value("walker_host_slow_consumer_closes_total", &[]), 0.0);
    let slots = server.running.shared.catalog.runtime().slots_in_use() as f64;
    assert_eq!(value("walker_host_instance_slots_in_use", &[]), slots, "read from the runtime when scraped");

    // Behind a token when one is configured.
    let server = TestServer::start_with(|config| config.metrics_token = Some("scraper".into())).await;
    let get = |token: Option<&'static str>| {
        let mut request = server.http.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(None).await, 401);
    assert_eq!(get(Some("wrong")).await, 401);
    assert_eq!(get(Some("scraper")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_listens_at_once_and_serves_each_walker_file_when_it_is_loaded() {
    // A fresh code cache, so the Python component compiles (seconds); a file that is not
    // a component fails.
    let walkers = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(support::chat_wasm(), walkers.path().join("chat.wasm")).unwrap();
    std::fs::copy(support::example_wasm("python-chat.wasm"), walkers.path().join("python-chat.wasm")).unwrap();
    std::fs::write(walkers.path().join("broken.wasm"), b"not a component").unwrap();
    let mut config = walker_host::config::Config::with_dirs(walkers.path().into(), data.path().into());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.walker_time_ms = 5_000;
    let running = walker_host::server::Running::start(config).await.unwrap();
    let url = |path: &str| format!("http://{}{path}", running.addr);
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let request = http.get(url(path));
        async move { support::server::read(request.send().await.unwrap()).await }
    };

    // Listening before the Python walkers are compiled: they answer as unknown walkers.
    let (status, readiness) = get("/readyz").await;
    assert_eq!(status, 503, "{readiness}");
    assert!(readiness["loading"].as_array().unwrap().contains(&json!("python-chat.wasm")), "{readiness}");
    assert_eq!(get("/healthz").await.0, 200);
    let make_note = || http.post(url("/walker/py_make_note")).json(&json!({"text": "hi"})).send();
    assert_eq!(make_note().await.unwrap().status(), 404);

    let catalog = &running.shared.catalog;
    support::wait_until_within(catalog, Duration::from_secs(120), || async { catalog.readiness().ready }).await;
    let (status, mut readiness) = get("/readyz").await;
    assert_eq!(status, 200);
    let errors = readiness.as_object_mut().unwrap().remove("errors").unwrap();
    assert!(errors["broken.wasm"].as_str().is_some_and(|why| !why.is_empty()), "why it failed: {errors}");
    assert_eq!(
        readiness,
        json!({"ready": true, "loaded": ["chat.wasm", "python-chat.wasm"], "loading": [], "failed": ["broken.wasm"]})
    );
    // Served now: it asks for a signed-in caller, as its spec says.
    let served = support::server::read(make_note().await.unwrap()).await;
    assert_eq!(served, (403, json!({"detail": "Not authenticated"})));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_describes_the_loaded_walkers_and_follows_hot_reloads() {
    let server = TestServer::start().await;
    let (status, doc) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = &doc["paths"];
    assert!(paths["/user/login"]["post"].is_object() && paths["/user/register"]["post"].is_object());
    let traverse = &paths["/util/traverse"]["get"];
    let parameters: Vec<&Value> = traverse["parameters"].as_array().unwrap().iter().map(|p| &p["name"]).collect();
    assert_eq!(parameters, ["source", "detailed", "depth", "node_types", "edge_types"]);

    // `as_query` fields are query parameters; the others a JSON body, with defaults.
    let get_q = &paths["/walker/get_q"]["get"];
    assert!(
        get_q["parameters"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "a", "in": "query", "required": true, "schema": {"type": "integer"}}))
    );
    assert_eq!(
        get_q["requestBody"]["content"]["application/json"]["schema"]["properties"]["b"],
        json!({"type": "string", "default": "x"})
    );
    // Custom paths, with their path parameters.
    let custom = &paths["/custom/{key}"]["get"];
    assert!(custom["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "key" && p["in"] == "path"));
    // Node routes as the walker's entry type says.
    assert!(paths["/walker/rename_item/{node}"]["post"].is_object());
    assert!(paths.get("/walker/rename_item").is_none(), "node entry only");
    assert!(paths["/walker/list_items"]["post"].is_object());
    assert!(paths.get("/walker/list_items/{node}").is_none(), "root entry only");
    // Auth as bearer security; a public walker takes a token or none.
    assert_eq!(paths["/walker/make_item"]["post"]["security"], json!([{"bearer": []}]));
    assert_eq!(paths["/walker/public_event"]["post"]["security"], json!([{}, {"bearer": []}]));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    // Every operation has a unique id.
    let ids: Vec<&Value> = paths
        .as_object()
        .unwrap()
        .values()
        .flat_map(|path| path.as_object().unwrap().values().map(|operation| &operation["operationId"]))
        .collect();
    let unique: std::collections::BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(unique.len(), ids.len());
    // `x-walkers` lists every walker, WebSocket-only ones too, for the playground.
    let walkers = doc["x-walkers"].as_array().unwrap();
    let walker = |name: &str| walkers.iter().find(|walker| walker["name"] == name).unwrap().clone();
    assert_eq!(
        walker("your_event_name"),
        json!({"name": "your_event_name", "methods": ["websocket"], "auth": true, "as_query": [],
               "routes": [],
               "fields": [{"name": "val", "schema": {"type": "integer"}, "required": true}]})
    );
    assert_eq!(walker("get_q")["as_query"], json!(["a"]));
    // What only a walker's Rust types say is declared too: ranges, a nested struct's
    // fields, an enum's values.
    let order = &paths["/walker/place_order"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(order["properties"]["quantity"], json!({"type": "integer", "minimum": 0, "maximum": 255}));
    assert_eq!(order["properties"]["grade"], json!({"type": "string", "minLength": 1, "maxLength": 1, "default": "a"}));
    assert_eq!(order["properties"]["size"], json!({"type": "string", "title": "Size", "enum": ["small", "large"]}));
    assert_eq!(
        order["properties"]["line"],
        json!({"type": "object", "title": "Line", "required": ["name", "tags"], "properties": {
            "name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}})
    );
    assert_eq!(order["required"], json!(["line", "size", "quantity"]));
    // jac-cloud's other spec options: documentation, a response model, an excluded
    // field (not documented), a walker served but not listed, one not served at all.
    let documented = &paths["/walker/documented"]["post"];
    assert_eq!(
        (&documented["summary"], &documented["description"], &documented["tags"], &documented["deprecated"]),
        (&json!("A documented walker"), &json!("Reports its fields."), &json!(["examples"]), &json!(true))
    );
    assert_eq!(
        documented["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "object", "title": "Documented"})
    );
    let body = &documented["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!((&body["properties"], &body["required"]), (&json!({"val": {"type": "integer"}}), &json!(["val"])));
    assert_eq!(paths["/walker/make_item"]["post"]["tags"], json!(["Walker APIs"]), "jac-cloud's default tag");
    assert!(paths.get("/walker/undocumented").is_none() && paths.get("/walker/internal").is_none());
    for unlisted in ["internal", "undocumented"] {
        assert!(walkers.iter().all(|walker| walker["name"] != unlisted), "{unlisted}: not in x-walkers either");
    }
    assert_eq!(walker("rename_item")["routes"], json!([{"path": "/walker/rename_item/{node}", "node": true}]));

    // The same document in YAML, as jac-cloud serves it beside.
    let yaml = server.http.get(server.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(yaml.headers()["content-type"], "text/yaml; charset=utf-8");
    let yaml: Value = serde_norway::from_str(&yaml.text().await.unwrap()).unwrap();
    assert_eq!(yaml, doc);
    let openapi = &server.running.shared.openapi;
    assert_eq!(openapi.builds(), 1, "built once for the walkers loaded, whatever the requests");

    // The pages read it, and load nothing from elsewhere (deployments are often offline).
    for page in ["/docs", "/playground"] {
        let page = server.http.get(server.url(page)).send().await.unwrap();
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let page = page.text().await.unwrap();
        assert!(page.contains(r#"fetch("openapi.json")"#));
        assert!(!page.contains("https://") && !page.contains("http://"), "no external assets");
    }

    // A walker deployed while the server runs is described at once.
    assert!(paths.get("/walker/version").is_none());
    support::deploy(&support::fixture("version-v1.wasm"), &server.walkers_dir().join("version.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("version").is_some() }).await;
    assert!(server.get("/openapi.json").await.1["paths"]["/walker/version"]["post"].is_object());
    let yaml = server.http.get(server.url("/openapi.yaml")).send().await.unwrap().text().await.unwrap();
    assert!(yaml.contains("/walker/version:"), "the YAML follows the reload too");
    assert_eq!(openapi.builds(), 2, "built again once, for the new walkers");
}
