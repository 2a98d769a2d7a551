// Streams and the Fetch API types with the capnweb client: ReadableStream and WritableStream in
// both directions (values and megabytes of bytes, hashed), errors in the middle, aborts and
// disconnects, Request/Response with streamed bodies, Headers, URL and Blob, and small calls
// answered while a large stream flows.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openWs, withApi, TRANSPORTS, pollUntil, uniqueTag, assertRejects, TETHER_SERVER } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const FNV_OFFSET = 0x811c9dc5;
function fnv(bytes, h = FNV_OFFSET) {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
const hex = (h) => (h >>> 0).toString(16).padStart(8, "0");

function pattern(offset, length) {
  const bytes = new Uint8Array(length);
  for (let k = 0; k < length; k++) bytes[k] = (offset + k) % 251;
  return bytes;
}

/** The FNV of the pattern of `total` bytes. */
const patternFnv = (total) => hex(fnv(pattern(0, total)));

/** A ReadableStream of the pattern of `total` bytes, in chunks of `chunk`. */
function patternStream(total, chunk = 65536) {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= total) return controller.close();
      const length = Math.min(chunk, total - offset);
      controller.enqueue(pattern(offset, length));
      offset += length;
    },
  });
}

async function readAll(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function withWs(fn) {
  const s = await openWs(server);
  try {
    return await fn(s.api, s);
  } finally {
    s.close();
  }
}

describe("ReadableStream from the server", () => {
  test("streamNumbers yields 0 … n-1, then ends", async () => {
    const chunks = await withWs(async (api) => readAll(await api.streamNumbers(50)));
    assert.deepEqual(chunks, Array.from({ length: 50 }, (_, i) => i));
  });

  test("streamBytes: megabytes in chunks, hashed", async () => {
    const total = 3 * 1024 * 1024 + 17;
    const chunks = await withWs(async (api) => readAll(await api.streamBytes(total, 100000)));
    assert.ok(chunks.every((c) => c instanceof Uint8Array && c.length <= 100000));
    const length = chunks.reduce((n, c) => n + c.length, 0);
    assert.equal(length, total);
    let h = FNV_OFFSET;
    for (const c of chunks) h = fnv(c, h);
    assert.equal(hex(h), patternFnv(total));
  });

  test("streamFailing: the error reaches the reader, after the chunks it did not overtake", async () => {
    // A JavaScript stream that errors discards the chunks still queued in it, so the reader sees
    // a prefix of the chunks (in order), then the error.
    await withWs(async (api) => {
      const reader = (await api.streamFailing(3)).getReader();
      const seen = [];
      const error = await (async () => {
        for (;;) {
          try {
            const { done, value } = await reader.read();
            if (done) return null;
            seen.push(value);
          } catch (e) {
            return e;
          }
        }
      })();
      assert.deepEqual(seen, ["chunk 0", "chunk 1", "chunk 2"].slice(0, seen.length));
      assert.ok(error instanceof RangeError, `expected a RangeError, got ${error}`);
      assert.equal(error.message, "stream broke");
    });
  });
});

describe("ReadableStream to the server", () => {
  test("consume: megabytes of bytes, hashed", async () => {
    const total = 2 * 1024 * 1024 + 5;
    const r = await withWs((api) => api.consume(patternStream(total, 65536)));
    assert.deepEqual(r, { count: Math.ceil(total / 65536), bytes: total, fnv: patternFnv(total), values: [] });
  });

  test("consume: values, in order", async () => {
    const values = [1, "two", { three: 3 }, [4], null];
    const stream = new ReadableStream({
      start(c) {
        for (const v of values) c.enqueue(v);
        c.close();
      },
    });
    const r = await withWs((api) => api.consume(stream));
    assert.deepEqual(r, { count: 5, bytes: 0, fnv: hex(FNV_OFFSET), values });
  });

  test("consume rejects with the error that broke the stream", async () => {
    const stream = new ReadableStream({
      start(c) {
        c.enqueue("a");
        c.error(new TypeError("source failed"));
      },
    });
    await withWs((api) => assertRejects(api.consume(stream), "TypeError", "source failed"));
  });
});

describe("WritableStream", () => {
  test("writeNumbers writes to a stream passed from JavaScript, then closes it", async () => {
    const received = [];
    let closed = false;
    const writable = new WritableStream({
      write(chunk) {
        received.push(chunk);
      },
      close() {
        closed = true;
      },
    });
    const n = await withWs((api) => api.writeNumbers(writable, 30));
    assert.equal(n, 30);
    assert.deepEqual(received, Array.from({ length: 30 }, (_, i) => ({ i })));
    assert.ok(closed);
  });

  test("makeSink: JavaScript writes bytes and values to a stream returned by the server", async () => {
    const tag = uniqueTag("sink");
    const state = await withWs(async (api) => {
      const sink = await api.makeSink(tag);
      const writer = sink.getWriter();
      const total = 1024 * 1024;
      for (let offset = 0; offset < total; offset += 65536) await writer.write(pattern(offset, 65536));
      await writer.write("done");
      await writer.close();
      return await api.sinkState(tag);
    });
    assert.deepEqual(state, {
      count: 17,
      bytes: 1024 * 1024,
      fnv: patternFnv(1024 * 1024),
      values: ["done"],
      closed: true,
      aborted: null,
    });
  });

  test("makeSink: abort reaches the sink with its reason", async () => {
    const tag = uniqueTag("abort");
    const state = await withWs(async (api) => {
      const writer = (await api.makeSink(tag)).getWriter();
      await writer.write("x");
      await writer.abort(new Error("changed my mind"));
      return await pollUntil(() => api.sinkState(tag), (s) => s?.aborted !== null);
    });
    assert.equal(state.closed, false);
    assert.equal(state.aborted, "changed my mind");
  });

  test("makeSink: a disconnect mid-stream aborts the sink", async () => {
    const tag = uniqueTag("cut");
    const s = await openWs(server);
    const writer = (await s.api.makeSink(tag)).getWriter();
    await writer.write("before the cut");
    await s.api.square(1); // the write has been taken
    s.ws.terminate();
    const state = await withWs((api) => pollUntil(() => api.sinkState(tag), (st) => st?.aborted !== null));
    assert.equal(state.closed, false);
    assert.ok(typeof state.aborted === "string" && state.aborted.length > 0, `aborted: ${state.aborted}`);
    assert.deepEqual(state.values, ["before the cut"]);
  });
});

describe("Fetch API types", () => {
  test("describeRequest with a text body", async () => {
    const request = new Request("https://example.com/path?x=1", {
      method: "POST",
      headers: [["content-type", "text/plain"], ["x-a", "1"]],
      body: "hello, request",
    });
    const r = await withWs((api) => api.describeRequest(request));
    assert.deepEqual(r, {
      method: "POST",
      url: "https://example.com/path?x=1",
      headers: [["content-type", "text/plain"], ["x-a", "1"]],
      body: "hello, request",
    });
  });

  test("describeRequest with a streamed body", async () => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("streamed "));
        c.enqueue(new TextEncoder().encode("body"));
        c.close();
      },
    });
    const request = new Request("https://example.com/up", { method: "PUT", body, duplex: "half" });
    const r = await withWs((api) => api.describeRequest(request));
    assert.equal(r.method, "PUT");
    assert.equal(r.body, "streamed body");
  });

  test("describeRequest without a body", async () => {
    const r = await withWs((api) => api.describeRequest(new Request("https://example.com/")));
    assert.deepEqual(r, { method: "GET", url: "https://example.com/", headers: [], body: "" });
  });

  test("makeResponse: status, headers and text body", async () => {
    await withWs(async (api) => {
      const response = await api.makeResponse(404, "not here", { "x-why": "gone" });
      assert.ok(response instanceof Response);
      assert.equal(response.status, 404);
      assert.equal(response.headers.get("x-why"), "gone");
      assert.equal(await response.text(), "not here");
    });
  });

  test("proxyResponse streams its body", async () => {
    const total = 2 * 1024 * 1024;
    await withWs(async (api) => {
      const response = await api.proxyResponse(total);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/octet-stream");
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.equal(bytes.length, total);
      assert.equal(hex(fnv(bytes)), patternFnv(total));
    });
  });

  test("describeBlob and makeBlob", async () => {
    const blob = new Blob(["blob contents"], { type: "text/plain" });
    const [described, made] = await withWs(async (api) => [
      await api.describeBlob(blob),
      await api.makeBlob("application/json", '{"a":1}'),
    ]);
    assert.deepEqual(described, { type: "text/plain", size: 13, fnv: hex(fnv(new TextEncoder().encode("blob contents"))) });
    assert.ok(made instanceof Blob);
    assert.equal(made.type, "application/json");
    assert.equal(await made.text(), '{"a":1}');
  });

  for (const transport of TRANSPORTS) {
    test(`URL and Headers by value over ${transport}`, async () => {
      const url = new URL("https://user@example.com:8443/a/b?c=d#e");
      const headers = new Headers([["b", "2"], ["a", "1"]]);
      const [described, urlBack, headersBack] = await withApi(server, transport, (api) =>
        Promise.all([api.describeUrl(url), api.echo(url), api.echo(headers)]),
      );
      assert.deepEqual(described, { href: url.href, host: "example.com:8443", pathname: "/a/b", search: "?c=d" });
      assert.ok(urlBack instanceof URL);
      assert.equal(urlBack.href, url.href);
      assert.ok(headersBack instanceof Headers);
      assert.deepEqual([...headersBack], [...headers]);
    });
  }
});

describe("multiplexing", () => {
  test("small calls are answered while a large stream flows", async () => {
    await withWs(async (api) => {
      const total = 16 * 1024 * 1024;
      const stream = await api.streamBytes(total);
      const reader = stream.getReader();
      let received = 0;
      // Read the first chunks, then ask something small before the rest is read.
      while (received < 1024 * 1024) received += (await reader.read()).value.length;
      assert.equal(await api.square(12), 144);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
      assert.equal(received, total);
    });
  });
});

describe("better than the reference", () => {
  // capnweb 0.12 cannot return a stream it received ("Cannot serialize value"); tether can.
  const skip = TETHER_SERVER ? false : "capnweb cannot return a received stream (set TETHER_SERVER=1)";

  test("echo(readableStream) returns the stream and its data flows end to end", { skip }, async () => {
    const total = 1024 * 1024;
    const chunks = await withWs(async (api) => readAll(await api.echo(patternStream(total, 32768))));
    const length = chunks.reduce((n, c) => n + c.length, 0);
    assert.equal(length, total);
    let h = FNV_OFFSET;
    for (const c of chunks) h = fnv(c, h);
    assert.equal(hex(h), patternFnv(total));
  });
});
