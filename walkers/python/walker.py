"""Write jac-cloud walkers in Python: a decorated class (or function) per walker.

    from walker import walker, WalkerError

    @walker("py_public_group", methods=["websocket", "post"], auth=False)
    def public_group(cx, channel_id: str, msg: str = "hi"):
        cx.notify_channels([channel_id], {"type": "chat", "data": {"message": msg}})

The function's parameters after `cx` are the walker's fields: their annotations give the
jac type (str, int, float, bool, list, dict, also as `list[str]`, `Dict[str, int]`…;
anything else is "any"), postponed annotations (`from __future__ import annotations`)
included, and their defaults make them optional; `Optional[X]` (or `X | None`) is X,
and may also be omitted or null, as Rust's `Option<X>`. The server validates the
context before the function runs. Raise `WalkerError` to fail with a message; `cx`
reports, sets the status and notifies, and `cx.graph` reads and writes the persistent
graph (nodes are dicts `{"id", "context"}`):

    @walker("py_make_note", methods=["websocket", "post"])
    def make_note(cx, text: str):
        cx.report(cx.graph.spawn(cx.graph.root(), "Note", {"text": text}))  # root ++> Note(text=…)

A walker class walks the graph as jac's walkers do: its annotated attributes are its
fields, and its `@entry`/`@exit` methods are abilities run at each node of their type;
`cx.visit()` queues the current node's neighbours (breadth-first), `cx.skip()` leaves
the node and `cx.disengage()` ends the walk. Nodes are `Node`s, whose fields change as
attributes, and every change a run makes to a node is saved when it ends, as in jac:

    @walker("py_bump")
    class Bump:
        by: int = 1

        @entry("Root")
        def start(self, cx, here):   # can start with `root entry { visit [-->]; }
            cx.visit()

        @entry("A")
        def bump(self, cx, here):    # can bump with A entry { here.val += self.by; report here; }
            here.val += self.by
            cx.report(here)

The app module must expose `WitWorld` (`from walker import WitWorld`), which componentize-py
exports as the component.
"""

import inspect
import json
import types
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import account as _account
from wit_world.imports import declare as _declare
from wit_world.imports import graph as _graph
from wit_world.imports import log as _log
from wit_world.imports import respond as _respond
from wit_world.imports import socket as _socket
from wit_world.imports.types import Caller, EntryType, Field, FieldType, Method, Response, WalkerSpec

__all__ = ["walker", "entry", "exit", "node_abilities", "computed_access", "Context", "Graph", "GraphError", "Node", "WalkerError",
           "WitWorld", "log"]

def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Node(dict):
    """A node or an edge as jac-cloud reports it, `{"id", "context"}` (edges add
    `"source"` and `"target"`), whose fields also read and write as attributes:
    `here.val = 1`. A run's changes to any node it holds are saved when it ends."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self["context"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self["context"][name] = value

    @property
    def type(self) -> str:
        """Its type as jac names it: `Item`, `Root` for a root, `GenericEdge` for an untyped edge."""
        name = self["id"].split(":")[1]
        return name or ("Root" if self["id"].startswith("n::") else "GenericEdge")


_TYPES = {str: FieldType.STR, int: FieldType.INT, float: FieldType.FLOAT, bool: FieldType.BOOL,
          list: FieldType.LIST, dict: FieldType.DICT}


def _field_type(annotation: Any) -> Tuple[FieldType, bool]:
    """The jac type of a parameter's annotation, and whether it is optional (`Optional[X]`,
    `X | None`): `list[str]` is a list, `Dict[str, int]` a dict."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        present = [member for member in members if member is not type(None)]
        kind = _field_type(present[0])[0] if len(present) == 1 else FieldType.ANY
        return kind, len(present) < len(members)
    return _TYPES.get(typing.get_origin(annotation) or annotation, FieldType.ANY), False


_METHODS = {"websocket": Method.WEBSOCKET, "get": Method.GET, "post": Method.POST, "put": Method.PUT,
            "patch": Method.PATCH, "delete": Method.DELETE}


