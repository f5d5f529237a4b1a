// The observer's page: the live tree from /api/snapshot, kept current by
// the numbered event stream /api/events (a gap in the numbers, as after a
// reconnect, refetches the snapshot). Updates are applied in batches; the
// tree is one virtualised list (only the rows in view exist), so a tree of
// 10,000 children stays responsive. Gauges no event carries (memory,
// mailbox depth, messages handled) come with the snapshot, fetched again
// every few seconds while the page is in view. It reads the host's API
// only: nothing here reaches a guest.
"use strict";

const ROW = 22;              // px, as --row in style.css
const BATCH_MS = 100;        // events are applied at most this often
const COLLAPSE_OVER = 200;   // supervisors with more children start collapsed
const RECENT = 200;          // events kept in the panel
const GAUGES_MS = 5000;      // the snapshot is fetched again this often

const state = {
  seq: 0, tree: null, byPath: new Map(), parent: new Map(),
  collapsed: new Set(), seenSups: new Set(), rows: [], filter: "",
  selected: null, recent: [], pending: [], flashes: new Map(),
  actions: false, refetching: null, refetchSoon: null,
};
const $ = (id) => document.getElementById(id);

// Indexes the tree by path; returns the memory its workers hold, which a
// supervisor shows as its own.
function index(node, parent) {
  state.byPath.set(node.path, node);
  state.parent.set(node.path, parent);
  const kids = node.children || [];
  if (node.strategy && !state.seenSups.has(node.path)) {
    state.seenSups.add(node.path);
    if (kids.length > COLLAPSE_OVER) state.collapsed.add(node.path);
  }
  let memory = node.memory || 0;
  for (const c of kids) memory += index(c, node.path);
  if (node.strategy) node.memory = memory;
  return memory;
}

async function refetch() {
  if (state.refetching) return state.refetching;
  state.refetching = (async () => {
    try {
      const snap = await (await fetch("/api/snapshot")).json();
      state.seq = snap.seq;
      state.actions = snap.actions;
      state.tree = snap.tree;
      state.byPath = new Map(); state.parent = new Map();
      index(snap.tree, null);
      state.recent = snap.recent.slice().reverse();
      flatten(); renderRows(); renderEvents(); renderSummary();
      if (state.selected) showDetails(state.selected, true);
    } finally { state.refetching = null; }
  })();
  return state.refetching;
}

function refetchLater() {
  clearTimeout(state.refetchSoon);
  state.refetchSoon = setTimeout(refetch, 500);
}

// The rows in view order: collapsed supervisors hide their children; a
// search keeps matches and the supervisors above them.
function flatten() {
  const rows = [], q = state.filter.toLowerCase();
  const matches = new Map();
  const match = (n) => {
    if (matches.has(n.path)) return matches.get(n.path);
    let m = !q || n.path.toLowerCase().includes(q);
    for (const c of n.children || []) if (match(c)) m = true;
    matches.set(n.path, m);
    return m;
  };
  const walk = (n, depth) => {
    if (!match(n)) return;
    rows.push({ node: n, depth });
    if (!q && state.collapsed.has(n.path)) return;
    for (const c of n.children || []) walk(c, depth + 1);
  };
  if (state.tree) walk(state.tree, 0);
  state.rows = rows;
  $("spacer").style.height = rows.length * ROW + "px";
}

function name(path) { return path.slice(path.lastIndexOf("/") + 1); }

function bytes(n) {
  if (n === undefined || n === null) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function cells(n) {
  const sup = !!n.strategy;
  // The bold name says it is a supervisor; the details pane says it in full.
  const what = sup ? n.strategy : `${n.component}@${(n.version || "").slice(0, 8)}`;
  let restarts = String(n.restarts);
  if (sup && n.intensity) {
    restarts = `${n.restarts} · ${n.intensity.restarts}/${n.intensity.max_restarts} in ${n.intensity.window_ms / 1000}s`;
  }
  return [what, n.restart, n.state, n.generation, restarts, bytes(n.memory),
    n.mailbox ?? "", n.messages ?? (sup ? "" : 0)];
}

function renderRows() {
  const box = $("tree"), spacer = $("spacer");
  const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 10);
  const last = Math.min(state.rows.length, Math.ceil((box.scrollTop + box.clientHeight) / ROW) + 10);
  const now = performance.now();
  const frag = document.createDocumentFragment();
  for (let i = first; i < last; i++) {
    const { node: n, depth } = state.rows[i];
    const row = document.createElement("div");
    row.className = "row";
    row.dataset.path = n.path;
    row.style.top = i * ROW + "px";
    if (n.path === state.selected) row.classList.add("selected");
    const flash = state.flashes.get(n.path);
    if (flash && flash.until > now) row.classList.add(flash.kind);
    const nameCell = document.createElement("span");
    nameCell.className = "name" + (n.strategy ? " sup" : "");
    nameCell.style.paddingLeft = depth * 14 + "px";
    const toggle = document.createElement("span");
    toggle.className = "toggle";
    if (n.strategy) toggle.textContent = state.collapsed.has(n.path) ? "▸" : "▾";
    nameCell.append(toggle, name(n.path) || n.path);
    if (n.strategy && n.children && state.collapsed.has(n.path)) {
      nameCell.append(` (${n.children.length})`);
    }
    row.append(nameCell);
    cells(n).forEach((v, k) => {
      const c = document.createElement("span");
      c.textContent = v;
      if (k === 2) c.className = "state " + v;
      if (k === 4 && n.restarts > 0) c.className = "restarted";
      row.append(c);
    });
    frag.append(row);
  }
  spacer.replaceChildren(frag);
}

