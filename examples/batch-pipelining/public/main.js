// The page's client: capnweb's own browser build, served by the Rust server at
// /vendor/capnweb.js from the npm package.
import { newHttpBatchRpcSession } from "./vendor/capnweb.js";

const rpcUrl = new URL("/rpc", location.href).href;
const $ = (id) => document.getElementById(id);

/** Runs `work` and counts the POSTs it makes to /rpc. */
async function counted(work) {
  const realFetch = globalThis.fetch;
  let requests = 0;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url === rpcUrl) requests++;
    return realFetch(input, init);
  };
  const started = performance.now();
  try {
    const result = await work();
    return { result, requests, ms: Math.round(performance.now() - started) };
  } finally {
    globalThis.fetch = realFetch;
  }
}

// One batch: `user.id` is a promise when it is passed.
const pipelined = () =>
  counted(async () => {
    const api = newHttpBatchRpcSession(rpcUrl);
    const user = api.authenticate("cookie-123");
    const [u, profile, notifications] = await Promise.all([
      user,
      api.getUserProfile(user.id),
      api.getNotifications(user.id),
    ]);
    return { user: u, profile, notifications };
  });

// A batch per call, each awaited before the next is made.
const sequential = () =>
  counted(async () => {
    const user = await newHttpBatchRpcSession(rpcUrl).authenticate("cookie-123");
    const profile = await newHttpBatchRpcSession(rpcUrl).getUserProfile(user.id);
    const notifications = await newHttpBatchRpcSession(rpcUrl).getNotifications(user.id);
    return { user, profile, notifications };
  });

function show(prefix, run) {
  $(`${prefix}-requests`).textContent = run.requests;
  $(`${prefix}-ms`).textContent = `${run.ms} ms`;
  $(`${prefix}-result`).textContent = JSON.stringify(run.result, null, 2);
}

$("run").addEventListener("click", async () => {
  $("run").disabled = true;
  $("status").textContent = "running…";
  try {
    show("pipelined", await pipelined());
    show("sequential", await sequential());
    $("status").textContent = "done";
  } catch (error) {
    $("status").textContent = `failed: ${error.message}`;
  } finally {
    $("run").disabled = false;
  }
});
