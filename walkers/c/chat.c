/* C equivalents of the seed's chat walkers, plus one that reports its context, and
 * notes kept in the graph: made, listed, linked, shared and unlinked. */
#include "walker.h"

#define CHAT "{\"type\":\"chat\",\"data\":{\"message\":\"string\"}}"

static bool send_chat_to_user(walker_ctx_t *cx) {
    const char *root_id = walker_arg_str(cx, "root_id");
    walker_notify_users(cx, &root_id, 1, CHAT);
    return true;
}

static bool send_chat_to_group(walker_ctx_t *cx) {
    const char *channel_id = walker_arg_str(cx, "channel_id");
    walker_notify_channels(cx, &channel_id, 1, CHAT);
    return true;
}

static bool send_chat_to_client(walker_ctx_t *cx) {
    const char *client_id = walker_arg_str(cx, "client_id");
    walker_notify_clients(cx, &client_id, 1, CHAT);
    return true;
}

static bool report_context(walker_ctx_t *cx) {
    long long count = walker_arg_int(cx, "count");
    if (count < 0) return walker_fail(cx, "count must not be negative");
    walker_json_t report = walker_json_object(cx);
    walker_json_str(&report, "name", walker_arg_str(cx, "name"));
    walker_json_int(&report, "count", count);
    walker_json_str(&report, "root_id", walker_root_id(cx));
    walker_json_str(&report, "language", "c");
    walker_report(cx, walker_json_finish(&report));
    return true;
}

/* `root ++> Note(text=…)`; the same walkers exist in every example language. */
static bool make_note(walker_ctx_t *cx) {
    walker_json_t context = walker_json_object(cx);
    walker_json_str(&context, "text", walker_arg_str(cx, "text"));
    const char *note = walker_graph_spawn(cx, walker_graph_root(cx), "Note", walker_json_finish(&context));
    if (!note) return false;
    walker_report(cx, note);
    return true;
}

static bool list_notes(walker_ctx_t *cx) {
    const char *notes = walker_graph_neighbours(cx, walker_graph_root(cx), &(walker_query_t){.node_type = "Note"});
    if (!notes) return false;
    walker_report(cx, notes);
    return true;
}

/* Notes a and b under the root, `a +>:Link(weight=3):+> b`, b shared with `friend`
 * (read), reporting what each call sees; then the link removed. */
static bool link_notes(walker_ctx_t *cx) {
    const char *root = walker_graph_root(cx);
    const char *a = walker_json_get_str(cx, walker_graph_spawn(cx, root, "Note", "{\"text\":\"a\"}"), "id");
    const char *b = walker_json_get_str(cx, walker_graph_spawn(cx, root, "Note", "{\"text\":\"b\"}"), "id");
    if (!a || !b || !walker_graph_connect(cx, a, b, "Link", "{\"weight\":3}")) return false;
    const char *edges = walker_graph_edges(cx, a, NULL);
    const char *linking_b = walker_graph_neighbours(cx, b, &(walker_query_t){.direction = WALKER_IN, .edge_type = "Link"});
    const char *links_from_root = walker_graph_neighbours(cx, root, &(walker_query_t){.edge_type = "Link"});
    if (!edges || !linking_b || !links_from_root) return false;
    if (!walker_graph_grant(cx, b, walker_arg_str(cx, "friend"), WALKER_READ)) return false;
    walker_report(cx, edges);
    walker_report(cx, linking_b);
    walker_report(cx, links_from_root);
    walker_json_t ids = walker_json_object(cx);
    walker_json_str(&ids, "a", a);
    walker_json_str(&ids, "b", b);
    walker_report(cx, walker_json_finish(&ids));
    return true;
}

/* Removes a's links to b (and, with `revoke`, the friend's read on b): how many. */
static bool unlink_notes(walker_ctx_t *cx) {
    const char *a = walker_arg_str(cx, "a"), *b = walker_arg_str(cx, "b");
    long long removed = walker_graph_disconnect(cx, a, b, "Link");
    if (removed < 0 || !walker_graph_revoke(cx, b, walker_arg_str(cx, "friend"))) return false;
    walker_json_t report = walker_json_object(cx);
    walker_json_int(&report, "removed", removed);
    walker_report(cx, walker_json_finish(&report));
    return true;
}

/* Node `id` as the caller may read it, or null. */
static bool read_node(walker_ctx_t *cx) {
    const char *node = walker_graph_get(cx, walker_arg_str(cx, "id"));
    walker_report(cx, node ? node : "null");
    return true;
}

