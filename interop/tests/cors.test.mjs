// A page of one origin calling tether on another, in headless Chromium: the page is served by a
// static server here (http://localhost:A/, with capnweb's browser build), the RPC endpoint is the
// demo's (`tether-demo --cors-origin ...`, http://127.0.0.1:B/rpc). Over HTTP batch (capnweb's
// plain text/plain POST, which needs no preflight, and one with an Authorization header, which
// does) and over WebSocket:
//
// * with the page's origin allowed, everything works;
// * without CORS, the batches fail (the browser hides the answers), the WebSocket works (no
//   Origin check without an allow-list, as the security guide says);
// * with an allow-list not naming the page's origin, all three fail: tether refuses the
//   WebSocket upgrade itself (browsers do not apply CORS to WebSockets), and the demo's own page
//   (same host) still works.
//
// Skipped without a Chromium unless REQUIRE_BROWSER=1 (see browser.mjs).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { INTEROP_DIR, startExample } from "./helpers.mjs";
import { HAVE_BROWSER, SKIP_BROWSER, launchBrowser } from "./browser.mjs";

/** Waits in the page: generous, the machine may be busy. Nothing waits this long when it works. */
const WAIT_MS = 30_000;

const CAPNWEB_JS = fs.readFileSync(path.join(INTEROP_DIR, "node_modules/capnweb/dist/index.js"));
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>another origin</title></head>
<body><script type="module">
import * as capnweb from "/capnweb.js";
window.capnweb = capnweb;
document.body.dataset.ready = "yes";
</script></body></html>`;

/** The page's origin: a static server on localhost (the RPC server is on 127.0.0.1). */
let pages;
let pageOrigin;
let browser;
before(async () => {
  if (!HAVE_BROWSER) return;
  pages = http.createServer((request, response) => {
    const [type, body] =
      request.url === "/capnweb.js" ? ["text/javascript", CAPNWEB_JS] : ["text/html; charset=utf-8", PAGE];
    response.writeHead(200, { "content-type": type, "cache-control": "no-store" });
    response.end(body);
  });
  await new Promise((resolve, reject) => {
    pages.once("error", reject);
    pages.listen(0, "127.0.0.1", resolve);
  });
  pageOrigin = `http://localhost:${pages.address().port}`;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => (pages ? pages.close(resolve) : resolve()));
});

/**
 * Opens the page of the other origin and, from it, calls `greet` on `rpcUrl` over a plain batch,
 * a batch with an Authorization header (preflighted) and a WebSocket. Returns, for each, the
 * greeting or `error: ...`.
 */
async function callFromOtherOrigin(rpcUrl, name) {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  try {
    await page.goto(`${pageOrigin}/`);
    await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
    assert.equal(await page.evaluate(() => location.origin), pageOrigin);
    return await page.evaluate(
      async ({ rpcUrl, name, waitMs }) => {
        const { newHttpBatchRpcSession, newWebSocketRpcSession } = window.capnweb;
        // A guard against a hang, not a measurement: every call settles long before.
        const settle = (promise) =>
          Promise.race([
            promise,
            new Promise((_, reject) => setTimeout(() => reject(new Error("no answer")), waitMs)),
          ]).then(
            (value) => value,
            (error) => `error: ${error?.message ?? error}`,
          );
        const batch = await settle(newHttpBatchRpcSession(rpcUrl).greet(name));
        const request = new Request(rpcUrl, { headers: { authorization: "Bearer demo" } });
        const preflighted = await settle(newHttpBatchRpcSession(request).greet(name));
        const api = newWebSocketRpcSession(rpcUrl.replace(/^http/, "ws"));
        const websocket = await settle(api.greet(name));
        try {
          api[Symbol.dispose]();
        } catch {
          /* already broken */
        }
        return { batch, preflighted, websocket };
      },
      { rpcUrl, name, waitMs: WAIT_MS },
    );
  } finally {
    await page.close();
  }
}

/** The demo with `args`; returns it and its RPC URL on 127.0.0.1. */
async function demo(args) {
  const server = await startExample("tether-demo", {}, args);
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  return { server, rpcUrl: `${server.url}rpc` };
}

test("an allowed origin calls tether over batch (with and without a preflight) and WebSocket", { skip: SKIP_BROWSER }, async () => {
  const { server, rpcUrl } = await demo(["--cors-origin", pageOrigin]);
  try {
    const [line] = await server.waitForLine(/^CORS: .*$/);
    assert.equal(line, `CORS: pages of ${pageOrigin} may call /rpc`);
    assert.deepEqual(await callFromOtherOrigin(rpcUrl, "Ada"), {
      batch: "Hello, Ada!",
      preflighted: "Hello, Ada!",
      websocket: "Hello, Ada!",
    });
  } finally {
    await server.stop();
  }
});

test("without CORS the page cannot read batch answers (its WebSocket is not checked)", { skip: SKIP_BROWSER }, async () => {
  const { server, rpcUrl } = await demo([]);
  try {
    const results = await callFromOtherOrigin(rpcUrl, "Grace");
    assert.match(results.batch, /^error: Failed to fetch/, JSON.stringify(results));
    assert.match(results.preflighted, /^error: Failed to fetch/, JSON.stringify(results));
    assert.equal(results.websocket, "Hello, Grace!");
  } finally {
    await server.stop();
  }
});

test("an origin not on the allow-list is refused over batch and WebSocket; the server's own page is not", { skip: SKIP_BROWSER }, async () => {
  const { server, rpcUrl } = await demo(["--cors-origin", "http://elsewhere.example"]);
  try {
    const results = await callFromOtherOrigin(rpcUrl, "Barbara");
    assert.match(results.batch, /^error: Failed to fetch/, JSON.stringify(results));
    assert.match(results.preflighted, /^error: Failed to fetch/, JSON.stringify(results));
    assert.match(results.websocket, /^error: /, JSON.stringify(results));
    assert.notEqual(results.websocket, "error: no answer", "the refusal is an answer, not a hang");

    // The demo's own page (same host and port as /rpc) keeps working, over both transports.
    const page = await browser.context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    try {
      await page.goto(server.url);
      await page.waitForFunction(() => document.querySelector("#status")?.textContent === "connected");
      await page.click("#map-run");
      await page.waitForFunction(() => document.querySelectorAll("#map-result li").length === 3);
      assert.equal(await page.locator("#map-result li").first().innerText(), "Hello, Ada!");
    } finally {
      await page.close();
    }
  } finally {
    await server.stop();
  }
});