function renderSummary() {
  let workers = 0, sups = 0, down = 0;
  for (const n of state.byPath.values()) {
    if (n.strategy) sups++; else workers++;
    if (n.state !== "running") down++;
  }
  $("summary").textContent =
    `${state.tree ? state.tree.path : ""}: ${sups} supervisors, ${workers} workers, ${down} not running · event #${state.seq}`;
}

function describe(e) {
  let text = `${(e.t_us / 1e6).toFixed(3)}s #${e.seq} ${e.event} ${e.path}`;
  if (e.generation) text += ` gen ${e.generation}`;
  if (e.reason) text += ` ${e.reason}`;
  if (e.detail) text += `: ${e.detail}`;
  return text;
}

function renderEvents() {
  const frag = document.createDocumentFragment();
  for (const e of state.recent.slice(0, RECENT)) {
    const li = document.createElement("li");
    li.textContent = describe(e);
    if (e.reason) li.className = e.reason;
    frag.append(li);
  }
  $("events").replaceChildren(frag);
}

// One batch of events: a gap in the numbers refetches the whole snapshot.
function applyBatch() {
  const batch = state.pending; state.pending = [];
  let structural = false;
  const now = performance.now();
  for (const e of batch) {
    if (e.seq <= state.seq) continue;
    if (e.seq !== state.seq + 1 && e.event !== "events_dropped") { refetch(); return; }
    state.seq = e.seq;
    state.recent.unshift(e);
    const n = state.byPath.get(e.path);
    switch (e.event) {
      case "child_started":
      case "child_restarted":
        if (!n) { structural = true; break; }
        n.state = "running"; n.generation = e.generation; n.restarts = e.generation - 1;
        if (e.event === "child_restarted") state.flashes.set(e.path, { kind: "flash-restart", until: now + 1000 });
        break;
      case "child_terminated":
        if (n) n.state = "stopped";
        if (["crash", "error", "killed"].includes(e.reason)) {
          state.flashes.set(e.path, { kind: "flash-crash", until: now + 1000 });
        }
        structural = true; // a dynamic or temporary child may be gone
        break;
      case "child_restart_delayed":
        if (n) n.state = "restarting";
        break;
      case "child_ignored":
        if (n) n.state = "stopped";
        structural = true;
        break;
      case "supervisor_started":
      case "supervisor_terminated":
        structural = true;
        break;
    }
  }
  state.recent.length = Math.min(state.recent.length, RECENT);
  renderRows(); renderEvents(); renderSummary();
  if (state.selected && batch.some((e) => e.path === state.selected)) showDetails(state.selected, true);
  if (structural) refetchLater();
  setTimeout(renderRows, 1050); // end the flashes
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("hello", (m) => {
    $("status").textContent = "live"; $("status").className = "status live";
    if (JSON.parse(m.data).seq !== state.seq) refetch();
  });
  es.onmessage = (m) => {
    state.pending.push(JSON.parse(m.data));
    if (state.pending.length === 1) setTimeout(applyBatch, BATCH_MS);
  };
  es.onerror = () => { $("status").textContent = "reconnecting"; $("status").className = "status down"; };
}

function field(rows) {
  const table = document.createElement("table");
  for (const [k, v] of rows) {
    if (v === undefined || v === null || v === "") continue;
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v;
  }
  return table;
}

function whyText(why) {
  const entry = (e) => {
    // As `arbor ctl why` prints it.
    let t = `  at ${(e.t_us / 1e6).toFixed(3)} s: ${e.cause.path} (generation ${e.cause.generation}) exited: ${e.cause.reason}`;
    if (e.cause.detail) t += ` (${e.cause.detail})`;
    if (e.cause.message) t += `\n    while handling ${JSON.stringify(e.cause.message)}`;
    const d = e.decision;
    t += `\n    ${d.supervisor} (${d.strategy}) decided: ${d.action}`;
    if (d.stopped && d.stopped.length) t += `; stopped ${d.stopped.join(", ")}`;
    if (d.restarted && d.restarted.length) t += `; restarted ${d.restarted.join(", ")}`;
    t += `; ${d.restarts_in_window} of ${d.max_restarts} restarts in ${d.max_seconds} s`;
    return t;
  };
  const link = (l, empty) => `${l.path} (generation ${l.generation})\n` +
    (l.history.length ? l.history.map(entry).join("\n") : `  ${empty}`);
  return [link(why.child, "no exit recorded since its supervisor started it"),
    ...why.supervisors.map((s) => link(s, "no exit recorded"))].join("\n\n");
}

