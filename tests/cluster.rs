//! Cluster mode on loopback: two or three instances on one real Redis (a Unix socket),
//! real WebSocket clients. Every notification path crosses instances in both directions
//! with one copy per socket; subscriptions follow interest (checked with Redis' own
//! `PUBSUB NUMSUB`); a Redis outage costs local delivery nothing and delivery across
//! instances comes back when Redis does; a new socket misses nothing published once its
//! connection frame has arrived.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::metric;
use support::redis::{Proxy, Redis};
use support::server::{Client, TestServer};
use walker_host::config::Config;

const SECRET: &str = "one secret for the whole cluster";
const LINGER_MS: u64 = 100;
const PUBLIC_ROOT: &str = "000000000000000000000001";

fn chat(message: &str) -> Value {
    json!({"type": "chat", "data": {"message": message}})
}

/// An instance of the cluster on `redis`, with its own data directory.
async fn instance(redis: &Redis) -> TestServer {
    instance_with(redis, |_| {}).await
}

async fn instance_with(redis: &Redis, configure: impl FnOnce(&mut Config)) -> TestServer {
    let url = redis.url();
    TestServer::start_with(move |config| {
        config.redis = Some(url.into());
        config.token_secret = Some(SECRET.into());
        config.cluster_linger_ms = LINGER_MS;
        configure(config);
    })
    .await
}

/// Messages of one topic kind an instance received from the bus.
async fn received(server: &TestServer, kind: &str) -> f64 {
    let text = server.metrics().await;
    let sample = format!(r#"walker_host_cluster_received_total{{kind="{kind}"}}"#);
    if text.contains(&sample) { metric(&text, &sample) } else { 0.0 }
}

fn client_id(hello: &Value) -> String {
    hello["data"]["client_id"].as_str().unwrap().to_string()
}

/// The tag of the instance a client id belongs to.
fn instance_tag(client_id: &str) -> &str {
    &client_id.split_once(':').unwrap().1[..8]
}

#[tokio::test]
async fn every_notification_path_crosses_instances_both_ways_once_per_socket() {
    let redis = Redis::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let (token, root) = a.user("ada@example.com").await;
    let bearer = format!("Bearer {token}");
    // Ada on both instances (the token is good on both: one secret), a channel with a
    // member on each, and an anonymous client on each.
    let (mut ada_a, _) = a.connect_with("", Some(&bearer)).await;
    let (mut ada_b, _) = b.connect_with("", Some(&bearer)).await;
    let (mut room_a, _) = a.connect("?channel_id=room").await;
    let (mut room_b, _) = b.connect("?channel_id=room").await;
    let (mut anon_a, hello_a) = a.connect("").await;
    let (mut anon_b, hello_b) = b.connect("").await;
    let (anon_a_id, anon_b_id) = (client_id(&hello_a), client_id(&hello_b));
    assert_ne!(instance_tag(&anon_a_id), instance_tag(&anon_b_id), "each instance tags its client ids");

    // Walkers: notify_users from a WebSocket walker on A reaches Ada on both instances.
    let event = json!({"type": "walker", "walker": "send_chat_to_user", "context": {"root_id": format!("n::{root}")}, "response": true});
    assert_eq!(ada_a.call(event).await, chat("string"));
    assert_eq!(ada_a.recv().await, json!({"status": 200, "reports": []}));
    assert_eq!(ada_b.recv().await, chat("string"));
    // notify_channels from REST on B reaches the room's members on both.
    let sent = b.post("/walker/public_group", json!({"channel_id": "room", "msg": "from b"}), None).await;
    assert_eq!(sent, (200, json!({"status": 200, "reports": []})));
    assert_eq!(room_a.recv().await, chat("from b"));
    assert_eq!(room_b.recv().await, chat("from b"));
    // notify_clients, each instance to a client of the other.
    let sent = a.post("/walker/public_client", json!({"client_id": anon_b_id}), None).await;
    assert_eq!(sent.0, 200);
    assert_eq!(anon_b.recv().await, chat("string"));
    let sent = b.post("/walker/public_client", json!({"client_id": anon_a_id}), None).await;
    assert_eq!(sent.0, 200);
    assert_eq!(anon_a.recv().await, chat("string"));
    let sent = b.post("/walker/public_user", json!({"root_id": root}), None).await;
    assert_eq!(sent.0, 200);
    assert_eq!(ada_a.recv().await, chat("string"));
    assert_eq!(ada_b.recv().await, chat("string"));

    // Client events, from B then from A.
    anon_b.send(json!({"type": "user", "root_ids": [root], "data": {"to": "ada"}})).await;
    assert_eq!(ada_a.recv().await, json!({"to": "ada"}));
    assert_eq!(ada_b.recv().await, json!({"to": "ada"}));
    anon_a.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"to": "room"}})).await;
    assert_eq!(room_b.recv().await, json!({"to": "room"}));
    assert_eq!(room_a.recv().await, json!({"to": "room"}));
    anon_a.send(json!({"type": "client", "client_ids": [anon_b_id, anon_a_id], "data": {"to": "both"}})).await;
    assert_eq!(anon_b.recv().await, json!({"to": "both"}));
    assert_eq!(anon_a.recv().await, json!({"to": "both"}));

    // Exactly one copy each: nothing else is queued anywhere.
    for client in [&mut ada_a, &mut ada_b, &mut room_a, &mut room_b, &mut anon_a, &mut anon_b] {
        client.expect_nothing_queued().await;
    }
}

