"""jaclang 0.9's `jaclang.lib`, as the Jac runtime of a walker component.

`jac jac2py app.jac` (jaclang 0.9.0, the version jac-cloud 0.2.11 pins) turns a jac app into
plain Python that calls `jaclang.lib` (Node, Walker, OPath, refs, connect, visit, log_report…).
This module implements that surface over the host's `jac:walker/graph` interface instead of
jaclang's own machine (which imports its whole compiler and does not fit the sandbox):
nodes are dataclasses whose contexts are JSON in the host; a run holds one copy of each, and
saves changed fields when it ends (jac's implicit save). Not covered yet (the README says
so): changes to an edge's fields are not saved, and `del -->` with an edge filter raises.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import sys
import types
import typing
from typing import Any, Callable, Optional

from wit_world.imports import graph as _g
from wit_world.imports import respond as _respond
from componentize_py_types import Err

REGISTRY: dict[str, type] = {}  # jac type name -> class (nodes, edges, objs, walkers)


class EdgeDir(enum.Enum):
    IN = "in"
    OUT = "out"
    ANY = "both"


# ---------------------------------------------------------------- archetypes

def on_entry(func: Callable) -> Callable:
    func.__jac_when__ = "entry"
    return func


def on_exit(func: Callable) -> Callable:
    func.__jac_when__ = "exit"
    return func


def impl_patch_filename(_file: str) -> Callable:
    return lambda func: func


class _Ability:
    def __init__(self, cls: type, func: Callable):
        self.cls, self.func, self._trigger = cls, func, ...

    @property
    def trigger(self) -> Any:
        """The ability's `with X entry` type (the 2nd parameter's annotation), or None."""
        if self._trigger is ...:
            module = sys.modules[self.func.__module__].__dict__
            params = list(typing.get_type_hints(self.func, module, dict(REGISTRY)).items())
            params = [(n, t) for n, t in params if n != "return"]
            self._trigger = params[0][1] if params else None
        return self._trigger


class Archetype:
    __jac_base__ = True
    _jac_id = None  # (no annotations here: they would become dataclass fields)
    _jac_entry_funcs_ = []
    _jac_exit_funcs_ = []

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.__dict__.get("__jac_base__"):
            return
        for when in ("entry", "exit"):
            inherited = {a.func.__name__: a for a in getattr(cls, f"_jac_{when}_funcs_")}
            for f in cls.__dict__.values():
                if getattr(f, "__jac_when__", None) == when:
                    inherited[f.__name__] = _Ability(cls, f)
            setattr(cls, f"_jac_{when}_funcs_", list(inherited.values()))
        dataclasses.dataclass(eq=False)(cls)
        REGISTRY[cls.__name__] = cls

    def __jac_access__(self) -> Any:
        return None

    @property
    def __jac__(self) -> "Anchor":
        """jac-cloud's anchor of a stored archetype, as apps read it: its `id`."""
        return Anchor(_persist(self).rsplit(":", 1)[-1])


class Anchor:
    """`archetype.__jac__`: the stored archetype's id, the 24 hex MongoDB would hold."""

    def __init__(self, id: str):
        self.id = id


class Node(Archetype):
    __jac_base__ = True
    _prefix = "n"


class Edge(Archetype):
    __jac_base__ = True
    _prefix = "e"


class Obj(Archetype):
    __jac_base__ = True
    _prefix = "o"


class Walker(Archetype):
    __jac_base__ = True
    __jac_async__ = False


class Root(Node):
    __jac_base__ = True


class GenericEdge(Edge):
    __jac_base__ = True


for _base in (Archetype, Node, Edge, Obj, Walker, Root, GenericEdge):
    dataclasses.dataclass(eq=False)(_base)


def _type_name(obj: Any) -> str:
    return "" if isinstance(obj, (Root, GenericEdge)) else type(obj).__name__


# ---------------------------------------------------------------- JSON <-> objects

def to_json(value: Any, top: bool = True) -> Any:
    """A value as jac-cloud reports it: a stored archetype `{"id", "context"}`, an obj inside
    a context its fields, an enum its member name."""
    if isinstance(value, Archetype):
        if top and isinstance(value, (Node, Edge)) or (top and value._jac_id):
            out = {"id": _persist(value), "context": _context(value)}
            if isinstance(value, Edge):
                out["source"], out["target"] = value.__dict__["_jac_ends"]
            return out
        return _context(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [to_json(v, top) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v, top) for k, v in value.items()}
    return value


