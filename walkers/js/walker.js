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

/**
 * The persistent graph. A run is one transaction: reads see its own writes, and every
 * write commits when the walker returns (none survives an error). Nodes and edges are
 * `{ id: "n:Note:…", context: {…} }`, reported as jac-cloud reports them.
 */
export const graph = {
  /** The entry node: the caller's root, or the node the call named. */
  here: () => JSON.parse(hostGraph.here()),
  root: () => hostGraph.root(),
  get(id) {
    const node = hostGraph.get(id);
    return node === undefined || node === null ? null : JSON.parse(node);
  },
  create: (type, context) => JSON.parse(host(() => hostGraph.create(type, JSON.stringify(context)))),
  /** `source ++> Type(context)`: a new node and an edge to it. */
  spawn: (source, type, context, edgeType = "", edgeContext = {}) =>
    JSON.parse(host(() => hostGraph.spawn(source, edgeType, JSON.stringify(edgeContext), type, JSON.stringify(context)))),
  connect: (source, target, edgeType = "", context = {}) =>
    JSON.parse(host(() => hostGraph.connect(source, target, edgeType, JSON.stringify(context)))),
  disconnect: (source, target, edgeType) => host(() => hostGraph.disconnect(source, target, edgeType)),
  update: (id, fields) => JSON.parse(host(() => hostGraph.update(id, JSON.stringify(fields)))),
  delete: (id) => host(() => hostGraph.delete(id)),
  /** Gives a root (or everyone, undefined) a level: "no-access", "read", "connect", "write". */
  grant: (id, grantee, level = "read") => host(() => hostGraph.grant(id, grantee, level)),
  revoke: (id, grantee) => host(() => hostGraph.revoke(id, grantee)),
  /** `[node -->](`?nodeType)(?equals)`: every match, in edge creation order. */
  neighbours(node, { direction = "out", edgeType, nodeType, equals } = {}) {
    const items = [];
    let cursor;
    do {
      const query = { direction, edgeType, nodeType, equals: equals && JSON.stringify(equals), limit: 0, cursor };
      const page = JSON.parse(host(() => hostGraph.neighbours(node, query)));
      items.push(...page.items);
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  },
  /** jac's `visit [-->]`: nodes breadth-first from `start`, each once. */
  *walk(start, query) {
    const queue = [start];
    const seen = new Set([start.id]);
    while (queue.length) {
      const node = queue.shift();
      yield node;
      for (const next of this.neighbours(node.id, query)) {
        if (!seen.has(next.id)) {
          seen.add(next.id);
          queue.push(next);
        }
      }
    }
  },
};

class Context {
  constructor(caller) {
    this.caller = caller; // { clientId, rootId, channelId, authenticated, transport }
    this.graph = graph;
    this.status = 200;
    this.reports = [];
    this.custom = undefined;
  }
  report(value) { this.reports.push(JSON.stringify(value)); }
  customReport(value) { this.custom = JSON.stringify(value); }
  notifySelf(payload) { socket.notifySelf(JSON.stringify(payload)); }
  notifyUsers(rootIds, payload) { socket.notifyUsers(rootIds, JSON.stringify(payload)); }
  notifyChannels(channelIds, payload) { socket.notifyChannels(channelIds, JSON.stringify(payload)); }
  notifyClients(clientIds, payload) { socket.notifyClients(clientIds, JSON.stringify(payload)); }
}

/** A line in the server's log, tagged with the walker's name. */
export function log(message, level = "info") { hostLog(level, message); }

const registry = new Map();
const specs = [];

/**
 * Registers `fn(cx, context)` as a walker; `spec` mirrors jac-cloud's `__specs__`.
 * `warmRuns` > 0 lets one instance serve that many runs of the same user instead of a
 * fresh instance per run: much faster, but module state persists between those runs.
 * `vars` names the tenant variables it reads (the `jac:walker/config` import).
 */
export function walker({ name, methods = [], auth = true, asQuery = [], path, fields = {}, warmRuns = 0, entry = "both", vars = [] }, fn) {
  const declared = Object.entries(fields).map(([field, type]) => {
    const { type: kind, default: value } = typeof type === "string" ? { type } : type;
    return { name: field, type: kind, default: value === undefined ? undefined : JSON.stringify(value) };
  });
  specs.push({ name, methods, auth, asQuery, path, fields: declared, warmRuns, entry, vars });
  registry.set(name, fn);
}

// The component's exports.
export function walkers() { return specs; }

export function run(name, caller, context) {
  const fn = registry.get(name);
  if (!fn) throw `no walker named ${name}`;
  const cx = new Context(caller);
  try {
    fn(cx, JSON.parse(context));
  } catch (error) {
    if (error instanceof WalkerError) throw error.message;
    throw `${error}`;
  }
  return { status: cx.status, reports: cx.reports, custom: cx.custom };
}
