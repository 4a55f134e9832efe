// jac's walker model in JavaScript: walkers of jac-cloud's test app (`simple_graph.jac`)
// and ones for `skip`, `disengage` and edges, as the Rust port of that app has them
// (under `js_` names), so that the tests hold every language to the same replies; also
// a root's whole graph counted, listed and reset.
import { GraphError, computedAccess, nodeAbilities, walker } from "./walker.js";

walker({ name: "js_create_graph" }, {
  entry: {
    Root(cx, here) {
      const [a, b, c] = [["A", 0], ["B", 1], ["C", 2]].map(([type, val]) => cx.graph.create(type, { val }));
      cx.graph.connect(a.id, b.id);
      cx.graph.connect(b.id, c.id);
      cx.graph.connect(here.id, a.id);
      for (const node of [here, a, b, c]) cx.report(node);
    },
  },
});

function reportAndVisit(cx, here) {
  cx.report(here);
  cx.visit();
}

walker({ name: "js_traverse_graph" }, {
  entry: { Root: reportAndVisit, A: reportAndVisit, B: reportAndVisit, C: (cx, here) => cx.report(here) },
});

walker({ name: "js_update_graph" }, {
  entry: {
    Root: reportAndVisit,
    A(cx, here) { here.val = 1; reportAndVisit(cx, here); },
    B(cx, here) { here.val = 2; reportAndVisit(cx, here); },
  },
});

nodeAbilities("Node", {
  entry(here, cx, walkerName) {
    cx.report(`${here.val}-2`);
    if (walkerName === "js_visit_sequence") cx.report(`${here.val}-3`);
  },
  exit(here, cx, walkerName) {
    if (walkerName === "js_visit_sequence") cx.report(`${here.val}-4`);
    cx.report(`${here.val}-5`);
  },
});

walker({ name: "js_visit_sequence", auth: false }, {
  start: (cx) => cx.report("walker entry"),
  entry: {
    Root(cx, here) {
      for (const val of ["a", "b", "c"]) cx.graph.spawn(here.id, "Node", { val });
      cx.visit();
      cx.report("walker enter to root");
    },
    Node: (cx, here) => cx.report(`${here.val}-1`),
  },
  exit: { Node: (cx, here) => cx.report(`${here.val}-6`) },
  end: (cx) => cx.report("walker exit"),
});

function step(cx, here) {
  if (here.type !== "C") here.val += 10;
  this.entered += 1;
  cx.report(`${here.type}-entry`);
  cx.visit();
  if (here.type === this.skip_at) cx.skip();
  if (here.type === this.disengage_at) cx.disengage();
}

const leave = (cx, here) => cx.report(`${here.type}-exit`);

walker({
  name: "js_walk_control",
  fields: { skip_at: { type: "str", default: "" }, disengage_at: { type: "str", default: "" }, entered: { type: "int", default: 0 } },
}, {
  entry: { Root: (cx) => cx.visit(), A: step, B: step, C: step },
  exit: { A: leave, B: leave, C: leave },
  end(cx) { cx.report({ entered: this.entered }); },
});

walker({ name: "js_edge_values" }, {
  entry: {
    Root(cx, here) {
      const a = cx.graph.create("A", { val: 1 });
      const link = cx.graph.connect(here.id, a.id, "Link", { weight: 3 });
      cx.graph.spawn(here.id, "B", { val: "b" });
      cx.report(cx.graph.edges(here.id).map((edge) => ({
        type: edge.type, from_here: edge.source === here.id, to: cx.graph.get(edge.target).type, context: edge.context,
      })));
      const mixed = cx.graph.neighbours(here.id);
      cx.report(mixed.map((node) => node.type));
      cx.report(mixed.filter((node) => node.type === "A").map((node) => node.val));
      cx.report(link.weight);
      cx.graph.delete(link.id);
      cx.report({ links_left: cx.graph.edges(here.id, { edgeType: "Link" }).length, neighbours_left: cx.graph.neighbours(here.id).length });
    },
  },
});

walker({ name: "js_graph_size", fields: { reset: { type: "bool", default: false } } }, (cx, { reset }) => {
  cx.report(cx.graph.count());
  cx.report(cx.graph.owned().map((node) => node.type));
  if (reset) cx.report(cx.graph.reset());
});

/** `SavableObject(…)` as jac-cloud's `create_custom_object` makes it. */
function savableObject() {
  const child = { val: 2, arr: [1, 2], data: { a: 1, b: 2 }, enum_field: "C" };
  const parent = { val: 1, arr: [1], data: { a: 1 }, child, enum_field: "B" };
  return { val: 0, arr: [], data: {}, parent, enum_field: "A" };
}

