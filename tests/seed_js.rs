//! The seed page's JavaScript client examples, run with Node and the npm `ws` package
//! against a real server: a third-party client, unchanged.
//!
//! Needs `npm ci --prefix tests/node` (scripts/test.sh does it).

mod support;

use std::time::Duration;

use support::server::TestServer;

#[tokio::test]
async fn seed_javascript_client_examples_work() {
    let node_dir = support::repo().join("tests/node");
    assert!(node_dir.join("node_modules/ws").exists(), "the ws package is missing: run `npm ci --prefix tests/node`");
    let server = TestServer::start().await;
    let node = tokio::process::Command::new("node")
        .arg(node_dir.join("seed-client.mjs"))
        .arg(server.url(""))
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(60), node).await.expect("node finishes").expect("node is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all passed"), "{stdout}");
}
