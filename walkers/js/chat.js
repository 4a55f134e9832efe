// JavaScript equivalents of the seed's chat walkers, plus one that reports its context.
import { GraphError, walker, WalkerError } from "./walker.js";
export { walkers, run } from "./walker.js";
import "./walks.js"; // the walkers that walk the graph as jac does

const CHAT = { type: "chat", data: { message: "string" } };
const both = ["websocket", "post"];

walker({ name: "js_send_chat_to_user", methods: both, fields: { root_id: "str" } },
  (cx, { root_id }) => cx.notifyUsers([root_id], CHAT));

walker({ name: "js_send_chat_to_group", methods: both, fields: { channel_id: "str" } },
  (cx, { channel_id }) => cx.notifyChannels([channel_id], CHAT));

walker({ name: "js_send_chat_to_client", methods: both, fields: { client_id: "str" } },
  (cx, { client_id }) => cx.notifyClients([client_id], CHAT));

walker({ name: "js_report_context", methods: both, auth: false,
         fields: { name: "str", count: { type: "int", default: 1 } } },
  (cx, { name, count }) => {
    if (count < 0) throw new WalkerError("count must not be negative");
    cx.report({ name, count, root_id: cx.caller.rootId, language: "javascript" });
  });

// jac-cloud's documentation options, a field no client sets, a response model.
walker({ name: "js_documented", methods: both, auth: false, fields: { val: "int", note: { type: "str", default: "set by the server" } },
         summary: "A documented walker", description: "Reports its fields.", tags: ["examples"], deprecated: true,
         excluded: ["note"], responseModel: { type: "object", title: "Documented" } },
  (cx, { val, note }) => cx.report({ val, note }));

// Served nowhere (jac-cloud's `private`).
walker({ name: "js_internal", methods: both, auth: false, private: true }, (cx) => cx.report("reached"));

// The caller's account (with the app's user fields), or null when anonymous.
walker({ name: "js_my_account", methods: both, auth: false }, (cx) => cx.report(cx.account()));

// Counts the runs its instance has served: a warm instance keeps module globals.
let runs = 0;
walker({ name: "js_warm_count", methods: both, auth: false, warmRuns: 3 },
  (cx) => cx.report(++runs));

// `root ++> Note(text=…)`; the same walkers exist in every example language.
walker({ name: "js_make_note", methods: both, fields: { text: "str" } },
  (cx, { text }) => cx.report(cx.graph.spawn(cx.graph.root(), "Note", { text })));

walker({ name: "js_list_notes", methods: both },
  (cx) => cx.report(cx.graph.neighbours(cx.graph.root(), { nodeType: "Note" })));

// Each graph refusal by its kind: updating node `id`, and a filter that is not an object.
walker({ name: "js_refusal_kinds", methods: both, auth: false, fields: { id: "str" } },
  (cx, { id }) => {
    const kind = (call) => {
      try {
        call();
        return "ok";
      } catch (error) {
        if (error instanceof GraphError) return error.kind;
        throw error;
      }
    };
    const root = cx.graph.root();
    cx.report({ update: kind(() => cx.graph.update(id, { name: "changed" })),
                filter: kind(() => cx.graph.neighbours(root, { equals: "a" })) });
  });
