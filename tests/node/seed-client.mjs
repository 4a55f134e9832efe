// The seed page's JavaScript client examples (websocket-walkers.md), written the way
// the page writes them, run against the server with the npm `ws` package.
// Usage: node seed-client.mjs http://127.0.0.1:8000   (exits non-zero on the first failure)
import assert from "node:assert/strict";
import WebSocket from "ws";

const base = process.argv[2] ?? "http://127.0.0.1:8000";
const wsUrl = base.replace(/^http/, "ws") + "/websocket";

// Collects a client's messages the way the seed's `client.onmessage` consumes them.
function track(client) {
  const queue = [];
  const waiting = [];
  client.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const waiter = waiting.shift();
    if (waiter) waiter(msg);
    else queue.push(msg);
  };
  return {
    client,
    next: () =>
      queue.length
        ? Promise.resolve(queue.shift())
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("no message within 10 s")), 10_000);
            waiting.push((msg) => {
              clearTimeout(timer);
              resolve(msg);
            });
          }),
  };
}

async function connect(url, options) {
  const client = new WebSocket(url, options);
  const tracked = track(client);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no handshake within 10 s")), 10_000);
    client.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    client.onerror = reject;
  });
  const hello = await tracked.next();
  assert.equal(hello.type, "connection");
  return { ...tracked, hello };
}

async function post(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(base + path, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.json() };
}

const email = `seed-${Date.now()}@example.com`;
assert.equal((await post("/user/register", { email, password: "password" })).status, 201);
const login = await post("/user/login", { email, password: "password" });
assert.equal(login.status, 200);
const token = login.body.token;
const userRoot = `n::${login.body.user.root_id}`;

// NOT AUTHENTICATED - JS LIBRARY
const anonymous = await connect(wsUrl);
assert.equal(anonymous.hello.data.root_id, "n::000000000000000000000001");
assert.match(anonymous.hello.data.client_id, /^\d+:[0-9a-f]{32}$/);

// AUTHENTICATED - JS LIBRARY: change_user after open
const viaEvent = await connect(wsUrl);
viaEvent.client.send(JSON.stringify({ type: "change_user", token: `Bearer ${token}` }));
const changed = await viaEvent.next();
assert.equal(changed.type, "connection");
assert.equal(changed.data.root_id, userRoot);

// AUTHENTICATED - NPM WS LIBRARY: Authorization header
const viaHeader = await connect(`${wsUrl}?channel_id=group-chat`, { headers: { Authorization: `Bearer ${token}` } });
assert.equal(viaHeader.hello.data.root_id, userRoot);
assert.equal(viaHeader.hello.data.channel_id, "group-chat");

// TRIGGER WALKER EVENT
viaHeader.client.send(JSON.stringify({ type: "walker", walker: "your_event_name", response: true, context: { val: 1 } }));
assert.deepEqual(await viaHeader.next(), { status: 200, reports: ["Do something!"] });

// TRIGGER CLIENT EVENT (ex: direct chat)
const chat = { type: "chat", data: { any_field: "any_value" } };
anonymous.client.send(JSON.stringify({ type: "client", client_ids: [viaHeader.hello.data.client_id], data: chat }));
assert.deepEqual(await viaHeader.next(), chat);

// TRIGGER CHANNEL EVENT (ex: group chat or chat blast)
anonymous.client.send(JSON.stringify({ type: "channel", channel_ids: [viaHeader.hello.data.channel_id], data: chat }));
assert.deepEqual(await viaHeader.next(), chat);

// TRIGGER USER EVENT (ex: chat but all target user's client)
anonymous.client.send(JSON.stringify({ type: "user", root_ids: [userRoot], data: chat }));
assert.deepEqual(await viaEvent.next(), chat);
assert.deepEqual(await viaHeader.next(), chat);

// TRIGGER CONNECTION EVENT - to get connection info
anonymous.client.send(JSON.stringify({ type: "connection" }));
assert.deepEqual(await anonymous.next(), anonymous.hello);

// The seed's server-side walkers, called over the socket: consuming "chat" events.
const seedChat = { type: "chat", data: { message: "string" } };
viaEvent.client.send(JSON.stringify({ type: "walker", walker: "send_chat_to_client", context: { client_id: anonymous.hello.data.client_id } }));
assert.deepEqual(await anonymous.next(), seedChat);
viaEvent.client.send(JSON.stringify({ type: "walker", walker: "send_chat_to_group", context: { channel_id: "group-chat" } }));
assert.deepEqual(await viaHeader.next(), seedChat);
viaHeader.client.send(JSON.stringify({ type: "walker", walker: "send_chat_to_user", context: { root_id: userRoot } }));
assert.deepEqual(await viaEvent.next(), seedChat);
assert.deepEqual(await viaHeader.next(), seedChat);

// ...and over REST.
assert.equal((await post("/walker/send_chat_to_group", { channel_id: "group-chat" }, token)).status, 200);
assert.deepEqual(await viaHeader.next(), seedChat);

for (const { client } of [anonymous, viaEvent, viaHeader]) client.close();
console.log("seed JavaScript client examples: all passed");