/* Its runs so far in this instance: 1, 2, 3, then 1 in a fresh one (`warm_runs` 3). */
static bool warm_count(walker_ctx_t *cx) {
    static long long runs;
    walker_report_int(cx, ++runs);
    return true;
}

/* jac-cloud's spec options: a custom path with a field in it, a field from the query
 * string, root entry only, and a tenant variable (`greeting`, null when unset). */
static bool item_by_path(walker_ctx_t *cx) {
    const char *greeting;
    if (!walker_var(cx, walker_arg_str(cx, "var"), &greeting)) return false;
    walker_json_t report = walker_json_object(cx);
    walker_json_str(&report, "item", walker_arg_str(cx, "item"));
    walker_json_str(&report, "tag", walker_arg_str(cx, "tag"));
    walker_json_str(&report, "greeting", greeting);
    walker_report(cx, walker_json_finish(&report));
    return true;
}

/* jac-cloud's create_graph: root ++> A(val=0) ++> B(val=1) ++> C(val=2), each reported. */
static bool create_graph(walker_ctx_t *cx) {
    static const char *const chain[][2] = {{"A", "{\"val\":0}"}, {"B", "{\"val\":1}"}, {"C", "{\"val\":2}"}};
    const char *here = walker_graph_here(cx);
    walker_report(cx, here);
    for (size_t i = 0; i < 3; i++) {
        here = walker_graph_spawn(cx, walker_json_get_str(cx, here, "id"), chain[i][0], chain[i][1]);
        if (!here) return false;
        walker_report(cx, here);
    }
    return true;
}

/* jac-cloud's traverse_graph: `can enter with `root | A | B entry { report here; visit [-->]; }`
 * and `can enter_c with C entry { report here; }`; with `stop_at` a type, disengages there. */
static bool report_and_visit(walker_ctx_t *cx, const char *here) {
    walker_report(cx, here);
    return walker_visit(cx, walker_json_get_str(cx, here, "id"), NULL);
}

static bool report_here(walker_ctx_t *cx, const char *here) {
    walker_report(cx, here);
    return true;
}

static bool stop_here(walker_ctx_t *cx, const char *here) {
    if (walker_is_type(cx, here, walker_arg_str(cx, "stop_at"))) walker_disengage(cx);
    return true;
}

static bool traverse_graph(walker_ctx_t *cx) {
    static const walker_ability_t abilities[] = {
        {NULL, stop_here}, {"Root", report_and_visit}, {"A", report_and_visit}, {"B", report_and_visit}, {"C", report_here}};
    return walker_walk(cx, abilities, WALKER_COUNT(abilities));
}

/* Not in jac-cloud's app: field `s` of the JSON text `json`, as the SDK decodes it
 * (malformed escapes too), reported as {"s": …}. */
static bool decode(walker_ctx_t *cx) {
    walker_json_t report = walker_json_object(cx);
    walker_json_str(&report, "s", walker_json_get_str(cx, walker_arg_str(cx, "json"), "s"));
    walker_report(cx, walker_json_finish(&report));
    return true;
}

/* Not in jac-cloud's app: `count` A nodes off the root, then a walk that visits them all
 * from the root and reports how many it entered. */
static bool fan_out(walker_ctx_t *cx) {
    const char *root = walker_graph_root(cx);
    for (long long i = walker_arg_int(cx, "count"); i > 0; i--)
        if (!walker_graph_spawn(cx, root, "A", "{}")) return false;
    return true;
}

static long long walked;

static bool visit_all(walker_ctx_t *cx, const char *here) {
    return walker_visit(cx, walker_json_get_str(cx, here, "id"), NULL);
}

static bool count_one(walker_ctx_t *cx, const char *here) {
    (void)cx, (void)here;
    walked++;
    return true;
}

static bool walk_all(walker_ctx_t *cx) {
    static const walker_ability_t abilities[] = {{"Root", visit_all}, {"A", count_one}};
    walked = 0;
    if (!walker_walk(cx, abilities, WALKER_COUNT(abilities))) return false;
    walker_report_int(cx, walked);
    return true;
}

/* jac-cloud's html_response and stream_response; the caller's account. */
static bool html_response(walker_ctx_t *cx) {
    walker_respond(cx, "text/html", "<!DOCTYPE html><html lang=\"en\"><body>HELLO WORLD</body></html>");
    return true;
}