class WalkerError(Exception):
    """A walker failure; its message reaches the caller."""


class GraphError(WalkerError):
    """A graph call refused: `not found: …`, `denied: …` or `invalid: …`. Its `kind`
    ("not_found", "denied" or "invalid") says which, so a walker handles it without
    reading the text."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


_REFUSALS = {"Error_NotFound": ("not_found", "not found"), "Error_Denied": ("denied", "denied"),
             "Error_Invalid": ("invalid", "invalid")}


def _host(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except Err as err:
        kind, text = _REFUSALS.get(type(err.value).__name__, ("error", "error"))
        raise GraphError(f"{text}: {err.value.value}", kind) from None


_DIRECTIONS = {"out": _graph.Direction.OUT, "in": _graph.Direction.IN, "both": _graph.Direction.BOTH}
_LEVELS = {"no_access": _graph.Level.NO_ACCESS, "read": _graph.Level.READ, "connect": _graph.Level.CONNECT,
           "write": _graph.Level.WRITE}


def _level(level: Any) -> _graph.Level:
    """A level as jac writes one: its name, in any case, or its number (-1 none, 0 read,
    1 connect, 2 write)."""
    if isinstance(level, int) and not isinstance(level, bool) and -1 <= level <= 2:
        level = list(_LEVELS)[level + 1]
    if str(level).lower() not in _LEVELS:
        raise WalkerError(f"{level!r} is not an access level")
    return _LEVELS[str(level).lower()]


class Graph:
    """The persistent graph. A run is one transaction: reads see its own writes, and every
    write commits when the walker returns (none survives an error). Nodes and edges are
    `Node`s, dicts `{"id": "n:Note:…", "context": {…}}` reported as jac-cloud reports them.

    As in jac, a run holds one copy of each node: reading a node again gives the same
    object, with the run's changes, and the fields changed on any of them are saved
    when the walker returns (`save` writes one sooner)."""

    def __init__(self) -> None:
        self._held: Dict[str, Tuple[Node, str]] = {}  # id: (the run's copy, its context as saved)

    def _hold(self, text: str, written: bool = False) -> Node:
        """The run's copy of the node in `text`; `written`: `text` is the node as the
        run just wrote it, which the copy takes."""
        return self._hold_raw(json.loads(text), written)

    def _hold_raw(self, raw: dict, written: bool = False) -> Node:
        held = self._held.get(raw["id"])
        if held is not None and not written:
            return held[0]
        node = held[0] if held is not None else Node()
        node.clear()
        node.update(raw)
        self._held[raw["id"]] = (node, _json(raw["context"]))
        return node

    def _save_changes(self) -> None:
        """Writes the fields changed on every node the run holds."""
        for id, (node, saved) in list(self._held.items()):
            if id.startswith("n::") or _json(node["context"]) == saved:
                continue
            before = json.loads(saved)
            changed = {key: value for key, value in node["context"].items() if before.get(key) != value}
            self._hold(_host(_graph.update, id, _json(changed)), written=True)

    def here(self) -> Node:
        """The entry node: the caller's root, or the node the call named."""
        return self._hold(_graph.here())

    def root(self) -> str:
        return _graph.root()

    def get(self, id: str) -> Optional[Node]:
        node = _graph.get(id)
        return None if node is None else self._hold(node)

    def create(self, node_type: str, context: dict) -> Node:
        return self._hold(_host(_graph.create, node_type, _json(context)), written=True)

    def save_object(self, object_type: str, context: dict) -> Node:
        """jac's `save(Obj(..))`: a persisted object, `o:<Type>:<hex>`, owned by the
        caller's root. `get`, `update`, `delete` and `grant` take it by id, as they take
        a node, and its changed fields are saved as a node's are."""
        return self._hold(_host(_graph.create_object, object_type, _json(context)), written=True)

    def object_or_save(self, id: Optional[str], object_type: str, context: dict) -> Node:
        """The object `id` names, if it exists, is an `object_type` and the caller may
        read it; otherwise a new one with `context`, saved."""
        found = self.get(id) if id else None
        if found is not None and found["id"].startswith(f"o:{object_type}:"):
            return found
        return self.save_object(object_type, context)

    def spawn(self, source: str, node_type: str, context: dict, edge_type: str = "",
              edge_context: Optional[dict] = None) -> Node:
        """`source ++> Type(**context)`: a new node and an edge to it."""
        spawned = _host(_graph.spawn, source, edge_type, _json(edge_context or {}), node_type, _json(context))
        return self._hold(spawned, written=True)

    def connect(self, source: str, target: str, edge_type: str = "", context: Optional[dict] = None) -> Node:
        return self._hold(_host(_graph.connect, source, target, edge_type, _json(context or {})), written=True)

    def disconnect(self, source: str, target: str, edge_type: Optional[str] = None) -> int:
        return _host(_graph.disconnect, source, target, edge_type)

    def update(self, id: str, fields: dict) -> Node:
        return self._hold(_host(_graph.update, id, _json(fields)), written=True)

    def save(self, node: Node) -> Node:
        """jac's `save(node)`: writes its whole context now."""
        return self.update(node["id"], node["context"])

    def delete(self, id: str) -> None:
        _host(_graph.delete, id)
        self._held.pop(id, None)

    def owned(self, node_type: Optional[str] = None) -> List[Node]:
        """The caller's root's own nodes (not the root), of `node_type` if given."""
        items: List[Node] = []
        cursor = None
        while True:
            page = json.loads(_host(_graph.nodes, node_type, 0, cursor))
            items.extend(self._hold_raw(item) for item in page["items"])
            cursor = page["cursor"]
            if cursor is None:
                return items

    def count(self) -> dict:
        """`{"nodes", "edges"}`: how many the caller's root owns (itself not counted), as last committed."""
        return json.loads(_graph.count())

    def reset(self) -> int:
        """jac's `reset_graph()`: deletes every node but the root, with their edges; how many of both."""
        deleted = _host(_graph.reset)
        self._held = {id: held for id, held in self._held.items() if id.startswith("n::")}
        return deleted

    def keep(self, id: Optional[str] = None) -> None:
        """Keeps node `id` (every node, if `None`) although the run leaves it with no
        edges, as jac's explicit `commit`: by jac-cloud's rule the commit deletes a node
        of the caller's whose last edge the run removed (roots never)."""
        _graph.keep(id)

    def grant(self, id: str, grantee: Optional[str] = None, level: Any = "read") -> None:
        """Gives a root (or everyone, `None`) a level: no_access, read, connect or write
        (jac's `perm_grant` levels, names in any case or numbers, are taken too)."""
        _host(_graph.grant, id, grantee, _level(level))

    def revoke(self, id: str, grantee: Optional[str] = None) -> None:
        _host(_graph.revoke, id, grantee)

    def neighbours(self, node: str, direction: str = "out", edge_type: Optional[str] = None,
                   node_type: Optional[str] = None, equals: Optional[dict] = None) -> List[Node]:
        """`[node -->](`?Type)(?field == value)`: every match, in edge creation order, of
        whatever types (`Node.type` tells them apart)."""
        return self._pages(_graph.neighbours, node, direction, edge_type, node_type, equals)

    def edges(self, node: str, direction: str = "out", edge_type: Optional[str] = None,
              node_type: Optional[str] = None, equals: Optional[dict] = None) -> List[Node]:
        """`[node edge -->]`: the edges to the neighbours `neighbours` would list."""
        return self._pages(_graph.edges, node, direction, edge_type, node_type, equals)

    def _pages(self, call: Callable[..., str], node: str, direction: str, edge_type: Optional[str],
               node_type: Optional[str], equals: Optional[dict]) -> List[Node]:
        items: List[Node] = []
        cursor = None
        while True:
            query = _graph.Query(direction=_DIRECTIONS[direction], edge_type=edge_type, node_type=node_type,
                                 equals=None if equals is None else _json(equals), limit=0, cursor=cursor)
            page = json.loads(_host(call, node, query))
            items.extend(self._hold_raw(item) for item in page["items"])
            cursor = page["cursor"]
            if cursor is None:
                return items


