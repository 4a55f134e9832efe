"""The component's export for a jac-cloud app: every walker of the module `jacapp` (what
`jac jac2py` made of the .jac file), with its `has` fields and `__specs__` as a
WalkerSpec, run by the Jac runtime's `spawn`.

componentize-py runs this module once, when it builds the component, and keeps what it
made: so every module the app imports, even inside an ability, is imported here, from
the generated source; inside the sandbox there is no file to import from.
"""

import ast
import dataclasses
import importlib
import json
import sys
import types
import typing

from wit_world.imports import log as _log


class _LogWriter:
    """`print` inside the sandbox: a component without WASI has no standard output, so
    each line goes to the host's log."""

    def write(self, text):
        for line in text.splitlines():
            if line.strip():
                _log.log(_log.Level.INFO, line)
        return len(text)

    def flush(self):
        pass


sys.stdout = sys.stderr = _LogWriter()

import jacapp  # noqa: E402  (the generated module: its archetypes register themselves)
import wit_world  # noqa: E402
from componentize_py_types import Err  # noqa: E402
from jac_cloud.jaseci.models import User as BaseUser  # noqa: E402
from jaclang import lib  # noqa: E402
from wit_world.imports import declare as _declare  # noqa: E402
from wit_world.imports.types import EntryType, Field, FieldType, Method, Response, WalkerSpec  # noqa: E402


def _import_everything_the_app_names():
    with open(jacapp.__file__) as source:
        tree = ast.parse(source.read())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # the app then fails where it imports it, with Python's own message


_import_everything_the_app_names()

_TYPES = {str: FieldType.STR, int: FieldType.INT, float: FieldType.FLOAT, bool: FieldType.BOOL,
          list: FieldType.LIST, dict: FieldType.DICT}
_METHODS = {m: getattr(Method, m.upper()) for m in ("websocket", "get", "post", "put", "patch", "delete")}
_ENTRY = {"both": EntryType.BOTH, "root": EntryType.ROOT, "node": EntryType.NODE}
# jac-cloud's `__specs__` options that the host has no equivalent for: reported at load.
_UNHONOURED = ("schedule", "status_code", "responses", "name", "openapi_extra", "response_description")


def _field_type(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        present = [a for a in typing.get_args(hint) if a is not type(None)]
        return _field_type(present[0]) if len(present) == 1 else FieldType.ANY
    return _TYPES.get(typing.get_origin(hint) or hint, FieldType.ANY)


def _default(field):
    if field.default is not dataclasses.MISSING:
        return json.dumps(lib.to_json(field.default))
    if field.default_factory is not dataclasses.MISSING:
        return json.dumps(lib.to_json(field.default_factory()))
    return None


def _specs_of(cls):
    return {k: v for k, v in vars(getattr(cls, "__specs__", object)).items() if not k.startswith("__")}


def _warn(message):
    _log.log(_log.Level.WARN, message)


def _spec(cls):
    """The walker's spec and options; warns of each option the host does not honour."""
    specs = _specs_of(cls)
    hints = lib._hints(cls)
    fields = [Field(name=f.name, type=_field_type(hints.get(f.name, typing.Any)), default=_default(f))
              for f in dataclasses.fields(cls)]
    as_query = specs.get("as_query", [])
    as_query = [f.name for f in fields] if as_query == "*" else list(as_query)
    methods = [m.lower() for m in specs.get("methods", ["post"])]
    for option in [k for k in specs if k in _UNHONOURED] + [m for m in methods if m not in _METHODS]:
        _warn(f"walker {cls.__name__}: jac-cloud's {option!r} is not supported here and is ignored")
    excluded = specs.get("excluded", [])
    options = _declare.WalkerOptions(
        walker=cls.__name__, summary=specs.get("summary"), description=specs.get("description"),
        tags=specs.get("tags"), deprecated=bool(specs.get("deprecated", False)),
        include_in_schema=specs.get("include_in_schema", True), private=specs.get("private", False),
        excluded=[excluded] if isinstance(excluded, str) else list(excluded), response_schema=None)
    spec = WalkerSpec(name=cls.__name__, methods=[_METHODS[m] for m in methods if m in _METHODS],
                      auth=specs.get("auth", True), as_query=as_query, path=specs.get("path"), fields=fields,
                      warm_runs=0, entry=_ENTRY[str(specs.get("entry_type", "both")).lower()], vars=[])
    return spec, options


def _served(cls):
    if "webhook" in _specs_of(cls):
        _warn(f"walker {cls.__name__}: webhook walkers are not served yet; left out")
        return False
    return True


_APP_WALKERS = {name: cls for name, cls in lib.REGISTRY.items()
                if issubclass(cls, lib.Walker) and cls.__module__ == "jacapp"}


def _user_fields():
    """The fields of the app's `class User(BaseUser)` (jac-cloud's account model), as
    walker fields are read."""
    fields = []
    for cls in vars(jacapp).values():
        if not (isinstance(cls, type) and issubclass(cls, BaseUser) and cls is not BaseUser):
            continue
        for name, hint in typing.get_type_hints(cls, vars(jacapp)).items():
            default = cls.__dict__.get(name, dataclasses.MISSING)
            default = None if default is dataclasses.MISSING else json.dumps(lib.to_json(default))
            fields.append(Field(name=name, type=_field_type(hint), default=default))
    return fields


def _computed_access():
    """Node types whose `__jac_access__` returns one of their fields."""
    found = []
    for name, cls in lib.REGISTRY.items():
        access = cls.__dict__.get("__jac_access__")
        if issubclass(cls, lib.Node) and access and len(access.__code__.co_names) == 1:
            found.append(_declare.ComputedAccess(node_type=name, field=access.__code__.co_names[0]))
    return found


class WitWorld(wit_world.WitWorld):
    def walkers(self):
        served = {name: cls for name, cls in _APP_WALKERS.items() if _served(cls)}
        specs = [_spec(cls) for cls in served.values()]
        _declare.jac_cloud_access(list(served), _computed_access())
        # jac-cloud runs its public walkers on the public root over REST, token or not.
        _declare.public_root([spec.name for spec, _ in specs if not spec.auth])
        _declare.user_fields(_user_fields())
        for _, options in specs:
            _declare.spec_options(options)
        return [spec for spec, _ in specs]

    def run(self, name, caller, context):
        cls = _APP_WALKERS.get(name)
        if cls is None:
            raise Err(f"no walker named {name}")
        try:
            run = lib.run_walker(cls, json.loads(context))
        except Exception as error:
            raise Err(f"{type(error).__name__}: {error}")
        return Response(status=run.status, reports=run.reports, custom=run.custom)