#[tokio::test]
async fn an_instance_receives_only_what_it_holds_sockets_for_in_order() {
    let redis = Redis::start();
    let (a, b, c) = (instance(&redis).await, instance(&redis).await, instance(&redis).await);
    let (mut member, _) = a.connect("?channel_id=busy").await;
    let (mut sender, _) = b.connect("").await;
    redis.await_subscribers("wh:t:default:c:busy", 1).await;
    const MESSAGES: u64 = 1_000;
    for seq in 0..MESSAGES {
        sender.send(json!({"type": "channel", "channel_ids": ["busy"], "data": {"seq": seq}})).await;
    }
    for seq in 0..MESSAGES {
        assert_eq!(member.recv().await, json!({"seq": seq}), "in the order sent");
    }
    // C holds no socket of the channel: Redis sent it nothing of it.
    assert_eq!(received(&c, "channel").await, 0.0);
    assert_eq!(redis.subscribers("wh:t:default:c:busy").await, 1);
    assert!(received(&a, "channel").await >= MESSAGES as f64);
    assert!(metric(&b.metrics().await, "walker_host_cluster_published_total") >= MESSAGES as f64);
}

#[tokio::test]
async fn subscriptions_follow_connect_change_user_and_close() {
    let redis = Redis::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let (token, root) = a.user("cy@example.com").await;
    let (user_topic, public_topic) = (format!("wh:t:default:u:{root}"), format!("wh:t:default:u:{PUBLIC_ROOT}"));
    assert_eq!(redis.subscribers("wh:t:default:c:lobby").await, 0);

    let (mut on_a, _) = a.connect("?channel_id=lobby").await;
    assert_eq!(redis.subscribers("wh:t:default:c:lobby").await, 1, "subscribed before the connection frame");
    assert_eq!(redis.subscribers(&public_topic).await, 1);
    let (on_b, _) = b.connect("?channel_id=lobby").await;
    assert_eq!(redis.subscribers("wh:t:default:c:lobby").await, 2);
    assert_eq!(redis.subscribers(&public_topic).await, 2);

    // change_user moves A's socket from the public root to Cy's.
    let frame = on_a.call(json!({"type": "change_user", "token": format!("Bearer {token}")})).await;
    assert_eq!(frame["data"]["root_id"], format!("n::{root}"));
    assert_eq!(redis.subscribers(&user_topic).await, 1, "subscribed before the connection frame");
    redis.await_subscribers(&public_topic, 1).await;

    // Closing: each instance unsubscribes after the linger.
    drop(on_b);
    redis.await_subscribers("wh:t:default:c:lobby", 1).await;
    redis.await_subscribers(&public_topic, 0).await;
    drop(on_a);
    redis.await_subscribers("wh:t:default:c:lobby", 0).await;
    redis.await_subscribers(&user_topic, 0).await;
    // Only its own topics are left: the node's, and the probe's.
    assert_eq!(metric(&a.metrics().await, "walker_host_cluster_subscriptions"), 2.0);
}

