"""jac's walker model in Python: walkers of jac-cloud's test app (`simple_graph.jac`) and
ones for `skip`, `disengage` and edges, as the Rust port of that app has them (under
`py_` names), so that the tests hold every language to the same replies; also a root's
whole graph counted, listed and reset."""

from typing import Any, Optional

from walker import GraphError, computed_access, entry, exit, node_abilities, walker


@walker("py_create_graph")
class CreateGraph:
    @entry("Root")
    def enter_root(self, cx, here):
        a, b, c = (cx.graph.create(kind, {"val": val}) for kind, val in (("A", 0), ("B", 1), ("C", 2)))
        cx.graph.connect(a["id"], b["id"])
        cx.graph.connect(b["id"], c["id"])
        cx.graph.connect(here["id"], a["id"])
        for node in (here, a, b, c):
            cx.report(node)


@walker("py_traverse_graph")
class TraverseGraph:
    @entry("Root", "A", "B")
    def enter(self, cx, here):
        cx.report(here)
        cx.visit()

    @entry("C")
    def enter_c(self, cx, here):
        cx.report(here)


@walker("py_update_graph")
class UpdateGraph:
    @entry("Root")
    def enter_root(self, cx, here):
        cx.report(here)
        cx.visit()

    @entry("A", "B")
    def enter(self, cx, here):
        here.val = 1 if here.type == "A" else 2
        cx.report(here)
        cx.visit()


@node_abilities("Node")
class Step:
    @entry()
    def entry1(here, cx, walker):
        cx.report(f"{here.val}-2")

    @entry("py_visit_sequence")
    def entry3(here, cx, walker):
        cx.report(f"{here.val}-3")

    @exit("py_visit_sequence")
    def exit1(here, cx, walker):
        cx.report(f"{here.val}-4")

    @exit()
    def exit2(here, cx, walker):
        cx.report(f"{here.val}-5")


@walker("py_visit_sequence", auth=False)
class VisitSequence:
    @entry()
    def entry1(self, cx):
        cx.report("walker entry")

    @entry("Root")
    def entry2(self, cx, here):
        for val in ("a", "b", "c"):
            cx.graph.spawn(here["id"], "Node", {"val": val})
        cx.visit()
        cx.report("walker enter to root")

    @entry("Node")
    def entry3(self, cx, here):
        cx.report(f"{here.val}-1")

    @exit("Node")
    def exit1(self, cx, here):
        cx.report(f"{here.val}-6")

    @exit()
    def exit2(self, cx):
        cx.report("walker exit")


@walker("py_walk_control")
class WalkControl:
    skip_at: str = ""
    disengage_at: str = ""
    entered: int = 0

    @entry("Root")
    def start(self, cx, here):
        cx.visit()

    @entry("A", "B", "C")
    def step(self, cx, here):
        if here.type != "C":
            here.val += 10
        self.entered += 1
        cx.report(f"{here.type}-entry")
        cx.visit()
        if here.type == self.skip_at:
            cx.skip()
        if here.type == self.disengage_at:
            cx.disengage()

    @exit("A", "B", "C")
    def leave(self, cx, here):
        cx.report(f"{here.type}-exit")

    @exit()
    def end(self, cx):
        cx.report({"entered": self.entered})


@walker("py_edge_values")
class EdgeValues:
    @entry("Root")
    def enter_root(self, cx, here):
        a = cx.graph.create("A", {"val": 1})
        link = cx.graph.connect(here["id"], a["id"], "Link", {"weight": 3})
        cx.graph.spawn(here["id"], "B", {"val": "b"})
        cx.report([{"type": edge.type, "from_here": edge["source"] == here["id"],
                    "to": cx.graph.get(edge["target"]).type, "context": edge["context"]}
                   for edge in cx.graph.edges(here["id"])])
        mixed = cx.graph.neighbours(here["id"])
        cx.report([node.type for node in mixed])
        cx.report([node.val for node in mixed if node.type == "A"])
        cx.report(link.weight)
        cx.graph.delete(link["id"])
        cx.report({"links_left": len(cx.graph.edges(here["id"], edge_type="Link")),
                   "neighbours_left": len(cx.graph.neighbours(here["id"]))})


@walker("py_graph_size")
def graph_size(cx, reset: bool = False):
    cx.report(cx.graph.count())
    cx.report([node.type for node in cx.graph.owned()])
    if reset:
        cx.report(cx.graph.reset())


