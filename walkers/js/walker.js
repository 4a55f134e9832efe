// Write jac-cloud walkers in JavaScript: one `walker(spec, fn)` call per walker.
//
//   import { walker, WalkerError } from "./walker.js";
//   export { walkers, run } from "./walker.js";
//
//   walker({ name: "js_public_group", methods: ["websocket", "post"], auth: false,
//            fields: { channel_id: "str", msg: { type: "str", default: "hi" } } },
//     (cx, { channel_id, msg }) => cx.notifyChannels([channel_id], { type: "chat", data: { message: msg } }));
//
// Field types are jac's: str, int, float, bool, list, dict, any. A field with a default is
// optional. The server validates the context before the function runs. Throw a
// WalkerError to fail with a message; `cx` reports, sets the status and notifies, and
// `cx.graph` reads and writes the persistent graph (nodes are `{ id, context }` objects):
//
//   walker({ name: "js_make_note", methods: ["websocket", "post"], fields: { text: "str" } },
//     (cx, { text }) => cx.report(cx.graph.spawn(cx.graph.root(), "Note", { text })));
import * as hostGraph from "jac:walker/graph@0.3.0";
import * as socket from "jac:walker/socket@0.3.0";
import { log as hostLog } from "jac:walker/log@0.3.0";
import { jacCloudAccess, specOptions } from "jac:walker/declare@0.3.0";
import { current as currentAccount } from "jac:walker/account@0.3.0";
import * as respond from "jac:walker/respond@0.3.0";

export class WalkerError extends Error {}

/**
 * A graph call refused: `not found: …`, `denied: …` or `invalid: …`. Its `kind`
 * ("not_found", "denied" or "invalid") says which, so a walker handles it without
 * reading the text.
 */
export class GraphError extends WalkerError {
  constructor(message, kind) {
    super(message);
    this.kind = kind;
  }
}

const REFUSALS = { "not-found": ["not_found", "not found"], denied: ["denied", "denied"], invalid: ["invalid", "invalid"] };

function host(call) {
  try {
    return call();
  } catch (error) {
    const refusal = error?.payload;
    if (refusal?.tag) {
      const [kind, text] = REFUSALS[refusal.tag] ?? [refusal.tag, refusal.tag];
      throw new GraphError(`${text}: ${refusal.val}`, kind);
    }
    throw error;
  }
}

const LEVELS = ["no-access", "read", "connect", "write"];

function levelOf(level) {
  const name = typeof level === "number" ? LEVELS[level + 1] : `${level}`.toLowerCase().replace("_", "-");
  if (!LEVELS.includes(name)) throw new WalkerError(`${level} is not an access level`);
  return name;
}

/** A node's (or edge's) type as jac names it: `Item`, `Root`, `GenericEdge`. */
function typeOf(id) {
  return id.split(":")[1] || (id.startsWith("n::") ? "Root" : "GenericEdge");
}

/**
 * A node or edge `{ id, context }` whose fields also read and write as properties
 * (`here.val = 1`); `type` is its type. JSON.stringify gives `{ id, context }`.
 */
function nodeView(raw) {
  return new Proxy(raw, {
    get: (node, key) => (key === "type" ? typeOf(node.id) : key in node ? node[key] : node.context[key]),
    set: (node, key, value) => {
      (key in node ? node : node.context)[key] = value;
      return true;
    },
  });
}

/**
 * The persistent graph. A run is one transaction: reads see its own writes, and every
 * write commits when the walker returns (none survives an error). Nodes and edges are
 * `{ id: "n:Note:…", context: {…} }`, reported as jac-cloud reports them.
 *
 * As in jac, a run holds one copy of each node: reading a node again gives the same
 * object, with the run's changes, and the fields changed on any of them are saved when
 * the walker returns (`save` writes one sooner).
 */
class Graph {
  constructor() {
    this.held = new Map(); // id → { node: the run's copy, target: its object, saved: its context's JSON as saved }
  }

  /** The run's copy of `raw`; `written`: `raw` is as the run just wrote it. */
  hold(raw, written = false) {
    const held = this.held.get(raw.id);
    if (held && !written) return held.node;
    const target = held ? held.target : {};
    for (const key of Object.keys(target)) delete target[key];
    Object.assign(target, raw);
    const node = held ? held.node : nodeView(target);
    this.held.set(raw.id, { node, target, saved: JSON.stringify(raw.context) });
    return node;
  }

