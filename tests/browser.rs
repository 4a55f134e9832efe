//! The server's pages and a browser app on another origin, in headless Chromium against a
//! real server on loopback: the playground, the docs page, and CORS as a web app meets it.

mod support;

use serde_json::{Value, json};
use support::browser::Browser;
use support::server::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PUBLIC_ROOT: &str = "n::000000000000000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_connects_signs_in_calls_walkers_and_shows_notifications_live() {
    let server = TestServer::start().await;
    let mut browser = Browser::launch().await;
    browser.open(&server.url("/playground")).await;
    browser.wait_for("document.querySelector('#walker option[value=self_notif]')").await;

    browser.click("#connect").await;
    browser.wait_for("document.querySelector('#connection').textContent.includes('client_id')").await;
    let connection: Value = serde_json::from_str(&browser.text("#connection").await).unwrap();
    assert_eq!(connection["root_id"], PUBLIC_ROOT);

    // Register and log in: the open socket switches user with change_user.
    browser.fill("#email", "ada@example.com").await;
    browser.fill("#password", "correct horse").await;
    browser.click("#register").await;
    browser.wait_for("document.querySelector('#account').textContent.startsWith('201')").await;
    browser.click("#login").await;
    browser.wait_for("document.querySelector('#account').textContent.startsWith('signed in')").await;
    let account = browser.text("#account").await;
    let root = account.rsplit("root ").next().unwrap().trim().to_string();
    browser.wait_for(&format!("document.querySelector('#connection').textContent.includes('n::{root}')")).await;
    let signed_in: Value = serde_json::from_str(&browser.text("#connection").await).unwrap();
    assert_eq!(signed_in["client_id"], connection["client_id"], "the same connection, another user");

    // A WebSocket call: its progress pushes and its reply arrive under Frames.
    browser.fill("#walker", "self_notif").await;
    browser.click("#call-ws").await;
    browser
        .wait_for("[...document.querySelectorAll('#log li.in')].some((li) => li.textContent.includes('step 2'))")
        .await;
    let frames = log(&mut browser, "in").await;
    let tail: Vec<&str> = frames.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [r#"{"progress":"0%"}"#, r#"{"progress":"100%"}"#, r#"{"status":200,"reports":["step 1","step 2"]}"#]
    );

    // A REST call with the fields the form generated for the walker.
    browser.fill("#walker", "public_event").await;
    browser.wait_for("document.querySelector('#fields input[name=val]')").await;
    browser.fill("#fields input[name=val]", "7").await;
    browser.click("#call-rest").await;
    browser.wait_for("document.querySelector('#result').textContent.startsWith('200')").await;
    assert_eq!(browser.text("#result").await, r#"200 {"status":200,"reports":[{"val":7}]}"#);

    // A notification from another client shows up live.
    let (mut other, _) = server.connect("").await;
    other.send(json!({"type": "client", "client_ids": [signed_in["client_id"]], "data": {"hello": "browser"}})).await;
    browser
        .wait_for(
            r#"[...document.querySelectorAll('#log li.in')].some((li) => li.textContent === '{"hello":"browser"}')"#,
        )
        .await;

    // Signing out turns the socket anonymous again.
    browser.click("#logout").await;
    browser.wait_for(&format!("document.querySelector('#connection').textContent.includes('{PUBLIC_ROOT}')")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_walker_routes_and_calls_them() {
    let server = TestServer::start().await;
    let mut browser = Browser::launch().await;
    browser.open(&server.url("/docs")).await;
    let operation = "[...document.querySelectorAll('details')].find((d) => d.querySelector('summary').textContent === 'post/walker/public_event Walker APIs')";
    browser.wait_for(operation).await;
    browser.eval(&format!("(() => {{ const d = {operation}; d.open = true; d.querySelector('textarea').value = '{{\"val\": 9}}'; d.querySelector('button').click(); }})()")).await;
    browser.wait_for(&format!("{operation}.querySelector('pre').textContent.startsWith('200')")).await;
    let output = browser.eval(&format!("{operation}.querySelector('pre').textContent")).await;
    assert_eq!(output, "200\n{\"status\":200,\"reports\":[{\"val\":9}]}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_on_another_origin_logs_in_with_fetch_then_changes_user_on_its_socket() {
    let server = TestServer::start().await;
    let app = WebApp::serve(&server).await;
    let mut browser = Browser::launch().await;
    browser.open(&app.url).await;
    let outcome = browser.eval("window.outcome").await;
    assert_eq!(outcome["error"], Value::Null, "{outcome}");
    assert_eq!(outcome["register"], 201);
    let root = outcome["root"].as_str().unwrap();
    let frames = outcome["frames"].as_array().unwrap();
    assert_eq!(frames[0]["data"]["root_id"], PUBLIC_ROOT);
    assert_eq!(frames[1]["data"]["root_id"], format!("n::{root}"), "change_user signs the socket in");
    // A walker that needs a token: the preflight let the Authorization header through.
    assert_eq!(outcome["walker"], json!({"status": 200, "body": {"status": 200, "reports": []}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_on_an_origin_outside_the_allow_list_is_refused_by_the_browser() {
    let server = TestServer::start_with(|config| config.cors_origins = vec!["http://app.example".into()]).await;
    let app = WebApp::serve(&server).await;
    let mut browser = Browser::launch().await;
    browser.open(&app.url).await;
    let outcome = browser.eval("window.outcome").await;
    assert_eq!(outcome["error"], "Failed to fetch", "{outcome}");
}

/// The text of each frame the playground logged in one direction, oldest first.
async fn log(browser: &mut Browser, direction: &str) -> Vec<String> {
    let script = format!("[...document.querySelectorAll('#log li.{direction}')].map((li) => li.textContent)");
    serde_json::from_value(browser.eval(&script).await).unwrap()
}

/// A web app's page on an origin of its own (another port), calling the server as the
/// seed's browser code does: fetch to register and log in, then `change_user` on a
/// WebSocket, then a walker over REST with the token. Its outcome is `window.outcome`.
struct WebApp {
    url: String,
    _task: tokio::task::JoinHandle<()>,
}

impl WebApp {
    async fn serve(server: &TestServer) -> WebApp {
        let page = format!(
            r#"<!doctype html><script>
const server = "{origin}";
const json = {{ "content-type": "application/json" }};
const credentials = JSON.stringify({{ email: "web@example.com", password: "correct horse" }});
window.outcome = (async () => {{
  try {{
    const register = await fetch(`${{server}}/user/register`, {{ method: "POST", headers: json, body: credentials }});
    const login = await (await fetch(`${{server}}/user/login`, {{ method: "POST", headers: json, body: credentials }})).json();
    const socket = new WebSocket(`${{server.replace("http", "ws")}}/websocket`);
    const frames = [];
    await new Promise((resolve) => socket.onmessage = (message) => {{
      frames.push(JSON.parse(message.data));
      if (frames.length === 1) socket.send(JSON.stringify({{ type: "change_user", token: login.token }}));
      else resolve();
    }});
    const headers = {{ ...json, authorization: `Bearer ${{login.token}}` }};
    const body = JSON.stringify({{ root_id: login.user.root_id }});
    const walker = await fetch(`${{server}}/walker/send_chat_to_user`, {{ method: "POST", headers, body }});
    return {{ register: register.status, root: login.user.root_id, frames,
             walker: {{ status: walker.status, body: await walker.json() }} }};
  }} catch (error) {{
    return {{ error: error.message }};
  }}
}})();
</script>"#,
            origin = server.url("")
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0; 4096];
                let _ = stream.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        WebApp { url, _task: task }
    }
}
