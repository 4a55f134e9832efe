"""Write jac-cloud walkers in Python: a decorated function per walker.

    from walker import walker, WalkerError

    @walker("py_public_group", methods=["websocket", "post"], auth=False)
    def public_group(cx, channel_id: str, msg: str = "hi"):
        cx.notify_channels([channel_id], {"type": "chat", "data": {"message": msg}})

The function's parameters after `cx` are the walker's fields: their annotations give the
jac type (str, int, float, bool, list, dict; anything else is "any") and their defaults
make them optional. The server validates the context before the function runs. Raise
`WalkerError` to fail with a message; `cx` reports, sets the status and notifies.

The app module must expose `WitWorld` (`from walker import WitWorld`), which componentize-py
exports as the component.
"""

import inspect
import json
from typing import Any, Callable, Dict, List, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import log as _log
from wit_world.imports import socket as _socket
from wit_world.imports.types import Caller, EntryType, Field, FieldType, Method, Response, WalkerSpec

__all__ = ["walker", "Context", "WalkerError", "WitWorld", "log"]

def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


_TYPES = {str: FieldType.STR, int: FieldType.INT, float: FieldType.FLOAT, bool: FieldType.BOOL,
          list: FieldType.LIST, dict: FieldType.DICT}
_METHODS = {"websocket": Method.WEBSOCKET, "get": Method.GET, "post": Method.POST, "put": Method.PUT,
            "patch": Method.PATCH, "delete": Method.DELETE}


class WalkerError(Exception):
    """A walker failure; its message reaches the caller."""


class Context:
    """The running walker's view of its call: the caller, and what it reports."""

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
           entry: str = "both") -> Callable:
    """Registers the decorated function as walker `name` (jac-cloud's `__specs__` as arguments).

    `warm_runs` > 0 lets one instance serve that many runs of the same user instead of a
    fresh instance per run: much faster for Python, but module globals persist between runs.
    `entry` ("both", "root" or "node") is jac-cloud's `entry_type`: which REST routes it has.
    """

    def register(function: Callable[..., None]) -> Callable[..., None]:
        fields = []
        for parameter in list(inspect.signature(function).parameters.values())[1:]:
            kind = _TYPES.get(parameter.annotation, FieldType.ANY)
            default = None if parameter.default is inspect.Parameter.empty else _json(parameter.default)
            fields.append(Field(name=parameter.name, type=kind, default=default))
        _SPECS.append(WalkerSpec(name=name, methods=[_METHODS[m] for m in (methods or [])], auth=auth,
                                 as_query=list(as_query or []), path=path, fields=fields, warm_runs=warm_runs,
                                 entry=_ENTRY_TYPES[entry]))
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