#[tokio::test]
async fn a_subscription_outlives_its_last_socket_by_the_linger() {
    let redis = Redis::start();
    let a = instance_with(&redis, |config| config.cluster_linger_ms = 60_000).await;
    let (client, _) = a.connect("?channel_id=flappy").await;
    drop(client);
    // Long after the server has seen the close (the test linger, 100 ms, would be over).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(redis.subscribers("wh:t:default:c:flappy").await, 1, "still subscribed: a reconnect costs nothing");
    let (_again, _) = a.connect("?channel_id=flappy").await;
    assert_eq!(redis.subscribers("wh:t:default:c:flappy").await, 1);
}

/// Sends `channel` events from `sender` until `receiver` gets one; the time it took.
async fn deliver_until_received(sender: &mut Client, receiver: &mut Client, channel: &str) -> Duration {
    let started = Instant::now();
    for attempt in 0..2_000 {
        sender.send(json!({"type": "channel", "channel_ids": [channel], "data": {"attempt": attempt}})).await;
        let got = tokio::time::timeout(Duration::from_millis(10), receiver.recv()).await;
        if got.is_ok() {
            return started.elapsed();
        }
    }
    panic!("nothing reached the other instance in 20 s");
}

#[tokio::test]
async fn a_redis_outage_costs_local_delivery_nothing_and_delivery_resumes_when_it_is_back() {
    let mut redis = Redis::start();
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let (mut member_a, _) = a.connect("?channel_id=room").await;
    let (mut member_b, _) = b.connect("?channel_id=room").await;
    let (mut sender, _) = a.connect("").await;
    deliver_until_received(&mut sender, &mut member_b, "room").await;
    while tokio::time::timeout(Duration::from_millis(100), member_a.recv()).await.is_ok() {}
    while tokio::time::timeout(Duration::from_millis(100), member_b.recv()).await.is_ok() {}

    redis.kill();
    // Walkers reply as always and local sockets are served; the remote copies are dropped.
    for round in 0..20 {
        let sent = a.post("/walker/public_group", json!({"channel_id": "room", "msg": format!("{round}")}), None).await;
        assert_eq!(sent, (200, json!({"status": 200, "reports": []})));
        assert_eq!(member_a.recv().await, chat(&format!("{round}")));
        let reply = sender.call(json!({"type": "walker", "walker": "public_group", "context": {"channel_id": "room"}, "response": true})).await;
        assert_eq!(reply, json!({"status": 200, "reports": []}));
        assert_eq!(member_a.recv().await, chat("hi"));
    }
    // New connections are not held up by the missing bus.
    let (mut late_a, _) = a.connect("?channel_id=late").await;
    late_a.expect_nothing_queued().await;
    let text = a.metrics().await;
    assert!(metric(&text, "walker_host_cluster_publish_dropped_total") > 0.0);
    assert_eq!(metric(&text, "walker_host_cluster_connected"), 0.0);
    let (status, readiness) = a.get("/readyz").await;
    assert_eq!((status, &readiness["cluster"]), (200, &json!({"connected": false})), "ready: it serves its sockets");
    member_b.expect_nothing_queued().await;

    redis.start_again();
    let took = deliver_until_received(&mut sender, &mut member_b, "room").await;
    println!("delivery across instances resumed {} ms after Redis was back", took.as_millis());
    // Both instances resubscribed their whole interest.
    redis.await_subscribers("wh:t:default:c:room", 2).await;
    redis.await_subscribers("wh:t:default:c:late", 1).await;
    assert!(metric(&b.metrics().await, "walker_host_cluster_gaps_total") >= 1.0);
    assert_eq!(a.get("/readyz").await.1["cluster"], json!({"connected": true}));
}

