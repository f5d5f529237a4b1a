// Runs the observer page's script (host/runtime/src/observe/page/app.js)
// in node against a live host, with a minimal stand-in for the DOM and
// EventSource: it loads the snapshot, follows the event stream, shows a
// crash made through `arbor ctl` within a second, and its "why".
// Not a browser: it checks the script's logic against the real API.
// Usage: node page_smoke.mjs APP_JS BASE_URL ARBOR CONTROL_SOCKET
import fs from "node:fs";
import { execFileSync } from "node:child_process";

const [appJs, BASE, arbor, socket] = process.argv.slice(2);
const fail = (why) => { console.error("FAIL: " + why); process.exit(1); };

class El {
  constructor(tag) {
    Object.assign(this, { tag, children: [], style: {}, dataset: {}, className: "",
      _text: "", listeners: {}, scrollTop: 0, clientHeight: 600 });
    this.classList = {
      add: (c) => { this.className += " " + c; },
      contains: (c) => this.className.split(" ").includes(c),
    };
  }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() {
    return this._text + this.children.map((c) => (typeof c === "string" ? c : c.textContent)).join("");
  }
  append(...xs) { this.children.push(...xs); }
  replaceChildren(...xs) { this.children = xs.flatMap((x) => (x && x.tag === "#frag" ? x.children : [x])); }
  addEventListener(type, f) { this.listeners[type] = f; }
  insertRow() {
    const row = new El("tr");
    row.insertCell = () => { const c = new El("td"); row.append(c); return c; };
    this.append(row);
    return row;
  }
  closest() { return this; }
}
const ids = {};
globalThis.document = {
  getElementById: (id) => (ids[id] ||= new El("div")),
  createElement: (tag) => new El(tag),
  createDocumentFragment: () => new El("#frag"),
};
globalThis.window = { addEventListener() {} };
globalThis.requestAnimationFrame = (f) => setTimeout(f, 0);
globalThis.sessionStorage = { getItem: () => null, setItem() {} };
const realFetch = fetch;
globalThis.fetch = (url, options) => realFetch(BASE + url, options);
globalThis.EventSource = class {
  constructor(url) { this.handlers = {}; this.read(url); }
  addEventListener(type, f) { this.handlers[type] = f; }
  async read(url) {
    const reader = (await realFetch(BASE + url)).body.getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += Buffer.from(value).toString();
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (\w+)/m.exec(chunk);
        const data = /^data: (.*)/m.exec(chunk);
        if (!data) continue;
        const message = { data: data[1] };
        if (type) this.handlers[type[1]]?.(message);
        else this.onmessage?.(message);
      }
    }
  }
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const row = (path) => ids.spacer.children.find((r) => r.dataset.path === path);

(0, eval)(fs.readFileSync(appJs, "utf8"));
for (let i = 0; i < 50 && !row("root/b"); i++) await sleep(100);
for (const path of ["root", "root/a", "root/b", "root/pool"]) {
  if (!row(path)) fail(`no row for ${path}: ${ids.spacer.textContent}`);
}
if (!row("root").textContent.includes("one_for_one supervisor")) fail(row("root").textContent);

const crashed = Date.now();
try { execFileSync(arbor, ["ctl", "--control", socket, "call", "b", "crash"], { stdio: "ignore" }); } catch {}
let shown = null;
while (Date.now() - crashed < 1000) {
  await sleep(20);
  const b = row("root/b");
  if (b && b.textContent.includes("probe@") && /running2/.test(b.textContent.replace(/permanent/, ""))) {
    shown = Date.now() - crashed;
    break;
  }
}
if (shown === null) fail(`the crash was not shown within a second: ${row("root/b")?.textContent}`);
const events = ids.events.textContent;
if (!/child_terminated root\/b crash/.test(events)) fail(`no crash in the events panel: ${events}`);

ids.spacer.listeners.click({ target: row("root/b") });
let why = "";
for (let i = 0; i < 50; i++) {
  await sleep(50);
  why = ids.details.children.find((c) => c.tag === "pre")?.textContent || "";
  if (!why.startsWith("loading")) break;
}
if (!why.includes("root/b (generation 1) exited: crash")) fail(`why: ${why}`);
if (!why.includes('while handling "crash"')) fail(`why: ${why}`);
if (!why.includes("root (one_for_one) decided: restart")) fail(`why: ${why}`);
console.log(`ok: crash shown in ${shown} ms`);
process.exit(0);
