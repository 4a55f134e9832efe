//! Headless Chromium driven over the DevTools protocol, for tests of the pages the server
//! serves and of browser apps on other origins. Debian's `chromium` (installed by
//! `scripts/test.sh`), or the binary `CHROMIUM` names.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long Chromium may take to start and open its DevTools port.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `wait_for` waits for a page condition.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);

/// One browser with one tab. Dropping it kills the browser's whole process group.
pub struct Browser {
    devtools: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The tab's DevTools session, which every command is sent to.
    session: String,
    next_id: u64,
    process: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch() -> Browser {
        let binary = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        let profile = tempfile::tempdir().unwrap();
        let process = std::os::unix::process::CommandExt::process_group(
            std::process::Command::new(&binary).args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "about:blank",
            ]),
            0,
        )
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{} does not start ({err}): run ./scripts/test.sh", binary.display()));
        // Chromium writes its port and the browser's DevTools path once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let [port, path] = text.lines().collect::<Vec<_>>()[..]
            {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            assert!(tokio::time::Instant::now() < deadline, "Chromium did not open its DevTools port");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (devtools, _) = tokio_tungstenite::connect_async(endpoint).await.unwrap();
        let mut browser = Browser { devtools, session: String::new(), next_id: 0, process, _profile: profile };
        let target = browser.command("Target.createTarget", json!({"url": "about:blank"})).await;
        let attached =
            browser.command("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true})).await;
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// Sends a DevTools command (to the tab once attached) and returns its result.
    pub async fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.devtools.send(Message::text(message.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(WAIT_TIMEOUT, self.devtools.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("DevTools closed")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let mut answer: Value = serde_json::from_str(&text).unwrap();
            // Events, and answers to nothing we wait for, are skipped.
            if answer["id"] != json!(id) {
                continue;
            }
            assert!(answer["error"].is_null(), "{method} failed: {}", answer["error"]);
            return answer["result"].take();
        }
    }

    /// Opens `url` in the tab and waits for it to load.
    pub async fn open(&mut self, url: &str) {
        self.command("Page.navigate", json!({"url": url})).await;
        self.wait_for(&format!("location.href === {url:?} && document.readyState === 'complete'")).await;
    }

    /// Evaluates a JavaScript expression in the page (awaiting a promise) and returns its
    /// value; a thrown exception fails the test.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "awaitPromise": true, "returnByValue": true});
        let mut result = self.command("Runtime.evaluate", params).await;
        assert!(
            result["exceptionDetails"].is_null(),
            "`{expression}` threw: {}",
            result["exceptionDetails"]["exception"]["description"]
        );
        result["result"]["value"].take()
    }

    /// Waits until a JavaScript expression is truthy in the page.
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        let probe = format!("(() => {{ try {{ return Boolean({condition}); }} catch {{ return false; }} }})()");
        while self.eval(&probe).await != json!(true) {
            if tokio::time::Instant::now() > deadline {
                let body = self.eval("document.body ? document.body.innerText : ''").await;
                panic!("timed out waiting for `{condition}`; the page shows:\n{}", body.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets an input's value as typing would (input and change events fire).
    pub async fn fill(&mut self, selector: &str, value: &str) {
        let script = format!(
            "(() => {{ const input = document.querySelector({selector:?}); input.value = {value:?};
               input.dispatchEvent(new Event('input', {{bubbles: true}}));
               input.dispatchEvent(new Event('change', {{bubbles: true}})); }})()"
        );
        self.eval(&script).await;
    }

    pub async fn click(&mut self, selector: &str) {
        self.eval(&format!("document.querySelector({selector:?}).click()")).await;
    }

    /// The text an element shows.
    pub async fn text(&mut self, selector: &str) -> String {
        self.eval(&format!("document.querySelector({selector:?}).textContent")).await.as_str().unwrap().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Renderers and helpers are in the browser's process group: end them all.
        let _ =
            std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.process.id())]).status();
        let _ = self.process.wait();
    }
}