async function act(request, out) {
  const token = sessionStorage.getItem("arbor-token") || "";
  const res = await fetch("/api/action", {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(request),
  });
  out.textContent = res.ok ? "done" : `refused: ${await res.text()}`;
}

function actions(n) {
  const box = document.createElement("div");
  box.className = "actions";
  const out = document.createElement("span");
  const token = document.createElement("input");
  token.placeholder = "token (printed at start)";
  token.value = sessionStorage.getItem("arbor-token") || "";
  token.onchange = () => sessionStorage.setItem("arbor-token", token.value.trim());
  box.append(token);
  const button = (label, request) => {
    const b = document.createElement("button");
    b.textContent = label;
    b.onclick = () => act(request(), out);
    box.append(b);
  };
  const sup = state.parent.get(n.path);
  if (sup) {
    const child = { supervisor: sup, name: name(n.path) };
    button("crash", () => ({ cmd: "crash", name: n.path }));
    button("stop", () => ({ cmd: "stop_child", ...child }));
    button("restart", () => ({ cmd: "restart_child", ...child }));
  }
  if (n.component) {
    const wasm = document.createElement("input");
    wasm.placeholder = "new .wasm path on the host";
    box.append(wasm);
    button("swap", () => ({ cmd: "swap", name: name(n.path), file: wasm.value }));
  }
  if (n.strategy) {
    const comp = document.createElement("input"); comp.placeholder = "component";
    const nm = document.createElement("input"); nm.placeholder = "new child's name";
    box.append(comp, nm);
    button("start child", () => ({ cmd: "start_child", supervisor: n.path, component: comp.value, name: nm.value }));
  }
  box.append(out);
  return box;
}

// The details of `path` and its "why". `quiet` (an update, not a click)
// keeps the pane where it shows the same child: only its fields are
// replaced, so what was typed into the actions stays, and the old "why"
// shows until the new one is in.
async function showDetails(path, quiet) {
  state.selected = path;
  const n = state.byPath.get(path);
  const pane = $("details");
  if (!n) { pane.replaceChildren(); delete pane.dataset.path; return; }
  const fields = field([
    ["kind", n.strategy ? `${n.strategy} supervisor` : "worker"],
    ["component", n.component], ["version", n.version], ["file", n.file],
    ["restart", n.restart], ["state", n.state], ["generation", n.generation],
    ["restarts", n.restarts],
    ["intensity", n.intensity && `${n.intensity.restarts} of ${n.intensity.max_restarts} restarts in ${n.intensity.window_ms / 1000} s (at its last decision)`],
    ["memory", n.strategy ? `${bytes(n.memory)} (its workers' linear memory)` : `${bytes(n.memory)} of linear memory`],
    ["mailbox", n.mailbox], ["messages", n.messages],
    ["children", n.children && n.children.length],
  ]);
  fields.id = "fields";
  if (quiet && pane.dataset.path === path && $("fields")) {
    $("fields").replaceWith(fields);
  } else {
    pane.dataset.path = path;
    const h = document.createElement("h2");
    h.textContent = path;
    const why = document.createElement("pre");
    why.id = "why";
    why.textContent = "loading why...";
    const wh = document.createElement("h2"); wh.textContent = "why";
    const parts = [h, fields, wh, why];
    if (state.actions) parts.push(actions(n));
    pane.replaceChildren(...parts);
  }
  renderRows();
  const why = $("why");
  if (n.path === (state.tree && state.tree.path)) { why.textContent = "the root: started by the host"; return; }
  try {
    const res = await fetch(`/api/why?name=${encodeURIComponent(path)}`);
    why.textContent = res.ok ? whyText(await res.json()) : await res.text();
  } catch (e) { why.textContent = String(e); }
}

$("tree").addEventListener("scroll", () => requestAnimationFrame(renderRows));
window.addEventListener("resize", () => requestAnimationFrame(renderRows));
$("spacer").addEventListener("click", (ev) => {
  const row = ev.target.closest(".row");
  if (!row) return;
  const path = row.dataset.path, n = state.byPath.get(path);
  if (n && n.strategy && ev.target.classList.contains("toggle")) {
    if (state.collapsed.has(path)) state.collapsed.delete(path); else state.collapsed.add(path);
    flatten(); renderRows();
    return;
  }
  showDetails(path, false);
});
let searchTimer = null;
$("search").addEventListener("input", (ev) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.filter = ev.target.value.trim(); flatten(); renderRows(); }, 120);
});

refetch().then(connect);
setInterval(() => { if (!document.hidden) refetch(); }, GAUGES_MS);