class _Skip(Exception):
    pass


class _Disengage(Exception):
    pass


class Context:
    """The running walker's view of its call: the caller, what it reports, the graph,
    and, for a walker class, its walk (`visit`, `skip`, `disengage`)."""

    def __init__(self, caller: Caller):
        self.caller = caller
        self.status = 200
        self.reports: List[str] = []
        self.custom: Optional[str] = None
        self.graph = Graph()
        self.here: Optional[Node] = None
        self._queue: List[Node] = []
        self._queued: set = set()

    def account(self) -> Optional[dict]:
        """The caller's account as its token carries it (`id`, `email`, `root_id` and the
        app's user fields), or None for an anonymous caller."""
        account = _account.current()
        return None if account is None else json.loads(account)

    def respond(self, content_type: str, body: str) -> None:
        """Replies with `body` as `content_type` ("text/html") instead of the reports, as
        jac-cloud's `HTMLResponse`."""
        _respond.body(content_type, body)

    def stream(self, content_type: str, chunk: str) -> None:
        """Sends `chunk` of a reply streamed as `content_type` now, as jac-cloud's
        `StreamingResponse` sends each item of its generator. Waits while the client is
        behind; raises WalkerError when the reply cannot stream (the client left)."""
        try:
            _respond.stream(content_type, chunk)
        except Err as err:
            raise WalkerError(err.value) from None

    def visit(self, direction: str = "out", edge_type: Optional[str] = None, node_type: Optional[str] = None,
              equals: Optional[dict] = None) -> None:
        """`visit [-->]`, filtered as `Graph.neighbours` filters: queues the current
        node's neighbours, breadth-first; a node is visited once per walk."""
        here = self.here or self.graph.here()
        self.visit_nodes(self.graph.neighbours(here["id"], direction, edge_type, node_type, equals))

    def visit_nodes(self, nodes: List[Node]) -> None:
        """`visit node`: queues nodes not queued before in this walk."""
        for node in nodes:
            if node["id"] not in self._queued:
                self._queued.add(node["id"])
                self._queue.append(node)

    def skip(self) -> None:
        """jac's `skip`: leaves the current node, running none of its remaining abilities."""
        raise _Skip()

    def disengage(self) -> None:
        """jac's `disengage`: ends the walk."""
        raise _Disengage()

    def report(self, value: Any) -> None:
        self.reports.append(_json(value))

    def custom_report(self, value: Any) -> None:
        self.custom = _json(value)

    def notify_self(self, payload: Any) -> None:
        _socket.notify_self(_json(payload))

    def notify_users(self, root_ids: List[str], payload: Any) -> None:
        _socket.notify_users(list(root_ids), _json(payload))

    def notify_channels(self, channel_ids: List[str], payload: Any) -> None:
        _socket.notify_channels(list(channel_ids), _json(payload))

    def notify_clients(self, client_ids: List[str], payload: Any) -> None:
        _socket.notify_clients(list(client_ids), _json(payload))


