//! Jac apps from their unmodified source, built into components by `scripts/build-jac.sh`
//! (through `scripts/build-walkers.sh --with-tests`) and served by the real server:
//! jac-cloud's own test app, `simple_graph.jac`, against cases of jac-cloud's suite
//! (`test_simple_graph.py`), and `app.jac` for what that app does not exercise.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::server::TestServer;

/// Registers and signs in `email` as jac-cloud's suite does; its token.
async fn user(server: &TestServer, email: &str) -> String {
    let account = json!({"email": email, "password": "string", "name": "string"});
    let (status, body) = server.post("/user/register", account.clone(), None).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post("/user/login", account, None).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// `POST /walker/<path>` as jac-cloud's suite's `post_api`: the reply, asserting 200.
async fn post_api(server: &TestServer, path: &str, body: Value, token: Option<&str>) -> Value {
    let (status, reply) = server.post(&format!("/walker/{path}"), body, token).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply
}

/// jac-cloud's checks after each graph change: from the root, the root then A, B and C
/// with `val` counting up from `first`; from each of them, the rest of the chain.
async fn chain_from_root_counts_up_from(server: &TestServer, token: &str, first: i64) {
    let mut reply = post_api(server, "traverse_graph", json!({}), Some(token)).await;
    let reports = reply["reports"].as_array_mut().unwrap();
    let root = reports.remove(0);
    assert!(root["id"].as_str().unwrap().starts_with("n::") && root["context"] == json!({}), "{root}");
    for (index, node) in reports.iter().enumerate() {
        assert_eq!(node["context"], json!({"val": first + index as i64}));
        let path = format!("traverse_graph/{}", node["id"].as_str().unwrap());
        let from_here = post_api(server, &path, json!({}), Some(token)).await;
        for (step, node) in from_here["reports"].as_array().unwrap().iter().enumerate() {
            assert_eq!(node["context"], json!({"val": first + (index + step) as i64}), "{path}");
        }
    }
}

/// jac-cloud's test_03: create, traverse, detach and update the graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jac_clouds_basic_graph_operations_pass_on_the_unmodified_simple_graph_jac() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_graph").await;
    let token = user(&server, "jac-graph@example.com").await;

    let mut created = post_api(&server, "create_graph", json!({}), Some(&token)).await;
    let reports = created["reports"].as_array_mut().unwrap();
    let root = reports.remove(0);
    assert!(root["id"].as_str().unwrap().starts_with("n::") && root["context"] == json!({}), "{root}");
    assert_eq!(reports.len(), 3, "A, B and C: {reports:?}");
    for (index, node) in reports.iter().enumerate() {
        assert_eq!(node["context"], json!({"val": index}));
        assert!(node["id"].as_str().unwrap().starts_with(&format!("n:{}:", ["A", "B", "C"][index])), "{node}");
    }
    chain_from_root_counts_up_from(&server, &token, 0).await;

    let detached = post_api(&server, "detach_node", json!({}), Some(&token)).await;
    assert_eq!(detached["reports"], json!([true]));
    chain_from_root_counts_up_from(&server, &token, 0).await;

    let mut updated = post_api(&server, "update_graph", json!({}), Some(&token)).await;
    let reports = updated["reports"].as_array_mut().unwrap();
    reports.remove(0);
    for (index, node) in reports.iter().enumerate() {
        assert_eq!(node["context"], json!({"val": index + 1}));
    }
    chain_from_root_counts_up_from(&server, &token, 1).await;
}

/// jac-cloud's test_08, test_09 and test_14: custom status codes, a custom report, and
/// jaclang 0.9's visit order; and the webhook walkers, left out (with a load warning)
/// instead of refusing the whole app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_custom_reports_and_the_visit_sequence_are_jac_clouds() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_graph").await;
    let token = user(&server, "jac-replies@example.com").await;
    for status in [200, 201, 202, 203, 205, 206, 207, 208, 226] {
        let (answered, reply) =
            server.post("/walker/custom_status_code", json!({"status": status}), Some(&token)).await;
        assert_eq!((answered, &reply["status"]), (status, &json!(status)), "{reply}");
    }
    for status in [400, 401, 403, 404, 409, 418, 422, 429, 500, 503, 511] {
        let (answered, reply) =
            server.post("/walker/custom_status_code", json!({"status": status}), Some(&token)).await;
        assert_eq!(answered, status, "{reply}");
    }
    assert_eq!(post_api(&server, "custom_report", json!({}), Some(&token)).await, json!({"value": 1}));

    // A public walker runs on the public root, token or not, as on jac-cloud: the
    // `Node`s it makes are not the caller's (jac-cloud's case 20 depends on it).
    let sequence = post_api(&server, "visit_sequence", json!({}), Some(&token)).await;
    let mut expected = vec!["walker entry".to_string(), "walker enter to root".to_string()];
    for node in ["a", "b", "c"] {
        expected.extend((1..=6).map(|step| format!("{node}-{step}")));
    }
    expected.push("walker exit".into());
    assert_eq!(sequence["reports"], json!(expected));
    let walked = post_api(&server, "traverse_graph", json!({}), Some(&token)).await;
    assert_eq!(walked["reports"].as_array().unwrap().len(), 1, "only the caller's root: {walked}");

    let catalog = &server.running.shared.catalog;
    assert!(catalog.walker("webhook_by_header").is_none() && catalog.walker("webhook_by_path").is_none());
}

