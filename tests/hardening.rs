//! The review's defects, each against a real server on loopback with real clients and
//! the real test walkers: close handshakes, warm instances and anonymous callers,
//! bounded waits for instance slots, queue limits against reply limits, unchecked
//! statuses, plain-text errors, the silence deadline, and every limit at its boundary.
//!
//! Needs the walkers built first: `scripts/build-walkers.sh --with-tests`.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::server::TestServer;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn walker(name: &str, context: Value) -> Value {
    json!({"type": "walker", "walker": name, "context": context, "response": true})
}

#[tokio::test]
async fn a_client_close_is_echoed_with_its_code() {
    let server = TestServer::start().await;
    for code in [CloseCode::Normal, CloseCode::Away] {
        let (mut client, _) = server.connect("").await;
        client.socket.send(Message::Close(Some(CloseFrame { code, reason: "bye".into() }))).await.unwrap();
        let echoed = client.closed().await.expect("the server answers with a close frame");
        assert_eq!(echoed.code, code);
    }
    assert!(support::eventually(Duration::from_secs(5), || server.running.shared.hub.connections() == 0).await);
}

#[tokio::test]
async fn anonymous_callers_never_share_a_warm_instance() {
    let server = TestServer::start().await;
    support::deploy(&support::fixture("stateful.wasm"), &server.walkers_dir().join("stateful.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("count").is_some() }).await;

    // Three anonymous connections: each its own instance.
    for _ in 0..3 {
        let (mut client, _) = server.connect("").await;
        assert_eq!(client.call(walker("count", json!({}))).await["reports"], json!([1]));
        assert_eq!(client.call(walker("count", json!({}))).await["reports"], json!([2]), "its own instance");
    }
    // Anonymous HTTP calls have no connection to key on: never reused.
    for _ in 0..3 {
        assert_eq!(server.post("/walker/count", json!({}), None).await.1["reports"], json!([1]));
    }
    // A signed-in user's instance serves that user, on any connection or over HTTP.
    let (token, _) = server.user("warm@example.com").await;
    let (mut first, _) = server.connect(&format!("?auth={token}")).await;
    assert_eq!(first.call(walker("count", json!({}))).await["reports"], json!([1]));
    assert_eq!(server.post("/walker/count", json!({}), Some(&token)).await.1["reports"], json!([2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_a_slot_only_so_long_and_idle_warm_instances_give_theirs_up() {
    let server = TestServer::start_with(|config| {
        config.walker_instances = 2;
        config.walker_time_ms = 3_000;
        config.walker_slot_wait_ms = 200;
        config.warm_ttl_secs = 3_600;
    })
    .await;
    support::deploy(&support::fixture("stateful.wasm"), &server.walkers_dir().join("stateful.wasm"));
    let catalog = &server.running.shared.catalog;
    support::wait_until(catalog, || async { catalog.walker("count").is_some() }).await;

    // Two users' idle warm instances hold both slots; a fresh run takes one back at once.
    for email in ["a@example.com", "b@example.com"] {
        let (token, _) = server.user(email).await;
        assert_eq!(server.post("/walker/count", json!({}), Some(&token)).await.1["reports"], json!([1]));
    }
    // Without eviction this would wait 200 ms and answer 503: the warm instances expire in an hour.
    assert_eq!(
        server.post("/walker/echo", json!({"value": 1}), None).await,
        (200, json!({"status": 200, "reports": [1]}))
    );

    // Two sleeping runs hold both slots: a third is refused as busy, over both transports.
    let (mut sleeper_a, _) = server.connect("").await;
    let (mut sleeper_b, _) = server.connect("").await;
    sleeper_a.send(walker("nap", json!({"ms": 1500}))).await;
    sleeper_b.send(walker("nap", json!({"ms": 1500}))).await;
    server.until_slots_in_use(2).await;
    let (mut client, _) = server.connect("").await;
    let busy = client.call(walker("echo", json!({"value": 2}))).await;
    assert_eq!(busy["error"][0]["type"], "busy", "{busy}");
    assert_eq!(busy["error"][0]["msg"], "walker echo could not start: every instance was busy for 200 ms");
    let response = server.http.post(server.url("/walker/echo")).json(&json!({"value": 3})).send().await.unwrap();
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "{response:?}");
    let (status, body) = support::server::read(response).await;
    assert_eq!((status, body["errors"][0]["type"].clone()), (503, json!("busy")));

    // Once the sleepers are done, slots are free again.
    assert_eq!(sleeper_a.recv().await["reports"], json!([1500]));
    assert_eq!(sleeper_b.recv().await["reports"], json!([1500]));
    assert_eq!(client.call(walker("echo", json!({"value": 4}))).await["reports"], json!([4]));
}

#[tokio::test]
async fn replies_and_notify_self_within_the_run_limits_always_reach_a_reading_client() {
    let queue_bytes = 16 << 10;
    let server = TestServer::start_with(|config| {
        config.queue_bytes = queue_bytes;
        config.queue_messages = 16;
        config.walker_report_bytes = 256 << 10;
    })
    .await;
    let (mut client, _) = server.connect("").await;

    // A reply at exactly the report limit, sixteen times the queue limit.
    let reply = client.call(walker("sized_report", json!({"bytes": 256 << 10}))).await;
    assert_eq!(reply["reports"][0].as_str().unwrap().len() + 2, 256 << 10);
    let reply = client.call(walker("sized_report", json!({"bytes": 256 << 10, "custom": true}))).await;
    assert_eq!(reply.as_str().unwrap().len() + 2, 256 << 10, "a custom report too");
    let over = client.call(walker("sized_report", json!({"bytes": (256 << 10) + 1}))).await;
    assert_eq!(over["error"][0]["type"], "report_size_limit");

    // A burst of notify_self: far more messages and bytes than the queue takes.
    client.send(walker("self_flood", json!({"count": 100, "bytes": 4096}))).await;
    for _ in 0..100 {
        assert_eq!(client.recv().await.as_str().unwrap().len() + 2, 4096);
    }
    assert_eq!(client.recv().await["reports"], json!([100]));

    // A client that sends events without reading is slowed down, not cut off: every
    // reply arrives, in order, once it reads.
    for n in 0..40 {
        let mut event = walker("sized_report", json!({"bytes": 8 << 10}));
        event["req_id"] = json!(n);
        client.send(event).await;
    }
    for n in 0..40 {
        assert_eq!(client.recv().await["req_id"], n);
    }
    client.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_client_that_cannot_keep_up_with_its_writes_is_dropped_after_the_write_timeout() {
    // Queues large enough never to fill, and no silence timeout: only the write timeout
    // can end this connection.
    let server = TestServer::start_with(|config| {
        config.queue_bytes = 256 << 20;
        config.queue_messages = 1 << 20;
        config.write_timeout_ms = 300;
        config.max_message_bytes = 1 << 20;
    })
    .await;
    let (mut stuck, _) = server.connect("?channel_id=firehose").await;
    let (mut sender, _) = server.connect("").await;
    let payload = "x".repeat(512 << 10);
    // 32 MiB: far beyond what loopback's socket buffers hold for a reader that never reads.
    for _ in 0..64 {
        sender.send(json!({"type": "channel", "channel_ids": ["firehose"], "data": {"pad": payload}})).await;
    }
    sender.expect_nothing_queued().await;
    let hub = &server.running.shared.hub;
    assert!(
        support::eventually(Duration::from_secs(10), || hub.connections() == 1).await,
        "the stuck reader was dropped"
    );
    let mut received = 0;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(5), stuck.socket.next()).await {
        if message.is_text() {
            received += 1;
        }
    }
    assert!(received < 64, "it was dropped before everything was written ({received})");
    sender.expect_nothing_queued().await;
    // Closed with 4000 for its write (its close frame may be lost in the stuck socket).
    assert_eq!(server.timeout_closes(), (1, 0));
}

#[tokio::test]
async fn a_target_named_many_times_gets_one_copy_and_targets_are_bounded() {
    let server = TestServer::start_with(|config| config.notify_targets = 10).await;
    let (token, root) = server.user("victim@example.com").await;
    let (mut victim, _) = server.connect_with("?channel_id=room", Some(&format!("Bearer {token}"))).await;
    let (mut attacker, _) = server.connect("").await;

    // One `user` event naming the victim 1 400 times (about 45 KB, within the message
    // limit), in both forms; one `channel` event naming the room 5 000 times.
    let roots: Vec<String> = (0..1_400).map(|n| if n % 2 == 0 { format!("n::{root}") } else { root.clone() }).collect();
    attacker.send(json!({"type": "user", "root_ids": roots, "data": {"n": 1}})).await;
    attacker.send(json!({"type": "channel", "channel_ids": vec!["room"; 5_000], "data": {"n": 2}})).await;
    // A walker's notifications alike.
    let many = json!({"users": vec![format!("n::{root}"); 1_000], "channels": vec!["room"; 1_000]});
    assert_eq!(attacker.call(walker("notify_many", many)).await["status"], 200);
    for expected in [json!({"n": 1}), json!({"n": 2}), json!({"from": "walker"}), json!({"from": "walker"})] {
        assert_eq!(victim.recv().await, expected);
    }
    victim.expect_nothing_queued().await;

    // More distinct targets than allowed: refused whole, delivered to nobody.
    let refused = attacker.call(json!({"type": "channel", "channel_ids": eleven_channels(), "data": {"n": 3}})).await;
    assert_eq!(refused["error"][0]["type"], "too_long", "{refused}");
    assert_eq!(refused["error"][0]["loc"], json!(["event", "channel", "channel_ids"]));
    let over = attacker.call(walker("notify_many", json!({"users": [], "channels": eleven_channels()}))).await;
    assert_eq!(over["error"][0]["type"], "notification_targets_limit", "{over}");
    victim.expect_nothing_queued().await;
}

/// More distinct channels than `notify_targets = 10` allows, the victim's room first.
fn eleven_channels() -> Vec<String> {
    std::iter::once("room".to_string()).chain((0..10).map(|n| format!("c{n}"))).collect()
}

#[tokio::test]
async fn walker_statuses_outside_200_to_599_are_refused() {
    let server = TestServer::start().await;
    for status in [200, 404, 599] {
        let (code, body) = server.post("/walker/any_status", json!({"status": status}), None).await;
        assert_eq!((code, body), (status, json!({"status": status, "reports": ["done"]})));
    }
    // Statuses without a body have none, and say so.
    for status in [204, 304] {
        let response = server.http.post(server.url("/walker/any_status")).json(&json!({"status": status}));
        let response = response.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let length = response.headers().get("content-length").map(|value| value.to_str().unwrap().to_string());
        assert!(length.is_none() || length.as_deref() == Some("0"), "{status}: content-length {length:?}");
        assert_eq!(response.bytes().await.unwrap().len(), 0);
    }
    let (mut client, _) = server.connect("").await;
    for status in [0, 101, 199, 600, 65535] {
        let expected = json!([{"type": "invalid_output",
            "msg": format!("walker any_status returned HTTP status {status}, outside 200-599")}]);
        assert_eq!(
            server.post("/walker/any_status", json!({"status": status}), None).await,
            (500, json!({"errors": expected}))
        );
        assert_eq!(client.call(walker("any_status", json!({"status": status}))).await["error"], expected);
    }
}

#[tokio::test]
async fn every_error_the_server_answers_is_json() {
    let server = TestServer::start().await;
    let response = server.http.get(server.url("/websocket")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let (status, body) = support::server::read(response).await;
    assert!((400..500).contains(&status), "{status}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");

    for (method, path, status, detail) in [
        (reqwest::Method::POST, "/healthz", 405, "Method Not Allowed"),
        (reqwest::Method::GET, "/nowhere", 404, "Not Found"),
    ] {
        let response = server.http.request(method, server.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        assert_eq!(support::server::read(response).await, (status, json!({ "detail": detail })), "{path}");
    }
}

#[tokio::test]
async fn messages_up_to_64_kib_are_read_by_default_and_larger_ones_close_with_1009() {
    let server = TestServer::start().await;
    let (mut client, _) = server.connect("").await;
    let envelope = json!({"type": "walker", "walker": "echo", "context": {"value": ""}, "response": true}).to_string();
    let fits = "x".repeat((64 << 10) - envelope.len());
    let reply = client.call(walker("echo", json!({"value": fits}))).await;
    assert_eq!(reply["reports"][0].as_str().unwrap().len(), fits.len());
    client.send(walker("echo", json!({"value": format!("{fits}x")}))).await;
    assert_eq!(client.closed().await.expect("a close frame").code, CloseCode::Size);
}

#[tokio::test]
async fn put_patch_and_delete_walkers_are_served() {
    let server = TestServer::start().await;
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let response =
            server.http.request(method.clone(), server.url("/walker/methods")).json(&json!({"value": 7})).send().await;
        let (status, body) = support::server::read(response.unwrap()).await;
        assert_eq!(
            (status, body),
            (200, json!({"status": 200, "reports": [{"value": 7, "transport": true}]})),
            "{method}"
        );
    }
    let (status, body) = server.post("/walker/methods", json!({"value": 7}), None).await;
    assert_eq!((status, body), (405, json!({"detail": "Method Not Allowed"})));
}

#[tokio::test]
async fn client_events_off_refuses_user_channel_and_client_events() {
    let server = TestServer::start_with(|config| config.client_events = walker_host::config::ClientEvents::Off).await;
    let (mut client, hello) = server.connect("?channel_id=room").await;
    let own_id = hello["data"]["client_id"].clone();
    let events = [
        ("user", json!({"type": "user", "root_ids": [hello["data"]["root_id"]], "data": {"n": 1}, "req_id": 1})),
        ("channel", json!({"type": "channel", "channel_ids": ["room"], "data": {"n": 2}, "req_id": 2})),
        ("client", json!({"type": "client", "client_ids": [own_id], "data": {"n": 3}, "req_id": 3})),
    ];
    for (kind, event) in events {
        let refused = client.call(event.clone()).await;
        assert_eq!(
            refused,
            json!({"type": kind, "error": format!("Event {kind} is disabled on this server!"), "req_id": event["req_id"]})
        );
    }
    client.expect_nothing_queued().await;
    // Walkers still notify.
    let notified = client.call(walker("public_group", json!({"channel_id": "room", "msg": "from a walker"}))).await;
    assert_eq!(notified, json!({"type": "chat", "data": {"message": "from a walker"}}));
    assert_eq!(client.recv().await, json!({"status": 200, "reports": []}));
}

#[tokio::test]
async fn silent_clients_are_closed_at_the_silence_deadline_and_answering_ones_stay() {
    let server = TestServer::start_with(|config| {
        config.ping_interval_secs = 1;
        config.ping_timeout_secs = 2;
    })
    .await;
    let hub = server.running.shared.hub.clone();
    let started = tokio::time::Instant::now();
    let (mut silent, _) = server.connect("").await;
    // This one reads, so its client library answers every ping.
    let (mut answering, _) = server.connect("").await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(message)) = answering.socket.next().await {
            if message.is_ping() {
                pings += 1;
            }
            if pings == 4 {
                break;
            }
        }
        (answering, pings)
    });

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hub.connections(), 2, "both alive after a ping went unanswered");
    assert!(support::eventually(Duration::from_secs(3), || hub.connections() == 1).await, "the silent one is closed");
    let closed_after = started.elapsed();
    assert!(closed_after >= Duration::from_secs(2), "not before the deadline: {closed_after:?}");

    let (mut answering, pings) = tokio::time::timeout(Duration::from_secs(10), reader).await.unwrap().unwrap();
    assert_eq!(pings, 4);
    assert_eq!(hub.connections(), 1, "answering pings keeps a connection open past the deadline");
    answering.expect_nothing_queued().await;

    // What the silent client was sent, read raw (a WebSocket client would answer the
    // pings): pings, then a close frame with 4000 (unmasked server frame: 0x88, length, code).
    let MaybeTlsStream::Plain(tcp) = silent.socket.get_mut() else { unreachable!() };
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut bytes)).await.unwrap().unwrap();
    assert!(bytes.windows(4).any(|w| w[0] == 0x88 && w[2..] == 4000u16.to_be_bytes()), "4000 in {bytes:?}");
    assert_eq!(server.timeout_closes(), (0, 1));
}