def _context(obj: Archetype) -> dict:
    return {f.name: to_json(getattr(obj, f.name), False) for f in dataclasses.fields(obj)}


def _hints(cls: type) -> dict:
    try:
        return typing.get_type_hints(cls, None, dict(REGISTRY))
    except Exception:
        return {}


def from_json(hint: Any, value: Any) -> Any:
    """A JSON value as the annotated type wants it: dicts to objs, names/values to enums."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for member in args:
            if member is not type(None):
                try:
                    return from_json(member, value)
                except Exception:
                    continue
        return value
    if origin is list and isinstance(value, list) and args:
        return [from_json(args[0], v) for v in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: from_json(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
        return hint[value] if value in hint.__members__ else hint(value)
    if isinstance(hint, type) and issubclass(hint, Archetype) and isinstance(value, dict):
        return build(hint, value)
    return value


def build(cls: type, context: dict) -> Any:
    hints = _hints(cls)
    return cls(**{k: from_json(hints.get(k, Any), v) for k, v in context.items()})


# ---------------------------------------------------------------- the run

class _Held(dict):
    """jac-cloud's `__mem__`: what the run's end saves. Cleared (as jac-cloud's own tests
    do, to "simulate no auto save"), nothing the run changed so far is saved."""

    def clear(self) -> None:
        super().clear()
        _CTX.held.clear()


class _Garbage(set):
    """jac-cloud's `__gc__`: what the run's end deletes, here the host's orphan rule.
    Cleared, it spares every node the run left without edges."""

    def clear(self) -> None:
        super().clear()
        _g.keep(None)


class _Mem:
    """`get_context().mem`, as jac-cloud apps reach into it."""

    def __init__(self) -> None:
        self.__mem__ = _Held()
        self.__gc__ = _Garbage()


class ExecutionContext:
    def __init__(self) -> None:
        self.status = 200
        self.reports: list = []
        self.custom: Any = None
        self.mem = _Mem()
        self.held: dict[str, tuple[Archetype, str]] = {}  # id -> (object, context JSON as loaded)


_CTX: Optional[ExecutionContext] = None


def get_context() -> ExecutionContext:
    return _CTX


def _host(fn: Callable, *args: Any) -> Any:
    try:
        return fn(*args)
    except Err as err:
        raise RuntimeError(f"{type(err.value).__name__}: {err.value.value}") from None


def _hold(raw: dict) -> Archetype:
    """The run's one copy of the stored node/edge/object `raw`."""
    id = raw["id"]
    if id in _CTX.held:
        return _CTX.held[id][0]
    prefix, type_name = id.split(":")[:2]
    if prefix == "n" and not type_name:
        obj = Root()
    elif prefix == "e" and not type_name:
        obj = GenericEdge()
    else:
        obj = build(REGISTRY[type_name], raw["context"])
    obj._jac_id = id
    if prefix == "e":
        obj.__dict__["_jac_ends"] = (raw["source"], raw["target"])
    _CTX.held[id] = (obj, json.dumps(raw["context"], sort_keys=True))
    return obj


def _loaded(text: str) -> Archetype:
    return _hold(json.loads(text))


def _persist(obj: Archetype) -> str:
    """The object's id, storing it first if the run made it (`save(Item(..))`)."""
    if obj._jac_id is None:
        create = _g.create if isinstance(obj, Node) else _g.create_object
        raw = json.loads(_host(create, type(obj).__name__, json.dumps(_context(obj))))
        obj._jac_id = raw["id"]
        _CTX.held[raw["id"]] = (obj, json.dumps(raw["context"], sort_keys=True))
    return obj._jac_id


def _save_changes() -> None:
    for id, (obj, loaded) in list(_CTX.held.items()):
        if id.startswith("n::") or id.startswith("e:"):
            continue
        now = _context(obj)
        if json.dumps(now, sort_keys=True) != loaded:
            before = json.loads(loaded)
            changed = {k: v for k, v in now.items() if before.get(k) != v}
            _host(_g.update, id, json.dumps(changed))
            _CTX.held[id] = (obj, json.dumps(now, sort_keys=True))


def root() -> Root:
    return _loaded(_g.get(_g.root()))


# ---------------------------------------------------------------- graph operations

