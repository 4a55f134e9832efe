//! Zig equivalents of the seed's chat walkers, plus one that reports its context and the
//! notes kept in the graph, through the C SDK's header (`walkers/c/walker.h`): the same
//! walkers as `walkers/c/chat.c`, under `zig_` names.
//! `c` is `walker.h` as `zig translate-c` reads it (a module the build passes in).
const c = @import("c");
const std = @import("std");

const Ctx = ?*c.walker_ctx_t;
const chat = "{\"type\":\"chat\",\"data\":{\"message\":\"string\"}}";

fn notifyOne(
    cx: Ctx,
    target_field: [*c]const u8,
    send: *const fn (Ctx, [*c]const [*c]const u8, usize, [*c]const u8) callconv(.c) void,
) bool {
    const ids = [_][*c]const u8{c.walker_arg_str(cx, target_field)};
    send(cx, &ids, 1, chat);
    return true;
}

fn sendChatToUser(cx: Ctx) callconv(.c) bool {
    return notifyOne(cx, "root_id", c.walker_notify_users);
}

fn sendChatToGroup(cx: Ctx) callconv(.c) bool {
    return notifyOne(cx, "channel_id", c.walker_notify_channels);
}

fn sendChatToClient(cx: Ctx) callconv(.c) bool {
    return notifyOne(cx, "client_id", c.walker_notify_clients);
}

fn reportContext(cx: Ctx) callconv(.c) bool {
    const count = c.walker_arg_int(cx, "count");
    if (count < 0) return c.walker_fail(cx, "count must not be negative");
    var report = c.walker_json_object(cx);
    c.walker_json_str(&report, "name", c.walker_arg_str(cx, "name"));
    c.walker_json_int(&report, "count", count);
    c.walker_json_str(&report, "root_id", c.walker_root_id(cx));
    c.walker_json_str(&report, "language", "zig");
    c.walker_report(cx, c.walker_json_finish(&report));
    return true;
}

/// `root ++> Note(text=…)`; the same walkers exist in every example language.
fn makeNote(cx: Ctx) callconv(.c) bool {
    var context = c.walker_json_object(cx);
    c.walker_json_str(&context, "text", c.walker_arg_str(cx, "text"));
    const note = c.walker_graph_spawn(cx, c.walker_graph_root(cx), "Note", c.walker_json_finish(&context));
    if (note == null) return false;
    c.walker_report(cx, note);
    return true;
}

fn listNotes(cx: Ctx) callconv(.c) bool {
    const query = c.walker_query_t{ .node_type = "Note" };
    const notes = c.walker_graph_neighbours(cx, c.walker_graph_root(cx), &query);
    if (notes == null) return false;
    c.walker_report(cx, notes);
    return true;
}

/// jac-cloud's `html_response`: a body of its own content type.
fn htmlResponse(cx: Ctx) callconv(.c) bool {
    c.walker_respond(cx, "text/html", "<!DOCTYPE html><html lang=\"en\"><body>HELLO WORLD</body></html>");
    return true;
}

/// jac-cloud's `stream_response`: 0 to 99, each chunk sent as the walker makes it.
fn streamResponse(cx: Ctx) callconv(.c) bool {
    var i: u8 = 0;
    while (i < 100) : (i += 1) {
        var text: [4]u8 = undefined;
        const chunk = std.mem.printSentinel(&text, "{d}", .{i}, 0) catch unreachable;
        if (!c.walker_stream(cx, "text/event-stream", chunk.ptr)) return false;
    }
    return true;
}

/// The caller's account (with the app's user fields), or null when anonymous.
fn myAccount(cx: Ctx) callconv(.c) bool {
    const account = c.walker_account(cx);
    c.walker_report(cx, if (account == null) "null" else account);
    return true;
}

/// A required string field.
fn str(name: [*c]const u8) c.walker_field_t {
    return .{ .name = name, .type = c.WALKER_STR };
}

const user_fields = [_]c.walker_field_t{str("root_id")};
const group_fields = [_]c.walker_field_t{str("channel_id")};
const client_fields = [_]c.walker_field_t{str("client_id")};
const context_fields = [_]c.walker_field_t{ str("name"), .{ .name = "count", .type = c.WALKER_INT, .default_json = "1" } };
const note_fields = [_]c.walker_field_t{str("text")};

/// A walker served over the WebSocket and POST, as the C example's are.
fn def(name: [*c]const u8, auth: bool, fields: []const c.walker_field_t, run: *const fn (Ctx) callconv(.c) bool) c.walker_def_t {
    const methods: c_uint = c.WALKER_WEBSOCKET | c.WALKER_POST;
    return .{ .name = name, .methods = methods, .auth = auth, .fields = fields.ptr, .field_count = fields.len, .run = run };
}

export const walker_definitions = [_]c.walker_def_t{
    def("zig_send_chat_to_user", true, &user_fields, sendChatToUser),
    def("zig_send_chat_to_group", true, &group_fields, sendChatToGroup),
    def("zig_send_chat_to_client", true, &client_fields, sendChatToClient),
    def("zig_report_context", false, &context_fields, reportContext),
    def("zig_make_note", true, &note_fields, makeNote),
    def("zig_list_notes", true, &.{}, listNotes),
    def("zig_my_account", false, &.{}, myAccount),
    rootGet("zig_html_response", htmlResponse),
    rootGet("zig_stream_response", streamResponse),
};

/// A public walker served by GET at the root (and over the WebSocket), as jac-cloud's
/// `html_response` and `stream_response`.
fn rootGet(name: [*c]const u8, run: *const fn (Ctx) callconv(.c) bool) c.walker_def_t {
    const methods: c_uint = c.WALKER_WEBSOCKET | c.WALKER_GET;
    return .{ .name = name, .methods = methods, .auth = false, .run = run, .entry = c.WALKER_ENTRY_ROOT };
}
export const walker_definition_count: usize = walker_definitions.len;
