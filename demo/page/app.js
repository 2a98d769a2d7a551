// The demo page: capnweb's own client (served at /capnweb.js from the npm package) talking to
// the tether server at /rpc, over a WebSocket session and over HTTP batches.
import { newWebSocketRpcSession, newHttpBatchRpcSession } from "/capnweb.js";

const $ = (id) => document.getElementById(id);
const rpcUrl = new URL("/rpc", location.href).href;
const wsUrl = rpcUrl.replace(/^http/, "ws");

// ---------------------------------------------------------------------------------------------
// The frame log: every WebSocket frame, and every line of every batch, both ways.

const counts = { sent: 0, received: 0 };

function logFrame(direction, transport, text) {
  counts[direction === "→" ? "sent" : "received"]++;
  $("frames-count").textContent = `sent ${counts.sent} · received ${counts.received}`;
  const item = document.createElement("li");
  item.className = direction === "→" ? "out-frame" : "in-frame";
  const label = document.createElement("span");
  label.className = "dir";
  label.textContent = `${direction} ${transport}`;
  const body = document.createElement("span");
  body.className = "frame";
  body.textContent = text.length > 400 ? `${text.slice(0, 400)}…` : text;
  item.append(label, body);
  const list = $("frames");
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

$("frames-clear").addEventListener("click", () => {
  $("frames").replaceChildren();
});

// HTTP batches: count the POSTs to /rpc and log the lines of each request and response.
let batchRequests = 0;
const realFetch = globalThis.fetch.bind(globalThis);
globalThis.fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  if (url !== rpcUrl || init?.method !== "POST") return realFetch(input, init);
  batchRequests++;
  for (const line of String(init.body ?? "").split("\n")) if (line) logFrame("→", "batch", line);
  const response = await realFetch(input, init);
  const text = await response.clone().text();
  for (const line of text.split("\n")) if (line) logFrame("←", "batch", line);
  return response;
};

/** Runs `work` and returns its result and the number of batch requests it made. */
async function countingRequests(work) {
  const before = batchRequests;
  const result = await work();
  return { result, requests: batchRequests - before };
}

// The WebSocket session: the socket's `send` and `message` are wrapped to log every frame.
function openSession() {
  const socket = new WebSocket(wsUrl);
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    logFrame("→", "ws", String(data));
    send(data);
  };
  socket.addEventListener("message", (event) => logFrame("←", "ws", String(event.data)));
  socket.addEventListener("open", () => ($("status").textContent = "connected"));
  socket.addEventListener("close", (event) => {
    $("status").textContent = `closed (${event.code}${event.reason ? ` ${event.reason}` : ""})`;
  });
  return newWebSocketRpcSession(socket);
}

const api = openSession();

/** Wires `button` to `action`, showing a failure in `output`. */
function onClick(button, output, action) {
  $(button).addEventListener("click", async () => {
    $(button).disabled = true;
    try {
      await action();
    } catch (error) {
      $(output).textContent = `failed: ${error?.message ?? error}`;
    } finally {
      $(button).disabled = false;
      refreshCounterButtons();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// 1. A pipelined chain in one HTTP batch.

onClick("pipeline-run", "pipeline-result", async () => {
  const { result, requests } = await countingRequests(async () => {
    const batch = newHttpBatchRpcSession(rpcUrl);
    const counter = batch.makeCounter(10);
    const a = counter.increment(5);
    const b = counter.increment(a);
    return await Promise.all([a, b]);
  });
  $("pipeline-result").textContent = `a = ${result[0]}, b = ${result[1]}`;
  $("pipeline-requests").textContent = String(requests);
});

// ---------------------------------------------------------------------------------------------
// 2. A remote counter, its dispose, and the server's disposer calling back.

let counter = null;

function refreshCounterButtons() {
  $("counter-make").disabled = counter !== null;
  $("counter-increment").disabled = counter === null;
  $("counter-dispose").disabled = counter === null;
}

onClick("counter-make", "counter-value", async () => {
  $("counter-disposed").textContent = "–";
  // The function is kept by the counter on the server until its disposer has called it.
  counter = await api.makeCounter(0, (message) => {
    $("counter-disposed").textContent = message;
  });
  $("counter-value").textContent = String(await counter.value);
});

onClick("counter-increment", "counter-value", async () => {
  $("counter-value").textContent = String(await counter.increment());
});

onClick("counter-dispose", "counter-disposed", async () => {
  const disposing = counter;
  counter = null;
  $("counter-disposed").textContent = "released; waiting for the server…";
  disposing[Symbol.dispose]();
});

refreshCounterButtons();

// ---------------------------------------------------------------------------------------------
// 3. A function of the page called by the server.

onClick("callback-run", "callback-result", async () => {
  $("callback-calls").replaceChildren();
  const answers = await api.callMeBack(3, (i) => {
    const item = document.createElement("li");
    item.textContent = `the server called f(${i}); the page answered ${i * i}`;
    $("callback-calls").append(item);
    return i * i;
  });
  $("callback-result").textContent = answers.join(", ");
});

// ---------------------------------------------------------------------------------------------
// 4. map() over a list, replayed on the server, in one HTTP batch.

onClick("map-run", "map-requests", async () => {
  const { result, requests } = await countingRequests(async () => {
    const batch = newHttpBatchRpcSession(rpcUrl);
    return await batch.listUsers().map((user) => batch.greet(user.name));
  });
  $("map-result").replaceChildren(
    ...result.map((greeting) => {
      const item = document.createElement("li");
      item.textContent = greeting;
      return item;
    }),
  );
  $("map-requests").textContent = String(requests);
});
