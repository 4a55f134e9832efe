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
        // What lax mode reads as ints: whole floats, numeric strings.
        (-3i32..3).prop_map(|i| Value::from(f64::from(i))),
        " ?-?[0-9]{1,3} ?".prop_map(Value::from),
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

/// The error a message must be answered with, when it is not a protocol event at all:
/// `Some(None)` for any error (a binary frame, text that is not JSON), `Some(Some(type))`
/// for pydantic's error type. `None`: an event of a known type, whose answer depends on
/// its fields.
fn expected_error(message: &Message) -> Option<Option<&'static str>> {
    let Message::Text(text) = message else { return Some(None) };
    let Ok(event) = serde_json::from_str::<Value>(text) else { return Some(None) };
    Some(Some(match event.get("type") {
        _ if !event.is_object() => "model_attributes_type",
        Some(Value::String(tag)) if EVENT_TYPES[..6].contains(&tag.as_str()) => return None,
        Some(Value::String(_)) => "union_tag_invalid",
        _ => "union_tag_not_found",
    }))
}

/// Sends `public_event` with a fresh `req_id` and reads until its reply: every frame on
/// the way must be JSON, the server's pings are answered, and the reply must come. Returns
/// the frames before the reply.
async fn still_usable(client: &mut Client, probe: u64) -> Result<Vec<Value>, TestCaseError> {
    client.send(json!({"type": "walker", "walker": "public_event", "context": {"val": probe}, "response": true, "req_id": probe})).await;
    let mut before = Vec::new();
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), client.socket.next())
            .await
            .map_err(|_| TestCaseError::fail("no reply to a valid event"))?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            // tungstenite queues the Pong; it goes out with the next write.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(TestCaseError::fail(format!("the connection ended: {other:?}"))),
        };
        let frame: Value = serde_json::from_str(&text).map_err(|_| TestCaseError::fail(format!("not JSON: {text}")))?;
        prop_assert!(frame.is_object() || frame.is_string() || frame.is_array(), "{frame}");
        if frame["req_id"] == json!(probe) && frame.get("reports").is_some() {
            return Ok(before);
        }
        before.push(frame);
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
                let expected = expected_error(&message);
                client.send_raw(message).await;
                let answers =
                    still_usable(&mut client, probe.fetch_add(1, std::sync::atomic::Ordering::Relaxed)).await?;
                if let Some(kind) = expected {
                    let errors: Vec<&Value> = answers.iter().filter_map(|answer| answer.get("error")).collect();
                    prop_assert_eq!(errors.len(), 1, "one error answers it: {:?}", answers);
                    if let Some(kind) = kind {
                        prop_assert_eq!(&errors[0][0]["type"], kind, "{:?}", answers);
                    }
                }
                Ok(())
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
                let name = context.get("name").and_then(Value::as_str);
                let count = context.get("count").map_or(Some(1), lax_int);
                let refused_at = |field: &str| {
                    body["detail"]
                        .as_array()
                        .is_some_and(|errors| errors.iter().any(|error| error["loc"] == json!(["body", field])))
                };
                match (name, count) {
                    (Some(_), Some(count)) if count < 0 => {
                        prop_assert_eq!((status, &body["errors"][0]["type"]), (500, &json!("walker_error")), "{}", body)
                    }
                    (Some(name), Some(count)) => {
                        prop_assert_eq!(status, 200, "{}", body);
                        prop_assert_eq!(
                            (&body["reports"][0]["name"], &body["reports"][0]["count"]),
                            (&json!(name), &json!(count))
                        );
                    }
                    (name, count) => {
                        prop_assert_eq!(status, 422, "{}", body);
                        prop_assert_eq!(refused_at("name"), name.is_none(), "{}", body);
                        prop_assert_eq!(refused_at("count"), count.is_none(), "{}", body);
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// An int as pydantic's lax mode (jac-cloud's models) reads one: an integer, a whole
/// float or a numeric string (`{"count": 0.0}` is 0), within 64 bits.
fn lax_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
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
        // (A day ahead at least: `now` is taken once, and a long run lasts minutes.)
        (86_400u64..1_000_000).prop_map(move |ahead| sign(
            jsonwebtoken::Header::default(),
            &claims(now + 3600, Some(now + ahead)),
            SECRET.as_bytes()
        )),
        // The wrong secret.
        // (Shorter than the secret, so never it.)
        ".{1,16}".prop_map(move |secret| sign(
            jsonwebtoken::Header::default(),
            &claims(now + 3600, None),
            secret.as_bytes()
        )),
        // A valid token with one byte changed to another printable one (generated, not
        // filtered: every case is a change).
        (any::<prop::sample::Index>(), 1u8..94).prop_map(move |(at, shift)| {
            let mut token = good().into_bytes();
            let at = at.index(token.len());
            token[at] = b'!' + (token[at] - b'!' + shift) % 94;
            String::from_utf8(token).unwrap()
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
