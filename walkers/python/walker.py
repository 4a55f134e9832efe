"""Write jac-cloud walkers in Python: a decorated function per walker.

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
from wit_world.imports import graph as _graph
from wit_world.imports import log as _log
from wit_world.imports import socket as _socket
from wit_world.imports.types import Caller, EntryType, Field, FieldType, Method, Response, WalkerSpec

__all__ = ["walker", "Context", "Graph", "GraphError", "WalkerError", "WitWorld", "log"]

def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


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


class Graph:
    """The persistent graph. A run is one transaction: reads see its own writes, and every
    write commits when the walker returns (none survives an error). Nodes and edges are
    dicts `{"id": "n:Note:…", "context": {…}}`, reported as jac-cloud reports them."""

    def here(self) -> dict:
        """The entry node: the caller's root, or the node the call named."""
        return json.loads(_graph.here())

    def root(self) -> str:
        return _graph.root()

    def get(self, id: str) -> Optional[dict]:
        node = _graph.get(id)
        return None if node is None else json.loads(node)

    def create(self, node_type: str, context: dict) -> dict:
        return json.loads(_host(_graph.create, node_type, _json(context)))

    def spawn(self, source: str, node_type: str, context: dict, edge_type: str = "",
              edge_context: Optional[dict] = None) -> dict:
        """`source ++> Type(**context)`: a new node and an edge to it."""
        return json.loads(_host(_graph.spawn, source, edge_type, _json(edge_context or {}), node_type, _json(context)))

    def connect(self, source: str, target: str, edge_type: str = "", context: Optional[dict] = None) -> dict:
        return json.loads(_host(_graph.connect, source, target, edge_type, _json(context or {})))

    def disconnect(self, source: str, target: str, edge_type: Optional[str] = None) -> int:
        return _host(_graph.disconnect, source, target, edge_type)

    def update(self, id: str, fields: dict) -> dict:
        return json.loads(_host(_graph.update, id, _json(fields)))

    def delete(self, id: str) -> None:
        _host(_graph.delete, id)

    def grant(self, id: str, grantee: Optional[str] = None, level: str = "read") -> None:
        """Gives a root (or everyone, `None`) a level: no_access, read, connect or write."""
        _host(_graph.grant, id, grantee, _LEVELS[level])

    def revoke(self, id: str, grantee: Optional[str] = None) -> None:
        _host(_graph.revoke, id, grantee)

    def neighbours(self, node: str, direction: str = "out", edge_type: Optional[str] = None,
                   node_type: Optional[str] = None, equals: Optional[dict] = None) -> List[dict]:
        """`[node -->](`?Type)(?field == value)`: every match, in edge creation order."""
        items: List[dict] = []
        cursor = None
        while True:
            query = _graph.Query(direction=_DIRECTIONS[direction], edge_type=edge_type, node_type=node_type,
                                 equals=None if equals is None else _json(equals), limit=0, cursor=cursor)
            page = json.loads(_host(_graph.neighbours, node, query))
            items.extend(page["items"])
            cursor = page["cursor"]
            if cursor is None:
                return items

    def walk(self, start: dict, **query: Any):
        """jac's `visit [-->]`: yields nodes breadth-first from `start`, each once."""
        queue, seen = [start], {start["id"]}
        while queue:
            node = queue.pop(0)
            yield node
            for neighbour in self.neighbours(node["id"], **query):
                if neighbour["id"] not in seen:
                    seen.add(neighbour["id"])
                    queue.append(neighbour)


class Context:
    """The running walker's view of its call: the caller, what it reports, the graph."""

    graph = Graph()

    def __init__(self, caller: Caller):
        self.caller = caller
        self.status = 200
        self.reports: List[str] = []
        self.custom: Optional[str] = None

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


def log(message: str, level: str = "info") -> None:
    """A line in the server's log, tagged with the walker's name."""
    _log.log(getattr(_log.Level, level.upper()), message)


_ENTRY_TYPES = {"both": EntryType.BOTH, "root": EntryType.ROOT, "node": EntryType.NODE}

_WALKERS: Dict[str, Callable[..., None]] = {}
_SPECS: List[WalkerSpec] = []


def walker(name: str, methods: Optional[List[str]] = None, auth: bool = True,
           as_query: Optional[List[str]] = None, path: Optional[str] = None, warm_runs: int = 0,
           entry: str = "both", vars: Optional[List[str]] = None) -> Callable:
    """Registers the decorated function as walker `name` (jac-cloud's `__specs__` as arguments).

    `warm_runs` > 0 lets one instance serve that many runs of the same user instead of a
    fresh instance per run: much faster for Python, but module globals persist between runs.
    `entry` ("both", "root" or "node") is jac-cloud's `entry_type`: which REST routes it has.
    `vars` names the tenant variables it reads (the `jac:walker/config` import).
    """

    def register(function: Callable[..., None]) -> Callable[..., None]:
        fields = []
        try:
            hints = typing.get_type_hints(function)
        except Exception:  # a postponed annotation that names nothing importable: "any"
            hints = {}
        for parameter in list(inspect.signature(function).parameters.values())[1:]:
            kind, optional = _field_type(hints.get(parameter.name, parameter.annotation))
            default = None if parameter.default is inspect.Parameter.empty else _json(parameter.default)
            if default is None and optional:
                default = "null"
            fields.append(Field(name=parameter.name, type=kind, default=default))
        _SPECS.append(WalkerSpec(name=name, methods=[_METHODS[m] for m in (methods or [])], auth=auth,
                                 as_query=list(as_query or []), path=path, fields=fields, warm_runs=warm_runs,
                                 entry=_ENTRY_TYPES[entry], vars=list(vars or [])))
        _WALKERS[name] = function
        return function

    return register


class WitWorld(wit_world.WitWorld):
    def walkers(self) -> List[WalkerSpec]:
        return _SPECS

    def run(self, name: str, caller: Caller, context: str) -> Response:
        function = _WALKERS.get(name)
        if function is None:
            raise Err(f"no walker named {name}")
        cx = Context(caller)
        try:
            function(cx, **json.loads(context))
        except WalkerError as error:
            raise Err(str(error))
        return Response(status=cx.status, reports=cx.reports, custom=cx.custom)