/// Connect-then-notify rounds through an instance whose link to Redis is `slow`, so
/// that its SUBSCRIBE arrives after the other instance's PUBLISH unless the connection
/// frame waits for it: a new socket on `b` subscribed to a fresh channel, then `a`
/// publishes to that channel. The misses, out of `rounds`.
async fn subscribe_race(slow: Duration, subscribe_wait_ms: u64, rounds: usize) -> usize {
    let redis = Redis::start();
    let proxy = Proxy::start(&redis, slow).await;
    let a = instance(&redis).await;
    let b = TestServer::start_with(|config| {
        config.redis = Some(proxy.url().into());
        config.cluster_subscribe_wait_ms = subscribe_wait_ms;
        config.address_connections_per_second = 1_000_000;
    })
    .await;
    let (mut sender, _) = a.connect("").await;
    let mut missed = 0;
    for round in 0..rounds {
        let channel = format!("race-{round}");
        let (mut fresh, _) = b.connect(&format!("?channel_id={channel}")).await;
        sender.send(json!({"type": "channel", "channel_ids": [channel], "data": {"round": round}})).await;
        // Far longer than the way through Redis: a message that is coming arrives in time.
        match tokio::time::timeout(Duration::from_millis(200), fresh.recv()).await {
            Ok(frame) => assert_eq!(frame, json!({"round": round})),
            Err(_) => missed += 1,
        }
    }
    missed
}

#[tokio::test]
async fn a_new_socket_misses_nothing_published_after_its_connection_frame() {
    assert_eq!(subscribe_race(Duration::from_millis(2), 1_000, 1_000).await, 0);
    // Without waiting for the subscription, the race is real.
    assert!(subscribe_race(Duration::from_millis(20), 0, 20).await > 0);
}

#[tokio::test]
async fn a_subscription_that_silently_stops_receiving_is_probed_and_reconnected() {
    let redis = Redis::start();
    let proxy = Proxy::start(&redis, Duration::ZERO).await;
    let a = instance(&redis).await;
    let b = instance_with(&redis, |config| {
        config.redis = Some(proxy.url().into());
        config.cluster_probe_secs = 1;
    })
    .await;
    let (mut member_b, _) = b.connect("?channel_id=room").await;
    let (mut sender, _) = a.connect("").await;
    deliver_until_received(&mut sender, &mut member_b, "room").await;
    // Redis still counts B's subscriber, but nothing it sends reaches B.
    proxy.freeze();
    let took = deliver_until_received(&mut sender, &mut member_b, "room").await;
    println!("a frozen subscription was replaced in {} ms", took.as_millis());
    assert!(metric(&b.metrics().await, "walker_host_cluster_gaps_total") >= 1.0);
}

#[tokio::test]
async fn tenants_stay_apart_across_instances() {
    let redis = Redis::start();
    let tenants = "[tenants.alpha]\n[tenants.beta]\n";
    let start = || async {
        let url = redis.url();
        TestServer::start_tenants_with(tenants, &[], move |config| {
            config.redis = Some(url.into());
            config.token_secret = Some(SECRET.into());
        })
        .await
    };
    let (a, b) = (start().await, start().await);
    let ws = |server: &TestServer, tenant: &str| {
        format!("ws://{}/t/{tenant}/websocket?channel_id=room", server.running.addr)
    };
    let (mut alpha_b, _) = b.connect_to(&ws(&b, "alpha"), None).await;
    let (mut beta_b, _) = b.connect_to(&ws(&b, "beta"), None).await;
    let (mut default_b, _) = b.connect("?channel_id=room").await;
    let (mut alpha_a, _) = a.connect_to(&ws(&a, "alpha"), None).await;
    alpha_a.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"to": "alpha"}})).await;
    assert_eq!(alpha_b.recv().await, json!({"to": "alpha"}));
    let sent = a.post("/t/beta/walker/public_group", json!({"channel_id": "room", "msg": "beta only"}), None).await;
    assert_eq!(sent.0, 200);
    assert_eq!(beta_b.recv().await, chat("beta only"));
    for client in [&mut alpha_b, &mut beta_b, &mut default_b] {
        client.expect_nothing_queued().await;
    }
}