static bool stream_response(walker_ctx_t *cx) {
    for (int i = 0; i < 100; i++) {
        /* Without stdio (no WASI imports): one or two digits. */
        char chunk[3] = {i < 10 ? (char)('0' + i) : (char)('0' + i / 10), i < 10 ? '\0' : (char)('0' + i % 10), '\0'};
        if (!walker_stream(cx, "text/event-stream", chunk)) return false;
    }
    return true;
}

static bool my_account(walker_ctx_t *cx) {
    const char *account = walker_account(cx);
    walker_report(cx, account ? account : "null");
    return true;
}

static const walker_field_t user_fields[] = {{"root_id", WALKER_STR, NULL}};
static const walker_field_t group_fields[] = {{"channel_id", WALKER_STR, NULL}};
static const walker_field_t client_fields[] = {{"client_id", WALKER_STR, NULL}};
static const walker_field_t context_fields[] = {{"name", WALKER_STR, NULL}, {"count", WALKER_INT, "1"}};
static const walker_field_t note_fields[] = {{"text", WALKER_STR, NULL}};
static const walker_field_t link_fields[] = {{"friend", WALKER_STR, NULL}};
static const walker_field_t unlink_fields[] = {{"a", WALKER_STR, NULL}, {"b", WALKER_STR, NULL}, {"friend", WALKER_STR, NULL}};
static const walker_field_t id_fields[] = {{"id", WALKER_STR, NULL}};
static const walker_field_t item_fields[] = {
    {"item", WALKER_STR, NULL}, {"tag", WALKER_STR, "\"none\""}, {"var", WALKER_STR, "\"greeting\""}};
static const walker_field_t traverse_fields[] = {{"stop_at", WALKER_STR, "\"\""}};
static const walker_field_t decode_fields[] = {{"json", WALKER_STR, NULL}};
static const walker_field_t fan_out_fields[] = {{"count", WALKER_INT, NULL}};
static const char *const item_query[] = {"tag", "var", NULL};
static const char *const item_vars[] = {"greeting", NULL};

const walker_def_t walker_definitions[] = {
    {"c_send_chat_to_user", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(user_fields), send_chat_to_user},
    {"c_send_chat_to_group", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(group_fields), send_chat_to_group},
    {"c_send_chat_to_client", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(client_fields), send_chat_to_client},
    {"c_report_context", WALKER_WEBSOCKET | WALKER_POST, false, WALKER_FIELDS(context_fields), report_context},
    {"c_make_note", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(note_fields), make_note},
    {"c_list_notes", WALKER_WEBSOCKET | WALKER_POST, true, NULL, 0, list_notes},
    {"c_link_notes", WALKER_POST, true, WALKER_FIELDS(link_fields), link_notes},
    {"c_unlink_notes", WALKER_POST, true, WALKER_FIELDS(unlink_fields), unlink_notes},
    {"c_read_node", WALKER_POST, true, WALKER_FIELDS(id_fields), read_node},
    {"c_create_graph", WALKER_POST, true, NULL, 0, create_graph},
    {"c_traverse_graph", WALKER_POST, true, WALKER_FIELDS(traverse_fields), traverse_graph},
    {"c_warm_count", WALKER_WEBSOCKET | WALKER_POST, false, NULL, 0, warm_count, .warm_runs = 3},
    {"c_decode", WALKER_POST, false, WALKER_FIELDS(decode_fields), decode},
    {"c_fan_out", WALKER_POST, true, WALKER_FIELDS(fan_out_fields), fan_out},
    {"c_walk_all", WALKER_POST, true, NULL, 0, walk_all},
    {"c_html_response", WALKER_GET | WALKER_WEBSOCKET, false, NULL, 0, html_response, .entry = WALKER_ENTRY_ROOT},
    {"c_stream_response", WALKER_GET | WALKER_WEBSOCKET, false, NULL, 0, stream_response, .entry = WALKER_ENTRY_ROOT},
    {"c_my_account", WALKER_WEBSOCKET | WALKER_POST, false, NULL, 0, my_account},
    {"c_item_by_path", WALKER_GET, false, WALKER_FIELDS(item_fields), item_by_path, .path = "/c/items/{item}",
     .as_query = item_query, .entry = WALKER_ENTRY_ROOT, .vars = item_vars},
};
const size_t walker_definition_count = WALKER_COUNT(walker_definitions);