class OPath:
    """`[here -->]`, `[here ->:E:->](`?T)`, `[edge -->]` as jac2py writes them."""

    def __init__(self, origin: Any):
        self.origin = origin if isinstance(origin, list) else [origin]
        self.steps: list = []
        self.edge_only = self.from_visit = False

    def _step(self, d: str, edge: Optional[Callable], node: Optional[Callable]) -> "OPath":
        self.steps.append((d, edge, node))
        return self

    def edge_out(self, edge=None, node=None): return self._step("out", edge, node)
    def edge_in(self, edge=None, node=None): return self._step("in", edge, node)
    def edge_any(self, edge=None, node=None): return self._step("both", edge, node)

    def edge(self) -> "OPath":
        self.edge_only = True
        return self

    def visit(self) -> "OPath":
        self.from_visit = True
        return self


_DIRS = {"out": _g.Direction.OUT, "in": _g.Direction.IN, "both": _g.Direction.BOTH}


def _query(fn: Callable, node: str, direction: str) -> list:
    items, cursor = [], None
    while True:
        q = _g.Query(direction=_DIRS[direction], edge_type=None, node_type=None, equals=None,
                     limit=0, cursor=cursor)
        page = json.loads(_host(fn, node, q))
        items += page["items"]
        cursor = page["cursor"]
        if cursor is None:
            return items


def refs(path: Any) -> list:
    if not isinstance(path, OPath):
        path = OPath(path).edge_out()
    current = path.origin
    for i, (direction, edge_f, node_f) in enumerate(path.steps):
        last = i == len(path.steps) - 1
        nxt: list = []
        for origin in current:
            oid = _persist(origin)
            if edge_f is None and not (last and path.edge_only):
                nodes = [_hold(n) for n in _query(_g.neighbours, oid, direction)]
                nxt += [n for n in nodes if node_f is None or node_f(n)]
                continue
            for raw in _query(_g.edges, oid, direction):
                e = _hold(raw)
                if edge_f is not None and not edge_f(e):
                    continue
                other = raw["target"] if raw["source"] == oid else raw["source"]
                n = _loaded(_g.get(other))
                if node_f is None or node_f(n):
                    nxt.append(e if last and path.edge_only else n)
        current = nxt
    return current


def filter_on(items: list, func: Callable) -> list:
    return [i for i in items if func(i)]


def connect(left: Any, right: Any, edge: Any = None, undir: bool = False,
            conn_assign: Any = None, edges_only: bool = False) -> Any:
    lefts = left if isinstance(left, list) else [left]
    rights = right if isinstance(right, list) else [right]
    if isinstance(edge, type):
        edge = edge()
    etype = "" if edge is None else _type_name(edge)
    ectx = "{}" if edge is None else json.dumps(_context(edge))
    edges = []
    for l in lefts:
        for r in rights:
            if r._jac_id is None and isinstance(r, Node):  # `l ++> Item(..)`: one host call
                raw = json.loads(_host(_g.spawn, _persist(l), etype, ectx, type(r).__name__,
                                       json.dumps(_context(r))))
                r._jac_id = raw["id"]
                _CTX.held[raw["id"]] = (r, json.dumps(raw["context"], sort_keys=True))
                continue
            edges.append(_loaded(_host(_g.connect, _persist(l), _persist(r), etype, ectx)))
    return edges if edges_only else right


def build_edge(*args: Any, **kw: Any) -> Any:
    raise NotImplementedError("build_edge")


def disconnect(left: Any, right: Any, dir: Any = EdgeDir.OUT, filter: Any = None) -> bool:
    if filter is not None:
        raise NotImplementedError("del --> with an edge filter")
    removed = 0
    for l in left if isinstance(left, list) else [left]:
        for r in right if isinstance(right, list) else [right]:
            a, b = (r, l) if dir == EdgeDir.IN else (l, r)
            removed += _host(_g.disconnect, _persist(a), _persist(b), None)
    return removed > 0


def destroy(objs: Any) -> None:
    for obj in objs if isinstance(objs, list) else [objs]:
        if obj is not None and obj._jac_id is not None:
            _host(_g.delete, obj._jac_id)
            _CTX.held.pop(obj._jac_id, None)


def reset_graph(root: Any = None) -> int:
    n = _host(_g.reset)
    _CTX.held = {k: v for k, v in _CTX.held.items() if k.startswith("n::")}
    return n


_LEVELS = {"NO_ACCESS": _g.Level.NO_ACCESS, "READ": _g.Level.READ, "CONNECT": _g.Level.CONNECT,
           "WRITE": _g.Level.WRITE}


