//! What only PostgreSQL gives: two instances sharing accounts and the graph, runs that
//! fail cleanly while the database is down and succeed again when it is back, and
//! `export` / `import` moving a deployment between SQLite and PostgreSQL. The graph
//! suite itself runs on both backends in `graph.rs`.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::postgres::{self, Postgres};
use support::server::TestServer;
use walker_host::config::Config;

const BINARY: &str = env!("CARGO_BIN_EXE_walker-host");
const SECRET: &str = "the secret every instance shares";

/// An instance on `database`, with the shared token secret.
async fn instance(database: &str, configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(|config| {
        config.database = Some(database.into());
        config.token_secret = Some(SECRET.into());
        configure(config);
    })
    .await
}

async fn reports(server: &TestServer, path: &str, body: Value, token: &str) -> Value {
    let (status, reply) = server.post(path, body, Some(token)).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply["reports"].clone()
}

async fn login(server: &TestServer, email: &str) -> (u16, Value) {
    server.post("/user/login", json!({"email": email, "password": "correct horse"}), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_accounts_and_the_graph() {
    let database = postgres::shared().database().await;
    // The default time limit: a run may wait for its root's earlier runs.
    let default_time = |config: &mut Config| config.walker_time_ms = 1_000;
    let (a, b) = (instance(&database, default_time).await, instance(&database, default_time).await);

    // Registered through one, signed in through the other; the email is taken on both.
    let credentials = json!({"email": "both@example.com", "password": "correct horse"});
    assert_eq!(a.post("/user/register", credentials.clone(), None).await.0, 201);
    assert_eq!(b.post("/user/register", credentials.clone(), None).await.0, 409);
    let (status, body) = login(&b, "BOTH@example.com").await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();

    // A node made through one is read, updated and deleted through the other.
    let item = reports(&a, "/walker/make_item", json!({"name": "shared"}), &token).await[0].clone();
    let id = item["id"].as_str().unwrap();
    assert_eq!(reports(&b, "/walker/list_items", json!({}), &token).await, json!([[item]]));
    let renamed = reports(&b, &format!("/walker/rename_item/{id}"), json!({"name": "renamed"}), &token).await;
    assert_eq!(renamed[0]["context"]["name"], "renamed");
    assert_eq!(reports(&a, "/walker/list_items", json!({}), &token).await[0][0]["context"]["name"], "renamed");
    reports(&a, &format!("/walker/delete_item/{id}"), json!({}), &token).await;
    assert_eq!(reports(&b, "/walker/list_items", json!({}), &token).await, json!([[]]));

    // One counter, created and incremented through both instances at once, loses no
    // update: runs of one root are ordered across instances (an advisory lock in
    // PostgreSQL), "create it if absent" included, so every call answers. Every client
    // connects before any calls, so that the first runs on both instances overlap.
    let mut clients = Vec::new();
    for server in [&a, &b] {
        for _ in 0..8 {
            clients.push(server.connect(&format!("?auth={token}")).await.0);
        }
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for mut client in clients {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut values = Vec::new();
            for _ in 0..25 {
                let reply = client.call(json!({"type": "walker", "walker": "counter", "response": true})).await;
                values.push(reply["reports"][0].as_i64().unwrap_or_else(|| panic!("{reply}")));
            }
            values
        }));
    }
    let mut seen = BTreeSet::new();
    for task in tasks {
        for value in tokio::time::timeout(Duration::from_secs(120), task).await.unwrap().unwrap() {
            assert!(seen.insert(value), "{value} reported twice");
        }
    }
    assert_eq!(seen, (1..=400).collect(), "every increment counted once");
    assert_eq!(reports(&b, "/walker/counter", json!({}), &token).await, json!([401]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_fail_cleanly_while_postgresql_is_down_and_succeed_when_it_is_back() {
    let cluster = Postgres::start();
    let database = cluster.database().await;
    let server = instance(&database, |config| config.database_timeout_ms = 1_000).await;
    let (token, _) = server.user("outage@example.com").await;
    let kept = reports(&server, "/walker/make_item", json!({"name": "kept"}), &token).await[0].clone();
    let (mut client, _) = server.connect(&format!("?auth={token}")).await;

    cluster.stop();
    // Every path answers with a structured error, in about the store timeout, not later.
    let started = Instant::now();
    let (status, body) = server.post("/walker/make_item", json!({"name": "lost"}), Some(&token)).await;
    assert_eq!((status, body["errors"][0]["type"].as_str()), (503, Some("storage_unavailable")), "{body}");
    let event = json!({"type": "walker", "walker": "ws_item", "context": {"name": "lost"}, "response": true});
    assert_eq!(client.call(event).await["error"][0]["type"], "storage_unavailable");
    let rename = format!("/walker/rename_item/{}", kept["id"].as_str().unwrap());
    let (status, body) = server.post(&rename, json!({"name": "x"}), Some(&token)).await;
    assert_eq!((status, body["errors"][0]["type"].as_str()), (503, Some("storage_unavailable")), "{body}");
    let (status, body) = login(&server, "outage@example.com").await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(20), "failing took {:?}", started.elapsed());
    // Other users' sockets, and walkers that do not touch the graph, are unaffected.
    assert_eq!(client.call(json!({"type": "connection"})).await["type"], "connection");

    cluster.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.post("/walker/make_item", json!({"name": "after"}), Some(&token)).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing the failed runs tried was written.
    let names: Vec<Value> = reports(&server, "/walker/list_items", json!({}), &token).await[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["context"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("kept"), json!("after")]);
    let (mut client, _) = server.connect(&format!("?auth={token}")).await;
    let event = json!({"type": "walker", "walker": "ws_item", "context": {"name": "ws"}, "response": true});
    assert_eq!(client.call(event).await["status"], 200);
}

/// Runs `walker-host <args>` with `input` on standard input; returns standard output.
fn run_binary(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// Exported rows, with edge sequence numbers dropped (an import numbers edges anew).
fn rows(export: &[u8]) -> Vec<Value> {
    let mut rows: Vec<Value> = serde_json::Deserializer::from_slice(export).into_iter().map(Result::unwrap).collect();
    for row in &mut rows {
        if let Some(edge) = row.as_object_mut().filter(|row| row["kind"] == "edge") {
            edge.remove("seq");
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_move_a_deployment_from_sqlite_to_postgresql_and_back() {
    // A deployment on SQLite: two users, items, a grant.
    let server = TestServer::start_with(|config| config.token_secret = Some(SECRET.into())).await;
    support::deploy(&support::fixture("graph.wasm"), &server.walkers_dir().join("graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("g_grant").is_some() }).await;
    let (alice, _) = server.user("alice@example.com").await;
    let (bob, bob_root) = server.user("bob@example.com").await;
    for name in ["a", "b", "c"] {
        reports(&server, "/walker/make_item", json!({"name": name}), &alice).await;
    }
    let items = reports(&server, "/walker/list_items", json!({}), &alice).await;
    let shared = items[0][1]["id"].clone();
    reports(&server, "/walker/g_grant", json!({"id": shared, "grantee": bob_root, "level": "read"}), &alice).await;
    let (walkers, data) = server.stop().await;

    let data_dir = data.path().to_str().unwrap();
    let exported = run_binary(&["export", "--data-dir", data_dir], b"");
    let kinds: Vec<String> = rows(&exported).iter().map(|row| row["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["user", "user", "node", "node", "node", "edge", "edge", "edge", "grant"]);

    let database = postgres::shared().database().await;
    run_binary(&["import", "--database", &database], &exported);
    // The same rows come back out of PostgreSQL.
    assert_eq!(rows(&run_binary(&["export", "--database", &database], b"")), rows(&exported));

    // On PostgreSQL: same passwords, tokens, roots, ids and access; usage came along
    // (a quota of four items leaves room for one more).
    let server = TestServer::start_in(walkers, tempfile::tempdir().unwrap(), |config| {
        config.database = Some(database.clone().into());
        config.token_secret = Some(SECRET.into());
        config.quota_nodes = 4;
    })
    .await;
    assert_eq!(login(&server, "alice@example.com").await.0, 200);
    assert_eq!(reports(&server, "/walker/list_items", json!({}), &alice).await, items);
    let (status, body) = server.post("/walker/g_get", json!({"id": shared}), Some(&bob)).await;
    assert_eq!((status, &body["reports"][0]["id"]), (200, &shared), "the grant moved too: {body}");
    reports(&server, "/walker/make_item", json!({"name": "d"}), &alice).await;
    let (status, body) = server.post("/walker/make_item", json!({"name": "e"}), Some(&alice)).await;
    assert_eq!((status, body["errors"][0]["type"].as_str()), (507, Some("storage_quota")), "{body}");

    // And back to an empty SQLite directory.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().to_str().unwrap();
    let from_postgres = run_binary(&["export", "--database", &database], b"");
    run_binary(&["import", "--data-dir", back_dir], &from_postgres);
    assert_eq!(rows(&run_binary(&["export", "--data-dir", back_dir], b"")), rows(&from_postgres));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jac_cloud_deployment_imports_with_its_ids_passwords_and_access() {
    // Collections exported from a real jac-cloud 0.2.11 after: alice and bob registered
    // (password "correct horse"), alice made items a, b and c, shared b with bob
    // (`allow_root`, READ) and c with everyone (`perm_grant`, READ). Bob's document has
    // a field of the app's `User` subclass, `name`, as such an app's export has.
    // Bob's also has `exp`, which the import must not take for a user field (the token's
    // own `exp` would then appear twice).
    let fixture = support::repo().join("tests/fixtures/jac-cloud");
    let export = tempfile::tempdir().unwrap();
    for file in ["user.json", "node.json", "edge.json"] {
        let text = std::fs::read_to_string(fixture.join(file)).unwrap();
        std::fs::write(export.path().join(file), text.replace(r#""name": "Bob"}"#, r#""name": "Bob", "exp": 1}"#))
            .unwrap();
    }
    let database = postgres::shared().database().await;
    let from = export.path().to_str().unwrap();
    run_binary(&["import", "--database", &database, "--user-fields", "name:str?", "--from-jac-cloud", from], b"");

    let server = instance(&database, |_| {}).await;
    support::deploy(&support::fixture("graph.wasm"), &server.walkers_dir().join("graph.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("g_get").is_some() }).await;

    // jac-cloud's password hashes verify, and only with the right password.
    let (status, alice) = login(&server, "alice@example.com").await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["user"]["root_id"], "6b0a82e5edaa0350b2115b0b", "the same root");
    let alice_name = alice["user"].get("name").cloned().unwrap_or_default();
    let wrong = server.post("/user/login", json!({"email": "alice@example.com", "password": "wrong"}), None).await;
    assert_eq!(wrong.0, 400);
    let alice = alice["token"].as_str().unwrap();
    let bob = login(&server, "bob@example.com").await.1;
    assert_eq!(
        (bob["user"]["name"].clone(), alice_name),
        (json!("Bob"), Value::Null),
        "the app's user fields came along"
    );
    let bob = bob["token"].as_str().unwrap().to_string();

    // What jac-cloud's list_items reported for alice, byte for byte.
    let (a, b, c) =
        ("n:Item:6b0a82e6edaa0350b2115b10", "n:Item:6b0a82e6edaa0350b2115b13", "n:Item:6b0a82e6edaa0350b2115b16");
    let listed = json!([[
        {"id": a, "context": {"name": "a"}},
        {"id": b, "context": {"name": "b"}},
        {"id": c, "context": {"name": "c"}},
    ]]);
    assert_eq!(reports(&server, "/walker/list_items", json!({}), alice).await, listed);

    // Access came along: bob reads b only; anyone reads c.
    let get = |id: &'static str, token: Option<String>| {
        let server = &server;
        async move { server.post("/walker/g_get", json!({"id": id}), token.as_deref()).await.1["reports"][0].clone() }
    };
    assert_eq!(get(b, Some(bob.clone())).await["context"]["name"], "b");
    assert_eq!(get(a, Some(bob.clone())).await, Value::Null);
    assert_eq!(get(c, None).await["context"]["name"], "c");
    assert_eq!(get(b, None).await, Value::Null);
}
