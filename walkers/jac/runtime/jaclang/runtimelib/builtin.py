"""jaclang.runtimelib.builtin, as jac2py's output imports it: jac's builtins over the host's
graph, and the typing names generated code takes from here (`static has` is a ClassVar)."""

from typing import ClassVar  # noqa: F401

from jaclang.lib import commit, jobj, perm_grant as grant, perm_revoke, save  # noqa: F401


def revoke(archetype, level=None):
    perm_revoke(archetype)
