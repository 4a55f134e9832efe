//! Tenants on one server, on loopback: each serves its own walkers under `/t/<name>/` and
//! at its hosts, with its own accounts, tokens, graph and hub; nothing one tenant sends
//! reaches another's sockets; tenants come and go as the tenants file is edited.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::{Backend, Client, TestServer, read};

const TWO_TENANTS: &str = r#"
[tenants.alpha]
hosts = ["alpha.test"]

[tenants.beta]
own_code_cache = true
"#;

const NOT_FOUND: &str = r#"{"detail":"Not Found"}"#;

const FIXTURES: &[(&str, &str)] = &[("alpha", "version-v1.wasm"), ("beta", "version-v2.wasm")];

async fn two_tenants() -> TestServer {
    TestServer::start_tenants(TWO_TENANTS, FIXTURES).await
}

/// Two tenants on PostgreSQL (a schema each), signing with keys derived from one secret.
async fn two_tenants_on_postgres() -> TestServer {
    let backend = Backend::postgres().await;
    TestServer::start_tenants_with(TWO_TENANTS, FIXTURES, |config| {
        backend.configure(config);
        config.token_secret = Some("one operator secret for every tenant".into());
    })
    .await
}

#[tokio::test]
async fn each_tenant_serves_its_own_walkers_under_its_prefix_and_at_its_hosts() {
    let server = two_tenants().await;
    // The same walker name, two behaviours; the default tenant has no such walker.
    assert_eq!(server.post("/t/alpha/walker/version", json!({}), None).await.1["reports"], json!([1]));
    assert_eq!(server.post("/t/beta/walker/version", json!({}), None).await.1["reports"], json!([2]));
    assert_eq!(server.post("/walker/version", json!({}), None).await.0, 404);
    assert_eq!(post_at(&server, "alpha.test", "/walker/version").await, (200, json!({"status": 200, "reports": [1]})));
    assert_eq!(post_at(&server, "ALPHA.test:8000", "/walker/version").await.0, 200, "case and port do not matter");
    let (mut client, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let reply = client.call(json!({"type": "walker", "walker": "version", "response": true})).await;
    assert_eq!(reply["reports"], json!([2]));

    // Unknown tenants, the reserved default name, and a Host and a path that disagree:
    // 404, like any unknown route.
    for (host, path) in [
        (None, "/t/gamma/walker/version"),
        (None, "/t/default/walker/public_event"),
        (None, "/t/alpha"),
        (Some("alpha.test"), "/t/beta/walker/version"),
    ] {
        let mut request = server.http.post(server.url(path)).json(&json!({}));
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{host:?} {path}");
        assert_eq!(response.text().await.unwrap(), NOT_FOUND);
    }
    // A Host and a path that agree are served.
    assert_eq!(post_at(&server, "alpha.test", "/t/alpha/walker/version").await.0, 200);

    // Each tenant's API description lists its walkers only.
    let beta = server.get("/t/beta/openapi.json").await.1;
    assert!(beta["paths"]["/walker/version"]["post"].is_object());
    assert!(beta["paths"].get("/walker/boom").is_some(), "beta serves chat.wasm too");
    assert!(server.get("/openapi.json").await.1["paths"].get("/walker/version").is_none());
    assert!(server.get("/t/beta/readyz").await.1["loaded"].as_array().unwrap().contains(&json!("version.wasm")));
}

#[tokio::test]
async fn accounts_and_tokens_belong_to_one_tenant() {
    accounts_and_tokens_are_isolated(&two_tenants().await).await;
}

#[tokio::test]
async fn accounts_and_tokens_belong_to_one_tenant_on_postgres_with_one_secret() {
    accounts_and_tokens_are_isolated(&two_tenants_on_postgres().await).await;
}

async fn accounts_and_tokens_are_isolated(server: &TestServer) {
    // The same email registers separately in each tenant, with its own password.
    let account = |path: &'static str, password: &'static str| {
        let body = json!({"email": "same@example.com", "password": password});
        server.post(path, body, None)
    };
    assert_eq!(account("/t/alpha/user/register", "alpha password").await.0, 201);
    assert_eq!(account("/t/beta/user/register", "beta password").await.0, 201);
    assert_eq!(account("/t/alpha/user/login", "beta password").await.0, 400);
    let (status, alpha) = account("/t/alpha/user/login", "alpha password").await;
    assert_eq!(status, 200);
    let (_, beta) = account("/t/beta/user/login", "beta password").await;
    assert_ne!(alpha["user"]["root_id"], beta["user"]["root_id"]);
    let alpha_token = alpha["token"].as_str().unwrap();
    // The default tenant knows neither.
    assert_eq!(account("/user/login", "alpha password").await.0, 400);

    // Alpha's token: valid on alpha, 401 on beta's REST routes, anonymous on beta's socket.
    let chat = json!({"root_id": alpha["user"]["root_id"]});
    assert_eq!(server.post("/t/alpha/walker/send_chat_to_user", chat.clone(), Some(alpha_token)).await.0, 200);
    assert_eq!(server.post("/t/beta/walker/send_chat_to_user", chat.clone(), Some(alpha_token)).await.0, 401);
    assert_eq!(server.post("/walker/send_chat_to_user", chat, Some(alpha_token)).await.0, 401);
    let (_, hello) = server.connect_to(&tenant_ws(server, "beta", &format!("?auth={alpha_token}")), None).await;
    assert_eq!(hello["data"]["root_id"], "n::000000000000000000000001");
    let (_, hello) = server.connect_to(&tenant_ws(server, "alpha", &format!("?auth={alpha_token}")), None).await;
    assert_eq!(hello["data"]["root_id"], format!("n::{}", alpha["user"]["root_id"].as_str().unwrap()));
}

#[tokio::test]
async fn nothing_beta_sends_reaches_alpha_whatever_ids_it_names() {
    let server = two_tenants().await;
    let (alpha_token, alpha_root) = user_in(&server, "alpha", "a@example.com").await;
    let (beta_token, _) = user_in(&server, "beta", "b@example.com").await;
    // Alpha's sockets: a signed-in one in channel `room`, an anonymous one (the public
    // root has the same id in every tenant).
    let (mut signed_in, hello) =
        server.connect_to(&tenant_ws(&server, "alpha", &format!("?channel_id=room&auth={alpha_token}")), None).await;
    let alpha_client = hello["data"]["client_id"].clone();
    let (mut anonymous, hello) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    let public_root = hello["data"]["root_id"].clone();
    let targets = [
        ("user", "root_ids", json!([alpha_root, public_root])),
        ("channel", "channel_ids", json!(["room"])),
        ("client", "client_ids", json!([alpha_client])),
    ];
    let attempts: Vec<Value> = targets
        .iter()
        .map(|(kind, key, ids)| json!({"type": kind, *key: ids, "data": {"from": "beta"}}))
        .chain([
            walker_event("send_chat_to_user", json!({"root_id": alpha_root})),
            walker_event("send_chat_to_user", json!({"root_id": public_root})),
            walker_event("send_chat_to_group", json!({"channel_id": "room"})),
            walker_event("public_group", json!({"channel_id": "room"})),
            walker_event("send_chat_to_client", json!({"client_id": alpha_client})),
        ])
        .collect();

    // From beta, signed in, over WebSocket and REST: nothing arrives.
    let (mut beta, _) = server.connect_to(&tenant_ws(&server, "beta", &format!("?auth={beta_token}")), None).await;
    send_all(&mut beta, &attempts).await;
    for (walker, body) in [
        ("send_chat_to_user", json!({"root_id": alpha_root})),
        ("send_chat_to_group", json!({"channel_id": "room"})),
        ("send_chat_to_client", json!({"client_id": alpha_client})),
    ] {
        let (status, _) = server.post(&format!("/t/beta/walker/{walker}"), body, Some(&beta_token)).await;
        assert_eq!(status, 200, "{walker} runs in beta, on beta's hub");
    }
    // And from the default tenant (signed in: its own public root is not a target).
    let (outsider_token, _) = server.user("o@example.com").await;
    let (mut outsider, _) = server.connect(&format!("?auth={outsider_token}")).await;
    send_all(&mut outsider, &attempts).await;
    signed_in.expect_nothing_queued().await;
    anonymous.expect_nothing_queued().await;

    // The same events from within alpha do arrive: the test can see a delivery.
    let (mut sender, _) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    sender.send(json!({"type": "client", "client_ids": [alpha_client], "data": {"from": "alpha"}})).await;
    assert_eq!(signed_in.recv().await, json!({"from": "alpha"}));
    sender.send(walker_event("public_group", json!({"channel_id": "room"}))).await;
    assert_eq!(signed_in.recv().await, json!({"type": "chat", "data": {"message": "hi"}}));
}

#[tokio::test]
async fn graph_data_belongs_to_one_tenant() {
    graph_data_is_isolated(&two_tenants().await).await;
}

#[tokio::test]
async fn graph_data_belongs_to_one_tenant_on_postgres() {
    graph_data_is_isolated(&two_tenants_on_postgres().await).await;
}

async fn graph_data_is_isolated(server: &TestServer) {
    let (alpha_token, _) = user_in(server, "alpha", "a@example.com").await;
    let (beta_token, _) = user_in(server, "beta", "b@example.com").await;
    let (status, made) = server.post("/t/alpha/walker/make_item", json!({"name": "secret"}), Some(&alpha_token)).await;
    assert_eq!(status, 200, "{made}");
    let node = made["reports"][0]["id"].as_str().unwrap();
    // Beta cannot enter it, over REST or WebSocket: to beta it does not exist.
    let (status, body) =
        server.post(&format!("/t/beta/walker/rename_item/{node}"), json!({"name": "x"}), Some(&beta_token)).await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": {"error": format!("You don't have access on target entry {node}!")}}))
    );
    let (mut beta, _) = server.connect_to(&tenant_ws(server, "beta", &format!("?auth={beta_token}")), None).await;
    let mut event = walker_event("ws_item", json!({}));
    event["node"] = json!(node);
    assert_eq!(beta.call(event).await["error"], format!("You don't have access on target entry {node}!"));
    // Alpha's graph is unchanged, and beta's has nothing.
    let list = server.post("/t/alpha/walker/list_items", json!({}), Some(&alpha_token)).await.1;
    assert_eq!(list["reports"], json!([[{"id": node, "context": {"name": "secret"}}]]));
    let list = server.post("/t/beta/walker/list_items", json!({}), Some(&beta_token)).await.1;
    assert_eq!(list["reports"], json!([[]]));
}

