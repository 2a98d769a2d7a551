// By-value round trips of every value type through echo(x), over WebSocket and HTTP batch, plus
// wire-level checks of the encodings.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, TRANSPORTS, withApi, RawWs } from "./helpers.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** Echoes each value over `transport` (all in one round) and returns the results. */
async function echoAll(transport, values) {
  return await withApi(server, transport, (api) => Promise.all(values.map((v) => api.echo(v))));
}

function bytesOf(view) {
  if (view instanceof ArrayBuffer) return [...new Uint8Array(view)];
  return [...new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
}

const TYPED_ARRAYS = [
  ["Int8Array", () => new Int8Array([0, 1, -1, 127, -128])],
  ["Uint8ClampedArray", () => new Uint8ClampedArray([0, 1, 254, 255])],
  ["Int16Array", () => new Int16Array([0, 1, -1, 32767, -32768])],
  ["Uint16Array", () => new Uint16Array([0, 1, 65535, 258])],
  ["Int32Array", () => new Int32Array([0, 1, -1, 2147483647, -2147483648])],
  ["Uint32Array", () => new Uint32Array([0, 1, 4294967295, 16909060])],
  ["Float32Array", () => new Float32Array([0, 1.5, -2.25, Infinity, NaN])],
  ["Float64Array", () => new Float64Array([0, Math.PI, -1e300, -Infinity, NaN, -0])],
  ["BigInt64Array", () => new BigInt64Array([0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n])],
  ["BigUint64Array", () => new BigUint64Array([0n, 1n, 18446744073709551615n])],
];

for (const transport of TRANSPORTS) {
  describe(`echo over ${transport}`, () => {
    test("null, booleans, simple numbers and strings", async () => {
      const values = [null, true, false, 0, 1, -1, 0.1, "", "plain"];
      assert.deepEqual(await echoAll(transport, values), values);
    });

    test("nested objects keep their key order", async () => {
      const obj = { zeta: 1, alpha: { y: 2, b: [1, { c: 3, a: 4 }], x: null }, mid: "m", 10: "ten", "": "empty key" };
      const [r] = await echoAll(transport, [obj]);
      assert.deepEqual(r, obj);
      assert.deepEqual(Object.keys(r), Object.keys(obj));
      assert.deepEqual(Object.keys(r.alpha), ["y", "b", "x"]);
      assert.deepEqual(Object.keys(r.alpha.b[1]), ["c", "a"]);
      assert.deepEqual(await echoAll(transport, [{}]), [{}]);
    });

    test("arrays (empty, nested, mixed)", async () => {
      const values = [[], [[]], [1, [2, [3, [4]]]], [1, "two", null, true, { a: [] }], [[1, 2], [3, 4]], ["pipeline", 0, ["x"]], ["error", "x"]];
      assert.deepEqual(await echoAll(transport, values), values);
    });

    test("strings with unicode and escapes", async () => {
      const values = [
        "héllo wörld",
        "日本語テキスト",
        "emoji 😀👍🏽 and flags 🇯🇵",
        "\u0000\u0001\u001f control",
        'quotes " \\ backslash \n newline \t tab \r',
        "\u2028\u2029 separators",
        "\uFEFF BOM",
        "x".repeat(70_000),
      ];
      const r = await echoAll(transport, values);
      assert.equal(r.length, values.length);
      for (let i = 0; i < values.length; i++) assert.equal(r[i], values[i], `string #${i}`);
    });

    test("numbers: -0, large, tiny, non-integers", async () => {
      const values = [
        Number.MAX_SAFE_INTEGER,
        Number.MIN_SAFE_INTEGER,
        2 ** 53 + 2,
        2 ** 64,
        1e21,
        -1e300,
        Number.MAX_VALUE,
        Number.MIN_VALUE,
        -5e-324,
        0.1 + 0.2,
        123456.789,
        4294967296.5,
      ];
      const r = await echoAll(transport, values);
      for (let i = 0; i < values.length; i++) assert.ok(Object.is(r[i], values[i]), `number #${i}: sent ${values[i]}, got ${r[i]}`);
      // -0 is a JSON number: it comes back as a zero (the JSON text "0" loses the sign).
      const [z] = await echoAll(transport, [-0]);
      assert.equal(typeof z, "number");
      assert.ok(z === 0, `-0 came back as ${z}`);
    });

    test("Infinity, -Infinity, NaN", async () => {
      const r = await echoAll(transport, [Infinity, -Infinity, NaN, [NaN, Infinity], { x: -Infinity }]);
      assert.equal(r[0], Infinity);
      assert.equal(r[1], -Infinity);
      assert.ok(Number.isNaN(r[2]));
      assert.ok(Number.isNaN(r[3][0]));
      assert.equal(r[3][1], Infinity);
      assert.equal(r[4].x, -Infinity);
    });

    test("undefined, top level and inside objects and arrays", async () => {
      const [top, obj, arr] = await echoAll(transport, [undefined, { a: undefined, b: 1, c: { d: undefined } }, [1, undefined, 3]]);
      assert.equal(top, undefined);
      assert.deepEqual(Object.keys(obj), ["a", "b", "c"]);
      assert.ok("a" in obj && obj.a === undefined);
      assert.equal(obj.b, 1);
      assert.ok("d" in obj.c && obj.c.d === undefined);
      assert.equal(arr.length, 3);
      assert.ok(1 in arr && arr[1] === undefined);
      assert.deepEqual(arr, [1, undefined, 3]);
    });

    test("bigint: small, negative, huge", async () => {
      const values = [0n, 1n, -1n, 9007199254740993n, -(2n ** 64n), 2n ** 200n, -(10n ** 1000n) + 7n, 10n ** 16383n];
      const r = await echoAll(transport, values);
      for (let i = 0; i < values.length; i++) {
        assert.equal(typeof r[i], "bigint", `bigint #${i}`);
        assert.equal(r[i], values[i], `bigint #${i}`);
      }
    });

    test("Date (incl. negative, and invalid)", async () => {
      const values = [new Date(0), new Date(1_700_000_000_123), new Date(-86_400_000 * 365.25 * 100), new Date(8.64e15)];
      const r = await echoAll(transport, values);
      for (let i = 0; i < values.length; i++) {
        assert.ok(r[i] instanceof Date, `date #${i}`);
        assert.equal(r[i].getTime(), values[i].getTime());
      }
      const [invalid] = await echoAll(transport, [new Date(NaN)]);
      assert.ok(invalid instanceof Date);
      assert.ok(Number.isNaN(invalid.getTime()));
    });

    test("Uint8Array (empty, small, all byte values, 1 MiB, sub-view)", async () => {
      const all = new Uint8Array(256).map((_, i) => i);
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
      const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
      const sub = backing.subarray(2, 5);
      const values = [new Uint8Array(0), new Uint8Array([1, 2, 3, 250]), all, big, sub, new Uint8Array([0xfb, 0xff])];
      const r = await echoAll(transport, values);
      for (let i = 0; i < values.length; i++) {
        assert.ok(r[i] instanceof Uint8Array, `bytes #${i}`);
        assert.equal(r[i].length, values[i].length, `bytes #${i} length`);
        assert.ok(Buffer.from(r[i]).equals(Buffer.from(values[i])), `bytes #${i} content`);
      }
    });

    test("every typed array kind, ArrayBuffer and DataView", async () => {
      const values = TYPED_ARRAYS.map(([, make]) => make());
      const ab = new Uint8Array([1, 2, 3, 4, 5]).buffer;
      const dv = new DataView(new Uint8Array([10, 20, 30, 40]).buffer, 1, 2);
      const r = await echoAll(transport, [...values, ab, dv, new Int16Array(0)]);
      for (let i = 0; i < TYPED_ARRAYS.length; i++) {
        const [name] = TYPED_ARRAYS[i];
        assert.equal(Object.prototype.toString.call(r[i]), `[object ${name}]`, name);
        assert.equal(r[i].constructor.name, name);
        assert.deepEqual(bytesOf(r[i]), bytesOf(values[i]), name);
        assert.deepEqual([...r[i]], [...values[i]], name);
      }
      const rab = r[TYPED_ARRAYS.length];
      assert.ok(rab instanceof ArrayBuffer, "ArrayBuffer");
      assert.deepEqual(bytesOf(rab), [1, 2, 3, 4, 5]);
      const rdv = r[TYPED_ARRAYS.length + 1];
      assert.ok(rdv instanceof DataView, "DataView");
      assert.deepEqual(bytesOf(rdv), [20, 30]);
      const empty = r[TYPED_ARRAYS.length + 2];
      assert.ok(empty instanceof Int16Array);
      assert.equal(empty.length, 0);
    });

    test("Error with cause and extra properties", async () => {
      const plain = new Error("plain");
      const withCause = new TypeError("outer", { cause: new RangeError("inner") });
      withCause.code = "E_OUTER";
      withCause.details = { n: 42, list: [1, 2], big: 5n };
      const agg = new AggregateError([new Error("a"), new SyntaxError("b")], "many");
      const [rp, rc, ra] = await echoAll(transport, [plain, withCause, agg]);

      assert.ok(rp instanceof Error);
      assert.equal(rp.name, "Error");
      assert.equal(rp.message, "plain");

      assert.ok(rc instanceof TypeError);
      assert.equal(rc.message, "outer");
      assert.ok(rc.cause instanceof RangeError);
      assert.equal(rc.cause.message, "inner");
      assert.equal(rc.code, "E_OUTER");
      assert.deepEqual(rc.details, { n: 42, list: [1, 2], big: 5n });

      assert.ok(ra instanceof AggregateError);
      assert.equal(ra.message, "many");
      assert.equal(ra.errors.length, 2);
      assert.equal(ra.errors[1].name, "SyntaxError");
      assert.equal(ra.errors[1].message, "b");
    });

    test("everything at once, deeply nested", async () => {
      const value = {
        list: [1n, new Date(5), new Uint8Array([1]), undefined, NaN, { err: new URIError("u") }],
        nested: { a: { b: { c: { d: [[[["deep"]]]] } } } },
        f32: new Float32Array([1.5]),
      };
      const [r] = await echoAll(transport, [value]);
      assert.equal(r.list[0], 1n);
      assert.equal(r.list[1].getTime(), 5);
      assert.deepEqual([...r.list[2]], [1]);
      assert.equal(r.list[3], undefined);
      assert.ok(Number.isNaN(r.list[4]));
      assert.ok(r.list[5].err instanceof URIError);
      assert.equal(r.nested.a.b.c.d[0][0][0][0], "deep");
      assert.ok(r.f32 instanceof Float32Array);
      assert.equal(r.f32[0], 1.5);
    });
  });
}

describe("value encodings on the wire", () => {
  let raw;
  let nextId = 1;
  before(async () => {
    raw = await RawWs.open(server);
  });
  after(() => raw?.close());

  /** Sends echo(expr) (expr already wire-encoded) and returns the resolved wire value. */
  async function echoWire(expr) {
    const id = nextId++;
    raw.call(id, 0, ["echo"], [expr]);
    const answer = await raw.waitAnswer(id);
    raw.send(["release", id, 1]);
    assert.equal(answer[0], "resolve", JSON.stringify(answer));
    return answer[2];
  }

  test("arrays are escaped as [[…]]", async () => {
    assert.deepEqual(await echoWire([[1, 2, 3]]), [[1, 2, 3]]);
    assert.deepEqual(await echoWire([[]]), [[]]);
    assert.deepEqual(await echoWire([[[[1]], "x"]]), [[[[1]], "x"]]);
  });

  test("undefined, special numbers, bigint, date and bytes encodings", async () => {
    assert.deepEqual(await echoWire(["undefined"]), ["undefined"]);
    assert.deepEqual(await echoWire(["inf"]), ["inf"]);
    assert.deepEqual(await echoWire(["-inf"]), ["-inf"]);
    assert.deepEqual(await echoWire(["nan"]), ["nan"]);
    assert.deepEqual(await echoWire(["bigint", "-123456789012345678901234567890"]), ["bigint", "-123456789012345678901234567890"]);
    assert.deepEqual(await echoWire(["date", 1234567]), ["date", 1234567]);
    // Unpadded base64 is what capnweb sends; padded input must be accepted as well.
    const b = await echoWire(["bytes", "AQID+g"]);
    assert.equal(b[0], "bytes");
    assert.equal(Buffer.from(b[1], "base64").toString("hex"), "010203fa");
    const p = await echoWire(["bytes", "AQID+g=="]);
    assert.equal(Buffer.from(p[1], "base64").toString("hex"), "010203fa");
    const t = await echoWire(["bytes", "AQACAA", "Uint16Array"]);
    assert.equal(t[2], "Uint16Array");
    assert.equal(Buffer.from(t[1], "base64").toString("hex"), "01000200");
  });

  test("incoming objects lose __proto__, constructor, toJSON and other Object.prototype keys", async () => {
    const r = await echoWire(JSON.parse('{"a":1,"__proto__":{"polluted":true},"constructor":2,"toJSON":3,"hasOwnProperty":4,"toString":5,"z":6}'));
    assert.deepEqual(r, { a: 1, z: 6 });
    assert.equal({}.polluted, undefined);
  });

  test("error expressions: 3-element form, and stack/props form", async () => {
    assert.deepEqual(await echoWire(["error", "TypeError", "msg"]), ["error", "TypeError", "msg"]);
    const r = await echoWire(["error", "Error", "with props", null, { code: 7 }]);
    assert.deepEqual(r.slice(0, 3), ["error", "Error", "with props"]);
    assert.equal(r[3] ?? null, null);
    assert.deepEqual(r[4], { code: 7 });
  });
});