const byId = { fields: { object_id: { type: "str" } } };

walker({ name: "js_create_custom_object" }, (cx) => cx.report(cx.graph.saveObject("SavableObject", savableObject())));

walker({ name: "js_get_custom_object", ...byId }, (cx, { object_id }) => cx.report(cx.graph.get(object_id)));

/** `update_custom_object`'s changes, and `update_nested_node`'s. */
function updateFields(saved) {
  const { parent } = saved;
  Object.assign(parent.child, { val: 3, enum_field: "A" });
  parent.child.data.c = 3;
  parent.child.arr.push(3);
  Object.assign(parent, { val: 2, enum_field: "C" });
  parent.data.b = 2;
  parent.arr.push(2);
  Object.assign(saved, { val: 1, enum_field: "B" });
  saved.data.a = 1;
  saved.arr.push(1);
}

walker({ name: "js_update_custom_object", ...byId }, (cx, { object_id }) => {
  const saved = cx.graph.get(object_id);
  updateFields(saved);
  cx.report(saved);
});

walker({ name: "js_delete_custom_object", ...byId }, (cx, { object_id }) => cx.graph.delete(object_id));

walker({ name: "js_visit_counter", fields: { counter_id: { type: "str", default: "" } } }, (cx, { counter_id }) => {
  const counter = cx.graph.objectOrSave(counter_id || null, "Counter", { visits: 0 });
  counter.visits += 1;
  cx.report(counter);
});

// jac-cloud's access rules, as jac-cloud runs every walker of the app: `Nested`'s
// `__jac_access__` returns its `access` field.
computedAccess("Nested", "access");
const jacCloud = { jacCloudAccess: true };

walker({ name: "js_create_nested_node" }, {
  entry: { Root: (cx, here) => cx.report(cx.graph.spawn(here.id, "Nested", { ...savableObject(), access: null })) },
});

walker({ name: "js_visit_nested_node", ...jacCloud }, { entry: { Nested: (cx, here) => cx.report(here) } });

walker({ name: "js_update_nested_node", ...jacCloud }, {
  entry: { Nested(cx, here) { updateFields(here); cx.report(here); } },
});

walker({ name: "js_update_nested_node_access", ...jacCloud, fields: { access: { type: "any", default: null } } }, {
  entry: { Nested(cx, here) { here.access = this.access; cx.report(here); } },
});

const rootAccess = { root_id: "str", via_all: { type: "bool", default: false } };

/** jac's `perm_grant(here, level)` if `via_all`, else `allow_root(here, root_id, level)`. */
function grantHere(cx, here) {
  cx.graph.grant(here.id, this.via_all ? null : this.root_id, this.level);
}

/** jac's `perm_revoke(here)` if `via_all`, else `disallow_root(here, root_id)`. */
function revokeHere(cx, here) {
  cx.graph.revoke(here.id, this.via_all ? null : this.root_id);
}

walker({ name: "js_allow_other_root_access", ...jacCloud, fields: { ...rootAccess, level: { type: "any", default: 0 } } }, {
  entry: { Root: grantHere, Nested: grantHere },
});

walker({ name: "js_disallow_other_root_access", ...jacCloud, fields: rootAccess }, {
  entry: { Root: revokeHere, Nested: revokeHere },
});

walker({ name: "js_check_memory_sync", ...jacCloud, fields: { other_node_id: "str" } }, {
  entry: {
    Root(cx) {
      const node = cx.graph.get(this.other_node_id);
      node.val = 4;
      cx.report(node);
    },
  },
});

const publicGetAtRoot = { methods: ["get", "websocket"], auth: false, entry: "root" };

walker({ name: "js_html_response", ...publicGetAtRoot }, {
  entry: { Root: (cx) => cx.respond("text/html", '<!DOCTYPE html><html lang="en"><body>HELLO WORLD</body></html>') },
});

walker({ name: "js_stream_response", ...publicGetAtRoot }, {
  entry: {
    Root(cx) {
      for (let i = 0; i < 100; i++) cx.stream("text/event-stream", String(i));
    },
  },
});

// Not in the app: what connecting the root to `id` answers, under the strict rules.
walker({ name: "js_connect_to", fields: { id: "str" } }, (cx, { id }) => {
  try {
    cx.report(cx.graph.connect(cx.graph.root(), id));
  } catch (error) {
    if (!(error instanceof GraphError)) throw error;
    cx.report(error.kind);
  }
});
