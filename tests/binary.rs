//! The `walker-host` binary itself: every flag and its environment variable, ranges
//! refused with a clear error, SIGTERM (close 1001, no new connections, exit 0),
//! `kill -9` in the middle of graph writes, and two processes in cluster mode.
//!
//! Each run gets an empty environment, so a developer's `JAC_*` variables change nothing.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clap::CommandFactory;
use serde_json::{Value, json};
use support::server::TestServer;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use walker_host::config::Config;

const BINARY: &str = env!("CARGO_BIN_EXE_walker-host");

fn walker_host(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BINARY).args(args).env_clear().envs(env.iter().copied()).output().expect("the binary runs")
}

fn printed_config(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = args.to_vec();
    args.push("--print-config");
    let output = walker_host(&args, env);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Every setting: flag, environment variable, a value other than the default, and
/// what `--print-config` shows for it.
const SETTINGS: &[(&str, &str, &str, &str)] = &[
    ("listen", "JAC_LISTEN", "127.0.0.2:9000", r#""127.0.0.2:9000""#),
    ("walkers-dir", "JAC_WALKERS_DIR", "/srv/walkers", r#""/srv/walkers""#),
    ("data-dir", "JAC_DATA_DIR", "/srv/data", r#""/srv/data""#),
    ("cache-dir", "JAC_CACHE_DIR", "/srv/cache", r#""/srv/cache""#),
    ("jac-build", "JAC_JAC_BUILD", "/srv/build-jac.sh", r#""/srv/build-jac.sh""#),
    ("jac-build-secs", "JAC_JAC_BUILD_SECS", "60", "60"),
    ("tenants-file", "JAC_TENANTS_FILE", "/srv/tenants.toml", r#""/srv/tenants.toml""#),
    ("token-ttl-secs", "JAC_TOKEN_TTL_SECS", "3600", "3600"),
    ("client-events", "JAC_CLIENT_EVENTS", "authenticated", r#""authenticated""#),
    ("reload-debounce-ms", "JAC_RELOAD_DEBOUNCE_MS", "7", "7"),
    ("address-connections-per-second", "JAC_ADDRESS_CONNECTIONS_PER_SECOND", "41", "41"),
    ("address-connections", "JAC_ADDRESS_CONNECTIONS", "42", "42"),
    ("ws-events-per-second", "JAC_WS_EVENTS_PER_SECOND", "43", "43"),
    ("max-message-bytes", "JAC_MAX_MESSAGE_BYTES", "2048", "2048"),
    ("max-body-bytes", "JAC_MAX_BODY_BYTES", "4096", "4096"),
    ("stream-buffer", "JAC_STREAM_BUFFER", "3", "3"),
    ("queue-bytes", "JAC_QUEUE_BYTES", "8192", "8192"),
    ("queue-messages", "JAC_QUEUE_MESSAGES", "9", "9"),
    ("write-timeout-ms", "JAC_WRITE_TIMEOUT_MS", "10", "10"),
    ("ping-interval-secs", "JAC_PING_INTERVAL_SECS", "11", "11"),
    ("ping-timeout-secs", "JAC_PING_TIMEOUT_SECS", "12", "12"),
    ("walker-memory-mib", "JAC_WALKER_MEMORY_MIB", "13", "13"),
    ("walker-time-ms", "JAC_WALKER_TIME_MS", "14", "14"),
    ("walker-notifications", "JAC_WALKER_NOTIFICATIONS", "15", "15"),
    ("walker-notification-bytes", "JAC_WALKER_NOTIFICATION_BYTES", "16", "16"),
    ("walker-report-bytes", "JAC_WALKER_REPORT_BYTES", "17", "17"),
    ("notify-targets", "JAC_NOTIFY_TARGETS", "48", "48"),
    ("walker-file-mib", "JAC_WALKER_FILE_MIB", "49", "49"),
    ("walker-reruns", "JAC_WALKER_RERUNS", "52", "52"),
    ("walker-compile-secs", "JAC_WALKER_COMPILE_SECS", "50", "50"),
    ("walker-instances", "JAC_WALKER_INSTANCES", "18", "18"),
    ("walker-slot-wait-ms", "JAC_WALKER_SLOT_WAIT_MS", "19", "19"),
    ("walker-cores", "JAC_WALKER_CORES", "5", "5"),
    ("hash-concurrency", "JAC_HASH_CONCURRENCY", "20", "20"),
    ("hash-queue", "JAC_HASH_QUEUE", "3", "3"),
    ("min-password-length", "JAC_MIN_PASSWORD_LENGTH", "12", "12"),
    ("user-fields", "JAC_USER_FIELDS", "name:str,age:int=0", r#"["name:str", "age:int=0"]"#),
    ("user-fields-bytes", "JAC_USER_FIELDS_BYTES", "512", "512"),
    ("registrations-per-minute", "JAC_REGISTRATIONS_PER_MINUTE", "13", "13"),
    ("login-free-failures", "JAC_LOGIN_FREE_FAILURES", "9", "9"),
    ("login-max-backoff-secs", "JAC_LOGIN_MAX_BACKOFF_SECS", "60", "60"),
    ("login-tarpit-places", "JAC_LOGIN_TARPIT_PLACES", "17", "17"),
    ("warm-idle", "JAC_WARM_IDLE", "21", "21"),
    ("warm-ttl-secs", "JAC_WARM_TTL_SECS", "22", "22"),
    ("graph-calls", "JAC_GRAPH_CALLS", "23", "23"),
    ("graph-writes", "JAC_GRAPH_WRITES", "24", "24"),
    ("graph-write-bytes", "JAC_GRAPH_WRITE_BYTES", "2500", "2500"),
    ("context-bytes", "JAC_CONTEXT_BYTES", "2600", "2600"),
    ("graph-page", "JAC_GRAPH_PAGE", "27", "27"),
    ("graph-scan", "JAC_GRAPH_SCAN", "51", "51"),
    ("quota-nodes", "JAC_QUOTA_NODES", "28", "28"),
    ("quota-edges", "JAC_QUOTA_EDGES", "29", "29"),
    ("quota-bytes", "JAC_QUOTA_BYTES", "30", "30"),
    ("public-quota-nodes", "JAC_PUBLIC_QUOTA_NODES", "31", "31"),
    ("public-quota-edges", "JAC_PUBLIC_QUOTA_EDGES", "32", "32"),
    ("public-quota-bytes", "JAC_PUBLIC_QUOTA_BYTES", "33", "33"),
    // Printed without its password.
    ("database", "JAC_DATABASE_URL", "postgres://jac:secret@db.internal/jac", r#""(set)""#),
    ("database-pool", "JAC_DATABASE_POOL", "34", "34"),
    ("database-timeout-ms", "JAC_DATABASE_TIMEOUT_MS", "3500", "3500"),
    (
        "cors-origins",
        "JAC_CORS_ORIGINS",
        "http://a.example,http://b.example",
        r#"["http://a.example","http://b.example"]"#,
    ),
    ("cors-methods", "JAC_CORS_METHODS", "GET,POST", r#"["GET","POST"]"#),
    ("cors-headers", "JAC_CORS_HEADERS", "authorization", r#"["authorization"]"#),
    ("ws-origins", "JAC_WS_ORIGINS", "https://app.example", r#"["https://app.example"]"#),
    // Printed without its password.
    ("redis", "JAC_REDIS_URL", "redis://:secret@redis.internal:6379", r#""(set)""#),
    ("cluster-linger-ms", "JAC_CLUSTER_LINGER_MS", "44", "44"),
    ("cluster-subscribe-wait-ms", "JAC_CLUSTER_SUBSCRIBE_WAIT_MS", "45", "45"),
    ("cluster-publish-queue", "JAC_CLUSTER_PUBLISH_QUEUE", "46", "46"),
    ("cluster-probe-secs", "JAC_CLUSTER_PROBE_SECS", "47", "47"),
    ("cluster-prefix", "JAC_CLUSTER_PREFIX", "blue", r#""blue""#),
    // Printed without its value.
    ("metrics-token", "JAC_METRICS_TOKEN", "scrape-secret", r#""(set)""#),
];

#[test]
fn every_flag_and_its_environment_variable_set_the_configuration() {
    // The table covers every flag (the token secret is never printed: see the protocol tests).
    let command = Config::command();
    for arg in command.get_arguments() {
        let Some(flag) = arg.get_long() else { continue };
        // (`--config` has its own test below.)
        if ["help", "version", "print-config", "token-secret", "config"].contains(&flag) {
            continue;
        }
        let env = arg.get_env().and_then(|env| env.to_str()).unwrap_or_default();
        assert!(SETTINGS.iter().any(|(f, e, ..)| *f == flag && *e == env), "--{flag} ({env}) is not tested");
    }

    let defaults = printed_config(&[], &[]);
    assert_eq!(defaults["listen"], "127.0.0.1:8000", "loopback unless told otherwise");
    assert_eq!(defaults["cache_dir"], Value::Null);
    for (flag, env, value, printed) in SETTINGS {
        let key = flag.replace('-', "_");
        let expected: Value = serde_json::from_str(printed).unwrap();
        assert_ne!(defaults[&key], expected, "--{flag}: pick a value other than the default");
        let by_flag = printed_config(&[&format!("--{flag}"), value], &[]);
        assert_eq!(by_flag[&key], expected, "--{flag}");
        let by_env = printed_config(&[], &[(env, value)]);
        assert_eq!(by_env[&key], expected, "{env}");
        let flag_wins = printed_config(&[&format!("--{flag}"), value], &[(env, "garbage")]);
        assert_eq!(flag_wins[&key], expected, "--{flag} over {env}");
    }
    // jac-cloud's variable for its Redis bus sets ours.
    assert_eq!(printed_config(&[], &[("SOCKET_REDIS_HOST", "redis://127.0.0.1:6379")])["redis"], "(set)");
}

#[test]
fn a_config_file_sets_what_flags_and_environment_variables_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("walker-host.toml");
    let settings = r#"
        listen = "127.0.0.3:9100"
        walker_time_ms = 250
        cors-origins = ["http://a.example", "http://b.example"]
        quota_nodes = 77
    "#;
    std::fs::write(&file, settings).unwrap();
    let path = file.to_str().unwrap();

    let config = printed_config(&["--config", path], &[]);
    assert_eq!(config["listen"], "127.0.0.3:9100");
    assert_eq!(config["walker_time_ms"], 250);
    assert_eq!(config["cors_origins"], json!(["http://a.example", "http://b.example"]));
    assert_eq!(config["quota_nodes"], 77);
    assert_eq!(printed_config(&[], &[("JAC_CONFIG", path)])["walker_time_ms"], 250);
    // Environment over file, flag over environment.
    let time = |args: &[&str], env: &[(&str, &str)]| printed_config(args, env)["walker_time_ms"].clone();
    assert_eq!(time(&["--config", path], &[("JAC_WALKER_TIME_MS", "260")]), 260);
    assert_eq!(time(&["--config", path, "--walker-time-ms", "270"], &[("JAC_WALKER_TIME_MS", "260")]), 270);

    // The README's example sets every setting (to its default), and is valid.
    let example = support::repo().join("walker-host.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    for arg in Config::command().get_arguments() {
        let id = arg.get_id().as_str();
        if !["config", "print_config", "help", "version"].contains(&id) {
            assert!(text.contains(&format!("{id} = ")), "the example lacks {id}");
        }
    }
    assert_eq!(printed_config(&["--config", example.to_str().unwrap()], &[]), {
        let mut defaults = printed_config(&[], &[]);
        defaults["config"] = json!(example);
        defaults
    });

    // Unknown keys are named; a value out of range is refused as a flag's would be.
    std::fs::write(&file, "walker_time_ms = 250\nwalker_tme_ms = 1\nprint_config = true\n").unwrap();
    let output = walker_host(&["--config", path, "--print-config"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && output.stdout.is_empty());
    assert!(stderr.contains("unknown settings") && stderr.contains("walker_tme_ms"), "{stderr}");
    assert!(stderr.contains("print_config"), "actions are not settings: {stderr}");
    std::fs::write(&file, "walker_time_ms = 0\n").unwrap();
    let output = walker_host(&["--config", path, "--print-config"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value '0' for '--walker-time-ms"));
}

#[test]
fn out_of_range_values_are_refused_with_a_clear_error() {
    for (flag, env, value) in [
        ("walker-time-ms", "JAC_WALKER_TIME_MS", "0"),
        ("walker-time-ms", "JAC_WALKER_TIME_MS", "18446744073709551615"),
        ("walker-memory-mib", "JAC_WALKER_MEMORY_MIB", "17592186044416"),
        ("walker-instances", "JAC_WALKER_INSTANCES", "4294967295"),
        ("queue-bytes", "JAC_QUEUE_BYTES", "10"),
        ("ping-interval-secs", "JAC_PING_INTERVAL_SECS", "0"),
        ("ping-timeout-secs", "JAC_PING_TIMEOUT_SECS", "18446744073709551615"),
        ("warm-ttl-secs", "JAC_WARM_TTL_SECS", "18446744073709551615"),
        ("token-ttl-secs", "JAC_TOKEN_TTL_SECS", "1"),
        ("max-message-bytes", "JAC_MAX_MESSAGE_BYTES", "1.5"),
    ] {
        for output in [
            walker_host(&[&format!("--{flag}"), value, "--print-config"], &[]),
            walker_host(&["--print-config"], &[(env, value)]),
        ] {
            assert_eq!(output.status.code(), Some(2), "--{flag} {value}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(&format!("invalid value '{value}' for '--{flag}")), "{stderr}");
            assert!(output.stdout.is_empty());
        }
    }
}

/// Starts the binary on a free loopback port with the example walkers of `walkers` and
/// the data of `data`; returns it once it answers.
async fn start_server(walkers: &std::path::Path, data: &std::path::Path) -> (tokio::process::Child, String) {
    start_server_with(walkers, data, &[]).await
}

/// `start_server`, with these environment variables. Its log goes to `server.log` in
/// `data`.
async fn start_server_with(
    walkers: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let server = tokio::process::Command::new(BINARY)
        .args(["--listen", &listen, "--walkers-dir"])
        .arg(walkers)
        .arg("--data-dir")
        .arg(data)
        .env_clear()
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.join("server.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let ready = format!("http://{listen}/readyz");
    let up = || async { http.get(&ready).send().await.is_ok_and(|response| response.status() == 200) };
    assert!(support::eventually_async(Duration::from_secs(60), up).await, "the server starts");
    (server, listen)
}

fn example_walkers() -> tempfile::TempDir {
    let walkers = tempfile::tempdir().unwrap();
    std::fs::copy(support::chat_wasm(), walkers.path().join("chat.wasm")).unwrap();
    walkers
}

#[tokio::test]
async fn secrets_are_long_enough_and_never_shown() {
    let output = walker_host(&["--token-secret", "too short", "--print-config"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 bytes"));

    // A bad Redis URL fails the start without printing its password.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    for url in ["redis://:hunter2hunter2@127.0.0.1:6379/notadb", "redis://user:hunter2hunter2@127.0.0.1:99999"] {
        let output = walker_host(&["--listen", "127.0.0.1:0", "--data-dir", data_dir, "--redis", url], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("--redis") && !stderr.contains("hunter2"), "{stderr}");
    }

    // Debug output (logs, panics) says only that a secret is set.
    let mut config = Config::with_dirs("walkers".into(), "data".into());
    config.token_secret = Some("hunter2hunter2hunter2hunter2hunter2".into());
    config.metrics_token = Some("hunter2-metrics".into());
    config.database = Some("postgres://jac:hunter2@db/jac".into());
    config.redis = Some("redis://:hunter2@redis".into());
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2") && debug.contains("Secret(..)"), "{debug}");
}

#[tokio::test]
async fn each_failed_run_is_logged_once_without_its_payload_and_without_colour() {
    let (walkers, data) = (example_walkers(), tempfile::tempdir().unwrap());
    let (_server, listen) = start_server(walkers.path(), data.path()).await;
    let http = reqwest::Client::new();
    let secret = "a-payload-the-log-must-not-show";
    let sent = http.post(format!("http://{listen}/walker/boom")).json(&json!({"note": secret})).send().await.unwrap();
    assert_eq!(sent.status(), 500);
    let ok = http.post(format!("http://{listen}/walker/public_event")).json(&json!({"val": 1})).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let log = std::fs::read_to_string(data.path().join("server.log")).unwrap();
    let failed: Vec<&str> = log.lines().filter(|line| line.contains("run failed")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    for field in ["tenant=default", "walker=\"boom\"", "error=\"walker_error\""] {
        assert!(failed[0].contains(field), "{field} in {}", failed[0]);
    }
    assert!(!log.contains(secret) && !log.contains("division by zero"), "{log}");
    assert!(!log.contains('\x1b'), "no colour codes in a file: {log}");
}

#[tokio::test]
async fn sigterm_closes_websockets_with_1001_refuses_new_connections_and_exits() {
    let (walkers, data) = (example_walkers(), tempfile::tempdir().unwrap());
    let (mut server, listen) = start_server(walkers.path(), data.path()).await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{listen}/websocket")).await.unwrap();
    let mut client = support::server::Client { socket };
    assert_eq!(client.recv().await["type"], "connection");
    let reply =
        client.call(json!({"type": "walker", "walker": "public_event", "context": {"val": 1}, "response": true})).await;
    assert_eq!(reply, json!({"status": 200, "reports": [{"val": 1}]}));

    // A client that never reads: shutdown waits up to a second for its close handshake.
    let (_lingering, _) = tokio_tungstenite::connect_async(format!("ws://{listen}/websocket")).await.unwrap();

    let pid = server.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(client.closed().await.expect("a close frame").code, CloseCode::Away);
    let refused = || async { tokio::net::TcpStream::connect(&listen).await.is_err() };
    assert!(support::eventually_async(Duration::from_millis(500), refused).await, "new connections are refused");
    assert!(server.try_wait().unwrap().is_none(), "while the lingering session closes");
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait()).await.expect("exits in time").unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_graph_write_survives_kill_9() {
    let (walkers, data) = (example_walkers(), tempfile::tempdir().unwrap());
    let (mut server, listen) = start_server(walkers.path(), data.path()).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{listen}{path}");
    let credentials = json!({"email": "crash@example.com", "password": "correct horse"});
    assert_eq!(http.post(url("/user/register")).json(&credentials).send().await.unwrap().status(), 201);
    let login: Value = http.post(url("/user/login")).json(&credentials).send().await.unwrap().json().await.unwrap();
    let token = format!("Bearer {}", login["token"].as_str().unwrap());

    // Four writers in a loop; the server is killed while they write.
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (http, url, token) = (http.clone(), url("/walker/make_item"), token.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let sent =
                        http.post(&url).header("authorization", &token).json(&json!({"name": format!("{writer}-{n}")}));
                    let Ok(response) = sent.send().await else { break };
                    let Ok(reply) = response.json::<Value>().await else { break };
                    acknowledged.push(reply["reports"][0]["id"].as_str().unwrap().to_string());
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.start_kill().unwrap(); // SIGKILL
    server.wait().await.unwrap();
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() > 20, "writes were acknowledged before the kill: {}", acknowledged.len());

    let (_server, listen) = start_server(walkers.path(), data.path()).await;
    let listed: Value = http
        .post(format!("http://{listen}/walker/list_items"))
        .header("authorization", &token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: BTreeSet<String> =
        listed["reports"][0].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_string()).collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(stored.len() <= acknowledged.len() + 4, "at most the writes in flight were committed unacknowledged");
}

#[tokio::test]
async fn two_processes_on_jac_clouds_redis_variable_reach_each_others_sockets() {
    let redis = support::redis::Redis::start();
    let walkers = example_walkers();
    let url = redis.url();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let data = tempfile::tempdir().unwrap();
        let (server, listen) = start_server_with(walkers.path(), data.path(), &[("SOCKET_REDIS_HOST", &url)]).await;
        servers.push((server, listen, data));
    }
    let connect = |listen: &str| {
        let url = format!("ws://{listen}/websocket?channel_id=room");
        async move {
            let mut client = support::server::Client { socket: tokio_tungstenite::connect_async(url).await.unwrap().0 };
            assert_eq!(client.recv().await["type"], "connection");
            client
        }
    };
    let (mut first, mut second) = (connect(&servers[0].1).await, connect(&servers[1].1).await);
    first.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"from": "first"}})).await;
    assert_eq!(second.recv().await, json!({"from": "first"}));
    assert_eq!(first.recv().await, json!({"from": "first"}));
    second.send(json!({"type": "channel", "channel_ids": ["room"], "data": {"from": "second"}})).await;
    assert_eq!(first.recv().await, json!({"from": "second"}));
    assert_eq!(second.recv().await, json!({"from": "second"}));
}

/// `export` reads a consistent snapshot of a SQLite store that a server is writing to:
/// every write the server answered before the export began is in it, the rows parse,
/// and the server keeps answering writes meanwhile.
#[tokio::test]
async fn sqlite_export_runs_while_the_server_serves_writes() {
    let server = TestServer::start().await;
    let (token, _) = server.user("writer@example.com").await;
    let make = || async {
        let (status, body) = server.post("/walker/make_item", json!({"name": "item"}), Some(&token)).await;
        assert_eq!(status, 200, "{body}");
    };
    for _ in 0..20 {
        make().await;
    }
    let data_dir = server.data.path().to_str().unwrap().to_string();
    let export = tokio::task::spawn_blocking(move || walker_host(&["export", "--data-dir", &data_dir], &[]));
    while !export.is_finished() {
        make().await;
    }
    let output = export.await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Value> =
        serde_json::Deserializer::from_slice(&output.stdout).into_iter().map(Result::unwrap).collect();
    let count = |kind: &str| rows.iter().filter(|row| row["kind"] == kind).count();
    assert_eq!(count("user"), 1);
    assert!(count("node") >= 20, "the 20 items made before, at least: {}", count("node"));
    make().await;
}