#[tokio::test]
async fn editing_the_tenants_file_adds_and_removes_tenants_while_serving() {
    let server = two_tenants().await;
    assert_eq!(server.post("/t/gamma/walker/version", json!({}), None).await.0, 404);
    let gamma = server.walkers_dir().join("gamma");
    std::fs::create_dir(&gamma).unwrap();
    support::deploy(&support::fixture("version-v2.wasm"), &gamma.join("version.wasm"));
    rewrite(&server, &format!("{TWO_TENANTS}\n[tenants.gamma]\nhosts = [\"gamma.test\"]\n"));
    wait_for(|| async { server.post("/t/gamma/walker/version", json!({}), None).await.0 == 200 }).await;
    assert_eq!(post_at(&server, "gamma.test", "/walker/version").await.1["reports"], json!([2]));
    let (mut gamma_socket, _) = server.connect_to(&tenant_ws(&server, "gamma", ""), None).await;
    let (mut alpha_socket, _) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;

    // An invalid edit changes nothing.
    rewrite(&server, "[tenants.Not_A_Label]\n");
    let rejected = || server.running.tenants.rejected_edits.get() == 1;
    assert!(support::eventually(Duration::from_secs(10), rejected).await, "the edit was read and rejected");
    assert_eq!(server.post("/t/gamma/walker/version", json!({}), None).await.0, 200);

    // Removing gamma closes its sockets with 1001 and unroutes it; alpha is untouched.
    rewrite(&server, TWO_TENANTS);
    let frame = gamma_socket.closed().await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(server.post("/t/gamma/walker/version", json!({}), None).await.0, 404);
    assert_eq!(
        post_at(&server, "gamma.test", "/walker/version").await.0,
        404,
        "its host is the default tenant's again"
    );
    alpha_socket.expect_nothing_queued().await;
}

