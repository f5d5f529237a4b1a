// Drives Debian's chromium, headless, through the DevTools protocol over a
// pipe (--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4,
// so no port, no websocket and no npm package) against a live host running
// the example tree: the page loads and shows the tree, shows a crash made
// through `arbor ctl crash` within a second, and "why" for that child names
// the crash and its supervisor's decision. Then it takes a screenshot.
// Usage: node browser.mjs CHROMIUM BASE_URL ARBOR CONTROL_SOCKET PROFILE_DIR SCREENSHOT
import fs from "node:fs";
import { spawn, execFileSync } from "node:child_process";

const [chromium, BASE, arbor, socket, profile, screenshot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = spawn(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  // Without these, chromium waits on the network for updates and sync,
  // which on a closed network can hang it.
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
  `--user-data-dir=${profile}`, "--remote-debugging-pipe", "about:blank",
], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
let browserLog = "";
browser.stderr.on("data", (d) => { browserLog = (browserLog + d).slice(-4000); });
const fail = (why) => {
  console.error("FAIL: " + why);
  if (browserLog) console.error("chromium's stderr (last lines):\n" + browserLog);
  browser.kill("SIGKILL");
  process.exit(1);
};
// Nothing here may hang the test: the whole run has a minute.
setTimeout(() => fail("the browser test took over 60 s"), 60_000).unref();
browser.on("exit", (code, signal) => fail(`chromium exited (${code ?? signal})`));

// The protocol: a command is {id, method, params, sessionId?}; its answer
// carries the same id.
const toBrowser = browser.stdio[3], fromBrowser = browser.stdio[4];
let nextId = 1, buffered = "";
const waiting = new Map();
fromBrowser.on("data", (chunk) => {
  buffered += chunk.toString("utf8");
  let end;
  while ((end = buffered.indexOf("\0")) >= 0) {
    const message = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    const pending = waiting.get(message.id);
    if (!pending) continue; // an event: nothing here waits for one
    waiting.delete(message.id);
    if (message.error) pending.reject(new Error(`${pending.method}: ${JSON.stringify(message.error)}`));
    else pending.resolve(message.result);
  }
});
const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
  const id = nextId++;
  waiting.set(id, { resolve, reject, method });
  toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + "\0");
});

const { targetId } = await send("Target.createTarget", { url: "about:blank" });
const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
const page = (method, params) => send(method, params, sessionId);
const evaluate = async (expression) => {
  const { result, exceptionDetails } = await page("Runtime.evaluate", { expression, returnByValue: true });
  if (exceptionDetails) fail(`${expression}: ${JSON.stringify(exceptionDetails)}`);
  return result.value;
};
const until = async (what, expression, ms) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await evaluate(expression);
    if (value) return value;
    if (Date.now() > deadline) fail(`${what} within ${ms} ms`);
    await sleep(20);
  }
};
const rowText = (path) =>
  `[...document.querySelectorAll("#spacer .row")].find((r) => r.dataset.path === ${JSON.stringify(path)})?.innerText.replace(/\\s+/g, " ")`;

await page("Emulation.setDeviceMetricsOverride", { width: 1280, height: 720, deviceScaleFactor: 1, mobile: false });
await page("Page.navigate", { url: BASE + "/" });

// The page loads and shows the example's tree.
await until("the tree shown", rowText("shop/sessions/s1"), 10_000);
const paths = await evaluate(`[...document.querySelectorAll("#spacer .row")].map((r) => r.dataset.path)`);
const expected = ["shop", "shop/frontdesk", "shop/payments", "shop/payments/ledger", "shop/payments/gateway",
  "shop/pipeline", "shop/pipeline/ingest", "shop/pipeline/enrich", "shop/pipeline/publish", "shop/sessions",
  "shop/sessions/s1"];
if (JSON.stringify(paths) !== JSON.stringify(expected)) fail(`rows: ${paths}`);
const shop = await evaluate(rowText("shop"));
if (!shop.includes("one_for_one permanent running")) fail(`shop's row: ${shop}`);
const payments = await evaluate(rowText("shop/payments"));
if (!/one_for_all permanent running 1 0 · 0\/3 in 5s [\d.]+ [KM]iB/.test(payments)) fail(`payments' row: ${payments}`);
const gateway = await evaluate(rowText("shop/payments/gateway"));
// Its memory too: the linear memory its instance holds.
if (!/probe@\w{8} permanent running 1 0 [\d.]+ [KM]iB 0 0/.test(gateway)) fail(`gateway's row: ${gateway}`);
await until("the live stream", `document.getElementById("status").textContent === "live"`, 5_000);

// A crash made through `arbor ctl` shows within a second: the row flashes
// and its generation and restarts go up, and the events panel has it.
const crashed = Date.now();
execFileSync(arbor, ["ctl", "--control", socket, "crash", "gateway"]);
await until(
  "the crash shown",
  `(() => {
    const row = [...document.querySelectorAll("#spacer .row")].find((r) => r.dataset.path === "shop/payments/gateway");
    return row && /flash-(crash|restart)/.test(row.className) && / running 2 1 /.test(row.innerText.replace(/\\s+/g, " ") + " ");
  })()`,
  1000,
);
const shownIn = Date.now() - crashed;
const events = await evaluate(`document.getElementById("events").innerText`);
if (!events.includes("child_terminated shop/payments/gateway killed: crashed on request")) fail(`events: ${events}`);

// "Why" for that child, opened by a click on its row, names the crash and
// the decision.
const box = await evaluate(`(() => {
  const row = [...document.querySelectorAll("#spacer .row")].find((r) => r.dataset.path === "shop/payments/gateway");
  const b = row.getBoundingClientRect();
  return { x: b.left + 40, y: b.top + b.height / 2 };
})()`);
for (const type of ["mousePressed", "mouseReleased"]) {
  await page("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 });
}
const why = await until(
  "why shown",
  `(() => { const w = document.getElementById("why"); return w && !w.textContent.startsWith("loading") && w.textContent; })()`,
  5_000,
);
for (const part of [
  "shop/payments/gateway (generation 2)",
  "shop/payments/gateway (generation 1) exited: killed (crashed on request)",
  "shop/payments (one_for_all) decided: restart; stopped shop/payments/ledger; restarted shop/payments/ledger, shop/payments/gateway; 1 of 3 restarts in 5 s",
]) {
  if (!why.includes(part)) fail(`why lacks ${JSON.stringify(part)}:\n${why}`);
}

const { data } = await page("Page.captureScreenshot", { format: "png" });
fs.writeFileSync(screenshot, Buffer.from(data, "base64"));
console.log(`ok: the crash shown in ${shownIn} ms`);
browser.removeAllListeners("exit");
await send("Browser.close").catch(() => {});
browser.kill("SIGKILL");
process.exit(0);
