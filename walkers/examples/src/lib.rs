//! The example walkers: Wasm equivalents of jac-cloud's seed chat walkers
//! (`send_chat_to_*`, `your_event_name`) and the reference probes of `chat.jac`,
//! with the same names, fields, methods, auth and behaviour; walkers on the persistent
//! graph are in `items`.

mod items;

use walker_sdk::{Context, Error, FieldKind, Method, Result, Spec, Walker, export_walkers, graph, json, walker};

const WEBSOCKET_AND_POST: [Method; 2] = [Method::Websocket, Method::Post];

fn chat_message() -> walker_sdk::Value {
    json!({"type": "chat", "data": {"message": "string"}})
}

walker! {
    /// Chats to every connection of one user.
    pub struct SendChatToUser { root_id: String }
}
impl Walker for SendChatToUser {
    const NAME: &'static str = "send_chat_to_user";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST)
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_users([self.root_id], chat_message());
        Ok(())
    }
}

walker! {
    /// Chats to every connection of one channel.
    pub struct SendChatToGroup { channel_id: String }
}
impl Walker for SendChatToGroup {
    const NAME: &'static str = "send_chat_to_group";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST)
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_channels([self.channel_id], chat_message());
        Ok(())
    }
}

walker! {
    /// Chats to one connection.
    pub struct SendChatToClient { client_id: String }
}
impl Walker for SendChatToClient {
    const NAME: &'static str = "send_chat_to_client";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST)
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_clients([self.client_id], chat_message());
        Ok(())
    }
}

walker! {
    /// The seed's WebSocket-only example.
    pub struct YourEventName { #[allow(dead_code)] val: i64 }
}
impl Walker for YourEventName {
    const NAME: &'static str = "your_event_name";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket])
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report("Do something!");
        Ok(())
    }
}

walker! {
    /// `your_event_name` open to anonymous callers, echoing its field.
    pub struct PublicEvent { val: i64 }
}
impl Walker for PublicEvent {
    const NAME: &'static str = "public_event";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"val": self.val}));
        Ok(())
    }
}

walker! {
    /// Progress pushes to the caller, between reports.
    pub struct SelfNotif {}
}
impl Walker for SelfNotif {
    const NAME: &'static str = "self_notif";
    fn spec() -> Spec {
        Spec::new().methods([Method::Websocket]).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_self(json!({"progress": "0%"}));
        cx.report("step 1");
        cx.notify_self(json!({"progress": "100%"}));
        cx.report("step 2");
        Ok(())
    }
}

walker! {
    /// Anonymous channel fan-out.
    pub struct PublicGroup { channel_id: String, msg: String = "hi" }
}
impl Walker for PublicGroup {
    const NAME: &'static str = "public_group";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_channels([self.channel_id], json!({"type": "chat", "data": {"message": self.msg}}));
        Ok(())
    }
}

walker! {
    /// Always fails at run time, like jac's `x = 1 / 0`.
    pub struct Boom {}
}
impl Walker for Boom {
    const NAME: &'static str = "boom";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, _cx: &mut Context) -> Result {
        Err(Error::msg("division by zero"))
    }
}

walker! {
    /// GET with a query-string field and a defaulted one.
    pub struct GetQ { a: i64, b: String = "x" }
}
impl Walker for GetQ {
    const NAME: &'static str = "get_q";
    fn spec() -> Spec {
        Spec::new().methods([Method::Get, Method::Post]).query(["a"]).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"a": self.a, "b": self.b}));
        Ok(())
    }
}

walker! {
    /// A custom path whose `{key}` is a field.
    pub struct PathVar { key: String, val: i64 = 0 }
}
impl Walker for PathVar {
    const NAME: &'static str = "path_var";
    fn spec() -> Spec {
        Spec::new().methods([Method::Get]).path("/custom/{key}").public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"key": self.key, "val": self.val}));
        Ok(())
    }
}

walker! {
    /// jac-cloud's relative path: served at `/walker/path_rel/{key}`, and after it on a
    /// node, `/walker/path_rel/{key}/{node}`.
    pub struct PathRel { key: String }
}
impl Walker for PathRel {
    const NAME: &'static str = "path_rel";
    fn spec() -> Spec {
        Spec::new().methods([Method::Get]).path("{key}")
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"key": self.key, "here": graph::here().id}));
        Ok(())
    }
}

walker! {
    /// A custom path under `/walker/`, beside the default routes.
    pub struct UnderWalker { key: String }
}
impl Walker for UnderWalker {
    const NAME: &'static str = "under_walker";
    fn spec() -> Spec {
        Spec::new().methods([Method::Get]).path("/walker/legacy/{key}").public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"key": self.key, "here": graph::here().id}));
        Ok(())
    }
}