  holdJson(text, written = false) {
    return this.hold(JSON.parse(text), written);
  }

  /** Writes the fields changed on every node the run holds. */
  saveChanges() {
    for (const [id, { node, saved }] of this.held) {
      if (id.startsWith("n::") || JSON.stringify(node.context) === saved) continue;
      const before = JSON.parse(saved);
      const changed = Object.fromEntries(Object.entries(node.context)
        .filter(([key, value]) => JSON.stringify(before[key]) !== JSON.stringify(value)));
      this.holdJson(host(() => hostGraph.update(id, JSON.stringify(changed))), true);
    }
  }

  /** The entry node: the caller's root, or the node the call named. */
  here() { return this.holdJson(hostGraph.here()); }
  root() { return hostGraph.root(); }
  get(id) {
    const node = hostGraph.get(id);
    return node === undefined || node === null ? null : this.holdJson(node);
  }
  create(type, context) { return this.holdJson(host(() => hostGraph.create(type, JSON.stringify(context))), true); }
  /** jac's `save(Obj(..))`: a persisted object, `o:<Type>:<hex>`; `get`, `update`,
   * `delete` and `grant` take it by id, and its changed fields are saved as a node's. */
  saveObject(type, context) {
    return this.holdJson(host(() => hostGraph.createObject(type, JSON.stringify(context))), true);
  }
  /** The object `id` names, if it exists, is a `type` and is readable; else a new one. */
  objectOrSave(id, type, context) {
    const found = id ? this.get(id) : undefined;
    return found?.id.startsWith(`o:${type}:`) ? found : this.saveObject(type, context);
  }
  /** `source ++> Type(context)`: a new node and an edge to it. */
  spawn(source, type, context, edgeType = "", edgeContext = {}) {
    const spawned = host(() => hostGraph.spawn(source, edgeType, JSON.stringify(edgeContext), type, JSON.stringify(context)));
    return this.holdJson(spawned, true);
  }
  connect(source, target, edgeType = "", context = {}) {
    return this.holdJson(host(() => hostGraph.connect(source, target, edgeType, JSON.stringify(context))), true);
  }
  disconnect(source, target, edgeType) { return host(() => hostGraph.disconnect(source, target, edgeType)); }
  update(id, fields) { return this.holdJson(host(() => hostGraph.update(id, JSON.stringify(fields))), true); }
  /** jac's `save(node)`: writes its whole context now. */
  save(node) { return this.update(node.id, node.context); }
  delete(id) {
    host(() => hostGraph.delete(id));
    this.held.delete(id);
  }
  /** The caller's root's own nodes (not the root), of `nodeType` if given. */
  owned(nodeType) {
    const items = [];
    let cursor;
    do {
      const page = JSON.parse(host(() => hostGraph.nodes(nodeType, 0, cursor)));
      items.push(...page.items.map((item) => this.hold(item)));
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  }
  /** `{ nodes, edges }`: how many the caller's root owns (itself not counted), as last committed. */
  count() { return JSON.parse(hostGraph.count()); }
  /** jac's `reset_graph()`: deletes every node but the root, with their edges; how many of both. */
  reset() {
    const deleted = host(() => hostGraph.reset());
    for (const id of this.held.keys()) if (!id.startsWith("n::")) this.held.delete(id);
    return deleted;
  }
  /**
   * Keeps node `id` (every node, if undefined) although the run leaves it with no edges,
   * as jac's explicit `commit`: by jac-cloud's rule the commit deletes a node of the
   * caller's whose last edge the run removed (roots never).
   */
  keep(id) { hostGraph.keep(id); }
  /** Gives a root (or everyone, `null`) a level: "no-access", "read", "connect" or
   * "write"; jac's `perm_grant` levels (names in any case, numbers -1 to 2) too. */
  grant(id, grantee, level = "read") { return host(() => hostGraph.grant(id, grantee, levelOf(level))); }
  revoke(id, grantee) { return host(() => hostGraph.revoke(id, grantee)); }
  /** `[node -->](`?nodeType)(?equals)`: every match, in edge creation order, of whatever types. */
  neighbours(node, query = {}) { return this.pages(hostGraph.neighbours, node, query); }
  /** `[node edge -->]`: the edges to the neighbours `neighbours` would list. */
  edges(node, query = {}) { return this.pages(hostGraph.edges, node, query); }
  pages(call, node, { direction = "out", edgeType, nodeType, equals }) {
    const items = [];
    let cursor;
    do {
      const query = { direction, edgeType, nodeType, equals: equals && JSON.stringify(equals), limit: 0, cursor };
      const page = JSON.parse(host(() => call(node, query)));
      items.push(...page.items.map((item) => this.hold(item)));
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  }
}

const SKIP = Symbol("skip");
const DISENGAGE = Symbol("disengage");

class Context {
  constructor(caller) {
    this.caller = caller; // { clientId, rootId, channelId, authenticated, transport }
    this.graph = new Graph();
    this.status = 200;
    this.reports = [];
    this.custom = undefined;
    this.here = undefined; // the node a walk is at
    this.queue = [];
    this.queued = new Set();
  }
  report(value) { this.reports.push(JSON.stringify(value)); }
  /** Replies with `body` as `contentType` ("text/html") instead of the reports (jac-cloud's `HTMLResponse`). */
  respond(contentType, body) { respond.body(contentType, body); }
  /**
   * Sends `chunk` of a reply streamed as `contentType` now (jac-cloud's `StreamingResponse`).
   * Waits while the client is behind; throws WalkerError when the reply cannot stream.
   */
  stream(contentType, chunk) {
    try {
      respond.stream(contentType, chunk);
    } catch (error) {
      throw new WalkerError(String(error?.payload ?? error));
    }
  }
  /** The caller's account as its token carries it (`id`, `email`, `root_id` and the app's
   * user fields), or null for an anonymous caller. */
  account() {
    const account = currentAccount();
    return account === undefined ? null : JSON.parse(account);
  }
  customReport(value) { this.custom = JSON.stringify(value); }
  notifySelf(payload) { socket.notifySelf(JSON.stringify(payload)); }
  notifyUsers(rootIds, payload) { socket.notifyUsers(rootIds, JSON.stringify(payload)); }
  notifyChannels(channelIds, payload) { socket.notifyChannels(channelIds, JSON.stringify(payload)); }
  notifyClients(clientIds, payload) { socket.notifyClients(clientIds, JSON.stringify(payload)); }
  /** `visit [-->]`, filtered as `neighbours` filters: queues the current node's neighbours. */
  visit(query = {}) { this.visitNodes(this.graph.neighbours((this.here ?? this.graph.here()).id, query)); }
  /** `visit node`: queues nodes not queued before in this walk (breadth-first). */
  visitNodes(nodes) {
    for (const node of nodes) {
      if (!this.queued.has(node.id)) {
        this.queued.add(node.id);
        this.queue.push(node);
      }
    }
  }
  /** jac's `skip`: leaves the current node, running none of its remaining abilities. */
  skip() { throw SKIP; }
  /** jac's `disengage`: ends the walk. */
  disengage() { throw DISENGAGE; }
}

const nodeAbilitiesByType = new Map();

/**
 * Declares node type `type`'s own abilities, run when any walker arrives, after the
 * walker's entry abilities and before its exits: `{ entry(here, cx, walkerName), exit(…) }`.
 */
export function nodeAbilities(type, abilities) { nodeAbilitiesByType.set(type, abilities); }

/** Runs `calls` (functions) in order until one skips. */
function untilSkip(calls) {
  try {
    for (const call of calls) call();
  } catch (error) {
    if (error !== SKIP) throw error;
  }
}

/**
 * Runs a walker declared by abilities from the entry node, in jac's order:
 * `start(cx)` once; at each node the walker's `entry[type](cx, here)`, the node type's
 * own entry and exit, the walker's `exit[type](cx, here)`; `end(cx)` once. `this` in
 * each is the walker: its fields, carried from node to node.
 */
function walk(name, abilities, cx, fields) {
  const self = { ...fields };
  const { start, end, entry = {}, exit = {} } = abilities;
  try {
    // The entry node first; a `visit` in `start` queues its neighbours after it.
    cx.here = cx.graph.here();
    cx.visitNodes([cx.here]);
    untilSkip(start ? [() => start.call(self, cx)] : []);
    while (cx.queue.length) {
      const here = (cx.here = cx.queue.shift());
      const own = here.type === "Root" ? {} : nodeAbilitiesByType.get(here.type) ?? {};
      untilSkip([
        entry[here.type] && (() => entry[here.type].call(self, cx, here)),
        own.entry && (() => own.entry(here, cx, name)),
        own.exit && (() => own.exit(here, cx, name)),
        exit[here.type] && (() => exit[here.type].call(self, cx, here)),
      ].filter(Boolean));
    }
    untilSkip(end ? [() => end.call(self, cx)] : []);
  } catch (error) {
    if (error !== DISENGAGE) throw error;
  }
}

/** A line in the server's log, tagged with the walker's name. */
export function log(message, level = "info") { hostLog(level, message); }

const registry = new Map();
const specs = [];
const jacCloudWalkers = [];
const computed = [];
const options = []; // jac-cloud's other spec options, of the walkers that set any

/**
 * Node type `nodeType`'s level for other roots is its field `field`: a level's name
 * ("READ", "WRITE"…) or null for the grants' level, as jac's `__jac_access__` returning
 * `self.<field>`. Walkers that follow jac-cloud's access rules honour it.
 */
export function computedAccess(nodeType, field) { computed.push({ nodeType, field }); }

/**
 * Registers a walker: `fn(cx, context)`, or abilities `{ start, entry: { Root, Type… },
 * exit: { Type… }, end }` that walk the graph as jac's do. `spec` mirrors jac-cloud's `__specs__`.
 * `warmRuns` > 0 lets one instance serve that many runs of the same user instead of a
 * fresh instance per run: much faster, but module state persists between those runs.
 * `vars` names the tenant variables it reads (the `jac:walker/config` import).
 * `jacCloudAccess` makes it follow jac-cloud's access rules rather than the strict
 * default: `cx.graph.get` reads another root's node by id, a write the caller may not
 * make is dropped and answered as if made, and `computedAccess` types are honoured.
 * `summary`, `description`, `tags`, `deprecated`, `includeInSchema` and `responseModel`
 * (a JSON Schema) document it in `/openapi.json`; `private` serves it nowhere; `excluded`
 * fields (`["*"]`: all) take their defaults whatever a client sends.
 */
export function walker({ name, methods = [], auth = true, asQuery = [], path, fields = {}, warmRuns = 0, entry = "both", vars = [], jacCloudAccess = false,
                         summary, description, tags, deprecated = false, includeInSchema = true, private: hidden = false, excluded = [], responseModel }, fn) {
  const declared = Object.entries(fields).map(([field, type]) => {
    const { type: kind, default: value } = typeof type === "string" ? { type } : type;
    return { name: field, type: kind, default: value === undefined ? undefined : JSON.stringify(value) };
  });
  specs.push({ name, methods, auth, asQuery, path, fields: declared, warmRuns, entry, vars });
  if (jacCloudAccess) jacCloudWalkers.push(name);
  const documented = summary ?? description ?? tags ?? responseModel;
  if (documented !== undefined || deprecated || !includeInSchema || hidden || excluded.length) {
    const responseSchema = responseModel === undefined ? undefined : JSON.stringify(responseModel);
    options.push({ walker: name, summary, description, tags, deprecated, includeInSchema, private: hidden, excluded, responseSchema });
  }
  registry.set(name, typeof fn === "function" ? fn : (cx, context) => walk(name, fn, cx, context));
}

// The component's exports.
export function walkers() {
  if (jacCloudWalkers.length) jacCloudAccess(jacCloudWalkers, computed);
  for (const walkerOptions of options) specOptions(walkerOptions);
  return specs;
}

export function run(name, caller, context) {
  const fn = registry.get(name);
  if (!fn) throw `no walker named ${name}`;
  const cx = new Context(caller);
  try {
    fn(cx, JSON.parse(context));
    cx.graph.saveChanges();
  } catch (error) {
    if (error instanceof WalkerError) throw error.message;
    throw `${error}`;
  }
  return { status: cx.status, reports: cx.reports, custom: cx.custom };
}
