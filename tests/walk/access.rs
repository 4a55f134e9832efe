//! jac-cloud's access rules, which a walker opts into, against its default strict ones:
//! jac-cloud's `test_07_access_validation`, `test_12_memory_sync` and
//! `test_19_custom_access_validation`, ported in every language. Under jac-cloud's rules
//! a walker loads another root's node by id, a write the caller may not make is answered
//! as if made and dropped, and `Nested` computes other roots' level from its `access`
//! field (its `__jac_access__`).

use serde_json::{Value, json};

use super::{LANGUAGES, app_server, contexts, nested, new_user, original, reports, updated_once};
use crate::support::server::TestServer;

/// The two users of jac-cloud's test: `owner` (its user 1) makes the nodes, `other` (its
/// user 0, whose root is `other_root`) reaches for them.
struct Users {
    owner: String,
    other: String,
    other_root: String,
}

async fn users(server: &TestServer, prefix: &str) -> Users {
    let owner = new_user(server, &format!("{prefix}owner")).await;
    let (other, root) = server.user(&format!("{prefix}other@example.com")).await;
    Users { owner, other, other_root: format!("n::{root}") }
}

/// Runs `walker` over REST and returns the status alone.
async fn status(server: &TestServer, token: &str, path: &str, body: Value) -> u16 {
    server.post(&format!("/walker/{path}"), body, Some(token)).await.0
}

/// `original(nested)` and `updated_once(nested)` with `access` set.
fn with_access(mut context: Value, access: Value) -> Value {
    context["access"] = access;
    context
}

/// The owner's new `Nested` node's id.
async fn create_nested(server: &TestServer, prefix: &str, owner: &str) -> String {
    let created = reports(server, owner, &format!("{prefix}create_nested_node"), json!({})).await;
    assert_eq!(created[0]["context"], original(nested), "{prefix}");
    created[0]["id"].as_str().unwrap().to_string()
}

/// jac-cloud's `trigger_access_validation_test`: a grant on the node, or on the owner's
/// whole graph, to the other root or to everyone.
async fn grants_open_and_close_another_roots_node(server: &TestServer, prefix: &str, whole_graph: bool, via_all: bool) {
    let case = format!("{prefix} whole_graph={whole_graph} via_all={via_all}");
    let Users { owner, other, other_root } = users(server, &format!("{prefix}{whole_graph}{via_all}")).await;
    let node = create_nested(server, prefix, &owner).await;
    let on_node = |walker: &str| format!("{prefix}{walker}/{node}");
    let granting = |walker: &str| if whole_graph { format!("{prefix}{walker}") } else { on_node(walker) };
    let visit = || async { reports(server, &other, &on_node("visit_nested_node"), json!({})).await };
    assert_eq!(status(server, &other, &on_node("visit_nested_node"), json!({})).await, 403, "{case}");

    let grant = json!({"root_id": other_root, "via_all": via_all});
    reports(server, &owner, &granting("allow_other_root_access"), grant.clone()).await;
    let updated = reports(server, &other, &on_node("update_nested_node"), json!({})).await;
    assert_eq!(contexts(&updated), [updated_once(nested)], "{case}: the change made in memory, reported");
    if prefix.is_empty() {
        reports(server, &other, &on_node("update_nested_node_trigger_save"), json!({})).await;
    }
    assert_eq!(contexts(&visit().await), [original(nested)], "{case}: read only, so dropped");

    let write = json!({"root_id": other_root, "via_all": via_all, "level": "WRITE"});
    reports(server, &owner, &granting("allow_other_root_access"), write).await;
    assert_eq!(
        contexts(&reports(server, &other, &on_node("update_nested_node"), json!({})).await),
        [updated_once(nested)]
    );
    assert_eq!(contexts(&visit().await), [updated_once(nested)], "{case}: written");

    reports(server, &owner, &granting("disallow_other_root_access"), grant).await;
    assert_eq!(status(server, &other, &on_node("visit_nested_node"), json!({})).await, 403, "{case}: revoked");
}

#[tokio::test]
async fn grants_let_another_root_read_then_write_and_refused_writes_drop_in_every_language() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        for (whole_graph, via_all) in [(false, false), (true, false), (false, true), (true, true)] {
            grants_open_and_close_another_roots_node(&server, prefix, whole_graph, via_all).await;
        }
    }
}

#[tokio::test]
async fn a_node_type_computes_other_roots_level_from_a_field_in_every_language() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        computed_access_opens_and_closes_a_node(&server, prefix).await;
    }
}