/// One line of an order: a nested body field.
#[derive(serde::Deserialize, serde::Serialize, FieldKind)]
pub struct Line {
    name: String,
    tags: Vec<String>,
}

#[derive(serde::Deserialize, serde::Serialize, FieldKind)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    Small,
    Large,
}

walker! {
    /// Fields that only their Rust types check: a nested struct, an enum, a `u8`, a
    /// `char`. A context they reject is answered 422 before the walker runs.
    pub struct PlaceOrder { line: Line, size: Size, quantity: u8, grade: char = 'a' }
}
impl Walker for PlaceOrder {
    const NAME: &'static str = "place_order";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"line": self.line, "size": self.size, "quantity": self.quantity, "grade": self.grade}));
        Ok(())
    }
}

walker! {
    /// The caller's account (with the app's user fields), or null when anonymous.
    pub struct MyAccount {}
}
impl Walker for MyAccount {
    const NAME: &'static str = "my_account";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        let account = cx.account();
        cx.report(account);
        Ok(())
    }
}

walker! {
    /// jac-cloud's documentation options, a field no client sets (`excluded`) and a
    /// response model.
    pub struct Documented { val: i64, note: String = "set by the server" }
}
impl Walker for Documented {
    const NAME: &'static str = "documented";
    fn spec() -> Spec {
        Spec::new()
            .methods(WEBSOCKET_AND_POST)
            .public()
            .summary("A documented walker")
            .description("Reports its fields.")
            .tags(["examples"])
            .deprecated()
            .excluded(["note"])
            .response_schema(json!({"type": "object", "title": "Documented"}))
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(json!({"val": self.val, "note": self.note}));
        Ok(())
    }
}

walker! {
    /// Served (`include_in_schema = False`) but not documented.
    pub struct Undocumented {}
}
impl Walker for Undocumented {
    const NAME: &'static str = "undocumented";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public().hidden()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report("served");
        Ok(())
    }
}

walker! {
    /// Served over neither REST nor the WebSocket (jac-cloud's `private`).
    pub struct Internal {}
}
impl Walker for Internal {
    const NAME: &'static str = "internal";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public().private()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report("reached");
        Ok(())
    }
}

walker! {
    /// jac-cloud's default spec: POST, signed-in callers.
    pub struct NoSpecsDefault {}
}
impl Walker for NoSpecsDefault {
    const NAME: &'static str = "no_specs_default";
    fn run(self, cx: &mut Context) -> Result {
        cx.report("default specs");
        Ok(())
    }
}

walker! {
    /// Anonymous `send_chat_to_client`.
    pub struct PublicClient { client_id: String }
}
impl Walker for PublicClient {
    const NAME: &'static str = "public_client";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_clients([self.client_id], chat_message());
        Ok(())
    }
}

walker! {
    /// Anonymous `send_chat_to_user`.
    pub struct PublicUser { root_id: String }
}
impl Walker for PublicUser {
    const NAME: &'static str = "public_user";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.notify_users([self.root_id], chat_message());
        Ok(())
    }
}

walker! {
    /// Replies with status 201.
    pub struct CustomStatus {}
}
impl Walker for CustomStatus {
    const NAME: &'static str = "custom_status";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.set_status(201);
        cx.report("created");
        Ok(())
    }
}

walker! {
    /// Replies with a custom value instead of the reports envelope.
    pub struct CustomReport {}
}
impl Walker for CustomReport {
    const NAME: &'static str = "custom_report";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report("ignored when a custom report is set");
        cx.custom_report(json!({"custom": true, "list": [1, 2]}));
        Ok(())
    }
}

walker! {
    /// Reports the node it runs on (`report here`): the caller's root unless the call
    /// names a node; signed-in callers only.
    pub struct Whoami {}
}
impl Walker for Whoami {
    const NAME: &'static str = "whoami";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST)
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::here());
        Ok(())
    }
}

walker! {
    /// Reports the node it runs on; anyone may call it.
    pub struct WhoamiPub {}
}
impl Walker for WhoamiPub {
    const NAME: &'static str = "whoami_pub";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        cx.report(graph::here());
        Ok(())
    }
}

walker! {
    /// Reports its context and caller; the same walker exists in every example language.
    pub struct ReportContext { name: String, count: i64 = 1 }
}
impl Walker for ReportContext {
    const NAME: &'static str = "report_context";
    fn spec() -> Spec {
        Spec::new().methods(WEBSOCKET_AND_POST).public()
    }
    fn run(self, cx: &mut Context) -> Result {
        if self.count < 0 {
            return Err(Error::msg("count must not be negative"));
        }
        let root_id = &cx.caller().root_id;
        cx.report(json!({"name": self.name, "count": self.count, "root_id": root_id, "language": "rust"}));
        Ok(())
    }
}

export_walkers!();