/// An ability that raises answers the error and commits nothing of the run; `print`
/// goes to the log; the sandbox's time and memory limits stop a Jac walker as any other;
/// `socket.notify_self` reaches the caller's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jac_ability_that_raises_commits_nothing_and_the_sandbox_limits_hold() {
    let server = TestServer::start_jac_apps(&["app"], "make_note").await;
    let token = user(&server, "jac-app@example.com").await;
    let count = || async { post_api(&server, "count_notes", json!({}), Some(&token)).await["reports"].clone() };

    let made = post_api(&server, "make_note", json!({"text": "kept"}), Some(&token)).await;
    assert_eq!(made["reports"][0]["context"], json!({"text": "kept"}));
    assert!(made["reports"][0]["id"].as_str().unwrap().starts_with("n:Note:"));
    assert_eq!(count().await, json!([1]));

    let (status, failed) = server.post("/walker/make_note_then_fail", json!({"text": "lost"}), Some(&token)).await;
    assert_eq!(status, 500, "{failed}");
    let message = failed["errors"][0]["msg"].as_str().unwrap();
    assert!(message.contains("the ability gave up"), "{failed}");
    assert_eq!(count().await, json!([1]), "the raising run's note was not committed");

    for (walker, limit) in [("spin", "time_limit"), ("hog", "memory_limit")] {
        let (status, reply) = server.post(&format!("/walker/{walker}"), json!({}), Some(&token)).await;
        assert_eq!((status, &reply["errors"][0]["type"]), (500, &json!(limit)), "{walker}: {reply}");
    }

    let (mut client, _) = server.connect_with("", Some(&format!("Bearer {token}"))).await;
    client.send(json!({"type": "walker", "walker": "notify_me", "response": true})).await;
    assert_eq!(client.recv().await, json!({"hello": "from jac"}));
    assert_eq!(client.recv().await, json!({"status": 200, "reports": []}));
}

/// A Jac app of one public walker, `hello`, that reports `said`.
fn hello_app(said: &str) -> String {
    format!(
        "walker hello {{\n    obj __specs__ {{\n        static has auth: bool = False;\n    }}\n\n    \
         can enter with `root entry {{\n        report \"{said}\";\n    }}\n}}\n"
    )
}

/// What `hello` answers now; `None` while it is not served.
async fn hello(server: &TestServer) -> Option<Value> {
    let (status, reply) = server.post("/walker/hello", json!({}), None).await;
    (status == 200).then(|| reply["reports"][0].clone())
}

fn write(path: &std::path::Path, text: &str) {
    // Written aside and renamed in, as a deployment does.
    let aside = path.with_extension("partial");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(aside, path).unwrap();
}

