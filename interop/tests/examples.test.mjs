// capnweb's batch-pipelining example, its client side run with the pinned capnweb against the
// Rust server in examples/batch-pipelining: what that example's client.mjs does (three
// dependent calls pipelined in one batch, then one call per batch), checked.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { newHttpBatchRpcSession } from "capnweb";
import { assertRejects, startExample } from "./helpers.mjs";

let server;
let rpcUrl;
before(async () => {
  // No artificial delays: nothing here measures time.
  server = await startExample("batch-pipelining", {
    DELAY_AUTH_MS: "0",
    DELAY_PROFILE_MS: "0",
    DELAY_NOTIFS_MS: "0",
  });
  rpcUrl = new URL("/rpc", server.url).href;
});
after(async () => {
  await server?.stop();
});

/** Runs `fn` counting the POSTs it makes to the RPC URL, as the example's client does. */
async function countingPosts(fn) {
  const realFetch = globalThis.fetch;
  let posts = 0;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : "GET");
    if (url.startsWith(rpcUrl) && method === "POST") posts++;
    return realFetch(input, init);
  };
  try {
    return { value: await fn(), posts };
  } finally {
    globalThis.fetch = realFetch;
  }
}

const ADA = { id: "u_1", name: "Ada Lovelace" };

describe("capnweb's batch-pipelining client against the Rust server", () => {
  test("pipelined: authenticate, then profile and notifications from user.id, in one POST", async () => {
    const { value, posts } = await countingPosts(async () => {
      const api = newHttpBatchRpcSession(rpcUrl);
      const user = api.authenticate("cookie-123");
      const profile = api.getUserProfile(user.id);
      const notifications = api.getNotifications(user.id);
      return await Promise.all([user, profile, notifications]);
    });
    const [u, p, n] = value;
    assert.deepEqual(u, ADA);
    assert.equal(p.id, "u_1");
    assert.equal(typeof p.bio, "string");
    assert.ok(p.bio.length > 0);
    assert.ok(Array.isArray(n) && n.length === 2 && n.every((s) => typeof s === "string"), JSON.stringify(n));
    assert.equal(posts, 1);
  });

  test("sequential: a session per call, three POSTs, the same data", async () => {
    const { value, posts } = await countingPosts(async () => {
      const u = await newHttpBatchRpcSession(rpcUrl).authenticate("cookie-123");
      const p = await newHttpBatchRpcSession(rpcUrl).getUserProfile(u.id);
      const n = await newHttpBatchRpcSession(rpcUrl).getNotifications(u.id);
      return { u, p, n };
    });
    assert.deepEqual(value.u, ADA);
    assert.equal(value.p.id, "u_1");
    assert.equal(value.n.length, 2);
    assert.equal(posts, 3);
  });

  test("the second user, and the errors", async () => {
    assert.deepEqual(await newHttpBatchRpcSession(rpcUrl).authenticate("cookie-456"), {
      id: "u_2",
      name: "Alan Turing",
    });
    await assertRejects(newHttpBatchRpcSession(rpcUrl).authenticate("cookie-999"), "Error", "Invalid session");
    await assertRejects(newHttpBatchRpcSession(rpcUrl).getUserProfile("u_404"), "Error", "No such user");
    assert.deepEqual(await newHttpBatchRpcSession(rpcUrl).getNotifications("u_404"), []);
    // A rejected authenticate rejects what was pipelined on it (both awaited in the same tick,
    // so both are in the batch).
    const api = newHttpBatchRpcSession(rpcUrl);
    const user = api.authenticate("bad");
    const profile = api.getUserProfile(user.id);
    await Promise.all([
      assertRejects(user, "Error", "Invalid session"),
      assertRejects(profile, "Error", "Invalid session"),
    ]);
  });

  test("the static page and capnweb's browser build on the same port", async () => {
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /text\/html/);
    assert.match(await page.text(), /main\.js/);
    const lib = await fetch(new URL("/vendor/capnweb.js", server.url));
    assert.equal(lib.status, 200);
    assert.match(lib.headers.get("content-type"), /javascript/);
    assert.match(await lib.text(), /newHttpBatchRpcSession/);
    assert.equal((await fetch(new URL("/nothing-here", server.url))).status, 404);
  });
});
