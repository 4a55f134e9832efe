//! Generated inputs against a real server on loopback (proptest): client events, REST
//! bodies, walker contexts, node ids and tokens. Every input gets a structured answer,
//! nothing panics or leaks internals, and the connection or server stays usable for
//! valid requests after each one.
//!
//! Cases per property: `PROPTEST_CASES` (256 by default, as CI runs it);
//! `scripts/fuzz.sh` runs millions.

mod support;

use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{Value, json};
use support::server::{Client, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// Walkers the generated events and requests name: the example walkers, and some that do not exist.
const WALKERS: &[&str] =
    &["public_event", "report_context", "whoami", "get_q", "path_var", "rename_item", "list_items", "nope", ""];
const EVENT_TYPES: &[&str] = &["connection", "walker", "user", "channel", "client", "change_user", "other"];

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256);
    TestRunner::new(RunnerConfig { cases, failure_persistence: None, ..RunnerConfig::default() })
}

/// A server with the example walkers only (nothing that loops or floods), a known token
/// secret, and limits out of the way of a fast loop of requests.
fn server(runtime: &tokio::runtime::Runtime) -> TestServer {
    runtime.block_on(async {
        let walkers = tempfile::tempdir().unwrap();
        std::fs::copy(support::chat_wasm(), walkers.path().join("chat.wasm")).unwrap();
        TestServer::start_in(walkers, tempfile::tempdir().unwrap(), |config| {
            config.token_secret = Some(SECRET.into());
            config.ws_events_per_second = 1_000_000;
            config.address_connections_per_second = 1_000_000;
            config.login_free_failures = 1_000;
        })
        .await
    })
}

const SECRET: &str = "a fuzzing secret of at least 32 bytes";

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Events shaped like the protocol's, with every field possibly wrong, and anything else.
fn client_event() -> impl Strategy<Value = String> {
    let field = prop_oneof![json_value(), prop::sample::select(WALKERS).prop_map(Value::from)];
    let shaped = (
        prop::sample::select(EVENT_TYPES),
        prop::collection::btree_map(
            prop::sample::select(
                &[
                    "walker",
                    "context",
                    "response",
                    "node",
                    "data",
                    "root_ids",
                    "channel_ids",
                    "client_ids",
                    "token",
                    "req_id",
                ][..],
            ),
            field,
            0..5,
        ),
    )
        .prop_map(|(kind, fields)| {
            let mut event: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            event.insert("type".into(), kind.into());
            Value::Object(event).to_string()
        });
    prop_oneof![4 => shaped, 1 => json_value().prop_map(|v| v.to_string()), 1 => ".{0,40}"]
}

/// Sends `public_event` with a fresh `req_id` and reads until its reply: every frame on
/// the way must be a JSON object, and the reply must come.
async fn still_usable(client: &mut Client, probe: u64) -> Result<(), TestCaseError> {
    client.send(json!({"type": "walker", "walker": "public_event", "context": {"val": probe}, "response": true, "req_id": probe})).await;
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), client.socket.next())
            .await
            .map_err(|_| TestCaseError::fail("no reply to a valid event"))?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            other => return Err(TestCaseError::fail(format!("the connection ended: {other:?}"))),
        };
        let frame: Value = serde_json::from_str(&text).map_err(|_| TestCaseError::fail(format!("not JSON: {text}")))?;
        prop_assert!(frame.is_object() || frame.is_string() || frame.is_array(), "{frame}");
        if frame["req_id"] == json!(probe) && frame.get("reports").is_some() {
            return Ok(());
        }
    }
}

use futures_util::StreamExt as _;

#[test]
fn every_client_event_is_answered_and_the_connection_stays_usable() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server(&runtime);
    let client = Mutex::new(runtime.block_on(server.connect("")).0);
    let probe = std::sync::atomic::AtomicU64::new(0);
    let strategy = prop_oneof![
        9 => client_event().prop_map(Message::text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Message::binary),
    ];
    runner()
        .run(&strategy, |message| {
            let mut client = client.lock().unwrap();
            runtime.block_on(async {
                client.send_raw(message).await;
                still_usable(&mut client, probe.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).await
            })
        })
        .unwrap();
}

/// A REST answer is JSON, never a server error other than a walker's own, and shows no internals.
fn check_answer(status: u16, body: &str) -> Result<(), TestCaseError> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| TestCaseError::fail(format!("{status}: not JSON: {body}")))?;
    prop_assert!(!body.contains("/work/") && !body.contains("panicked") && !body.contains("src/"), "{body}");
    if status >= 500 {
        prop_assert_eq!(status, 500, "{}", body);
        prop_assert_eq!(&value["errors"][0]["type"], "walker_error", "{}", body);
    }
    Ok(())
}

