// Malformed input over raw WebSocket (one test per row of the contract's table) and the limits.
//
// For every bad input: the offending session gets ["abort", ["error", Type, message]] and is
// closed with code 3000 and the message as reason (truncated to 123 bytes), while a session
// opened earlier keeps working and fresh WebSocket and HTTP sessions work afterwards.
// Relaxed: binary frames (refused, or treated as text) and over-size messages (a transport-level
// close without an abort message is fine).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, openWs, openBatch, RawWs } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const MiB = 1024 * 1024;
const LIMIT_BIGINT = 16384;
const LIMIT_DEPTH = 256;
const LIMIT_SIZE = 33554432;

/** Opens a capnweb session and checks it works: the "session opened earlier". */
async function openEarlier() {
  const s = await openWs(server);
  assert.equal(await s.api.square(3), 9);
  return s;
}

/** After a bad session: the earlier session, a fresh WebSocket and a fresh batch all work. */
async function checkOthersStillWork(earlier) {
  assert.equal(await earlier.api.square(4), 16, "the session opened earlier keeps working");
  earlier.close();
  const fresh = await openWs(server);
  try {
    assert.equal(await fresh.api.square(5), 25, "a fresh WebSocket session works");
  } finally {
    fresh.close();
  }
  assert.equal(await openBatch(server).square(6), 36, "a fresh HTTP batch session works");
}

function abortOf(raw) {
  return raw.messages.find((m) => Array.isArray(m) && m[0] === "abort");
}

/** Checks the close reason: the abort message truncated to at most 123 bytes. */
function checkReason(reason, message) {
  assert.ok(Buffer.byteLength(reason, "utf8") <= 123, `close reason too long: ${reason}`);
  if (Buffer.byteLength(message, "utf8") <= 123) assert.equal(reason, message, "close reason = abort message");
  else assert.ok(reason.length > 0 && message.startsWith(reason.replace(/\uFFFD$/, "")), `close reason ${JSON.stringify(reason)} is not a prefix of ${JSON.stringify(message)}`);
}

/**
 * Runs `send(raw)` on a fresh raw session and expects the session to be aborted with an error of
 * `type` whose message satisfies `message` (string: equal; RegExp: match; function: assertion).
 */
async function expectAbort(send, { type, message }) {
  const earlier = await openEarlier();
  const raw = await RawWs.open(server);
  try {
    // The connection works before the bad input.
    raw.call(1, 0, ["returnNumber"], [1]);
    assert.deepEqual(await raw.waitAnswer(1), ["resolve", 1, 1]);
    await send(raw);
    const close = await raw.waitClose(10_000);
    const abort = abortOf(raw);
    assert.ok(abort, `expected an abort frame before the close (${close.code} ${close.reason}); frames: ${raw.dump()}`);
    const err = abort[1];
    assert.ok(Array.isArray(err) && err[0] === "error", `abort payload is an error expression: ${JSON.stringify(err)}`);
    assert.equal(err[1], type, `error type; message: ${err[2]}`);
    assert.equal(typeof err[2], "string");
    if (typeof message === "string") assert.equal(err[2], message);
    else if (message instanceof RegExp) assert.match(err[2], message);
    else if (typeof message === "function") message(err[2]);
    assert.equal(close.code, 3000, `close code (reason: ${close.reason})`);
    checkReason(close.reason, err[2]);
    // Nothing follows the abort (in particular no answer to the probe sent after the bad input).
    const i = raw.messages.indexOf(abort);
    assert.equal(i, raw.frames.length - 1, `frames after the abort: ${raw.dump()}`);
  } finally {
    raw.terminate();
  }
  await checkOthersStillWork(earlier);
}

/** Message check for "bad RPC message: <the message as JSON>". */
function badRpcMessage(sent) {
  return (msg) => {
    const prefix = "bad RPC message: ";
    assert.ok(msg.startsWith(prefix), msg);
    assert.deepEqual(JSON.parse(msg.slice(prefix.length)), sent, msg);
  };
}

/** Sends `text` as one frame, then a pull that must not be answered. */
function sendText(text) {
  return (raw) => {
    raw.send(text);
    raw.send(["push", ["pipeline", 0, ["square"], [2]]]);
    raw.send(["pull", 2]);
  };
}

function nested(depth) {
  let v = "bottom";
  for (let i = 0; i < depth; i++) v = { d: v };
  return v;
}

function depthOf(v) {
  let n = 0;
  while (v && typeof v === "object" && "d" in v) {
    v = v.d;
    n++;
  }
  return n;
}