/// A `.jac` file dropped into the walkers directory is built and served; replaced, the
/// new build serves while calls go on without a failure; one that does not compile fails
/// in `/readyz` with the compiler's message (no host paths) and the rest keep serving;
/// removed, its walkers go. A restart on the same cache serves it without building.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jac_file_dropped_into_the_walkers_directory_is_built_served_and_hot_reloaded() {
    let (walkers, data, cache) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cache_dir = cache.path().to_path_buf();
    let toolchain = support::repo().join("scripts/build-jac.sh");
    let configure = |cache_dir: std::path::PathBuf, toolchain: std::path::PathBuf| {
        move |config: &mut walker_host::config::Config| {
            config.cache_dir = Some(cache_dir);
            config.jac_build = Some(toolchain);
            config.walker_time_ms = 5_000;
        }
    };
    let server = TestServer::start_in(walkers, data, configure(cache_dir.clone(), toolchain.clone())).await;
    // A unique text, so that this test builds it rather than finding an earlier build.
    let first = format!("v1 {}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
    write(&server.walkers_dir().join("hello.jac"), &hello_app(&first));
    let catalog = &server.running.shared.catalog;
    let building = || catalog.readiness().loading.contains(&"hello.jac".to_string());
    assert!(support::eventually(Duration::from_secs(60), building).await, "listed as loading while it builds");
    support::wait_until_within(catalog, Duration::from_secs(300), || async { catalog.walker("hello").is_some() }).await;
    assert_eq!(hello(&server).await, Some(json!(first)), "{}", server.get("/readyz").await.1);

    let caller = {
        let (url, http) = (server.url("/walker/hello"), server.http.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while answers.last() != Some(&json!("v2")) {
                let reply: Value = http.post(&url).json(&json!({})).send().await.unwrap().json().await.unwrap();
                answers.push(reply["reports"][0].clone());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        })
    };
    write(&server.walkers_dir().join("hello.jac"), &hello_app("v2"));
    let answers = tokio::time::timeout(Duration::from_secs(300), caller).await.expect("v2 in time").unwrap();
    assert!(answers.iter().all(|answer| *answer == json!(first) || *answer == json!("v2")), "{answers:?}");

    write(
        &server.walkers_dir().join("broken.jac"),
        "walker broken {\n    can enter with `root entry {\n        report 1\n    }\n",
    );
    support::wait_until_within(catalog, Duration::from_secs(300), || async {
        catalog.readiness().failed.contains(&"broken.jac".to_string())
    })
    .await;
    let readiness = server.get("/readyz").await.1;
    let why = readiness["errors"]["broken.jac"].as_str().unwrap();
    assert!(why.contains("broken.jac:4:5 Missing SEMI"), "{why}");
    let repo = support::repo();
    assert!(!why.contains("/tmp") && !why.contains(repo.to_str().unwrap()), "no host paths: {why}");
    assert_eq!(hello(&server).await, Some(json!("v2")), "the other walkers keep serving");

    std::fs::remove_file(server.walkers_dir().join("hello.jac")).unwrap();
    support::wait_until(catalog, || async { catalog.walker("hello").is_none() }).await;
    let (walkers, _) = server.stop().await;

    // A restart finds the build in the cache: with a toolchain of the same fingerprint
    // that can no longer build, it still serves; one of another fingerprint (a new Jac
    // runtime, say) must build again, and here cannot.
    write(&walkers.path().join("hello.jac"), &hello_app("v2"));
    std::fs::remove_file(walkers.path().join("broken.jac")).unwrap();
    let toolchains = tempfile::tempdir().unwrap();
    let unable = |name: &str, fingerprint: &str| {
        let script = toolchains.path().join(name);
        std::fs::write(&script, format!("#!/bin/sh\n[ \"$1\" = --fingerprint ] && {fingerprint}\nexit 1\n")).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        script
    };
    let same = unable("same.sh", &format!("exec {} --fingerprint", toolchain.display()));
    let other = unable("other.sh", "exec echo another-runtime");
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(walkers, data, configure(cache_dir.clone(), same)).await;
    assert_eq!(hello(&server).await, Some(json!("v2")));
    let (walkers, _) = server.stop().await;
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(walkers, data, configure(cache_dir, other)).await;
    assert_eq!(server.get("/readyz").await.1["failed"], json!(["hello.jac"]), "built again, and failed");
}

