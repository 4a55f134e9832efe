/*
 * walker.c: the WIT plumbing behind walker.h. Implements the component's exports on top
 * of the `walker_definitions` table, a small reader for the validated context (a compact
 * JSON object), and a small JSON writer. Uses allocation only, no WASI.
 */
#include "walker.h"

#include <stdlib.h>
#include <string.h>

#include "walkers.h"

struct walker_ctx {
    walkers_caller_t *caller;
    char *context; /* NUL-terminated copy of the context JSON */
    char *root_id;
    char *client_id;
    uint16_t status;
    walkers_string_t *reports; /* handed to the host, which frees them */
    size_t report_count, report_cap;
    char *error;
    void **owned; /* freed when the run ends */
    size_t owned_count, owned_cap;
    /* A walk's nodes (JSON and id, owned): queued from `next` on, visited before it. */
    struct walked { const char *node, *id; } *walk;
    size_t walk_next, walk_len, walk_cap;
    /* The walk's ids, as a hash set (a power of two of slots, NULL when free). */
    const char **walked;
    size_t walked_cap;
    bool disengaged;
};

static void *xmalloc(size_t size) {
    void *block = malloc(size ? size : 1);
    if (!block) abort();
    return block;
}

static void *xrealloc(void *block, size_t size) {
    block = realloc(block, size ? size : 1);
    if (!block) abort();
    return block;
}

/* Memory that lives until the run ends. */
static char *own(walker_ctx_t *cx, char *block) {
    if (cx->owned_count == cx->owned_cap) {
        cx->owned_cap = cx->owned_cap ? 2 * cx->owned_cap : 8;
        cx->owned = xrealloc(cx->owned, cx->owned_cap * sizeof *cx->owned);
    }
    cx->owned[cx->owned_count++] = block;
    return block;
}

