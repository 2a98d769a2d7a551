// The HTTP proxy example (examples/http-proxy): capnweb in Node calls `fetch(Request)` on the
// Rust proxy, which forwards it to a local origin with hyper and streams the response back. A
// 64 MiB download and a 16 MiB upload pass through, hashed end to end, while the proxy's peak
// memory stays far below the size of the body.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { WebSocket as WsWebSocket } from "ws";
import { newWebSocketRpcSession } from "capnweb";
import { ROOT, startProcess } from "./helpers.mjs";
const DOWNLOAD = 64 * 1024 * 1024;
const UPLOAD = 16 * 1024 * 1024;

const FNV_OFFSET = 0x811c9dc5;
const fnv = (bytes, h = FNV_OFFSET) => {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
};

function pattern(offset, length) {
  const bytes = new Uint8Array(length);
  for (let k = 0; k < length; k++) bytes[k] = (offset + k) % 251;
  return bytes;
}

let origin;
let proxy;
let originUrl;
let proxyUrl;

before(async () => {
  // The origin: GET /big streams the pattern; POST /hash answers the length and FNV of its body.
  origin = http.createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream", "x-origin": "yes" });
      for (let offset = 0; offset < DOWNLOAD; offset += 1 << 20) {
        if (!res.write(pattern(offset, 1 << 20))) await new Promise((r) => res.once("drain", r));
      }
      res.end();
    } else if (req.method === "POST" && req.url === "/hash") {
      let length = 0;
      let h = FNV_OFFSET;
      for await (const chunk of req) {
        length += chunk.length;
        h = fnv(chunk, h);
      }
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ length, fnv: h, type: req.headers["content-type"] }));
    } else {
      res.writeHead(404).end("no such page");
    }
  });
  await new Promise((r) => origin.listen(0, "127.0.0.1", r));
  originUrl = `http://127.0.0.1:${origin.address().port}`;

  execFileSync("cargo", ["build", "--quiet", "-p", "http-proxy"], { cwd: ROOT, stdio: "inherit" });
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(ROOT, "target");
  // Started directly (no shell), so its pid is the proxy's own, for the memory check.
  proxy = await startProcess(path.join(targetDir, "debug", "http-proxy"), ["0"], { ready: /^listening (\d+)$/ });
  const port = Number(proxy.match[1]);
  proxyUrl = `ws://127.0.0.1:${port}/`;
});

after(async () => {
  await proxy?.stop();
  await new Promise((r) => origin?.close(r));
});

async function withProxy(fn) {
  const ws = new WsWebSocket(proxyUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const api = newWebSocketRpcSession(ws);
  try {
    return await fn(api);
  } finally {
    api[Symbol.dispose]();
    ws.close();
  }
}

/** The proxy's peak resident memory so far, in bytes (Linux). */
function peakRss() {
  const status = fs.readFileSync(`/proc/${proxy.child.pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

test("a 64 MiB download streams through the proxy, hashed, without being held whole", async () => {
  await withProxy(async (api) => {
    const response = await api.fetch(new Request(`${originUrl}/big`));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-origin"), "yes");
    let length = 0;
    let h = FNV_OFFSET;
    for await (const chunk of response.body) {
      length += chunk.length;
      h = fnv(chunk, h);
    }
    assert.equal(length, DOWNLOAD);
    assert.equal(h, fnv(pattern(0, DOWNLOAD)));
  });
  const peak = peakRss();
  assert.ok(peak < DOWNLOAD / 2, `the proxy's peak memory ${peak} B should stay well below the ${DOWNLOAD} B body`);
});

test("a 16 MiB upload streams through the proxy to the origin", async () => {
  let offset = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (offset >= UPLOAD) return controller.close();
      controller.enqueue(pattern(offset, 65536));
      offset += 65536;
    },
  });
  const result = await withProxy(async (api) => {
    const request = new Request(`${originUrl}/hash`, {
      method: "POST",
      headers: { "content-type": "application/x-test" },
      body,
      duplex: "half",
    });
    const response = await api.fetch(request);
    assert.equal(response.status, 201);
    return await response.json();
  });
  assert.deepEqual(result, { length: UPLOAD, fnv: fnv(pattern(0, UPLOAD)), type: "application/x-test" });
});

test("errors name what failed", async () => {
  await withProxy(async (api) => {
    const notFound = await api.fetch(new Request(`${originUrl}/nothing`));
    assert.equal(notFound.status, 404);
    assert.equal(await notFound.text(), "no such page");
    await assert.rejects(async () => await api.fetch(new Request("https://example.com/")), /http:\/\/ URLs only/);
  });
});