#[tokio::test]
async fn topics_spread_over_several_redis_servers_and_an_outage_of_one_costs_only_its_topics() {
    let (mut first, second) = (Redis::start(), Redis::start());
    let urls = format!("{},{}", first.url(), second.url());
    let start = || {
        let urls = urls.clone();
        TestServer::start_with(move |config| config.redis = Some(urls.into()))
    };
    let (a, b) = (start().await, start().await);
    let rooms: Vec<String> = (0..8).map(|n| format!("room-{n}")).collect();
    let mut members_a = Vec::new();
    let mut members_b = Vec::new();
    for room in &rooms {
        members_a.push(a.connect(&format!("?channel_id={room}")).await.0);
        members_b.push(b.connect(&format!("?channel_id={room}")).await.0);
    }
    // Each room's topic is on exactly one server, with both instances subscribed there.
    let mut on_first = Vec::new();
    for room in &rooms {
        let topic = format!("wh:t:default:c:{room}");
        let counts = (first.subscribers(&topic).await, second.subscribers(&topic).await);
        assert!(counts == (2, 0) || counts == (0, 2), "{topic}: {counts:?}");
        on_first.push(counts.0 == 2);
    }
    assert!(on_first.contains(&true) && on_first.contains(&false), "8 rooms over 2 servers: {on_first:?}");

    first.kill();
    let (mut sender, _) = a.connect("").await;
    for (index, room) in rooms.iter().enumerate() {
        sender.send(json!({"type": "channel", "channel_ids": [room], "data": {"room": room}})).await;
        assert_eq!(members_a[index].recv().await, json!({"room": room}), "local delivery never depends on Redis");
        if !on_first[index] {
            assert_eq!(members_b[index].recv().await, json!({"room": room}), "the other server's topics still cross");
        }
    }
    for (index, member) in members_b.iter_mut().enumerate() {
        if on_first[index] {
            member.expect_nothing_queued().await;
        }
    }
}

#[tokio::test]
async fn an_instance_authenticates_to_redis_and_a_wrong_password_costs_only_remote_copies() {
    let redis = Redis::start_with_password(Some("s3cret"));
    let (a, b) = (instance(&redis).await, instance(&redis).await);
    let wrong_url = redis.url_with_password(Some("wrong"));
    let c = TestServer::start_with(move |config| config.redis = Some(wrong_url.into())).await;
    let (mut member_b, _) = b.connect("?channel_id=room").await;
    let (mut member_c, _) = c.connect("?channel_id=room").await;
    let (mut sender, _) = a.connect("?channel_id=room").await;
    sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"n": 1}})).await;
    assert_eq!(member_b.recv().await, json!({"n": 1}), "authenticated: it crosses");
    assert_eq!(sender.recv().await, json!({"n": 1}));
    // The instance with the wrong password never subscribes, and serves its own sockets.
    member_c.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"n": 2}})).await;
    assert_eq!(member_c.recv().await, json!({"n": 2}));
    assert_eq!(metric(&c.metrics().await, "walker_host_cluster_connected"), 0.0);
    member_b.expect_nothing_queued().await;
    assert_eq!(redis.subscribers("wh:t:default:c:room").await, 2);
}