#[test]
fn every_rest_body_and_path_gets_a_structured_answer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server(&runtime);
    let body =
        prop_oneof![json_value().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..64),];
    let path = prop_oneof![
        prop::sample::select(WALKERS).prop_map(|w| format!("/walker/{w}")),
        (prop::sample::select(WALKERS), node_id()).prop_map(|(w, id)| format!("/walker/{w}/{}", urlencode(&id))),
        Just("/user/register".to_string()),
        Just("/user/login".to_string()),
    ];
    let content_type =
        prop::sample::select(&["application/json", "text/plain", "application/x-www-form-urlencoded", ""][..]);
    runner()
        .run(&(path, body, content_type), |(path, body, content_type)| {
            runtime.block_on(async {
                let mut request = server.http.post(server.url(&path)).body(body);
                if !content_type.is_empty() {
                    request = request.header("content-type", content_type);
                }
                let response = request.send().await.map_err(|err| TestCaseError::fail(err.to_string()))?;
                let status = response.status().as_u16();
                check_answer(status, &response.text().await.unwrap())
            })
        })
        .unwrap();
    // Still serving.
    assert_eq!(runtime.block_on(server.post("/walker/public_event", json!({"val": 1}), None)).0, 200);
}

/// Ids in jac-cloud's forms, near misses, and anything.
fn node_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "n:[A-Za-z]{0,6}:[0-9a-f]{0,30}",
        "n::[0-9a-fA-F]{20,28}",
        "[ne]:[A-Za-z:]{0,4}:[0-9a-z]{24}",
        ".{0,30}",
    ]
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b':' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[test]
fn walker_contexts_are_checked_against_the_spec() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server(&runtime);
    let context = prop::collection::btree_map(
        prop_oneof![Just("name".to_string()), Just("count".to_string()), ".{0,6}"],
        json_value(),
        0..4,
    );
    runner()
        .run(&context, |context| {
            runtime.block_on(async {
                let context = Value::Object(context.into_iter().collect());
                let (status, body) = server.post("/walker/report_context", context.clone(), None).await;
                check_answer(status, &body.to_string())?;
                let name_ok = context.get("name").is_none_or(Value::is_string);
                let count_ok = context.get("count").is_none_or(|count| count.is_i64() || count.is_u64());
                // Valid fields run (a negative count is the walker's own error); anything else is 422.
                if !(name_ok && count_ok) {
                    prop_assert_eq!(status, 422, "{}", body);
                    prop_assert!(body["detail"].is_array(), "{}", body);
                }
                Ok(())
            })
        })
        .unwrap();
}

#[derive(serde::Serialize)]
struct Claims {
    id: String,
    email: String,
    root_id: String,
    is_activated: bool,
    is_admin: bool,
    expiration: u64,
    state: String,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// Tokens that must prove nothing: each way a JWT can be wrong.
fn bad_token() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = move |exp: u64, nbf: Option<u64>| Claims {
        id: "u".into(),
        email: "e@example.com".into(),
        root_id: "0123456789abcdef01234567".into(),
        is_activated: true,
        is_admin: false,
        expiration: exp,
        state: "s".into(),
        exp,
        nbf,
    };
    let sign = |header: jsonwebtoken::Header, claims: &Claims, secret: &[u8]| {
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
    };
    let good = move || sign(jsonwebtoken::Header::default(), &claims(now + 3600, None), SECRET.as_bytes());
    prop_oneof![
        // alg: none, unsigned.
        Just(format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(&serde_json::to_vec(&claims(now + 3600, None)).unwrap())
        )),
        // Another HMAC algorithm with the right secret.
        prop::sample::select(&[jsonwebtoken::Algorithm::HS384, jsonwebtoken::Algorithm::HS512][..])
            .prop_map(move |alg| sign(jsonwebtoken::Header::new(alg), &claims(now + 3600, None), SECRET.as_bytes())),
        // Expired, or not yet valid.
        (1u64..100_000).prop_map(move |ago| sign(
            jsonwebtoken::Header::default(),
            &claims(now - ago, None),
            SECRET.as_bytes()
        )),
        (100u64..100_000).prop_map(move |ahead| sign(
            jsonwebtoken::Header::default(),
            &claims(now + 3600, Some(now + ahead)),
            SECRET.as_bytes()
        )),
        // The wrong secret.
        ".{1,16}".prop_filter("not the secret", |s| s != SECRET).prop_map(move |secret| sign(
            jsonwebtoken::Header::default(),
            &claims(now + 3600, None),
            secret.as_bytes()
        )),
        // A valid token with one byte changed.
        (any::<prop::sample::Index>(), any::<u8>()).prop_filter_map("a change", move |(at, byte)| {
            let mut token = good().into_bytes();
            let at = at.index(token.len());
            (token[at] != byte && byte.is_ascii_graphic()).then(|| {
                token[at] = byte;
                String::from_utf8(token).unwrap()
            })
        }),
        // Garbage.
        "[ -~]{0,80}",
    ]
}

#[test]
fn no_forged_expired_or_malformed_token_signs_anyone_in() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server(&runtime);
    runner()
        .run(&bad_token(), |token| {
            runtime.block_on(async {
                let (status, body) = server.post("/walker/whoami", json!({}), Some(&token)).await;
                prop_assert_eq!(status, 401, "{}", body);
                // The same token on a WebSocket leaves it anonymous, on the public root.
                let url = server.ws_url(&format!("?auth={}", urlencode(&token)));
                let (_client, hello) = server.connect_to(&url, None).await;
                prop_assert_eq!(&hello["data"]["root_id"], &json!("n::000000000000000000000001"), "{}", hello);
                Ok(())
            })
        })
        .unwrap();
}