#[tokio::test]
async fn sign_ins_past_the_hashing_queue_are_refused_at_once_with_503_and_retry_after() {
    let server = TestServer::start_with(|config| {
        config.hash_concurrency = 1;
        config.hash_queue = 0;
    })
    .await;
    server.user("queued@example.com").await;
    // One hash at a time and nobody waiting: of eight logins at once, those that find
    // the place taken are answered 503 at once; the others are checked as usual.
    let credentials = json!({"email": "queued@example.com", "password": "correct horse"});
    let logins = (0..8).map(|_| server.http.post(server.url("/user/login")).json(&credentials).send());
    let responses = futures_util::future::join_all(logins).await;
    let mut statuses = Vec::new();
    for response in responses {
        let response = response.unwrap();
        let status = response.status().as_u16();
        if status == 503 {
            assert_eq!(response.headers()["retry-after"], "1");
            assert_eq!(
                response.json::<Value>().await.unwrap()["detail"],
                "too many sign-ins at once; try again shortly"
            );
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&503) && statuses.contains(&200), "{statuses:?}");
    assert!(statuses.iter().all(|status| [200, 503].contains(status)), "{statuses:?}");
    // Once the place is free, a login goes through.
    assert_eq!(server.post("/user/login", credentials, None).await.0, 200);
}