describe("malformed WebSocket input", () => {
  test("invalid JSON -> SyntaxError", async () => {
    await expectAbort(sendText('["push", ["pipeline", 0, '), { type: "SyntaxError", message: /./ });
  });

  test("not JSON at all -> SyntaxError", async () => {
    await expectAbort(sendText("hello there"), { type: "SyntaxError", message: /./ });
  });

  test("empty text frame -> SyntaxError", async () => {
    await expectAbort(sendText(""), { type: "SyntaxError", message: /./ });
  });

  test("unknown message type -> Error 'bad RPC message: …'", async () => {
    await expectAbort(sendText('["bogus",1]'), { type: "Error", message: badRpcMessage(["bogus", 1]) });
  });

  test("non-array message -> Error 'bad RPC message: …'", async () => {
    await expectAbort(sendText('{"push":1}'), { type: "Error", message: badRpcMessage({ push: 1 }) });
  });

  test("bare number -> Error 'bad RPC message: 42'", async () => {
    await expectAbort(sendText("42"), { type: "Error", message: "bad RPC message: 42" });
  });

  test('["push"] without an expression -> Error \'bad RPC message: ["push"]\'', async () => {
    await expectAbort(sendText('["push"]'), { type: "Error", message: 'bad RPC message: ["push"]' });
  });

  test("pull with a non-numeric id -> Error 'bad RPC message: …'", async () => {
    await expectAbort(sendText('["pull","x"]'), { type: "Error", message: badRpcMessage(["pull", "x"]) });
  });

  test("release of an unknown id -> Error 'no such export ID: 99'", async () => {
    await expectAbort(sendText('["release",99,1]'), { type: "Error", message: "no such export ID: 99" });
  });

  test("pull of an unknown id -> Error 'no such export ID: 99'", async () => {
    await expectAbort(sendText('["pull",99]'), { type: "Error", message: "no such export ID: 99" });
  });

  test("push of a pipeline on an unknown id -> Error 'no such entry on exports table: 99'", async () => {
    await expectAbort(sendText('["push",["pipeline",99,["square"],[1]]]'), {
      type: "Error",
      message: "no such entry on exports table: 99",
    });
  });

  test("release with a refcount larger than handed out -> Error 'refcount would go negative: 1 < 5'", async () => {
    await expectAbort(
      async (raw) => {
        raw.call(2, 0, ["makeCounter"], [0]);
        const answer = await raw.waitAnswer(2);
        assert.equal(answer[2][0], "export");
        raw.send(["release", answer[2][1], 5]);
        raw.send(["push", ["pipeline", 0, ["square"], [2]]]);
        raw.send(["pull", 3]);
      },
      { type: "Error", message: "refcount would go negative: 1 < 5" },
    );
  });

  test("binary frame: refused, or treated as a text message", async () => {
    const earlier = await openEarlier();
    const raw = await RawWs.open(server);
    try {
      raw.sendBinary(Buffer.from(JSON.stringify(["push", ["pipeline", 0, ["square"], [7]]])));
      raw.send(["pull", 1]);
      const outcome = await Promise.race([
        raw.waitAnswer(1, { timeoutMs: 10_000 }).then((a) => ({ answer: a })),
        raw.waitClose(10_000).then((c) => ({ close: c })),
      ]).catch((e) => ({ error: e }));
      if (outcome.answer) {
        // Treated as text: it must have been understood correctly and the session goes on.
        assert.deepEqual(outcome.answer, ["resolve", 1, 49]);
        raw.call(2, 0, ["square"], [8]);
        assert.deepEqual(await raw.waitAnswer(2), ["resolve", 2, 64]);
      } else {
        const close = outcome.close ?? (await raw.waitClose(10_000));
        const abort = abortOf(raw);
        if (abort) {
          assert.equal(abort[1][0], "error", JSON.stringify(abort));
          assert.equal(close.code, 3000);
          checkReason(close.reason, abort[1][2]);
        }
        assert.ok(!raw.messages.some((m) => m?.[0] === "resolve"), raw.dump());
      }
    } finally {
      raw.terminate();
    }
    await checkOthersStillWork(earlier);
  });

  test('a client ["abort", …] makes the server close the connection', async () => {
    const earlier = await openEarlier();
    const raw = await RawWs.open(server);
    try {
      raw.send(["abort", ["error", "Error", "client gives up"]]);
      await raw.waitClose(5000);
      assert.ok(!raw.messages.some((m) => m?.[0] === "resolve"));
    } finally {
      raw.terminate();
    }
    await checkOthersStillWork(earlier);
  });
});