#[tokio::test]
async fn metrics_are_labelled_by_tenant() {
    let server = two_tenants().await;
    server.post("/t/alpha/walker/version", json!({}), None).await;
    let (_socket, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let all = server.metrics().await;
    assert!(all.contains(r#"walker_host_walker_runs_total{outcome="ok",walker="version",tenant="alpha"} 1"#), "{all}");
    assert!(all.contains(r#"walker_host_connections{tenant="beta"} 1"#), "{all}");
    assert!(all.contains(r#"walker_host_connections{tenant="default"} 0"#), "{all}");
    assert_eq!(all.matches("# TYPE walker_host_connections gauge").count(), 1, "one family per name");
    let alpha = server.http.get(server.url("/t/alpha/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(alpha.contains(r#"tenant="alpha""#));
    assert!(!alpha.contains(r#"tenant="beta""#) && !alpha.contains("instance_slots"), "its own only: {alpha}");
}

#[tokio::test]
async fn each_tenant_has_its_own_metrics_token() {
    let tenants =
        "[tenants.alpha]\nmetrics_token = \"alpha-scraper\"\n[tenants.beta]\nmetrics_token = \"beta-scraper\"\n";
    let server =
        TestServer::start_tenants_with(tenants, &[], |config| config.metrics_token = Some("operator".into())).await;
    let status = |path: &'static str, token: &'static str| {
        let request = server.http.get(server.url(path)).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/t/alpha/metrics", "alpha-scraper").await, 200);
    assert_eq!(status("/t/alpha/metrics", "beta-scraper").await, 401, "another tenant's token");
    assert_eq!(status("/t/alpha/metrics", "operator").await, 401, "the operator has /metrics");
    assert_eq!(status("/t/alpha/metrics", "alpha-scrapeR").await, 401);
    assert_eq!(status("/t/beta/metrics", "beta-scraper").await, 200);
    assert_eq!(status("/metrics", "alpha-scraper").await, 401, "every tenant's metrics are the operator's");
    assert_eq!(status("/metrics", "operator").await, 200);
}

#[tokio::test]
async fn a_tenant_may_compile_into_a_code_cache_of_its_own() {
    let server = two_tenants().await;
    let compiled = |tenant: &str| {
        let dir = server.data.path().join("tenants").join(tenant).join("compiled");
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "cwasm")).count()
        })
    };
    assert_eq!(compiled("beta"), 2, "chat.wasm and version.wasm");
    assert_eq!(compiled("alpha"), 0, "alpha shares the server's cache");
}

#[tokio::test]
async fn pages_under_a_prefix_call_their_own_tenant() {
    let server = two_tenants().await;
    let page = server.http.get(server.url("/t/beta/playground")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"fetch("openapi.json")"#), "a relative path: /t/beta/openapi.json");
}

const QUOTAS: &str = r#"
[defaults]
concurrent_runs = 1

[tenants.alpha]

[tenants.beta.quotas]
connections = 2
runs_per_second = 1
"#;

#[tokio::test]
async fn a_tenant_over_its_connection_quota_is_refused_with_503_then_admitted_when_one_closes() {
    let server = TestServer::start_tenants(QUOTAS, &[]).await;
    let url = tenant_ws(&server, "beta", "");
    let (first, _) = server.connect_to(&url, None).await;
    let (_second, _) = server.connect_to(&url, None).await;
    let refused = tokio_tungstenite::connect_async(url.as_str()).await.expect_err("over the quota");
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else { panic!("{refused:?}") };
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    // Other tenants are not counted against it.
    let _alpha = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    drop(first);
    wait_for(|| async { tokio_tungstenite::connect_async(url.as_str()).await.is_ok() }).await;
}

#[tokio::test]
async fn a_tenant_over_its_runs_per_second_gets_rate_limited_errors() {
    let server = TestServer::start_tenants(QUOTAS, &[]).await;
    // A burst of twice the rate, then 429 with Retry-After over REST, and E3 over WebSocket.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(server.post("/t/beta/walker/public_event", json!({"val": 1}), None).await.0);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let response =
        server.http.post(server.url("/t/beta/walker/public_event")).json(&json!({"val": 1})).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.headers()["retry-after"].to_str().unwrap()), (429, "1"));
    assert_eq!(response.json::<Value>().await.unwrap()["errors"][0]["type"], "rate_limited");
    let (mut client, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let reply = client.call(walker_event("public_event", json!({"val": 1}))).await;
    assert_eq!(reply["error"][0]["type"], "rate_limited", "{reply}");
    // Alpha's runs are not counted against beta's.
    for _ in 0..5 {
        assert_eq!(server.post("/t/alpha/walker/public_event", json!({"val": 1}), None).await.0, 200);
    }
}

#[tokio::test]
async fn a_tenants_backlog_waits_on_its_own_places_not_in_front_of_other_tenants() {
    let quotas = "[defaults]\nconcurrent_runs = 1\n[tenants.alpha]\n[tenants.beta]\n";
    let server =
        TestServer::start_tenants_with(quotas, &[("alpha", "hostile.wasm"), ("beta", "hostile.wasm")], |config| {
            config.walker_time_ms = 2_000;
            config.walker_slot_wait_ms = 200;
        })
        .await;
    let nap = |tenant: &str, ms: u64| {
        let request = server.http.post(server.url(&format!("/t/{tenant}/walker/nap"))).json(&json!({"ms": ms}));
        async move { read(request.send().await.unwrap()).await }
    };
    // Beta's one place is taken for a second: its next run is busy once the wait is over,
    // while alpha's run starts at once.
    let holding = tokio::spawn(nap("beta", 1_000));
    server.until_slots_in_use(1).await;
    let (status, body) = nap("beta", 10).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["type"], "busy");
    assert_eq!(nap("alpha", 10).await, (200, json!({"status": 200, "reports": [10]})));
    assert_eq!(holding.await.unwrap().0, 200);
}

#[tokio::test]
async fn a_tenant_that_spends_its_cpu_time_waits_then_is_refused_new_runs_until_repaid() {
    let quotas = "[tenants.alpha]\n[tenants.beta.quotas]\ncpu_ms_per_second = 10\n";
    let fixtures = [("alpha", "hostile.wasm"), ("beta", "hostile.wasm")];
    let server = TestServer::start_tenants(quotas, &fixtures).await;
    // Beta's budget (a burst of 20 ms, then 10 ms a second) runs out long before its time
    // limit: the run waits for CPU time, and is stopped by its time limit.
    let (status, body) = server.post("/t/beta/walker/spin", json!({}), None).await;
    assert_eq!((status, body["errors"][0]["type"].clone()), (500, json!("time_limit")), "{body}");
    // Its next run is refused at once, with when to come back.
    let response =
        server.http.post(server.url("/t/beta/walker/public_event")).json(&json!({"val": 1})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(body["errors"][0]["type"], "quota_exceeded", "{body}");
    assert_eq!(body["errors"][0]["msg"], "walker public_event was not run: its CPU time per second is used up");
    let (mut client, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let reply = client.call(walker_event("public_event", json!({"val": 1}))).await;
    assert_eq!(reply["error"][0]["type"], "quota_exceeded", "{reply}");
    // Alpha's budget is its own.
    assert_eq!(server.post("/t/alpha/walker/public_event", json!({"val": 1}), None).await.0, 200);
    // What beta used is reported, and once repaid it runs again.
    let metrics = server.http.get(server.url("/t/beta/metrics")).send().await.unwrap().text().await.unwrap();
    let used = support::metric(&metrics, r#"walker_host_walker_cpu_seconds_total{tenant="beta"}"#);
    assert!((0.02..0.2).contains(&used), "beta used {used} s of CPU time:\n{metrics}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(server.post("/t/beta/walker/public_event", json!({"val": 1}), None).await.0, 200);
}

#[tokio::test]
async fn a_tenants_instances_together_hold_no_more_memory_than_its_quota() {
    let quotas = "[tenants.alpha]\n[tenants.beta.quotas]\nmemory_mib = 24\n";
    let fixtures = [("alpha", "hostile.wasm"), ("beta", "hostile.wasm")];
    let server = TestServer::start_tenants(quotas, &fixtures).await;
    // 30 MiB is within one instance's 64 MiB, not within beta's 24 MiB.
    let response =
        server.http.post(server.url("/t/beta/walker/memory_bomb")).json(&json!({"mib": 30})).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.headers()["retry-after"].to_str().unwrap()), (503, "1"));
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(body["errors"][0]["type"], "quota_exceeded", "{body}");
    assert_eq!(
        body["errors"][0]["msg"],
        "walker memory_bomb exceeded its tenant's memory quota of 24 MiB, its instances together"
    );
    // What a run's instance held is given back when it is dropped: run after run fits.
    for _ in 0..5 {
        assert_eq!(server.post("/t/beta/walker/memory_bomb", json!({"mib": 8}), None).await.0, 200);
    }
    let metrics = server.http.get(server.url("/t/beta/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(support::metric(&metrics, r#"walker_host_walker_memory_bytes{tenant="beta"}"#), 0.0);
    // Alpha's quota is its own (the 2 GiB default).
    assert_eq!(server.post("/t/alpha/walker/memory_bomb", json!({"mib": 30}), None).await.0, 200);
}

const UNQUOTED: &str = "[tenants.alpha]\n[tenants.beta]\n";

#[tokio::test]
async fn a_tenants_roots_together_store_no_more_than_its_storage_quota() {
    tenant_storage_quota(TestServer::start_tenants(UNQUOTED, &[]).await).await;
}

#[tokio::test]
async fn a_tenants_roots_together_store_no_more_than_its_storage_quota_on_postgres() {
    let backend = Backend::postgres().await;
    tenant_storage_quota(TestServer::start_tenants_with(UNQUOTED, &[], |config| backend.configure(config)).await).await;
}

async fn tenant_storage_quota(server: TestServer) {
    let (alice, _) = user_in(&server, "beta", "alice@example.com").await;
    let (bob, _) = user_in(&server, "beta", "bob@example.com").await;
    // Items of ~200 KB: five fit in 1 MiB, six do not.
    let make = |token: &str| {
        let request = server.http.post(server.url("/t/beta/walker/make_item")).bearer_auth(token);
        async move { read(request.json(&json!({"name": "x".repeat(200_000)})).send().await.unwrap()).await }
    };
    let mut alices = Vec::new();
    for _ in 0..3 {
        let (status, body) = make(&alice).await;
        assert_eq!(status, 200, "{body}");
        alices.push(body["reports"][0]["id"].as_str().unwrap().to_string());
    }
    for _ in 0..2 {
        assert_eq!(make(&bob).await.0, 200);
    }
    // The quota comes with the stores' usage so far: the tenant is reopened and recounts it.
    let (mut beta, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    rewrite(&server, &format!("{UNQUOTED}[tenants.beta.quotas]\nstorage_mib = 1\n"));
    assert_eq!(u16::from(beta.closed().await.expect("a close frame").code), 1001);
    wait_for(|| async { server.get("/t/beta/readyz").await.1["ready"] == json!(true) }).await;
    let (status, body) = make(&bob).await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(
        body["errors"][0]["msg"],
        "walker make_item exceeded the storage quota of 1048576 for the tenant; nothing was written"
    );
    // Deleting gives room back, to any of its roots.
    let delete = server.http.post(server.url(&format!("/t/beta/walker/delete_item/{}", alices[0])));
    assert_eq!(read(delete.bearer_auth(&alice).json(&json!({})).send().await.unwrap()).await.0, 200);
    assert_eq!(make(&bob).await.0, 200);
    // Another tenant's storage is its own.
    let (carol, _) = user_in(&server, "alpha", "carol@example.com").await;
    for _ in 0..6 {
        let request = server.http.post(server.url("/t/alpha/walker/make_item")).bearer_auth(&carol);
        let (status, _) = read(request.json(&json!({"name": "x".repeat(200_000)})).send().await.unwrap()).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn instance_slots_are_granted_to_tenants_in_turn_not_in_arrival_order() {
    let fixtures = [("alpha", "hostile.wasm"), ("beta", "hostile.wasm")];
    let server = TestServer::start_tenants_with(UNQUOTED, &fixtures, |config| {
        config.walker_instances = 2;
        config.walker_time_ms = 5_000;
        config.walker_slot_wait_ms = 5_000;
    })
    .await;
    let (finished_tx, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let nap = |tenant: &'static str, label: &'static str, ms: u64| {
        let request = server.http.post(server.url(&format!("/t/{tenant}/walker/nap"))).json(&json!({"ms": ms}));
        let finished = finished_tx.clone();
        tokio::spawn(async move {
            assert_eq!(read(request.send().await.unwrap()).await.0, 200, "{label}");
            finished.send(label).unwrap();
        })
    };
    // Alpha takes both slots, then queues four more runs; beta asks for one after them.
    let mut runs = vec![nap("alpha", "alpha 1", 400), nap("alpha", "alpha 2", 400)];
    server.until_slots_in_use(2).await;
    for label in ["alpha 3", "alpha 4", "alpha 5", "alpha 6"] {
        runs.push(nap("alpha", label, 400));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runs.push(nap("beta", "beta", 10));
    for run in runs {
        run.await.unwrap();
    }
    drop(finished_tx);
    let mut order = Vec::new();
    while let Some(label) = finished.recv().await {
        order.push(label);
    }
    // When alpha's first two end, one freed slot goes to alpha's next run and one to
    // beta's: beta's short run ends before alpha's third (arrival order would put it last).
    let position = |label| order.iter().position(|&l| l == label).unwrap();
    assert!(position("beta") < position("alpha 3"), "{order:?}");
}

#[tokio::test]
async fn a_tenant_over_its_deliveries_per_second_has_whole_notifications_dropped_and_counted() {
    let quotas = "[tenants.alpha.quotas]\ndeliveries_per_second = 5\n[tenants.beta]\n";
    let server = TestServer::start_tenants(quotas, &[]).await;
    let mut members = Vec::new();
    for _ in 0..4 {
        members.push(server.connect_to(&tenant_ws(&server, "alpha", "?channel_id=room"), None).await.0);
    }
    // A burst of 10 deliveries: two notifications to the 4 members; the third would need
    // 4 more and reaches nobody.
    let (mut sender, _) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    for n in 0..3 {
        sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"n": n}})).await;
    }
    sender.expect_nothing_queued().await;
    for member in &mut members {
        assert_eq!(member.recv().await, json!({"n": 0}));
        assert_eq!(member.recv().await, json!({"n": 1}));
        member.expect_nothing_queued().await;
    }
    let metrics = server.http.get(server.url("/t/alpha/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"walker_host_notifications_over_quota_total{tenant="alpha"} 4"#), "{metrics}");
    // Beta's deliveries are its own.
    let (mut beta_member, _) = server.connect_to(&tenant_ws(&server, "beta", "?channel_id=room"), None).await;
    let (mut beta_sender, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    beta_sender.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"beta": true}})).await;
    assert_eq!(beta_member.recv().await, json!({"beta": true}));
}

#[tokio::test]
async fn a_tenants_client_events_over_its_rate_are_read_later_not_dropped() {
    let quotas = "[tenants.alpha.quotas]\nevents_per_second = 50\n[tenants.beta]\n";
    let server = TestServer::start_tenants(quotas, &[]).await;
    let (mut flooding, _) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    // 150 events: a burst of 100, then 50 a second. Every one is answered, in order,
    // and the last no sooner than the pace allows (a lower bound: a slow machine only
    // makes it later).
    let started = std::time::Instant::now();
    for n in 0..150 {
        flooding
            .send(json!({"type": "walker", "walker": "public_event", "context": {"val": n}, "response": true}))
            .await;
    }
    // Meanwhile beta's connection is read at once: its reply comes before alpha's last.
    let (mut beta, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let reply =
        beta.call(json!({"type": "walker", "walker": "public_event", "context": {"val": -1}, "response": true})).await;
    assert_eq!(reply["status"], 200, "{reply}");
    let beta_answered = started.elapsed();
    for n in 0..150 {
        assert_eq!(flooding.recv().await["reports"], json!([{"val": n}]));
    }
    let alpha_answered = started.elapsed();
    assert!(alpha_answered >= Duration::from_millis(900), "paced: {alpha_answered:?}");
    assert!(beta_answered < alpha_answered, "beta {beta_answered:?}, alpha {alpha_answered:?}");
}

#[tokio::test]
async fn changing_a_tenants_quotas_reopens_it_with_the_new_ones() {
    let server = TestServer::start_tenants(QUOTAS, &[]).await;
    let (mut beta, _) = server.connect_to(&tenant_ws(&server, "beta", ""), None).await;
    let (mut alpha, _) = server.connect_to(&tenant_ws(&server, "alpha", ""), None).await;
    rewrite(&server, &QUOTAS.replace("connections = 2", "connections = 1"));
    // Beta's sockets are closed so that clients reconnect to it as reopened; alpha's stay.
    assert_eq!(u16::from(beta.closed().await.expect("a close frame").code), 1001);
    alpha.expect_nothing_queued().await;
    let url = tenant_ws(&server, "beta", "");
    let (_only, _) = server.connect_to(&url, None).await;
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_err(), "the new quota: one connection");
}

const VARS: &str = r#"
[tenants.alpha.vars]
greeting = "hello from alpha"
api_key = "alpha secret"
other = "set, but not declared by the walker"

[tenants.beta.vars]
greeting = "hello from beta"
"#;

#[tokio::test]
async fn walkers_read_the_variables_of_their_tenant_that_they_declare_and_no_other() {
    let server = TestServer::start_tenants(VARS, &[("alpha", "hostile.wasm"), ("beta", "hostile.wasm")]).await;
    let server = &server;
    let read_var = |prefix: &'static str, name: &'static str| async move {
        server.post(&format!("{prefix}/walker/read_var"), json!({"name": name}), None).await.1["reports"][0].clone()
    };
    assert_eq!(read_var("/t/alpha", "greeting").await, json!({"value": "hello from alpha"}));
    assert_eq!(read_var("/t/alpha", "api_key").await, json!({"value": "alpha secret"}));
    assert_eq!(read_var("/t/beta", "greeting").await, json!({"value": "hello from beta"}));
    // Another tenant's variable does not exist here; an undeclared one is denied.
    assert_eq!(read_var("/t/beta", "api_key").await, json!({"undefined": "variable api_key is not set"}));
    assert_eq!(read_var("", "greeting").await, json!({"undefined": "variable greeting is not set"}));
    let denied = json!({"denied": "walker read_var does not declare variable other"});
    assert_eq!(read_var("/t/alpha", "other").await, denied);
    // An edited value is read once the tenant is reopened with it.
    rewrite(server, &VARS.replace("hello from alpha", "hello again"));
    wait_for(|| async { read_var("/t/alpha", "greeting").await == json!({"value": "hello again"}) }).await;
}

#[tokio::test]
async fn export_and_import_move_one_tenants_data() {
    let server = two_tenants().await;
    user_in(&server, "alpha", "only-in-alpha@example.com").await;
    server.user("only-in-default@example.com").await;
    let (walkers, data) = server.stop().await;
    let data_dir = data.path().to_str().unwrap().to_string();
    let data_dir = data_dir.as_str();
    let alpha = binary(&["export", "--data-dir", data_dir, "--tenant", "alpha"], b"");
    let alpha = String::from_utf8(alpha.stdout).unwrap();
    assert!(alpha.contains("only-in-alpha@example.com") && !alpha.contains("only-in-default"), "{alpha}");
    // Into beta: alpha's user can then sign in there.
    let imported = binary(&["import", "--data-dir", data_dir, "--tenant", "beta"], alpha.as_bytes());
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let server = TestServer::start_in(walkers, data, |config| {
        config.tenants_file = Some(config.data_dir.join("tenants.toml"));
    })
    .await;
    let credentials = json!({"email": "only-in-alpha@example.com", "password": "correct horse"});
    assert_eq!(server.post("/t/beta/user/login", credentials, None).await.0, 200);
    // A name that is not a tenant name is refused, naming the problem.
    let refused = binary(&["export", "--data-dir", data_dir, "--tenant", "../x"], b"");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a DNS label"));
}

/// Runs the `walker-host` binary with `input` on its standard input.
fn binary(args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_walker-host"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_tenants_file_that_is_not_valid_stops_the_start_with_a_clear_error() {
    for (file, message) in [
        ("[tenants.default]\n", "reserved"),
        ("[tenants.Acme]\n", "not a DNS label"),
        ("[tenants.a]\nhosts = [\"x.test\"]\n[tenants.b]\nhosts = [\"x.test\"]\n", "claimed by tenants a and b"),
        ("[tenants.a]\nquota = 1\n", "unknown field `quota`"),
        ("[tenants.a.quotas]\nconcurrent_runs = 0\n", "concurrent_runs must be at least 1"),
        ("[defaults]\ndeliveries_per_second = 0\n[tenants.a]\n", "deliveries_per_second must be at least 1"),
        ("[tenants.a.quotas]\nevents_per_second = 0\n", "events_per_second must be at least 1"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tenants.toml"), file).unwrap();
        let mut config = walker_host::config::Config::with_dirs(dir.path().join("walkers"), dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.tenants_file = Some(dir.path().join("tenants.toml"));
        let error = walker_host::server::Running::start(config).await.err().expect("refused");
        assert!(format!("{error:#}").contains(message), "{file}: {error:#}");
    }
}

fn tenant_ws(server: &TestServer, tenant: &str, query: &str) -> String {
    format!("ws://{}/t/{tenant}/websocket{query}", server.running.addr)
}

/// Sends `events` and waits until the server has handled them all.
async fn send_all(sender: &mut Client, events: &[Value]) {
    for event in events {
        sender.send(event.clone()).await;
    }
    sender.expect_nothing_queued().await;
}

fn walker_event(walker: &str, context: Value) -> Value {
    json!({"type": "walker", "walker": walker, "context": context})
}

/// Registers and logs in a user of `tenant`: its token and root (24 hex).
async fn user_in(server: &TestServer, tenant: &str, email: &str) -> (String, String) {
    let credentials = json!({"email": email, "password": "correct horse"});
    assert_eq!(server.post(&format!("/t/{tenant}/user/register"), credentials.clone(), None).await.0, 201);
    let (status, body) = server.post(&format!("/t/{tenant}/user/login"), credentials, None).await;
    assert_eq!(status, 200, "{body}");
    (body["token"].as_str().unwrap().to_string(), body["user"]["root_id"].as_str().unwrap().to_string())
}

/// A POST with another Host header.
async fn post_at(server: &TestServer, host: &str, path: &str) -> (u16, Value) {
    read(server.http.post(server.url(path)).header("host", host).json(&json!({})).send().await.unwrap()).await
}

fn rewrite(server: &TestServer, tenants_toml: &str) {
    support::deploy_bytes(tenants_toml.as_bytes(), &server.tenants_file());
}

async fn wait_for<F: Future<Output = bool>>(condition: impl FnMut() -> F) {
    assert!(support::eventually_async(Duration::from_secs(20), condition).await, "timed out");
}

/// Password hashing is one pool for every tenant, granted in turn with a queue per
/// tenant: while alpha keeps more sign-ins waiting than its queue holds (some answered
/// 503), beta's sign-ins still wait their turn and go through.
#[tokio::test]
async fn one_tenants_flood_of_sign_ins_leaves_another_tenant_its_turn_at_hashing() {
    let server = TestServer::start_tenants_with(TWO_TENANTS, &[], |config| {
        config.hash_concurrency = 1;
        config.hash_queue = 2;
    })
    .await;
    user_in(&server, "alpha", "flood@example.com").await;
    user_in(&server, "beta", "calm@example.com").await;
    let login = |tenant: &str, email: &str| {
        let credentials = json!({"email": email, "password": "correct horse"});
        let request = server.http.post(server.url(&format!("/t/{tenant}/user/login"))).json(&credentials);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let (refused_tx, mut refused) = tokio::sync::watch::channel(false);
    let stop = tokio_util::sync::CancellationToken::new();
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            let (stop, refused_tx) = (stop.clone(), refused_tx.clone());
            let (http, url) = (server.http.clone(), server.url("/t/alpha/user/login"));
            tokio::spawn(async move {
                let credentials = json!({"email": "flood@example.com", "password": "correct horse"});
                while !stop.is_cancelled() {
                    let status = http.post(&url).json(&credentials).send().await.unwrap().status().as_u16();
                    assert!([200, 503].contains(&status), "{status}");
                    if status == 503 {
                        refused_tx.send_replace(true);
                    }
                }
            })
        })
        .collect();
    // Alpha's queue is full now and again: it has been refused.
    refused.wait_for(|refused| *refused).await.unwrap();
    for _ in 0..5 {
        assert_eq!(login("beta", "calm@example.com").await, 200);
    }
    stop.cancel();
    for flooder in flooders {
        flooder.await.unwrap();
    }
}

/// A tenant reopened (its quotas or variables edited) keeps its login backoffs: a
/// password guesser gains nothing from the edit.
#[tokio::test]
async fn failed_login_waits_outlive_a_reopened_tenant() {
    let server = TestServer::start_tenants_with(VARS, &[], |config| config.login_free_failures = 1).await;
    user_in(&server, "alpha", "guessed@example.com").await;
    let login = |password: &str| {
        let credentials = json!({"email": "guessed@example.com", "password": password});
        server.post("/t/alpha/user/login", credentials, None)
    };
    // One free failure, then 1 s, then 2 s: longer than an attempt is held.
    for _ in 0..3 {
        assert_eq!(login("wrong").await.0, 400);
    }
    let before = server.running.tenants.get("alpha").unwrap();
    rewrite(&server, &VARS.replace("hello from alpha", "hello again"));
    let reopened = || server.running.tenants.get("alpha").is_some_and(|now| !std::sync::Arc::ptr_eq(&now, &before));
    assert!(support::eventually(Duration::from_secs(20), reopened).await, "alpha reopened");
    let (status, body) = login("correct horse").await;
    assert_eq!((status, body), (429, json!({"detail": "too many failed logins; try again in 1 s"})));
}
