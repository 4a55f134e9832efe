/*
 * walker.h: write jac-cloud walkers in C.
 *
 * A walker is a function and a row in the `walker_definitions` table:
 *
 *     static const walker_field_t group_fields[] = {{"channel_id", WALKER_STR, NULL}};
 *
 *     static bool send_chat_to_group(walker_ctx_t *cx) {
 *         const char *channel = walker_arg_str(cx, "channel_id");
 *         walker_notify_channels(cx, &channel, 1, "{\"type\":\"chat\",\"data\":{\"message\":\"hi\"}}");
 *         return true;
 *     }
 *
 *     const walker_def_t walker_definitions[] = {
 *         {"c_send_chat_to_group", WALKER_WEBSOCKET | WALKER_POST, true, WALKER_FIELDS(group_fields),
 *          send_chat_to_group},
 *     };
 *     const size_t walker_definition_count = WALKER_COUNT(walker_definitions);
 *
 * A field's default is JSON text; NULL makes it required. The server validates the
 * context before the function runs, so every declared field is present and well typed.
 * Return true, or `walker_fail(cx, "message")`. Payloads and reports are JSON text;
 * `walker_json_*` builds small objects. Strings handed out by `walker_arg_str` and
 * `walker_json_finish` live until the run ends: no frees needed.
 *
 * The persistent graph: `walker_graph_*` return JSON text (a node is `{"id","context"}`),
 * or NULL with the run's error set, so `if (!node) return false;` fails the walker with
 * `not found: …`, `denied: …` or `invalid: …`. A run is one transaction: every write
 * commits when the walker returns true, none when it fails.
 *
 *     const char *note = walker_graph_spawn(cx, walker_graph_root(cx), "Note", context_json);
 *     if (!note) return false;
 *     walker_report(cx, note);
 */
#ifndef WALKER_H
#define WALKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { WALKER_STR, WALKER_INT, WALKER_FLOAT, WALKER_BOOL, WALKER_LIST, WALKER_DICT, WALKER_ANY } walker_type_t;

enum {
    WALKER_WEBSOCKET = 1 << 0,
    WALKER_GET = 1 << 1,
    WALKER_POST = 1 << 2,
    WALKER_PUT = 1 << 3,
    WALKER_PATCH = 1 << 4,
    WALKER_DELETE = 1 << 5,
};

typedef struct {
    const char *name;
    walker_type_t type;
    const char *default_json; /* NULL: required */
} walker_field_t;

typedef struct walker_ctx walker_ctx_t;

/* Which REST routes a walker has (jac-cloud's `entry_type`). */
typedef enum { WALKER_ENTRY_BOTH, WALKER_ENTRY_ROOT, WALKER_ENTRY_NODE } walker_entry_t;

typedef struct {
    const char *name;
    unsigned methods; /* WALKER_* flags; 0 means POST */
    bool auth;        /* signed-in callers only */
    const walker_field_t *fields;
    size_t field_count;
    bool (*run)(walker_ctx_t *cx);
    /* Optional, zero when left out (set them by name: `.path = "/items/{id}"`). */
    const char *path;            /* a custom REST path, or one under /walker/<name>/: `{id}` */
    const char *const *as_query; /* NULL-terminated: fields read from the query string */
    walker_entry_t entry;        /* /walker/<name>, /walker/<name>/<node>, or both (0) */
    uint32_t warm_runs;          /* runs a warm instance may serve (static data persists); 0: fresh */
    const char *const *vars;     /* NULL-terminated: the tenant variables it may read */
} walker_def_t;

#define WALKER_FIELDS(array) (array), (sizeof(array) / sizeof((array)[0]))
#define WALKER_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Provided by the walker file. */
extern const walker_def_t walker_definitions[];
extern const size_t walker_definition_count;

/* The caller. */
const char *walker_root_id(walker_ctx_t *cx);
const char *walker_client_id(walker_ctx_t *cx); /* NULL over HTTP */

/* Context fields (top-level values of the validated context). */
const char *walker_arg_str(walker_ctx_t *cx, const char *field);
long long walker_arg_int(walker_ctx_t *cx, const char *field);
bool walker_arg_bool(walker_ctx_t *cx, const char *field);

/* Tenant variable `name` into `*value` (NULL when the tenant does not set it); false,
 * with the run's error set, when the walker's `vars` do not declare it. */
bool walker_var(walker_ctx_t *cx, const char *name, const char **value);

/* Replies. */
void walker_report(walker_ctx_t *cx, const char *json);
void walker_report_int(walker_ctx_t *cx, long long value);
void walker_set_status(walker_ctx_t *cx, uint16_t status);
bool walker_fail(walker_ctx_t *cx, const char *message);
/* Replies with `body` as `content_type` ("text/html") instead of the reports. */
void walker_respond(walker_ctx_t *cx, const char *content_type, const char *body);
/* Sends `chunk` of a reply streamed as `content_type` now; waits while the client is
 * behind. False, with the run's error set, when the reply cannot stream (the client left). */