/// jac-cloud's test_19: `Nested`'s `access` field gives other roots their level.
async fn computed_access_opens_and_closes_a_node(server: &TestServer, prefix: &str) {
    let Users { owner, other, .. } = users(server, &format!("{prefix}computed")).await;
    let node = create_nested(server, prefix, &owner).await;
    let on_node = |walker: &str| format!("{prefix}{walker}/{node}");
    let set_access = |access: Value| {
        let (owner, path) = (&owner, on_node("update_nested_node_access"));
        async move { contexts(&reports(server, owner, &path, json!({"access": access})).await) }
    };
    let visit = || async { reports(server, &other, &on_node("visit_nested_node"), json!({})).await };
    let update = || async { reports(server, &other, &on_node("update_nested_node"), json!({})).await };
    assert_eq!(status(server, &other, &on_node("visit_nested_node"), json!({})).await, 403, "{prefix}");

    assert_eq!(set_access(json!("READ")).await, [with_access(original(nested), json!("READ"))], "{prefix}");
    assert_eq!(contexts(&update().await), [with_access(updated_once(nested), json!("READ"))], "{prefix}");
    assert_eq!(contexts(&visit().await), [with_access(original(nested), json!("READ"))], "{prefix}: dropped");

    assert_eq!(set_access(json!("WRITE")).await, [with_access(original(nested), json!("WRITE"))], "{prefix}");
    assert_eq!(contexts(&update().await), [with_access(updated_once(nested), json!("WRITE"))], "{prefix}");
    assert_eq!(contexts(&visit().await), [with_access(updated_once(nested), json!("WRITE"))], "{prefix}: written");

    set_access(Value::Null).await;
    assert_eq!(status(server, &other, &on_node("visit_nested_node"), json!({})).await, 403, "{prefix}");
}

/// jac-cloud's test_12: `&(id)` loads another root's node, and `n.val = 4` is reported
/// and not saved. The owner's node's id, and the users.
async fn memory_sync_loads_by_id_and_saves_nothing(server: &TestServer, prefix: &str) -> (Users, String) {
    let users = users(server, &format!("{prefix}sync")).await;
    let node = create_nested(server, prefix, &users.owner).await;
    let synced =
        reports(server, &users.other, &format!("{prefix}check_memory_sync"), json!({"other_node_id": node})).await;
    assert_eq!(synced[0]["context"]["val"], json!(4), "{prefix}: {synced:?}");
    let owners = reports(server, &users.owner, &format!("{prefix}visit_nested_node/{node}"), json!({})).await;
    assert_eq!(contexts(&owners), [original(nested)], "{prefix}");
    (users, node)
}

/// jac-cloud's test_07, test_12 and test_19 on its own `simple_graph.jac`, unmodified.
#[tokio::test]
async fn jac_clouds_access_cases_pass_on_the_unmodified_simple_graph_jac() {
    let server = TestServer::start_jac_apps(&["simple_graph"], "create_nested_node").await;
    for (whole_graph, via_all) in [(false, false), (true, false), (false, true), (true, true)] {
        grants_open_and_close_another_roots_node(&server, "", whole_graph, via_all).await;
    }
    computed_access_opens_and_closes_a_node(&server, "").await;
    memory_sync_loads_by_id_and_saves_nothing(&server, "").await;
}

#[tokio::test]
async fn another_roots_node_loads_by_id_under_jac_clouds_rules_and_stays_unreachable_under_strict_ones() {
    let (server, _) = app_server().await;
    for prefix in LANGUAGES {
        let (Users { owner, other, .. }, node) = memory_sync_loads_by_id_and_saves_nothing(&server, prefix).await;

        // Strict rules: unreadable is absent, readable but not connectable is denied.
        let connect = || async {
            let reported = reports(&server, &other, &format!("{prefix}connect_to"), json!({"id": node})).await;
            reported[0].as_str().unwrap().replace('_', "").to_lowercase()
        };
        assert_eq!(connect().await, "notfound", "{prefix}");
        reports(
            &server,
            &owner,
            &format!("{prefix}allow_other_root_access/{node}"),
            json!({"root_id": "", "via_all": true}),
        )
        .await;
        assert_eq!(connect().await, "denied", "{prefix}");
    }
}

#[tokio::test]
async fn every_write_the_caller_may_not_make_is_answered_and_dropped_under_jac_clouds_rules() {
    let (server, _) = app_server().await;
    let Users { owner, other, .. } = users(&server, "writes").await;
    let node = create_nested(&server, "", &owner).await;
    let before = reports(&server, &other, "graph_size", json!({})).await;

    let answered = reports(&server, &other, "writes_on_node", json!({"id": node})).await;
    assert_eq!(answered, [json!(true), json!(0), json!(7), json!(true)], "connect, disconnect, spawn; still there");
    assert_eq!(reports(&server, &other, "graph_size", json!({})).await, before, "no edge, no node kept");
    let owners = reports(&server, &owner, &format!("visit_nested_node/{node}"), json!({})).await;
    assert_eq!(contexts(&owners), [original(nested)], "neither granted nor deleted");
    assert_eq!(reports(&server, &owner, "graph_size", json!({})).await[1], json!(["Nested"]));
}