#[tokio::test]
async fn registrations_are_throttled_per_client_address_before_any_hashing() {
    let server = TestServer::start_with(|config| config.registrations_per_minute = 2).await;
    let register = |client: &reqwest::Client, email: &str| {
        let request =
            client.post(server.url("/user/register")).json(&json!({"email": email, "password": "correct horse"}));
        async move { request.send().await.unwrap() }
    };
    for email in ["one@example.com", "two@example.com"] {
        assert_eq!(register(&server.http, email).await.status(), 201);
    }
    // Two a minute: the third waits 30 s for its place, and is not registered.
    let refused = register(&server.http, "three@example.com").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    let detail = json!({"detail": "too many registrations from your address; try again later"});
    assert_eq!(refused.json::<Value>().await.unwrap(), detail);
    let login = json!({"email": "three@example.com", "password": "correct horse"});
    assert_eq!(server.post("/user/login", login, None).await.0, 400);
    // Another address has places of its own.
    let elsewhere =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    assert_eq!(register(&elsewhere, "three@example.com").await.status(), 201);
}

#[tokio::test]
async fn failed_logins_earn_a_growing_wait_per_account_and_address_and_a_success_clears_the_account() {
    let server = TestServer::start_with(|config| {
        config.login_free_failures = 2;
        config.login_max_backoff_secs = 60;
    })
    .await;
    server.user("target@example.com").await;
    server.user("neighbour@example.com").await;
    let login = |email: &'static str, password: &'static str| {
        let request = server.http.post(server.url("/user/login")).json(&json!({"email": email, "password": password}));
        async move { request.send().await.unwrap() }
    };
    // Two free failures, then a third that earns a 1 s wait. An attempt within it is held
    // until the wait is over, then made: the right password signs in.
    for _ in 0..3 {
        assert_eq!(login("target@example.com", "wrong").await.status(), 400);
    }
    let held = std::time::Instant::now();
    assert_eq!(login("target@example.com", "correct horse").await.status(), 200);
    assert!(held.elapsed() >= Duration::from_millis(900), "held for {:?}", held.elapsed());
    // That cleared the account's count, not the address's: one more failure earns 2 s,
    // longer than an attempt is held, so one from the address is refused after a second,
    // before any hashing, whatever the account.
    assert_eq!(login("target@example.com", "wrong").await.status(), 400);
    let refused = login("neighbour@example.com", "correct horse").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.json::<Value>().await.unwrap()["detail"], "too many failed logins; try again in 1 s");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(login("neighbour@example.com", "correct horse").await.status(), 200);
    // From another address, the account is free again: a failure, then a sign-in.
    let elsewhere =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    for (password, status) in [("wrong", 400), ("correct horse", 200)] {
        let body = json!({"email": "target@example.com", "password": password});
        let response = elsewhere.post(server.url("/user/login")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{password}");
    }
}