/// Without the Jac toolchain, a `.jac` file fails in `/readyz` with what to install.
#[tokio::test]
async fn without_the_toolchain_a_jac_file_fails_saying_what_to_install() {
    let (walkers, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(
        &walkers.path().join("hello.jac"),
        &hello_app(&std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos().to_string()),
    );
    let server = TestServer::start_in(walkers, data, |config| config.jac_build = None).await;
    let readiness = server.get("/readyz").await.1;
    assert_eq!(readiness["failed"], json!(["hello.jac"]));
    let why = readiness["errors"]["hello.jac"].as_str().unwrap();
    assert!(why.contains("needs the Jac toolchain") && why.contains("scripts/build-walkers.sh"), "{why}");
}

/// How many `Nested` nodes `root` (24 hex) owns, and how many edges reach them from it:
/// what jac-cloud's suite counts in MongoDB (`nested_count_should_be`), read from the store.
async fn nested_count(server: &TestServer, root: &str) -> (usize, usize) {
    use walker_host::runtime::graph::{Neighbours, Yields};
    let mut graph = server.running.shared.catalog.env().graph.clone().read(root.to_string());
    let items = |page: String| serde_json::from_str::<Value>(&page).unwrap()["items"].as_array().unwrap().len();
    let nodes = items(graph.owned(Some("Nested"), 0, None).await.unwrap().unwrap());
    let query = Neighbours {
        direction: walker_host::core::access::Direction::Both,
        edge_type: None,
        node_type: Some("Nested"),
        equals: None,
        limit: 0,
        cursor: None,
        yields: Yields::Edges,
    };
    let edges = items(graph.neighbours(&format!("n::{root}"), query).await.unwrap().unwrap());
    (nodes, edges)
}

/// jac-cloud's `Nested` node as `create_nested_node` makes it, and as
/// `update_nested_node` leaves it.
fn nested(updated: bool) -> Value {
    if updated {
        json!({"val": 1, "arr": [1], "data": {"a": 1}, "parent": {"val": 2, "arr": [1, 2], "data": {"a": 1, "b": 2},
               "child": {"val": 3, "arr": [1, 2, 3], "data": {"a": 1, "b": 2, "c": 3}, "enum_field": "A"},
               "enum_field": "C"}, "enum_field": "B", "access": null})
    } else {
        json!({"val": 0, "arr": [], "data": {}, "parent": {"val": 1, "arr": [1], "data": {"a": 1},
               "child": {"val": 2, "arr": [1, 2], "data": {"a": 1, "b": 2}, "enum_field": "C"},
               "enum_field": "B"}, "enum_field": "A", "access": null})
    }
}

/// jac-cloud's test_04, test_05 and test_06: a nested node made, updated, visited, then
/// detached, destroyed, or cut from the root by deleting its edge, automatically saved or
/// by hand; the orphan rule deletes what lost its last edge unless saved by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_nodes_are_made_updated_detached_and_destroyed_as_on_jac_cloud() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_nested_node").await;
    let (token, root) = server.user("jac-nested@example.com").await;
    let call = |walker: &str| {
        let (server, token, walker) = (&server, &token, walker.to_string());
        async move { post_api(server, &walker, json!({}), Some(token)).await["reports"].clone() }
    };
    for manual in ["", "manual_"] {
        let walker = |name: &str| format!("{manual}{name}");
        // test_04: via detach.
        assert_eq!(call(&walker("create_nested_node")).await[0]["context"], nested(false), "{manual}");
        assert_eq!(nested_count(&server, &root).await, (1, 1), "{manual}");
        assert_eq!(call(&walker("update_nested_node")).await[0]["context"], nested(true), "{manual}");
        assert_eq!(call("visit_nested_node").await[0]["context"], nested(true), "{manual}");
        assert_eq!(call(&walker("detach_nested_node")).await, json!([true]), "{manual}");
        assert_eq!(call("visit_nested_node").await, json!([[]]), "{manual}");
        assert_eq!(nested_count(&server, &root).await, (0, 0), "{manual}");
        // test_05: via destroy.
        call(&walker("create_nested_node")).await;
        assert_eq!(call(&walker("delete_nested_node")).await, json!([[]]), "{manual}");
        assert_eq!(call("visit_nested_node").await, json!([[]]), "{manual}");
        assert_eq!(nested_count(&server, &root).await, (0, 0), "{manual}");
    }
    // test_06: the edge deleted; a node saved by hand outlives its last edge.
    call("create_nested_node").await;
    assert_eq!(call("delete_nested_edge").await, json!([[]]));
    assert_eq!(nested_count(&server, &root).await, (0, 0));
    call("manual_create_nested_node").await;
    assert_eq!(call("manual_delete_nested_edge").await, json!([[]]));
    assert_eq!(nested_count(&server, &root).await, (1, 0), "only automatic cleanup removes it");
}