def entry(*types: str) -> Callable:
    """Marks a walker method as an ability: `@entry("Root")` for `can … with `root entry`,
    `@entry("A", "B")` for `A` and `B` nodes, `@entry()` for `can … with entry` (once,
    before the first node). In a `node_abilities` class, the names are walkers':
    `@entry()` for any walker, `@entry("py_visit")` for one."""
    return _ability("entry", types)


def exit(*types: str) -> Callable:
    """As `entry`, for `can … with … exit`; `@exit()` runs once, after the last node."""
    return _ability("exit", types)


def _ability(when: str, types: Tuple[str, ...]) -> Callable:
    def mark(method: Callable) -> Callable:
        method._ability = (when, types)
        return method

    return mark


def _abilities(cls: type) -> List[Tuple[str, Tuple[str, ...], Callable]]:
    return [(*method._ability, method) for method in vars(cls).values() if hasattr(method, "_ability")]


_NODE_ABILITIES: Dict[str, List[Tuple[str, Tuple[str, ...], Callable]]] = {}


def node_abilities(node_type: str) -> Callable:
    """Registers a class's `@entry`/`@exit` methods as node type `node_type`'s own
    abilities, run when a walker arrives, after the walker's own entry abilities and
    before its exits; each is called as `method(here, cx, walker)`."""

    def register(cls: type) -> type:
        _NODE_ABILITIES[node_type] = _abilities(cls)
        return cls

    return register