static char *dup_n(const uint8_t *text, size_t len) {
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* ---- reading the context ---- */

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads up to 4 hex digits at `p` into *value; returns how many it read. */
static int read_hex4(const char *p, unsigned *value) {
    int count = 0;
    *value = 0;
    for (int digit; count < 4 && (digit = hex_digit(p[count])) >= 0; count++) *value = *value * 16 + (unsigned)digit;
    return count;
}

/* The code point of the `\u` escape whose hex digits start at `p` (a surrogate pair
 * takes both escapes); *used is how many bytes it took after the `\u`. An escape with
 * fewer than 4 digits, or a surrogate without its other half, is U+FFFD. */
static unsigned read_escape(const char *p, size_t *used) {
    unsigned code, low;
    int digits = read_hex4(p, &code);
    *used = (size_t)digits;
    if (digits < 4) return 0xFFFD;
    if (code >= 0xD800 && code < 0xDC00 && p[4] == '\\' && p[5] == 'u' && read_hex4(p + 6, &low) == 4 &&
        low >= 0xDC00 && low < 0xE000) {
        *used = 10;
        return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    return code >= 0xD800 && code < 0xE000 ? 0xFFFD : code;
}

static char *put_utf8(char *out, unsigned code) {
    if (code < 0x80) {
        *out++ = (char)code;
    } else if (code < 0x800) {
        *out++ = (char)(0xC0 | (code >> 6));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out++ = (char)(0xE0 | (code >> 12));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (code >> 18));
        *out++ = (char)(0x80 | ((code >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    }
    return out;
}

/* Reads the string at `p` (its opening quote); returns the position after the closing
 * quote and, when `decoded` is not NULL, a decoded copy in *decoded. The copy may be
 * longer than the text: a bad `\u` escape of 2 bytes becomes U+FFFD's 3. */
static const char *read_string(const char *p, char **decoded) {
    const char *start = ++p;
    while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
    if (decoded) {
        size_t len = (size_t)(p - start);
        char *out = *decoded = xmalloc(len + len / 2 + 1);
        for (const char *s = start; s < p; s++) {
            if (*s != '\\') {
                *out++ = *s;
                continue;
            }
            switch (*++s) {
            case 'b': *out++ = '\b'; break;
            case 'f': *out++ = '\f'; break;
            case 'n': *out++ = '\n'; break;
            case 'r': *out++ = '\r'; break;
            case 't': *out++ = '\t'; break;
            case 'u': {
                size_t used;
                out = put_utf8(out, read_escape(s + 1, &used));
                s += used;
                break;
            }
            default: *out++ = *s; /* \" \\ \/ */
            }
        }
        *out = '\0';
    }
    return *p ? p + 1 : p;
}

/* Skips one JSON value. */
static const char *skip_value(const char *p) {
    p = skip_ws(p);
    if (*p == '"') return read_string(p, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        do {
            if (*p == '"') {
                p = read_string(p, NULL);
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') depth--;
            p++;
        } while (*p && depth > 0);
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']') p++;
    return p;
}

/* The value of top-level `field` in the JSON object `json`, or NULL. */
static const char *find_in(const char *json, const char *field) {
    const char *p = skip_ws(json);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    while (*p == '"') {
        char *key;
        p = skip_ws(read_string(p, &key));
        int match = strcmp(key, field) == 0;
        free(key);
        if (*p != ':') return NULL;
        p = skip_ws(p + 1);
        if (match) return p;
        p = skip_ws(skip_value(p));
        if (*p == ',') p = skip_ws(p + 1);
    }
    return NULL;
}

static const char *find_field(walker_ctx_t *cx, const char *field) { return find_in(cx->context, field); }

const char *walker_json_get_str(walker_ctx_t *cx, const char *json, const char *field) {
    const char *value = json ? find_in(json, field) : NULL;
    if (!value || *value != '"') return NULL;
    char *decoded;
    read_string(value, &decoded);
    return own(cx, decoded);
}

const char *walker_arg_str(walker_ctx_t *cx, const char *field) { return walker_json_get_str(cx, cx->context, field); }

long long walker_arg_int(walker_ctx_t *cx, const char *field) {
    const char *value = find_field(cx, field);
    return value ? strtoll(value, NULL, 10) : 0;
}

bool walker_arg_bool(walker_ctx_t *cx, const char *field) {
    const char *value = find_field(cx, field);
    return value && *value == 't';
}

/* ---- writing JSON ---- */

static void append(walker_json_t *json, const char *text, size_t len) {
    if (json->len + len + 2 > json->cap) {
        json->cap = 2 * (json->len + len + 2);
        json->text = xrealloc(json->text, json->cap);
    }
    memcpy(json->text + json->len, text, len);
    json->len += len;
}

static void append_string(walker_json_t *json, const char *value) {
    static const char hex[] = "0123456789abcdef";
    append(json, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char escaped[2] = {'\\', (char)*c};
            append(json, escaped, 2);
        } else if (*c < 0x20) {
            char escaped[6] = {'\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15]};
            append(json, escaped, 6);
        } else {
            append(json, (const char *)c, 1);
        }
    }
    append(json, "\"", 1);
}

static void append_key(walker_json_t *json, const char *key) {
    if (json->len > 1) append(json, ",", 1);
    append_string(json, key);
    append(json, ":", 1);
}

walker_json_t walker_json_object(walker_ctx_t *cx) {
    walker_json_t json = {cx, NULL, 0, 0};
    append(&json, "{", 1);
    return json;
}

void walker_json_str(walker_json_t *json, const char *key, const char *value) {
    append_key(json, key);
    if (value)
        append_string(json, value);
    else
        append(json, "null", 4);
}

/* `value` in decimal, written at the end of `digits` (NUL-terminated); where it starts. */
static const char *decimal(char digits[24], long long value) {
    char *start = digits + 23;
    *start = '\0';
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do *--start = (char)('0' + magnitude % 10);
    while ((magnitude /= 10) != 0);
    if (value < 0) *--start = '-';
    return start;
}

void walker_json_int(walker_json_t *json, const char *key, long long value) {
    char digits[24];
    const char *text = decimal(digits, value);
    append_key(json, key);
    append(json, text, strlen(text));
}

const char *walker_json_finish(walker_json_t *json) {
    append(json, "}", 1);
    json->text[json->len] = '\0';
    return own(json->cx, json->text);
}

/* ---- the graph ---- */

/* A string the host returned, as NUL-terminated text that lives until the run ends. */
static const char *take(walker_ctx_t *cx, walkers_string_t *text) {
    char *copy = own(cx, dup_n(text->ptr, text->len));
    walkers_string_free(text);
    return copy;
}

/* Records a graph refusal as the run's error; returns NULL for the caller to pass on. */
static const char *refused(walker_ctx_t *cx, jac_walker_graph_error_t *err) {
    static const char *const kinds[] = {"not found", "denied", "invalid"};
    walkers_string_t *message = &err->val.not_found; /* every case is a string */
    const char *kind = err->tag < 3 ? kinds[err->tag] : "error";
    size_t kind_len = strlen(kind);
    char *text = own(cx, xmalloc(kind_len + 2 + message->len + 1));
    memcpy(text, kind, kind_len);
    memcpy(text + kind_len, ": ", 2);
    memcpy(text + kind_len + 2, message->ptr, message->len);
    text[kind_len + 2 + message->len] = '\0';
    cx->error = text;
    jac_walker_graph_error_free(err);
    return NULL;
}

const char *walker_graph_here(walker_ctx_t *cx) {
    walkers_string_t ret;
    jac_walker_graph_here(&ret);
    return take(cx, &ret);
}

const char *walker_graph_root(walker_ctx_t *cx) {
    jac_walker_graph_id_t ret;
    jac_walker_graph_root(&ret);
    return take(cx, &ret);
}

const char *walker_graph_get(walker_ctx_t *cx, const char *id) {
    jac_walker_graph_id_t target;
    walkers_string_t ret;
    walkers_string_set(&target, id);
    return jac_walker_graph_get(&target, &ret) ? take(cx, &ret) : NULL;
}

const char *walker_graph_spawn(walker_ctx_t *cx, const char *source, const char *node_type, const char *context_json) {
    walkers_string_t from, edge_type, edge_context, type, context, ret;
    jac_walker_graph_error_t err;
    walkers_string_set(&from, source);
    walkers_string_set(&edge_type, "");
    walkers_string_set(&edge_context, "{}");
    walkers_string_set(&type, node_type);
    walkers_string_set(&context, context_json);
    if (!jac_walker_graph_spawn(&from, &edge_type, &edge_context, &type, &context, &ret, &err)) return refused(cx, &err);
    return take(cx, &ret);
}

const char *walker_graph_update(walker_ctx_t *cx, const char *id, const char *fields_json) {
    walkers_string_t target, fields, ret;
    jac_walker_graph_error_t err;
    walkers_string_set(&target, id);
    walkers_string_set(&fields, fields_json);
    if (!jac_walker_graph_update(&target, &fields, &ret, &err)) return refused(cx, &err);
    return take(cx, &ret);
}

bool walker_graph_delete(walker_ctx_t *cx, const char *id) {
    walkers_string_t target;
    jac_walker_graph_error_t err;
    walkers_string_set(&target, id);
    return jac_walker_graph_delete(&target, &err) || refused(cx, &err);
}

/* An optional string argument: NULL is `none`. */
static walkers_option_string_t maybe(const char *text) {
    walkers_option_string_t option = {.is_some = text != NULL};
    if (text) walkers_string_set(&option.val, text);
    return option;
}

typedef bool (*page_call_t)(jac_walker_graph_id_t *, jac_walker_graph_query_t *, walkers_string_t *,
                            jac_walker_graph_error_t *);

/* Every page of `neighbours` or `edges`, as one JSON list. */
static const char *every_page(walker_ctx_t *cx, page_call_t call, const char *node, const walker_query_t *filter) {
    /* The host writes each page as {"items":[...],"cursor":null|"<cursor>"}. */
    static const char items_key[] = "{\"items\":[", cursor_key[] = "],\"cursor\":";
    static const walker_query_t out = {WALKER_OUT, NULL, NULL};
    static const jac_walker_graph_direction_t directions[] = {
        JAC_WALKER_GRAPH_DIRECTION_OUT, JAC_WALKER_GRAPH_DIRECTION_IN, JAC_WALKER_GRAPH_DIRECTION_BOTH};
    if (!filter) filter = &out;
    walkers_string_t from;
    walkers_string_set(&from, node);
    jac_walker_graph_query_t query = {
        .direction = directions[filter->direction % 3],
        .edge_type = maybe(filter->edge_type),
        .node_type = maybe(filter->node_type),
    };
    walker_json_t list = {cx, NULL, 0, 0};
    append(&list, "[", 1);
    for (;;) {
        walkers_string_t ret;
        jac_walker_graph_error_t err;
        if (!call(&from, &query, &ret, &err)) {
            free(list.text);
            return refused(cx, &err);
        }
        const char *page = take(cx, &ret);
        const char *items = page + strlen(items_key), *end = strstr(page, cursor_key);
        for (const char *next; end && (next = strstr(end + 1, cursor_key));) end = next;
        size_t len = (size_t)(end - items);
        if (len) {
            if (list.len > 1) append(&list, ",", 1);
            append(&list, items, len);
        }
        const char *cursor = end + strlen(cursor_key);
        if (*cursor != '"') break;
        query.cursor.is_some = true;
        query.cursor.val.ptr = (uint8_t *)cursor + 1;
        query.cursor.val.len = strchr(cursor + 1, '"') - (cursor + 1);
    }
    append(&list, "]", 1);
    list.text[list.len] = '\0';
    return own(cx, list.text);
}

const char *walker_graph_neighbours(walker_ctx_t *cx, const char *node, const walker_query_t *query) {
    return every_page(cx, jac_walker_graph_neighbours, node, query);
}

const char *walker_graph_edges(walker_ctx_t *cx, const char *node, const walker_query_t *query) {
    return every_page(cx, jac_walker_graph_edges, node, query);
}

const char *walker_graph_connect(walker_ctx_t *cx, const char *source, const char *target, const char *edge_type,
                                 const char *context_json) {
    walkers_string_t from, to, type, context, ret;
    jac_walker_graph_error_t err;
    walkers_string_set(&from, source);
    walkers_string_set(&to, target);
    walkers_string_set(&type, edge_type ? edge_type : "");
    walkers_string_set(&context, context_json ? context_json : "{}");
    if (!jac_walker_graph_connect(&from, &to, &type, &context, &ret, &err)) return refused(cx, &err);
    return take(cx, &ret);
}

long long walker_graph_disconnect(walker_ctx_t *cx, const char *source, const char *target, const char *edge_type) {
    walkers_string_t from, to;
    walkers_option_string_t type = maybe(edge_type);
    jac_walker_graph_error_t err;
    uint32_t removed;
    walkers_string_set(&from, source);
    walkers_string_set(&to, target);
    if (!jac_walker_graph_disconnect(&from, &to, type.is_some ? &type.val : NULL, &removed, &err)) {
        refused(cx, &err);
        return -1;
    }
    return removed;
}

bool walker_graph_grant(walker_ctx_t *cx, const char *target, const char *grantee, walker_level_t level) {
    static const jac_walker_graph_level_t levels[] = {JAC_WALKER_GRAPH_LEVEL_NO_ACCESS, JAC_WALKER_GRAPH_LEVEL_READ,
                                                      JAC_WALKER_GRAPH_LEVEL_CONNECT, JAC_WALKER_GRAPH_LEVEL_WRITE};
    walkers_string_t id;
    walkers_option_string_t to = maybe(grantee);
    jac_walker_graph_error_t err;
    walkers_string_set(&id, target);
    return jac_walker_graph_grant(&id, to.is_some ? &to.val : NULL, levels[(unsigned)level % 4], &err) ||
           refused(cx, &err);
}

bool walker_graph_revoke(walker_ctx_t *cx, const char *target, const char *grantee) {
    walkers_string_t id;
    walkers_option_string_t to = maybe(grantee);
    jac_walker_graph_error_t err;
    walkers_string_set(&id, target);
    return jac_walker_graph_revoke(&id, to.is_some ? &to.val : NULL, &err) || refused(cx, &err);
}

bool walker_var(walker_ctx_t *cx, const char *name, const char **value) {
    walkers_string_t key, ret;
    jac_walker_config_error_t err;
    walkers_string_set(&key, name);
    *value = NULL;
    if (jac_walker_config_get(&key, &ret, &err)) {
        *value = take(cx, &ret);
        return true;
    }
    bool denied = err.tag == JAC_WALKER_CONFIG_ERROR_DENIED;
    jac_walker_config_error_free(&err);
    if (denied) walker_fail(cx, "denied: the walker's vars do not declare it");
    return !denied;
}

/* ---- walking ---- */

bool walker_is_type(walker_ctx_t *cx, const char *node, const char *type) {
    const char *id = walker_json_get_str(cx, node, "id");
    if (!id || strncmp(id, "n:", 2)) return false;
    const char *name = id + 2, *end = strchr(name, ':');
    if (!end) return false;
    if (end == name) return strcmp(type, "Root") == 0;
    return strlen(type) == (size_t)(end - name) && !strncmp(name, type, (size_t)(end - name));
}

/* FNV-1a: the walk's set of ids needs a hash, and C's library has none. */
static size_t hash_id(const char *id) {
    size_t hash = 2166136261u;
    for (; *id; id++) hash = (hash ^ (unsigned char)*id) * 16777619u;
    return hash;
}

/* Adds `id` to the walk's set (open addressing, at most half full); false if it was
 * there already. */
static bool walked_insert(walker_ctx_t *cx, const char *id) {
    if (2 * (cx->walk_len + 1) > cx->walked_cap) {
        size_t old_cap = cx->walked_cap;
        const char **old = cx->walked;
        cx->walked_cap = old_cap ? 2 * old_cap : 32;
        cx->walked = calloc(cx->walked_cap, sizeof *cx->walked);
        if (!cx->walked) abort();
        for (size_t i = 0; i < old_cap; i++) {
            if (!old[i]) continue;
            size_t slot = hash_id(old[i]) & (cx->walked_cap - 1);
            while (cx->walked[slot]) slot = (slot + 1) & (cx->walked_cap - 1);
            cx->walked[slot] = old[i];
        }
        free(old);
    }
    size_t slot = hash_id(id) & (cx->walked_cap - 1);
    for (; cx->walked[slot]; slot = (slot + 1) & (cx->walked_cap - 1))
        if (!strcmp(cx->walked[slot], id)) return false;
    cx->walked[slot] = id;
    return true;
}

/* Queues `node` (JSON) unless the walk already holds it. */
static void enqueue(walker_ctx_t *cx, const char *node) {
    const char *id = walker_json_get_str(cx, node, "id");
    if (!id || !walked_insert(cx, id)) return;
    if (cx->walk_len == cx->walk_cap) {
        cx->walk_cap = cx->walk_cap ? 2 * cx->walk_cap : 16;
        cx->walk = xrealloc(cx->walk, cx->walk_cap * sizeof *cx->walk);
    }
    cx->walk[cx->walk_len++] = (struct walked){node, id};
}

bool walker_visit(walker_ctx_t *cx, const char *node, const walker_query_t *query) {
    const char *list = walker_graph_neighbours(cx, node, query);
    if (!list) return false;
    for (const char *p = skip_ws(list + 1); *p == '{'; p = skip_ws(p)) {
        const char *end = skip_value(p);
        enqueue(cx, own(cx, dup_n((const uint8_t *)p, (size_t)(end - p))));
        p = skip_ws(end);
        if (*p == ',') p++;
    }
    return true;
}

void walker_disengage(walker_ctx_t *cx) { cx->disengaged = true; }

bool walker_walk(walker_ctx_t *cx, const walker_ability_t *abilities, size_t count) {
    enqueue(cx, walker_graph_here(cx));
    while (cx->walk_next < cx->walk_len && !cx->disengaged) {
        const char *here = cx->walk[cx->walk_next++].node;
        for (size_t i = 0; i < count && !cx->disengaged; i++) {
            if (abilities[i].node_type && !walker_is_type(cx, here, abilities[i].node_type)) continue;
            if (!abilities[i].entry(cx, here)) return false;
        }
    }
    return true;
}

/* ---- replies and notifications ---- */

const char *walker_root_id(walker_ctx_t *cx) { return cx->root_id; }
const char *walker_client_id(walker_ctx_t *cx) { return cx->client_id; }

void walker_report(walker_ctx_t *cx, const char *json) {
    if (cx->report_count == cx->report_cap) {
        cx->report_cap = cx->report_cap ? 2 * cx->report_cap : 4;
        cx->reports = xrealloc(cx->reports, cx->report_cap * sizeof *cx->reports);
    }
    walkers_string_dup(&cx->reports[cx->report_count++], json);
}

void walker_report_int(walker_ctx_t *cx, long long value) {
    char digits[24];
    walker_report(cx, decimal(digits, value));
}

void walker_set_status(walker_ctx_t *cx, uint16_t status) { cx->status = status; }

bool walker_fail(walker_ctx_t *cx, const char *message) {
    cx->error = own(cx, dup_n((const uint8_t *)message, strlen(message)));
    return false;
}

void walker_respond(walker_ctx_t *cx, const char *content_type, const char *body) {
    (void)cx;
    walkers_string_t type, text;
    walkers_string_set(&type, content_type);
    walkers_string_set(&text, body);
    jac_walker_respond_body(&type, &text);
}

bool walker_stream(walker_ctx_t *cx, const char *content_type, const char *chunk) {
    walkers_string_t type, text, err;
    walkers_string_set(&type, content_type);
    walkers_string_set(&text, chunk);
    if (jac_walker_respond_stream(&type, &text, &err)) return true;
    walker_fail(cx, take(cx, &err));
    return false;
}

const char *walker_account(walker_ctx_t *cx) {
    walkers_string_t account;
    return jac_walker_account_current(&account) ? take(cx, &account) : NULL;
}

static void notify(void (*send)(walkers_list_string_t *, walkers_string_t *), const char *const *ids, size_t count,
                   const char *payload) {
    walkers_string_t *items = xmalloc(count * sizeof *items);
    for (size_t i = 0; i < count; i++) walkers_string_set(&items[i], ids[i]);
    walkers_list_string_t list = {items, count};
    walkers_string_t text;
    walkers_string_set(&text, payload);
    send(&list, &text);
    free(items);
}

void walker_notify_self(walker_ctx_t *cx, const char *payload) {
    (void)cx;
    walkers_string_t text;
    walkers_string_set(&text, payload);
    jac_walker_socket_notify_self(&text);
}

void walker_notify_users(walker_ctx_t *cx, const char *const *ids, size_t count, const char *payload) {
    (void)cx;
    notify(jac_walker_socket_notify_users, ids, count, payload);
}

void walker_notify_channels(walker_ctx_t *cx, const char *const *ids, size_t count, const char *payload) {
    (void)cx;
    notify(jac_walker_socket_notify_channels, ids, count, payload);
}

void walker_notify_clients(walker_ctx_t *cx, const char *const *ids, size_t count, const char *payload) {
    (void)cx;
    notify(jac_walker_socket_notify_clients, ids, count, payload);
}

/* ---- the component's exports ---- */

static const jac_walker_types_field_type_t field_types[] = {
    [WALKER_STR] = JAC_WALKER_TYPES_FIELD_TYPE_STR,   [WALKER_INT] = JAC_WALKER_TYPES_FIELD_TYPE_INT,
    [WALKER_FLOAT] = JAC_WALKER_TYPES_FIELD_TYPE_FLOAT, [WALKER_BOOL] = JAC_WALKER_TYPES_FIELD_TYPE_BOOL,
    [WALKER_LIST] = JAC_WALKER_TYPES_FIELD_TYPE_LIST, [WALKER_DICT] = JAC_WALKER_TYPES_FIELD_TYPE_DICT,
    [WALKER_ANY] = JAC_WALKER_TYPES_FIELD_TYPE_ANY,
};

/* The host frees everything returned here (post-return), so all of it is heap memory. */
static const jac_walker_types_entry_type_t entry_types[] = {
    [WALKER_ENTRY_BOTH] = JAC_WALKER_TYPES_ENTRY_TYPE_BOTH,
    [WALKER_ENTRY_ROOT] = JAC_WALKER_TYPES_ENTRY_TYPE_ROOT,
    [WALKER_ENTRY_NODE] = JAC_WALKER_TYPES_ENTRY_TYPE_NODE,
};

/* A NULL-terminated list of names as a WIT list (empty for NULL). */
static void names(walkers_list_string_t *list, const char *const *items) {
    size_t count = 0;
    while (items && items[count]) count++;
    list->len = count;
    list->ptr = calloc(count ? count : 1, sizeof *list->ptr);
    for (size_t i = 0; i < count; i++) walkers_string_dup(&list->ptr[i], items[i]);
}

void exports_walkers_walkers(walkers_list_walker_spec_t *ret) {
    ret->len = walker_definition_count;
    ret->ptr = calloc(walker_definition_count ? walker_definition_count : 1, sizeof *ret->ptr);
    for (size_t i = 0; i < walker_definition_count; i++) {
        const walker_def_t *def = &walker_definitions[i];
        walkers_walker_spec_t *spec = &ret->ptr[i];
        walkers_string_dup(&spec->name, def->name);
        spec->methods.ptr = xmalloc(6 * sizeof *spec->methods.ptr);
        for (uint8_t method = JAC_WALKER_TYPES_METHOD_WEBSOCKET; method <= JAC_WALKER_TYPES_METHOD_DELETE; method++)
            if (def->methods & (1u << method)) spec->methods.ptr[spec->methods.len++] = method;
        spec->auth = def->auth;
        if (def->path) {
            spec->path.is_some = true;
            walkers_string_dup(&spec->path.val, def->path);
        }
        names(&spec->as_query, def->as_query);
        spec->entry = entry_types[def->entry % 3];
        spec->warm_runs = def->warm_runs;
        names(&spec->vars, def->vars);
        spec->fields.len = def->field_count;
        spec->fields.ptr = calloc(def->field_count ? def->field_count : 1, sizeof *spec->fields.ptr);
        for (size_t f = 0; f < def->field_count; f++) {
            jac_walker_types_field_t *field = &spec->fields.ptr[f];
            walkers_string_dup(&field->name, def->fields[f].name);
            field->type = field_types[def->fields[f].type];
            if (def->fields[f].default_json) {
                field->default_.is_some = true;
                walkers_string_dup(&field->default_.val, def->fields[f].default_json);
            }
        }
    }
}

/* Arguments are ours to free; the response is the host's. */
bool exports_walkers_run(walkers_string_t *name, walkers_caller_t *caller, walkers_string_t *context,
                         walkers_response_t *ret, walkers_string_t *err) {
    const walker_def_t *def = NULL;
    for (size_t i = 0; i < walker_definition_count && !def; i++)
        if (strlen(walker_definitions[i].name) == name->len && !memcmp(walker_definitions[i].name, name->ptr, name->len))
            def = &walker_definitions[i];

    walker_ctx_t cx = {.caller = caller, .status = 200};
    cx.context = own(&cx, dup_n(context->ptr, context->len));
    cx.root_id = own(&cx, dup_n(caller->root_id.ptr, caller->root_id.len));
    if (caller->client_id.is_some)
        cx.client_id = own(&cx, dup_n(caller->client_id.val.ptr, caller->client_id.val.len));

    bool ok = def ? def->run(&cx) : walker_fail(&cx, "no such walker");
    if (ok) {
        ret->status = cx.status;
        ret->reports.ptr = cx.reports;
        ret->reports.len = cx.report_count;
        ret->custom.is_some = false;
    } else {
        walkers_string_dup(err, cx.error ? cx.error : "walker failed");
        walkers_list_string_t reports = {cx.reports, cx.report_count};
        walkers_list_string_free(&reports);
    }
    for (size_t i = 0; i < cx.owned_count; i++) free(cx.owned[i]);
    free(cx.owned);
    free(cx.walk);
    free(cx.walked);
    walkers_string_free(name);
    walkers_caller_free(caller);
    walkers_string_free(context);
    return ok;
}