#[tokio::test]
async fn deployments_with_different_prefixes_share_a_redis_without_seeing_each_other() {
    let redis = Redis::start();
    let a = instance_with(&redis, |config| config.cluster_prefix = "blue".into()).await;
    let b = instance_with(&redis, |config| config.cluster_prefix = "blue".into()).await;
    let other = instance_with(&redis, |config| config.cluster_prefix = "green".into()).await;
    let (mut member_b, _) = b.connect("?channel_id=room").await;
    let (mut member_other, _) = other.connect("?channel_id=room").await;
    redis.await_subscribers("blue:t:default:c:room", 1).await;
    redis.await_subscribers("green:t:default:c:room", 1).await;
    let (mut sender, _) = a.connect("").await;
    sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"to": "blue"}})).await;
    assert_eq!(member_b.recv().await, json!({"to": "blue"}));
    // The other deployment's instance is subscribed to its own room on the same Redis,
    // and got nothing: one more message through its own prefix arrives first.
    let (mut other_sender, _) = other.connect("").await;
    other_sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"to": "green"}})).await;
    assert_eq!(member_other.recv().await, json!({"to": "green"}));
    assert_eq!(received(&other, "channel").await, 0.0, "nothing crossed from blue");
}

/// A server that speaks RESP badly: to every connection it answers `reply` once, then
/// reads forever without answering again. The count is of the SUBSCRIBEs it was sent.
async fn hostile_redis(reply: &'static [u8]) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let subscribes = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = subscribes.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                if buffer[..read].windows(9).any(|word| word == b"SUBSCRIBE") {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                if read > 0 {
                    let _ = socket.write_all(reply).await;
                }
                while socket.read(&mut buffer).await.unwrap_or(0) > 0 {}
            });
        }
    });
    (url, subscribes)
}

#[tokio::test]
async fn a_hostile_or_mute_redis_neither_aborts_the_server_nor_passes_for_connected() {
    for reply in [&b"*1099511627776\r\n"[..], b"$1099511627776\r\n", b""] {
        let (url, subscribes) = hostile_redis(reply).await;
        let server = TestServer::start_with(move |config| config.redis = Some(url.into())).await;
        let (mut client, _) = server.connect("?channel_id=room").await;
        // The subscriber sent its SUBSCRIBEs (and, but for the mute one, read the answer):
        // asking is not being subscribed.
        let asked = || subscribes.load(std::sync::atomic::Ordering::SeqCst) >= 1;
        assert!(support::eventually(Duration::from_secs(10), asked).await);
        let (_, readiness) = server.get("/readyz").await;
        assert_eq!(readiness["cluster"], json!({"connected": false}), "{}", String::from_utf8_lossy(reply));
        let reply = client.call(json!({"type": "connection"})).await;
        assert_eq!(reply["data"]["channel_id"], "room", "still serving: {reply}");
    }
}

/// A Redis that takes PUBLISHes and never answers holds the publisher in its exchange:
/// past `--cluster-publish-queue` messages, the rest are dropped and counted at once,
/// before the exchange times out, and local delivery goes on in full and in order.
#[tokio::test]
async fn past_the_publish_queue_messages_for_other_instances_are_dropped_and_local_ones_delivered() {
    let (url, _) = hostile_redis(b"").await;
    let server = TestServer::start_with(move |config| {
        config.redis = Some(url.into());
        config.cluster_publish_queue = 4;
        config.ws_events_per_second = 1_000_000;
    })
    .await;
    let (mut member, _) = server.connect("?channel_id=room").await;
    let (mut sender, _) = server.connect("").await;
    const SENT: usize = 600;
    for n in 0..SENT {
        sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"n": n}})).await;
    }
    for n in 0..SENT {
        assert_eq!(member.recv().await, json!({"n": n}));
    }
    // At most the queue's four, and the four taken into the stuck exchange, are kept.
    let dropped = || async { metric(&server.metrics().await, "walker_host_cluster_publish_dropped_total") };
    let all_dropped = || async { dropped().await >= (SENT - 8) as f64 };
    assert!(
        support::eventually_async(Duration::from_secs(1), all_dropped).await,
        "dropped at once: {}",
        dropped().await
    );
}
