"""Python equivalents of the seed's chat walkers, plus one that reports its context."""

from walker import GraphError, WalkerError, WitWorld, walker  # noqa: F401  (WitWorld is the export)
import room  # noqa: F401  (registers the chat room walkers)
import typed  # noqa: F401  (registers a walker with typing's field types)
import walks  # noqa: F401  (registers the walkers that walk the graph as jac does)

CHAT = {"type": "chat", "data": {"message": "string"}}


@walker("py_send_chat_to_user", methods=["websocket", "post"])
def send_chat_to_user(cx, root_id: str):
    cx.notify_users([root_id], CHAT)


@walker("py_send_chat_to_group", methods=["websocket", "post"])
def send_chat_to_group(cx, channel_id: str):
    cx.notify_channels([channel_id], CHAT)


@walker("py_send_chat_to_client", methods=["websocket", "post"])
def send_chat_to_client(cx, client_id: str):
    cx.notify_clients([client_id], CHAT)


@walker("py_report_context", methods=["websocket", "post"], auth=False)
def report_context(cx, name: str, count: int = 1):
    if count < 0:
        raise WalkerError("count must not be negative")
    cx.report({"name": name, "count": count, "root_id": cx.caller.root_id, "language": "python"})


@walker("py_documented", methods=["websocket", "post"], auth=False, summary="A documented walker",
        description="Reports its fields.", tags=["examples"], deprecated=True, excluded=["note"],
        response_model={"type": "object", "title": "Documented"})
def documented(cx, val: int, note: str = "set by the server"):
    cx.report({"val": val, "note": note})


@walker("py_internal", methods=["websocket", "post"], auth=False, private=True)
def internal(cx):
    cx.report("reached")


@walker("py_my_account", methods=["websocket", "post"], auth=False)
def my_account(cx):
    """The caller's account (with the app's user fields), or None when anonymous."""
    cx.report(cx.account())


RUNS = [0]


@walker("py_warm_count", methods=["websocket", "post"], auth=False, warm_runs=3)
def warm_count(cx):
    """Counts the runs its instance has served: a warm instance keeps module globals."""
    RUNS[0] += 1
    cx.report(RUNS[0])


@walker("py_make_note", methods=["websocket", "post"])
def make_note(cx, text: str):
    """`root ++> Note(text=…)`; the same walker exists in every example language."""
    cx.report(cx.graph.spawn(cx.graph.root(), "Note", {"text": text}))


@walker("py_list_notes", methods=["websocket", "post"])
def list_notes(cx):
    cx.report(cx.graph.neighbours(cx.graph.root(), node_type="Note"))


@walker("py_refusal_kinds", methods=["websocket", "post"], auth=False)
def refusal_kinds(cx, id: str):
    """Each graph refusal by its kind: updating node `id`, and a filter that is not an object."""
    def kind(call):
        try:
            call()
            return "ok"
        except GraphError as error:
            return error.kind
    root = cx.graph.root()
    cx.report({"update": kind(lambda: cx.graph.update(id, {"name": "changed"})),
               "filter": kind(lambda: cx.graph.neighbours(root, equals="a"))})