def _level(level: Any) -> Any:
    if isinstance(level, int) and not isinstance(level, bool):
        level = list(_LEVELS)[level + 1]
    return _LEVELS[str(level).upper()]


def perm_grant(archetype: Archetype, level: Any = "READ") -> None:
    _host(_g.grant, _persist(archetype), None, _level(level))


def perm_revoke(archetype: Archetype) -> None:
    _host(_g.revoke, _persist(archetype), None)


def allow_root(archetype: Archetype, root_id: Any, level: Any = "READ") -> None:
    _host(_g.grant, _persist(archetype), str(root_id), _level(level))


def disallow_root(archetype: Archetype, root_id: Any, level: Any = None) -> None:
    _host(_g.revoke, _persist(archetype), str(root_id))


def commit(anchor: Any = None) -> None:
    _save_changes()
    _g.keep(None if anchor is None or anchor._jac_id is None else anchor._jac_id)


def save(obj: Archetype) -> None:
    if isinstance(obj, Walker):
        raise NotImplementedError("save(walker): no stored walkers in jac:walker/graph")
    _persist(obj)
    _save_changes()


def jobj(id: str) -> Optional[Archetype]:
    raw = _g.get(id)
    return None if raw is None else _loaded(raw)


def log_report(expr: Any, custom: bool = False) -> None:
    if not custom:
        _CTX.reports.append(json.dumps(to_json(expr)))
        return
    kind = type(expr).__name__
    if kind == "HTMLResponse":
        _respond.body(expr.media_type, expr.body)
    elif kind == "StreamingResponse":
        for chunk in expr.content:
            try:
                _respond.stream(expr.media_type, str(chunk))
            except Err:
                return
    else:
        _CTX.custom = json.dumps(to_json(expr, top=False))


# ---------------------------------------------------------------- walking (jaclang 0.9 spawn_call)

class _Walk:
    def __init__(self) -> None:
        self.next: list = []
        self.disengaged = False


def visit(walker: Walker, expr: Any, insert_loc: int = -1) -> bool:
    walk = walker.__dict__.setdefault("_jac_walk", _Walk())
    targets = expr if isinstance(expr, list) else [expr]
    if insert_loc < -len(walk.next):
        insert_loc = 0
    elif insert_loc < 0:
        insert_loc += len(walk.next) + 1
    walk.next[insert_loc:insert_loc] = targets
    return bool(targets)


def disengage(walker: Walker) -> None:
    walker.__dict__.setdefault("_jac_walk", _Walk()).disengaged = True


def _matches(trigger: Any, obj: Any, base: type) -> bool:
    members = typing.get_args(trigger) or (trigger,)
    return all(isinstance(m, type) and issubclass(m, base) for m in members) and isinstance(obj, members)


def spawn(a: Any, b: Any) -> Walker:
    walker, loc = (a, b) if isinstance(a, Walker) else (b, a)
    walk = walker.__dict__.setdefault("_jac_walk", _Walk())
    walk.next.append(loc)
    w_in, w_out = type(walker)._jac_entry_funcs_, type(walker)._jac_exit_funcs_
    steps = lambda: walk.disengaged
    for ab in w_in:
        if ab.trigger is None:
            ab.func(walker, loc)
            if steps(): return walker
    while walk.next:
        loc = walk.next.pop(0)
        n_in, n_out = type(loc)._jac_entry_funcs_, type(loc)._jac_exit_funcs_
        for funcs, me, other, base, typed in (
                (w_in, walker, loc, Archetype, True), (n_in, loc, walker, None, False),
                (n_in, loc, walker, Walker, True), (n_out, loc, walker, Walker, True),
                (n_out, loc, walker, None, False), (w_out, walker, loc, Archetype, True)):
            for ab in funcs:
                trig = ab.trigger
                if (not typed and trig is None) or (typed and trig is not None and _matches(
                        trig, other, (Node, Edge) if base is Archetype else base)):
                    ab.func(me, other)
                if steps(): return walker
    for ab in w_out:
        if ab.trigger is None:
            ab.func(walker, loc)
            if steps(): return walker
    return walker


# ---------------------------------------------------------------- the WIT world

def run_walker(cls: type, context: dict) -> ExecutionContext:
    global _CTX
    _CTX = ExecutionContext()
    walker = build(cls, context)
    spawn(walker, _loaded(_g.here()))
    _save_changes()
    return _CTX
