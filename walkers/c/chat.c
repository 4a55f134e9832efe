/* C equivalents of the seed's chat walkers, plus one that reports its context. */
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
    const char *notes = walker_graph_neighbours(cx, walker_graph_root(cx), "Note");
    if (!notes) return false;
    walker_report(cx, notes);
    return true;
}

static const walker_field_t user_fields[] = {{"root_id", WALKER_STR, NULL}};
static const walker_field_t group_fields[] = {{"channel_id", WALKER_STR, NULL}};
static const walker_field_t client_fields[] = {{"client_id", WALKER_STR, NULL}};
static const walker_field_t context_fields[] = {{"name", WALKER_STR, NULL}, {"count", WALKER_INT, "1"}};
static const walker_field_t note_fields[] = {{"text", WALKER_STR, NULL}};

const walker_def_t walker_definitions[] = {
    {"c_send_chat_to_user", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(user_fields), send_chat_to_user},
    {"c_send_chat_to_group", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(group_fields), send_chat_to_group},
    {"c_send_chat_to_client", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(client_fields), send_chat_to_client},
    {"c_report_context", WALKER_WEBSOCKET | WALKER_POST, false, WALKER_FIELDS(context_fields), report_context},
    {"c_make_note", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(note_fields), make_note},
    {"c_list_notes", WALKER_WEBSOCKET | WALKER_POST, true, NULL, 0, list_notes},
};
const size_t walker_definition_count = WALKER_COUNT(walker_definitions);
