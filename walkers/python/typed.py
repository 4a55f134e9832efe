"""A walker whose fields use typing's forms, under postponed annotations: each declares
its real jac type (`list[str]` a list, `Optional[int]` an int that may be omitted or
null), so the server checks it before the walker runs."""

from __future__ import annotations

from typing import Optional

from walker import walker


@walker("py_typed_fields", methods=["websocket", "post"], auth=False)
def typed_fields(cx, tags: list[str], limit: Optional[int] = None, scores: dict[str, float] | None = None):
    cx.report({"tags": tags, "limit": limit, "scores": scores})