describe("limits", () => {
  /** Echoes a wire expression on a fresh raw session, expects it back, and checks the session goes on. */
  async function expectAccepted(expr, check) {
    const raw = await RawWs.open(server);
    try {
      raw.call(1, 0, ["echo"], [expr]);
      const answer = await raw.waitAnswer(1, { timeoutMs: 30_000 });
      assert.equal(answer[0], "resolve", `${JSON.stringify(answer).slice(0, 300)}`);
      check(answer[2]);
      raw.send(["release", 1, 1]);
      raw.call(2, 0, ["square"], [9]);
      assert.deepEqual(await raw.waitAnswer(2), ["resolve", 2, 81]);
    } finally {
      raw.terminate();
    }
  }

  test(`bigint of ${LIMIT_BIGINT} characters is accepted (also negative, the '-' counts)`, async () => {
    const digits = "9" + "1234567890".repeat(LIMIT_BIGINT).slice(0, LIMIT_BIGINT - 1);
    assert.equal(digits.length, LIMIT_BIGINT);
    await expectAccepted(["bigint", digits], (v) => {
      assert.equal(v[0], "bigint");
      assert.equal(BigInt(v[1]), BigInt(digits));
    });
    const neg = "-" + digits.slice(1);
    assert.equal(neg.length, LIMIT_BIGINT);
    await expectAccepted(["bigint", neg], (v) => assert.equal(BigInt(v[1]), BigInt(neg)));
  });

  test(`bigint of ${LIMIT_BIGINT + 1} characters is refused with a TypeError naming the limit`, async () => {
    const digits = "1".repeat(LIMIT_BIGINT + 1);
    await expectAbort(sendText(JSON.stringify(["push", ["pipeline", 0, ["echo"], [["bigint", digits]]]])), {
      type: "TypeError",
      message: new RegExp(String(LIMIT_BIGINT)),
    });
  });

  test(`negative bigint of ${LIMIT_BIGINT + 1} characters (the '-' counts) is refused`, async () => {
    const digits = "-" + "1".repeat(LIMIT_BIGINT);
    await expectAbort(sendText(JSON.stringify(["push", ["pipeline", 0, ["echo"], [["bigint", digits]]]])), {
      type: "TypeError",
      message: new RegExp(String(LIMIT_BIGINT)),
    });
  });

  test("nesting depth 200 is accepted", async () => {
    await expectAccepted(nested(200), (v) => assert.equal(depthOf(v), 200));
  });

  test("nesting depth 200 through the capnweb client", async () => {
    const s = await openWs(server);
    try {
      assert.equal(depthOf(await s.api.echo(nested(200))), 200);
    } finally {
      s.close();
    }
  });

  test("nesting depth 300 is refused with a TypeError naming the limit", async () => {
    await expectAbort(sendText(JSON.stringify(["push", ["pipeline", 0, ["echo"], [nested(300)]]])), {
      type: "TypeError",
      message: new RegExp(String(LIMIT_DEPTH)),
    });
  });

  test("a 31 MiB message is accepted", async () => {
    const envelope = JSON.stringify(["push", ["pipeline", 0, ["echo"], [""]]]);
    const s = "x".repeat(31 * MiB - envelope.length);
    await expectAccepted(s, (v) => {
      assert.equal(typeof v, "string");
      assert.equal(v.length, s.length);
    });
  });

  test("a 33 MiB message is refused (TypeError naming the limit, or a transport-level close)", async () => {
    const earlier = await openEarlier();
    const raw = await RawWs.open(server);
    try {
      raw.call(1, 0, ["returnNumber"], [1]);
      await raw.waitAnswer(1);
      raw.send(JSON.stringify(["push", ["pipeline", 0, ["echo"], ["y".repeat(33 * MiB)]]]));
      raw.send(["pull", 2]);
      const close = await raw.waitClose(30_000);
      const abort = abortOf(raw);
      if (abort) {
        assert.equal(abort[1][0], "error");
        assert.equal(abort[1][1], "TypeError", JSON.stringify(abort));
        assert.match(abort[1][2], new RegExp(`${LIMIT_SIZE}|32 ?MiB|size|large`, "i"));
        assert.equal(close.code, 3000);
        checkReason(close.reason, abort[1][2]);
      } else {
        assert.ok(close.code !== 1000, `a refusal, not a normal close: ${close.code} ${close.reason}`);
      }
      assert.ok(!raw.messages.some((m) => m?.[0] === "resolve" && m[1] === 2), "the message was not executed");
    } finally {
      raw.terminate();
    }
    await checkOthersStillWork(earlier);
  });
});