def _walk(cls: type, cx: Context, name: str, fields: dict) -> None:
    """Runs walker class `cls` from the entry node, as jac orders its abilities."""
    walker = cls()
    vars(walker).update(fields)
    abilities = _abilities(cls)
    once = lambda when: [(ability, (walker, cx)) for kind, types, ability in abilities if kind == when and not types]
    try:
        # The entry node first; a `visit` in a start ability queues its neighbours after it.
        cx.here = cx.graph.here()
        cx.visit_nodes([cx.here])
        _run_until_skip(once("entry"))
        while cx._queue:
            cx.here = cx._queue.pop(0)
            _run_until_skip(_at_node(walker, cx, name, abilities, cx.here))
        _run_until_skip(once("exit"))
    except _Disengage:
        pass


def _at_node(walker: Any, cx: Context, name: str, abilities: list, node: Node) -> List[Tuple[Callable, tuple]]:
    """The abilities for one node, in jac's order: the walker's entries, the node type's
    own entries and exits, the walker's exits."""
    own = [] if node.type == "Root" else _NODE_ABILITIES.get(node.type, [])
    walker_abilities = lambda when: [(ability, (walker, cx, node)) for kind, types, ability in abilities
                                     if kind == when and node.type in types]
    node_abilities = lambda when: [(ability, (node, cx, walker)) for kind, walkers, ability in own
                                   if kind == when and (not walkers or name in walkers)]
    return walker_abilities("entry") + node_abilities("entry") + node_abilities("exit") + walker_abilities("exit")


def _run_until_skip(calls: List[Tuple[Callable, tuple]]) -> None:
    try:
        for ability, args in calls:
            ability(*args)
    except _Skip:
        pass


def log(message: str, level: str = "info") -> None:
    """A line in the server's log, tagged with the walker's name."""
    _log.log(getattr(_log.Level, level.upper()), message)


def _fields_of(target: Any) -> List[Tuple[str, FieldType, Optional[str]]]:
    """A walker's fields: a function's parameters after `cx`, or a class's annotated
    attributes, with their jac types and JSON defaults (`None`: required)."""
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # a postponed annotation that names nothing importable: "any"
        hints = {}
    if inspect.isclass(target):
        names = hints or inspect.get_annotations(target)
        declared = [(field, getattr(target, field, inspect.Parameter.empty)) for field in names]
    else:
        parameters = list(inspect.signature(target).parameters.values())[1:]
        declared = [(parameter.name, parameter.default) for parameter in parameters]
        hints = {parameter.name: hints.get(parameter.name, parameter.annotation) for parameter in parameters}
    fields = []
    for field, default in declared:
        kind, optional = _field_type(hints.get(field, Any))
        text = None if default is inspect.Parameter.empty else _json(default)
        fields.append((field, kind, "null" if text is None and optional else text))
    return fields


_ENTRY_TYPES = {"both": EntryType.BOTH, "root": EntryType.ROOT, "node": EntryType.NODE}

_WALKERS: Dict[str, Callable[..., None]] = {}
_SPECS: List[WalkerSpec] = []
_JAC_CLOUD_ACCESS: List[str] = []
_COMPUTED_ACCESS: List[_declare.ComputedAccess] = []
_OPTIONS: List[_declare.WalkerOptions] = []