#[tokio::test]
async fn past_the_tarpits_places_an_attempt_that_must_wait_is_refused_at_once() {
    let server = TestServer::start_with(|config| {
        config.login_free_failures = 0;
        config.login_tarpit_places = 2;
    })
    .await;
    server.user("held@example.com").await;
    let login = || {
        let body = json!({"email": "held@example.com", "password": "wrong"});
        let request = server.http.post(server.url("/user/login")).json(&body);
        async move {
            let started = std::time::Instant::now();
            let status = request.send().await.unwrap().status().as_u16();
            (status, started.elapsed())
        }
    };
    // A failure (1 s to wait), then one held through that second: 2 s to wait now.
    assert_eq!(login().await.0, 400);
    assert_eq!(login().await.0, 400);
    // Five at once: two are held for the second they may be, three are refused at once.
    let answers = futures_util::future::join_all((0..5).map(|_| login())).await;
    assert!(answers.iter().all(|(status, _)| *status == 429), "{answers:?}");
    let held = answers.iter().filter(|(_, took)| *took >= Duration::from_millis(900)).count();
    let at_once = answers.iter().filter(|(_, took)| *took < Duration::from_millis(500)).count();
    assert_eq!((held, at_once), (2, 3), "{answers:?}");
}

/// A login for an email nobody has verifies a dummy hash, so it costs what a wrong
/// password costs: with one hashing place and no queue, logins for unknown emails at
/// once find the place taken.
#[tokio::test]
async fn a_login_for_an_unknown_email_hashes_like_any_other() {
    let server = TestServer::start_with(|config| {
        config.hash_concurrency = 1;
        config.hash_queue = 0;
        config.login_free_failures = 1_000;
    })
    .await;
    let logins = (0..8).map(|n| {
        let body = json!({"email": format!("nobody{n}@example.com"), "password": "correct horse"});
        let request = server.http.post(server.url("/user/login")).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(logins).await;
    assert!(statuses.contains(&503) && statuses.contains(&400), "{statuses:?}");
    assert!(statuses.iter().all(|status| [400, 503].contains(status)), "{statuses:?}");
}

// Threads as the server has them: socket I/O on one while long runs take the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_runs_take_turns_on_the_walker_cores_while_short_calls_run_at_once() {
    let server = TestServer::start_with(|config| {
        config.walker_cores = 1;
        config.walker_time_ms = 1_500;
    })
    .await;
    let cpu = r#"walker_host_walker_cpu_seconds_total{tenant="default"}"#;
    let spins: Vec<_> = (0..4)
        .map(|_| {
            let request = server.http.post(server.url("/walker/spin")).json(&json!({}));
            tokio::spawn(async move { support::server::read(request.send().await.unwrap()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (started, used_before) = (std::time::Instant::now(), support::metric(&server.metrics().await, cpu));
    let mut most_cores = 0.0f64;
    for round in 0..20 {
        most_cores = most_cores.max(support::metric(&server.metrics().await, "walker_host_walker_cores_in_use"));
        if round == 10 {
            // A short walker does not queue behind the four computing ones.
            let reply = server.post("/walker/echo", json!({"value": 5}), None).await;
            assert_eq!(reply, (200, json!({"status": 200, "reports": [5]})));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let used = support::metric(&server.metrics().await, cpu) - used_before;
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(most_cores, 1.0, "four long runs compute on the one core they may take, in turn");
    assert!(used < 1.3 * wall, "four long runs used {used:.2} s of CPU time in {wall:.2} s");
    for spin in spins {
        let (status, body) = spin.await.unwrap();
        assert_eq!((status, body["errors"][0]["type"].clone()), (500, json!("time_limit")));
    }
}

#[tokio::test]
async fn a_connection_over_its_events_per_second_gets_errors_then_is_closed_with_1008() {
    let server = TestServer::start_with(|config| config.ws_events_per_second = 10).await;
    let (mut flooder, _) = server.connect("").await;
    let (mut bystander, _) = server.connect("").await;
    // A burst of 20 is admitted; then a tenth of the rate in refusals (a burst of 2), each
    // answered; the next event closes the connection.
    for value in 0..40 {
        flooder.send(walker("echo", json!({"value": value}))).await;
    }
    let (mut admitted, mut refused) = (0, 0);
    let close = loop {
        match flooder.socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["error"][0]["type"] == "rate_limited" {
                    assert_eq!(
                        frame["error"][0]["msg"],
                        "too many events: at most 10 per second on one connection; this one was not handled"
                    );
                    refused += 1;
                } else {
                    assert_eq!(frame["reports"], json!([admitted]), "admitted events are handled in order");
                    assert_eq!(refused, 0, "nothing is admitted after a refusal: {frame}");
                    admitted += 1;
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.map(|frame| frame.code), Some(CloseCode::Policy));
    assert!((20..=22).contains(&admitted) && (2..=4).contains(&refused), "{admitted} admitted, {refused} refused");
    // Other connections are not touched.
    assert_eq!(bystander.call(walker("echo", json!({"value": 1}))).await["reports"], json!([1]));
    let metrics = server.metrics().await;
    let counted = support::metric(
        &metrics,
        r#"walker_host_rate_limited_total{limit="connection_events_per_second",tenant="default"}"#,
    );
    assert_eq!(counted, f64::from(refused));
    assert_eq!(support::metric(&metrics, r#"walker_host_rate_limit_closes_total{tenant="default"}"#), 1.0);
}

/// Opens a WebSocket from `source` (a loopback address), or says what refused it.
async fn connect_from(
    server: &TestServer,
    source: [u8; 4],
) -> Result<support::server::Client, (u16, Option<String>, Value)> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((source, 0))).unwrap();
    let stream = socket.connect(server.running.addr).await.unwrap();
    match tokio_tungstenite::client_async(server.ws_url(""), MaybeTlsStream::Plain(stream)).await {
        Ok((socket, _)) => {
            let mut client = support::server::Client { socket };
            assert_eq!(client.recv().await["type"], "connection");
            Ok(client)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            let body = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            Err((response.status().as_u16(), retry_after, body))
        }
        Err(err) => panic!("connecting: {err}"),
    }
}

#[tokio::test]
async fn one_address_may_open_so_many_connections_per_second_and_hold_so_many_open() {
    let server = TestServer::start_with(|config| {
        config.address_connections_per_second = 1;
        config.address_connections = 3;
    })
    .await;
    let refusal = |detail: &str| (429, Some("1".to_string()), json!({ "detail": detail }));
    let too_fast = refusal("Too many new connections from your address; retry later");
    let too_many_open = refusal("Too many open connections from your address");
    let address = [127, 0, 0, 7];
    // A burst of two, then one a second.
    let mut open = vec![connect_from(&server, address).await.unwrap(), connect_from(&server, address).await.unwrap()];
    assert_eq!(connect_from(&server, address).await.err(), Some(too_fast.clone()));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    open.push(connect_from(&server, address).await.unwrap());
    // Three open at most, whatever the rate allows; another address has limits of its own.
    assert_eq!(connect_from(&server, address).await.err(), Some(too_many_open.clone()));
    assert!(connect_from(&server, [127, 0, 0, 8]).await.is_ok());
    // A closed connection frees its place once the server sees it go.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match connect_from(&server, address).await {
            Ok(client) => break open.push(client),
            Err(refused) => assert!(refused == too_fast || refused == too_many_open, "{refused:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed connection's place was never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = server.metrics().await;
    for limit in ["address_connections", "address_connections_per_second"] {
        let sample = format!(r#"walker_host_rate_limited_total{{limit="{limit}",tenant="default"}}"#);
        assert!(support::metric(&metrics, &sample) >= 1.0, "{sample}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walker_waiting_on_the_host_is_charged_no_cpu_time_and_holds_no_core() {
    let server = TestServer::start_with(|config| {
        config.walker_cores = 1;
        config.walker_time_ms = 2_000;
    })
    .await;
    let cpu = r#"walker_host_walker_cpu_seconds_total{tenant="default"}"#;
    let before = support::metric(&server.metrics().await, cpu);
    // Three sleeps of 600 ms at once, with one core for long runs: none is long, so all
    // three sleep together, and a computing walker is not kept from its core meanwhile.
    let naps: Vec<_> = (0..3)
        .map(|_| {
            let request = server.http.post(server.url("/walker/nap")).json(&json!({"ms": 600}));
            tokio::spawn(async move { support::server::read(request.send().await.unwrap()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(support::metric(&server.metrics().await, "walker_host_walker_cores_in_use"), 0.0);
    for nap in naps {
        assert_eq!(nap.await.unwrap(), (200, json!({"status": 200, "reports": [600]})));
    }
    let used = support::metric(&server.metrics().await, cpu) - before;
    assert!(used < 0.1, "three naps of 600 ms were charged {used:.3} s of CPU time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_that_waits_on_the_host_lets_another_compute_on_its_core() {
    let server = TestServer::start_with(|config| {
        config.walker_cores = 1;
        config.walker_time_ms = 3_000;
    })
    .await;
    let cpu = r#"walker_host_walker_cpu_seconds_total{tenant="default"}"#;
    let post = |walker: &str, body: Value| {
        let request = server.http.post(server.url(&format!("/walker/{walker}"))).json(&body);
        tokio::spawn(async move { support::server::read(request.send().await.unwrap()).await })
    };
    // A long run (20 ms of CPU), then a 1.5 s sleep; meanwhile a walker that only computes.
    let sleeper = post("compute_then_sleep", json!({"compute_ms": 20, "sleep_ms": 1_500}));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let spinner = post("spin", json!({}));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (started, before) = (std::time::Instant::now(), support::metric(&server.metrics().await, cpu));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = support::metric(&server.metrics().await, cpu) - before;
    let wall = started.elapsed().as_secs_f64();
    // The one core long runs may take is the spinner's while the sleeper sleeps.
    assert!(used > 0.5 * wall, "{used:.3} s of CPU time in {wall:.3} s");
    assert_eq!(sleeper.await.unwrap(), (200, json!({"status": 200, "reports": [1_500]})));
    assert_eq!(spinner.await.unwrap().1["errors"][0]["type"], "time_limit");
}
