//! The same end-to-end scenarios against the example walkers of every language (Rust,
//! Python, JavaScript, C), built from source by `scripts/build-walkers.sh`: a WebSocket
//! client calls each language's chat walkers and another client receives the
//! notifications; a validation error; a walker error. Plus a Python walker hot-reloaded
//! while it is being called.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use support::server::TestServer;

/// Walker-name prefix and `language` reported by each example set.
const LANGUAGES: [(&str, &str); 4] = [("", "rust"), ("py_", "python"), ("js_", "javascript"), ("c_", "c")];
const COMPONENTS: [&str; 3] = ["python-chat.wasm", "js-chat.wasm", "c-chat.wasm"];

/// A server with every language's walkers; compiled code is shared between test servers,
/// since Python and JavaScript components take seconds to compile.
async fn polyglot_server() -> TestServer {
    let server = TestServer::start_with(|config| {
        config.cache_dir = Some(support::repo().join("target/test-compiled"));
        config.walker_time_ms = 5_000;
    })
    .await;
    for component in COMPONENTS {
        assert!(
            support::repo().join("walkers").join(component).exists(),
            "walkers/{component} is missing: run scripts/build-walkers.sh"
        );
    }
    let mut changes = server.running.shared.catalog.subscribe();
    for component in COMPONENTS {
        support::deploy(&support::repo().join("walkers").join(component), &server.walkers_dir().join(component));
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
async fn a_python_walker_reloads_while_it_is_being_called() {
    let server = polyglot_server().await;
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let caller = {
        let (base, stop, calls) = (server.url("/walker/py_report_context"), stop.clone(), calls.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let response = http.post(&base).json(&json!({"name": "reload"})).send().await.unwrap();
                assert_eq!(response.status(), 200, "every call succeeds during the reload");
                calls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = calls.load(Ordering::Relaxed);
    let mut changes = server.running.shared.catalog.subscribe();
    changes.mark_unchanged();
    support::deploy(&support::repo().join("walkers/python-chat.wasm"), &server.walkers_dir().join("python-chat.wasm"));
    tokio::time::timeout(Duration::from_secs(60), changes.changed()).await.expect("reloaded").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    caller.await.expect("no call failed");
    assert!(calls.load(Ordering::Relaxed) > before, "calls ran across the reload");
}