bool walker_stream(walker_ctx_t *cx, const char *content_type, const char *chunk);
/* The caller's account as JSON (`id`, `email`, `root_id`, the app's user fields); NULL
 * when anonymous. */
const char *walker_account(walker_ctx_t *cx);

/* Notifications: `payload` is JSON text. */
void walker_notify_self(walker_ctx_t *cx, const char *payload);
void walker_notify_users(walker_ctx_t *cx, const char *const *root_ids, size_t count, const char *payload);
void walker_notify_channels(walker_ctx_t *cx, const char *const *channel_ids, size_t count, const char *payload);
void walker_notify_clients(walker_ctx_t *cx, const char *const *client_ids, size_t count, const char *payload);

/* The graph (see above). Ids are `n:<Type>:<hex>`, roots `n::<hex>`. */
const char *walker_graph_here(walker_ctx_t *cx); /* the entry node */
const char *walker_graph_root(walker_ctx_t *cx); /* the caller's root id */
const char *walker_graph_get(walker_ctx_t *cx, const char *id); /* NULL if absent or unreadable, no error */
/* `source ++> Type(context)`: a new node and an untyped edge to it. */
const char *walker_graph_spawn(walker_ctx_t *cx, const char *source, const char *node_type, const char *context_json);
const char *walker_graph_update(walker_ctx_t *cx, const char *id, const char *fields_json);
bool walker_graph_delete(walker_ctx_t *cx, const char *id);
/* Which neighbours: `[-->]` (the zero value), `[<--]` or `[<-->]`, of an edge type and a
 * node type when not NULL: `&(walker_query_t){.direction = WALKER_IN, .node_type = "Note"}`. */
typedef enum { WALKER_OUT, WALKER_IN, WALKER_BOTH } walker_direction_t;
typedef struct {
    walker_direction_t direction;
    const char *edge_type;
    const char *node_type;
} walker_query_t;
/* `[node -->]`, every page, as one JSON list of nodes; a NULL query is `[-->]`. */
const char *walker_graph_neighbours(walker_ctx_t *cx, const char *node, const walker_query_t *query);
/* `[node edge -->]`: the edges to those neighbours, `{"id","source","target","context"}`. */
const char *walker_graph_edges(walker_ctx_t *cx, const char *node, const walker_query_t *query);
/* `source +>:E(context):+> target` (edge_type NULL: untyped; context NULL: `{}`): the edge. */
const char *walker_graph_connect(walker_ctx_t *cx, const char *source, const char *target, const char *edge_type,
                                 const char *context_json);
/* `source del--> target` (edges of `edge_type` only, unless NULL): how many were removed,
 * or -1 with the run's error set. */
long long walker_graph_disconnect(walker_ctx_t *cx, const char *source, const char *target, const char *edge_type);
/* Gives a root (`n::<hex>`; NULL: everyone) `level` on `target`; on a root, its whole graph. */
typedef enum { WALKER_NO_ACCESS, WALKER_READ, WALKER_CONNECT, WALKER_WRITE } walker_level_t;
bool walker_graph_grant(walker_ctx_t *cx, const char *target, const char *grantee, walker_level_t level);
bool walker_graph_revoke(walker_ctx_t *cx, const char *target, const char *grantee);

/* A walk, as jac's abilities and `visit`: from the entry node, breadth-first, each node
 * at most once, running the abilities whose type matches the node's in table order.
 * `here` is the node's JSON. An ability returns false to fail the run. */
typedef struct {
    const char *node_type; /* "Root", a node type, or NULL: every node */
    bool (*entry)(walker_ctx_t *cx, const char *here);
} walker_ability_t;
bool walker_walk(walker_ctx_t *cx, const walker_ability_t *abilities, size_t count);
/* `visit [node -->]` (a NULL query) or as `query` filters: queues those neighbours. */
bool walker_visit(walker_ctx_t *cx, const char *node, const walker_query_t *query);
/* Whether `node` (JSON) is of `type` as jac names types: `Root` for `n::<hex>`, `Item`
 * for `n:Item:<hex>`. */
bool walker_is_type(walker_ctx_t *cx, const char *node, const char *type);
/* `disengage`: no more abilities run, here or at any other node. */
void walker_disengage(walker_ctx_t *cx);

/* A JSON object under construction. */
typedef struct {
    walker_ctx_t *cx;
    char *text;
    size_t len, cap;
} walker_json_t;

walker_json_t walker_json_object(walker_ctx_t *cx);
void walker_json_str(walker_json_t *json, const char *key, const char *value); /* NULL: null */
void walker_json_int(walker_json_t *json, const char *key, long long value);
const char *walker_json_finish(walker_json_t *json);
/* A top-level string field of a JSON object the host returned (a node's `"id"`), or NULL. */
const char *walker_json_get_str(walker_ctx_t *cx, const char *json, const char *field);

#endif
