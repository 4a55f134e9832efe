"""A chat room that keeps its history, on the persistent graph.

A room is a node its creator owns and lets everyone connect to; each message is a node
spawned from the room by its author, readable by everyone. Posting pushes the message to
the room's channel (its id), so clients that joined with `?channel_id=<room id>` see it live;
the history is the room's messages, in order.

    POST /walker/py_room_create            {"name": "lobby"}    -> the room node
    POST /walker/py_room_post/<room id>    {"text": "hi"}       -> the message node, pushed
    POST /walker/py_room_history/<room id> {}                   -> [message, ...]
"""

from walker import WalkerError, walker


def _room(cx) -> dict:
    room = cx.graph.here()
    if not room["id"].startswith("n:Room:"):
        raise WalkerError("call it on a room: /walker/<name>/<room id>")
    return room


@walker("py_room_create", methods=["websocket", "post"], entry="root")
def room_create(cx, name: str):
    room = cx.graph.spawn(cx.graph.root(), "Room", {"name": name})
    cx.graph.grant(room["id"], None, "connect")  # anyone may post (connect) and read
    cx.report(room)


@walker("py_room_post", methods=["websocket", "post"], entry="node")
def room_post(cx, text: str):
    room = _room(cx)
    if not text.strip():
        raise WalkerError("a message needs text")
    message = cx.graph.spawn(room["id"], "Message", {"text": text, "author": cx.caller.root_id})
    cx.graph.grant(message["id"], None, "read")
    cx.notify_channels([room["id"]], {"type": "message", "room": room["id"], "message": message})
    cx.report(message)


@walker("py_room_history", methods=["websocket", "post"], entry="node")
def room_history(cx):
    cx.report(cx.graph.neighbours(_room(cx)["id"], node_type="Message"))
