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
// WalkerError to fail with a message; `cx` reports, sets the status and notifies.
import * as socket from "jac:walker/socket@0.2.0";
import { log as hostLog } from "jac:walker/log@0.2.0";

export class WalkerError extends Error {}

class Context {
  constructor(caller) {
    this.caller = caller; // { clientId, rootId, channelId, authenticated, transport }
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
 */
export function walker({ name, methods = [], auth = true, asQuery = [], path, fields = {}, warmRuns = 0, entry = "both" }, fn) {
  const declared = Object.entries(fields).map(([field, type]) => {
    const { type: kind, default: value } = typeof type === "string" ? { type } : type;
    return { name: field, type: kind, default: value === undefined ? undefined : JSON.stringify(value) };
  });
  specs.push({ name, methods, auth, asQuery, path, fields: declared, warmRuns, entry });
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
