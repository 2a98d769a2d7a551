// The capnweb client over wss:// to tether's TLS server: the TestTarget started with
// TESTTARGET_TLS_DIR serves TLS with a certificate from a CA it makes at start and writes to
// $TESTTARGET_TLS_DIR/ca.pem; the `ws` client trusts that CA through its `ca` option. A client
// without it must refuse the certificate. Only against tether's server (TETHER_SERVER=1).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import https from "node:https";
import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession } from "capnweb";
import { startServer, TETHER_SERVER } from "./helpers.mjs";

const skip = TETHER_SERVER ? false : "tether's TLS server: run with TETHER_SERVER=1";

let server;
let ca;
let dir;
before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-tls-js-"));
  server = await startServer(undefined, { TESTTARGET_TLS_DIR: dir });
  ca = fs.readFileSync(path.join(dir, "ca.pem"));
});
after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function open(options) {
  const ws = new WsWebSocket(`wss://127.0.0.1:${server.port}/`, options);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return ws;
}

test("the capnweb client calls tether over wss://", { skip }, async () => {
  const ws = await open({ ca });
  const api = newWebSocketRpcSession(ws);
  try {
    assert.equal(await api.square(9), 81);
    const counter = api.makeCounter(10);
    assert.equal(await counter.increment(5), 15);
  } finally {
    api[Symbol.dispose]();
    ws.close();
  }
});

test("an HTTP batch reaches tether over https://", { skip }, async () => {
  const body = '["push",["pipeline",0,["square"],[7]]]\n["pull",1]';
  const reply = await new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: server.port, path: "/", method: "POST", ca },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
  assert.deepEqual(reply, { status: 200, text: '["resolve",1,49]' });
});

test("a client that does not trust the CA refuses the certificate", { skip }, async () => {
  await assert.rejects(open({}), /self[- ]signed|unable to verify|certificate/i);
});
