// The page's client: the capnweb npm package, from wherever the page's bundler or import map
// puts it (this example serves no copy of its own: `import ... from "capnweb"` needs an import
// map or a bundler). A browser's WebSocket cannot set headers, so the token goes in the query.
import { newWebSocketRpcSession, newHttpBatchRpcSession } from "capnweb";

const out = document.getElementById("out");
const token = () => document.getElementById("token").value;
const api = new URL("/api", location.href);

document.getElementById("add").onclick = async () => {
  const ws = new URL(api);
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
  ws.searchParams.set("access_token", token());
  const notebook = newWebSocketRpcSession(ws.href);
  const count = await notebook.addNote(document.getElementById("text").value);
  out.textContent = `${await notebook.whoami()} has ${count} notes`;
  notebook[Symbol.dispose]();
};

document.getElementById("list").onclick = async () => {
  const request = new Request(api, { headers: { Authorization: `Bearer ${token()}` } });
  const notebook = newHttpBatchRpcSession(request);
  out.textContent = (await notebook.notes()).join("\n");
};
