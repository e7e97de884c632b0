// The phasewatch dashboard page: the runs table, the address bar, and the wiring of the controls
// to the curves (curves.js) and the matrices (matrices.js).
import { $, api, say, state } from "./common.js";
import { drawSeries, loadMetrics, loadPhaseRuns, poll, render } from "./curves.js";
import { loadMatrixRuns, loadProbes, probeChanged, showMatrix } from "./matrices.js";

const POLL_MS = 2000;
const RUNS_EVERY = 5; // polls between refreshes of the runs table (statuses, steps)
const BASE_COLUMNS = ["run", "experiment", "status", "steps", "seed", "created"];

function parseFilter() {
  // column=value words go to the server (an exact match); other words match the row's text here
  const filters = {}, words = [];
  for (const token of $("filter").value.trim().split(/\s+/).filter(Boolean)) {
    const at = token.indexOf("=");
    if (at > 0) filters[token.slice(0, at)] = token.slice(at + 1);
    else words.push(token.toLowerCase());
  }
  return { filters, words };
}

async function loadSweeps() {
  // the store's sweeps, to filter the runs table by; the chosen one's phase diagram, when written
  let body;
  try { body = await api("sweeps"); } catch (e) { say(e.message); return; }
  state.sweeps = Object.fromEntries(body.sweeps.map((sweep) => [sweep.name, sweep]));
  const select = $("sweep"), current = select.value || state.wantSweep;
  select.replaceChildren(
    new Option("all runs", ""),
    ...body.sweeps.map((sweep) => new Option(`${sweep.name} (${sweep.members.length} runs)`, sweep.name)),
  );
  select.value = state.sweeps[current] ? current : "";
  state.wantSweep = null;
  showDiagram();
}

function showDiagram() {
  const name = $("sweep").value, link = $("diagram");
  link.hidden = !(name && state.sweeps[name]?.diagram);
  if (!link.hidden) link.href = `report/sweeps/${encodeURIComponent(name)}.html`;
}

async function loadRuns() {
  const { filters, words } = parseFilter();
  if ($("sweep").value) filters.sweep = $("sweep").value;
  let body;
  try { body = await api("runs", filters); } catch (e) { say(e.message); return; }
  state.rows = body.rows;
  state.settings = body.settings;
  for (const row of body.rows) state.info[row.run] = row;
  for (const trace of state.traces) {
    if (state.info[trace.run]?.status === "running") trace.status = "running"; // resumed
  }
  renderRuns(words);
  renderColourBy();
  say("");
}

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text === null || text === undefined ? "" : String(text);
  return node;
}

function renderRuns(words) {
  // the settings that differ between the listed runs: the rest says nothing
  const varying = state.settings.filter((c) => new Set(state.rows.map((r) => JSON.stringify(r[c]))).size > 1);
  const columns = [...BASE_COLUMNS, ...varying];
  const head = document.createElement("tr");
  const all = document.createElement("input");
  all.type = "checkbox";
  all.id = "select-shown";
  all.title = "select every run shown";
  all.setAttribute("aria-label", "select every run shown");
  all.addEventListener("change", () => {
    for (const tr of $("runs").tBodies[0].rows) {
      if (tr.hidden) continue;
      if (all.checked) state.selected.add(tr.dataset.run); else state.selected.delete(tr.dataset.run);
      tr.querySelector("input").checked = all.checked;
    }
    selectionChanged();
  });
  const pick = document.createElement("th");
  pick.append(all);
  head.append(pick, ...[...columns, "report"].map((name) => cell("th", name)));
  $("runs").tHead.replaceChildren(head);
  const rows = state.rows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.run = row.run;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = state.selected.has(row.run);
    box.setAttribute("aria-label", `select ${row.run}`);
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(row.run); else state.selected.delete(row.run);
      selectionChanged();
    });
    const pick = document.createElement("td");
    pick.append(box);
    tr.append(pick, ...columns.map((name) => cell("td", row[name])));
    tr.children[columns.indexOf("status") + 1].className = `status-${String(row.status).replace(/[^a-z]/g, "")}`;
    const report = document.createElement("td");
    if (row.report) {
      const link = cell("a", "report");
      link.href = `report/${encodeURIComponent(row.run)}/report.html`;
      link.target = "_blank";
      link.rel = "noopener";
      report.append(link);
    }
    tr.append(report);
    const text = tr.textContent.toLowerCase();
    tr.hidden = !words.every((word) => text.includes(word));
    return tr;
  });
  $("runs").tBodies[0].replaceChildren(...rows);
  const shown = rows.filter((tr) => !tr.hidden).length;
  $("shown").textContent = `${shown} run${shown === 1 ? "" : "s"} shown`;
}

