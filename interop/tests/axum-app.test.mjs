// The axum example app (examples/axum-app) with the real capnweb client: static files and the
// RPC route of one axum Router, a bearer token checked by an axum middleware and turned into a
// per-session capability, over HTTP batch (token in the Authorization header of a Request) and
// WebSocket (header set through the `ws` package, or `?access_token=` as a browser must).
//
// The app is started as `$AXUM_APP_CMD PORT` (CI sets it to the built binary); by default with
// `cargo run -q -p axum-app --` (which builds it first).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession, newHttpBatchRpcSession } from "capnweb";
import { startServer, uniqueTag } from "./helpers.mjs";

const CMD = process.env.AXUM_APP_CMD || "cargo run -q -p axum-app --";

let app;
let base;
before(async () => {
  app = await startServer(CMD);
  base = `127.0.0.1:${app.port}`;
});
after(async () => {
  await app?.stop();
});

function batch(token) {
  const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  return newHttpBatchRpcSession(new Request(`http://${base}/api`, { headers }));
}

/** A WebSocket session; resolves once open, rejects with the HTTP status if refused. */
async function webSocket({ token, query } = {}) {
  const url = query === undefined ? `ws://${base}/api` : `ws://${base}/api?access_token=${query}`;
  const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  const ws = new WsWebSocket(url, { headers });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
  const api = newWebSocketRpcSession(ws);
  return {
    api,
    close() {
      api[Symbol.dispose]();
      ws.close();
    },
  };
}

test("the static files are served beside the RPC route", async () => {
  const page = await fetch(`http://${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /tether inside an axum app/);
  const script = await fetch(`http://${base}/app.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type"), /javascript/);
});

test("an HTTP batch with a token gets that user's notebook", async () => {
  const note = uniqueTag("batch-note");
  const api = batch("alice-secret");
  const [who, count] = await Promise.all([api.whoami(), api.addNote(note)]);
  assert.equal(who, "alice");
  assert.ok(count >= 1);
  const notes = await batch("alice-secret").notes();
  assert.ok(notes.includes(note), JSON.stringify(notes));
});

test("an HTTP batch without a valid token is refused with 401 and runs nothing", async () => {
  // An RpcPromise is a thenable function, not a Promise: await it inside an async function.
  await assert.rejects(async () => await batch().whoami(), /RPC request failed: 401/);
  await assert.rejects(async () => await batch("wrong").whoami(), /RPC request failed: 401/);
  const raw = await fetch(`http://${base}/api`, { method: "POST", body: '["pull",1]' });
  assert.equal(raw.status, 401);
  assert.equal(raw.headers.get("www-authenticate"), "Bearer");
});

test("a WebSocket session with the token in a header is that user's, and users are kept apart", async () => {
  const note = uniqueTag("ws-note");
  const alice = await webSocket({ token: "alice-secret" });
  const bob = await webSocket({ token: "bob-secret" });
  try {
    assert.equal(await alice.api.whoami(), "alice");
    assert.equal(await bob.api.whoami(), "bob");
    await alice.api.addNote(note);
    assert.ok((await alice.api.notes()).includes(note));
    assert.ok(!(await bob.api.notes()).includes(note));
  } finally {
    alice.close();
    bob.close();
  }
});

test("a WebSocket session with the token in the query, as a browser opens it", async () => {
  const s = await webSocket({ query: "bob-secret" });
  try {
    assert.equal(await s.api.whoami(), "bob");
  } finally {
    s.close();
  }
});

test("a WebSocket without a valid token is refused with 401 before the upgrade", async () => {
  await assert.rejects(webSocket(), /refused: 401/);
  await assert.rejects(webSocket({ token: "stolen" }), /refused: 401/);
  await assert.rejects(webSocket({ query: "stolen" }), /refused: 401/);
});