def _savable_object() -> dict:
    """`SavableObject(…)` as jac-cloud's `create_custom_object` makes it."""
    child = {"val": 2, "arr": [1, 2], "data": {"a": 1, "b": 2}, "enum_field": "C"}
    parent = {"val": 1, "arr": [1], "data": {"a": 1}, "child": child, "enum_field": "B"}
    return {"val": 0, "arr": [], "data": {}, "parent": parent, "enum_field": "A"}


@walker("py_create_custom_object")
def create_custom_object(cx):
    cx.report(cx.graph.save_object("SavableObject", _savable_object()))


@walker("py_get_custom_object")
def get_custom_object(cx, object_id: str):
    cx.report(cx.graph.get(object_id))


def _update_fields(saved) -> None:
    """`update_custom_object`'s changes, and `update_nested_node`'s."""
    child, parent = saved.parent["child"], saved.parent
    child["data"]["c"], child["val"], child["enum_field"] = 3, 3, "A"
    child["arr"].append(3)
    parent["data"]["b"], parent["val"], parent["enum_field"] = 2, 2, "C"
    parent["arr"].append(2)
    saved.data["a"], saved.val, saved.enum_field = 1, 1, "B"
    saved.arr.append(1)


@walker("py_update_custom_object")
def update_custom_object(cx, object_id: str):
    saved = cx.graph.get(object_id)
    _update_fields(saved)
    cx.report(saved)


@walker("py_delete_custom_object")
def delete_custom_object(cx, object_id: str):
    cx.graph.delete(object_id)


@walker("py_visit_counter")
def visit_counter(cx, counter_id: str = ""):
    counter = cx.graph.object_or_save(counter_id or None, "Counter", {"visits": 0})
    counter.visits += 1
    cx.report(counter)


# jac-cloud's access rules, as jac-cloud runs every walker of the app: `Nested`'s
# `__jac_access__` returns its `access` field.
computed_access("Nested", "access")


@walker("py_create_nested_node")
class CreateNestedNode:
    @entry("Root")
    def enter_root(self, cx, here):
        cx.report(cx.graph.spawn(here["id"], "Nested", {**_savable_object(), "access": None}))


@walker("py_visit_nested_node", jac_cloud_access=True)
class VisitNestedNode:
    @entry("Nested")
    def enter_nested(self, cx, here):
        cx.report(here)


@walker("py_update_nested_node", jac_cloud_access=True)
class UpdateNestedNode:
    @entry("Nested")
    def enter_nested(self, cx, here):
        _update_fields(here)
        cx.report(here)


@walker("py_update_nested_node_access", jac_cloud_access=True)
class UpdateNestedNodeAccess:
    access: Optional[str] = None

    @entry("Nested")
    def enter_nested(self, cx, here):
        here.access = self.access
        cx.report(here)


@walker("py_allow_other_root_access", jac_cloud_access=True)
class AllowOtherRootAccess:
    root_id: str
    level: Any = 0
    via_all: bool = False

    @entry("Root", "Nested")
    def enter(self, cx, here):
        cx.graph.grant(here["id"], None if self.via_all else self.root_id, self.level)


@walker("py_disallow_other_root_access", jac_cloud_access=True)
class DisallowOtherRootAccess:
    root_id: str
    via_all: bool = False

    @entry("Root", "Nested")
    def enter(self, cx, here):
        cx.graph.revoke(here["id"], None if self.via_all else self.root_id)


@walker("py_check_memory_sync", jac_cloud_access=True)
class CheckMemorySync:
    other_node_id: str

    @entry("Root")
    def enter_root(self, cx, here):
        node = cx.graph.get(self.other_node_id)
        node.val = 4
        cx.report(node)


@walker("py_html_response", methods=["get", "websocket"], auth=False, entry="root")
class HtmlResponse:
    @entry("Root")
    def enter_root(self, cx, here):
        cx.respond("text/html", '<!DOCTYPE html><html lang="en"><body>HELLO WORLD</body></html>')


@walker("py_stream_response", methods=["get", "websocket"], auth=False, entry="root")
class StreamResponse:
    @entry("Root")
    def enter_root(self, cx, here):
        for i in range(100):
            cx.stream("text/event-stream", str(i))


# Not in the app: what connecting the root to `id` answers, under the strict rules.
@walker("py_connect_to")
def connect_to(cx, id: str):
    try:
        cx.report(cx.graph.connect(cx.graph.root(), id))
    except GraphError as error:
        cx.report(error.kind)