function renderColourBy() {
  const select = $("colour-by"), current = select.value;
  select.replaceChildren(new Option("run", ""), ...state.settings.map((name) => new Option(name, name)));
  select.value = state.settings.includes(current) ? current : "";
}

async function selectionChanged() {
  writeUrl();
  loadPhaseRuns();
  await loadMetrics();
  await drawSeries(true);
  await loadMatrixRuns();
}

// ---- the address bar keeps the view: ?runs=A,B&metric=M&xscale=log&x=tokens&colour=KEY&sweep=NAME ----

function readUrl() {
  const query = new URLSearchParams(location.search);
  for (const run of (query.get("runs") || "").split(",").filter(Boolean)) state.selected.add(run);
  state.wantMetric = query.get("metric");
  state.wantSweep = query.get("sweep");
  state.wantColour = query.get("colour");
  const log = query.get("xscale") === "log", tokens = query.get("x") === "tokens";
  $("xscale").value = tokens ? (log ? "log-tokens" : "tokens") : log ? "log" : "step";
}

function writeUrl() {
  const query = new URLSearchParams();
  const xscale = $("xscale").value;
  if (state.selected.size) query.set("runs", [...state.selected].sort().join(","));
  if ($("metric").value) query.set("metric", $("metric").value);
  if (xscale.startsWith("log")) query.set("xscale", "log");
  if (xscale.endsWith("tokens")) query.set("x", "tokens");
  if ($("colour-by").value) query.set("colour", $("colour-by").value);
  if ($("sweep").value) query.set("sweep", $("sweep").value);
  history.replaceState(null, "", `?${query}`);
}

async function start() {
  readUrl();
  await loadSweeps();
  await loadRuns();
  if (state.wantColour && state.settings.includes(state.wantColour)) $("colour-by").value = state.wantColour;
  state.wantColour = null;
  for (const run of [...state.selected]) if (!state.info[run]) state.selected.delete(run);
  let typing;
  $("filter").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(loadRuns, 250); });
  $("sweep").addEventListener("change", () => { writeUrl(); showDiagram(); loadRuns(); });
  $("metric").addEventListener("change", () => { writeUrl(); drawSeries(true); });
  $("xscale").addEventListener("change", () => { writeUrl(); drawSeries(true); });
  $("phases-run").addEventListener("change", () => { state.noPhases = !$("phases-run").value; drawSeries(false); });
  $("colour-by").addEventListener("change", () => { writeUrl(); drawSeries(false); }); // traces and event bands recoloured
  $("smooth").addEventListener("change", render);
  $("smoothing").addEventListener("input", () => { if ($("smooth").checked) render(); });
  $("matrix-run").addEventListener("change", loadProbes);
  $("probe").addEventListener("change", probeChanged);
  $("matrix-step").addEventListener("input", showMatrix);
  if (state.selected.size) await selectionChanged();
  renderRuns(parseFilter().words);
  loadPhaseRuns();
  setInterval(() => {
    state.ticks += 1;
    if (state.ticks % RUNS_EVERY === 0) loadRuns();
    poll();
  }, POLL_MS);
}

start();