def computed_access(node_type: str, field: str) -> None:
    """Node type `node_type`'s level for other roots is its field `field`: a level's name
    ("READ", "WRITE"…) or None for the grants' level, as jac's `__jac_access__` returning
    `self.<field>`. Walkers that follow jac-cloud's access rules honour it."""
    _COMPUTED_ACCESS.append(_declare.ComputedAccess(node_type=node_type, field=field))


def walker(name: str, methods: Optional[List[str]] = None, auth: bool = True,
           as_query: Optional[List[str]] = None, path: Optional[str] = None, warm_runs: int = 0,
           entry: str = "both", vars: Optional[List[str]] = None, jac_cloud_access: bool = False,
           summary: Optional[str] = None, description: Optional[str] = None, tags: Optional[List[str]] = None,
           deprecated: bool = False, include_in_schema: bool = True, private: bool = False,
           excluded: Optional[List[str]] = None, response_model: Optional[dict] = None) -> Callable:
    """Registers the decorated function as walker `name` (jac-cloud's `__specs__` as arguments).

    `warm_runs` > 0 lets one instance serve that many runs of the same user instead of a
    fresh instance per run: much faster for Python, but module globals persist between runs.
    `entry` ("both", "root" or "node") is jac-cloud's `entry_type`: which REST routes it has.
    `vars` names the tenant variables it reads (the `jac:walker/config` import).
    `jac_cloud_access` makes it follow jac-cloud's access rules rather than the strict
    default: `cx.graph.get` reads another root's node by id, a write the caller may not
    make is dropped and answered as if made, and `computed_access` types are honoured.
    `summary`, `description`, `tags`, `deprecated`, `include_in_schema` and
    `response_model` (a JSON Schema) document it in `/openapi.json`; `private` serves it
    nowhere; `excluded` fields (`["*"]`: all) take their defaults whatever a client sends.
    """
    documented = any(option is not None for option in (summary, description, tags, response_model))
    options = _declare.WalkerOptions(
        walker=name, summary=summary, description=description, tags=tags, deprecated=deprecated,
        include_in_schema=include_in_schema, private=private, excluded=list(excluded or []),
        response_schema=None if response_model is None else json.dumps(response_model))
    declares_options = documented or deprecated or not include_in_schema or private or bool(excluded)

    def register(target: Any) -> Any:
        fields = [Field(name=field, type=kind, default=default) for field, kind, default in _fields_of(target)]
        _SPECS.append(WalkerSpec(name=name, methods=[_METHODS[m] for m in (methods or [])], auth=auth,
                                 as_query=list(as_query or []), path=path, fields=fields, warm_runs=warm_runs,
                                 entry=_ENTRY_TYPES[entry], vars=list(vars or [])))
        if jac_cloud_access:
            _JAC_CLOUD_ACCESS.append(name)
        if declares_options:
            _OPTIONS.append(options)
        if inspect.isclass(target):
            _WALKERS[name] = lambda cx, **context: _walk(target, cx, name, context)
        else:
            _WALKERS[name] = target
        return target

    return register


class WitWorld(wit_world.WitWorld):
    def walkers(self) -> List[WalkerSpec]:
        if _JAC_CLOUD_ACCESS:
            _declare.jac_cloud_access(_JAC_CLOUD_ACCESS, _COMPUTED_ACCESS)
        for options in _OPTIONS:
            _declare.spec_options(options)
        return _SPECS

    def run(self, name: str, caller: Caller, context: str) -> Response:
        function = _WALKERS.get(name)
        if function is None:
            raise Err(f"no walker named {name}")
        cx = Context(caller)
        try:
            function(cx, **json.loads(context))
            cx.graph._save_changes()
        except WalkerError as error:
            raise Err(str(error))
        return Response(status=cx.status, reports=cx.reports, custom=cx.custom)