/// jac-cloud's test_13 and test_16: a savable object made, read, updated and destroyed
/// by id; a nested request payload taken as the walker's typed fields (objects, lists
/// and maps of them, enums by value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_saved_by_id_and_nested_payloads_typed_as_on_jac_cloud() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_custom_object").await;
    let token = user(&server, "jac-objects@example.com").await;
    let without_access = |mut context: Value| {
        context.as_object_mut().unwrap().remove("access");
        context
    };
    let call = |walker: &str, body: Value| {
        let (server, token, walker) = (&server, &token, walker.to_string());
        async move { post_api(server, &walker, body, Some(token)).await["reports"][0].clone() }
    };
    let made = call("create_custom_object", json!({})).await;
    let id = made["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("o:SavableObject:"), "{made}");
    assert_eq!(made["context"], without_access(nested(false)));
    let read = |id: String| call("get_custom_object", json!({"object_id": id}));
    assert_eq!(read(id.clone()).await, made);
    let updated = call("update_custom_object", json!({"object_id": id})).await;
    assert_eq!(updated["context"], without_access(nested(true)));
    assert_eq!(read(id.clone()).await["context"], without_access(nested(true)));
    call("delete_custom_object", json!({"object_id": id})).await;
    assert_eq!(read(id).await, Value::Null);

    let kid = json!({"enum_field": "a"});
    let adult = json!({"enum_field": "a", "kid": kid, "arr": [kid], "data": {"kid1": kid}});
    let payload = json!({"adult": adult, "arr": [adult], "data": {"kid1": adult}, "enum_field": "a"});
    let reply = post_api(&server, "nested_request_payload", payload, Some(&token)).await;
    let each_adult = ["Adult", "Kid", "Kid", "Kid", "Enum"];
    let expected: Vec<&str> = [each_adult, each_adult, each_adult].concat().into_iter().chain(["Enum"]).collect();
    assert_eq!(reply, json!({"status": 200, "reports": expected}));
}

/// jac-cloud's test_11: a populated graph walked level by level, counted through
/// `NodeAnchor.Collection.count` (the root's own documents), reset, and counted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_graph_is_counted_and_reset_as_on_jac_cloud() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "populate_graph").await;
    let token = user(&server, "jac-populated@example.com").await;
    let call = |walker: &str| {
        let (server, token, walker) = (&server, &token, walker.to_string());
        async move { post_api(server, &walker, json!({}), Some(token)).await["reports"].clone() }
    };
    call("populate_graph").await;
    let mut walked = call("traverse_populated_graph").await;
    let reports = walked.as_array_mut().unwrap();
    let root = reports.remove(0);
    assert!(root["id"].as_str().unwrap().starts_with("n::") && root["context"] == json!({}), "{root}");
    let (mut at, mut level) = (0, 2);
    for node_type in ["D", "E", "F", "G", "H"] {
        for index in at..at + level {
            let id = reports[index]["id"].as_str().unwrap();
            assert!(id.starts_with(&format!("n:{node_type}:")), "{index}: {id}");
            assert_eq!(reports[index]["context"], json!({"id": index % 2}));
        }
        at += level;
        level *= 2;
    }
    assert_eq!(call("check_populated_graph").await, json!([125]));
    assert_eq!(call("purge_populated_graph").await, json!([124]));
    assert_eq!(call("check_populated_graph").await, json!([1]));
}

/// jac-cloud's test_02 (an account with the `name` of the app's `User` class), test_20 (twenty traversals at
/// once, on the graph test_03 leaves) and test_23 (a walker left out of the schema, an HTML
/// reply, a streamed reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_concurrent_traversals_and_custom_replies_as_on_jac_cloud() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "html_response").await;
    let nameless = json!({"email": "user@example.com", "password": "string"});
    let (status, refused) = server.post("/user/register", nameless, None).await;
    assert_eq!((status, &refused["detail"][0]["loc"]), (422, &json!(["body", "name"])), "the app's User has a name");
    let account = json!({"email": "user@example.com", "password": "string", "name": "string"});
    assert_eq!(
        server.post("/user/register", account, None).await,
        (201, json!({"message": "Successfully Registered!"}))
    );
    let login = json!({"email": "user@example.com", "password": "string"});
    let (status, body) = server.post("/user/login", login, None).await;
    assert_eq!(
        (status, &body["user"]["email"], &body["user"]["name"]),
        (200, &json!("user@example.com"), &json!("string"))
    );
    let token = body["token"].as_str().unwrap().to_string();

    for walker in ["create_graph", "detach_node", "update_graph"] {
        post_api(&server, walker, json!({}), Some(&token)).await;
    }
    let traversals = (0..20).map(|_| chain_from_root_counts_up_from(&server, &token, 1));
    futures_util::future::join_all(traversals).await;

    assert_eq!(
        post_api(&server, "exclude_in_specs", json!({}), Some(&token)).await,
        json!({"status": 200, "reports": []})
    );
    let page = server.http.get(server.url("/walker/html_response")).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.text().await.unwrap(), r#"<!DOCTYPE html><html lang="en"><body>HELLO WORLD</body></html>"#);
    let streamed = server.http.get(server.url("/walker/stream_response")).send().await.unwrap();
    assert_eq!(streamed.headers()["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(streamed.text().await.unwrap(), (0..100).map(|i| i.to_string()).collect::<String>());
}
