// The matrices: one run's saved arrays as a heat map, one step slider over the saved steps.
import { $, api, esc, say, state } from "./common.js";

export async function loadMatrixRuns() {
  const select = $("matrix-run"), current = select.value, runs = [...state.selected].sort();
  select.replaceChildren(...runs.map((run) => new Option(run, run)));
  select.value = runs.includes(current) ? current : runs[0] || "";
  await loadProbes();
}

export async function loadProbes() {
  const run = $("matrix-run").value, select = $("probe"), current = select.value;
  state.probes = {};
  if (run) {
    try { state.probes = (await api("arrays", { run })).probes; } catch (e) { say(e.message); }
  }
  const names = Object.keys(state.probes);
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  select.value = names.includes(current) ? current : names[0] || "";
  probeChanged();
}

export function probeChanged() {
  const steps = state.probes[$("probe").value] || [], slider = $("matrix-step");
  slider.max = String(Math.max(0, steps.length - 1));
  slider.value = slider.max;
  slider.disabled = !steps.length;
  showMatrix();
}

export async function showMatrix() {
  const seq = ++state.matrixSeq, run = $("matrix-run").value, probe = $("probe").value;
  const steps = state.probes[probe] || [];
  if (!steps.length) {
    $("matrix-label").textContent = run ? "no saved matrices" : "";
    Plotly.react($("matrix"), [], { xaxis: { visible: false }, yaxis: { visible: false } }, { displaylogo: false });
    return;
  }
  const step = steps[Number($("matrix-step").value)];
  $("matrix-label").textContent = `step ${step}`;
  let body;
  try { body = await api("matrix", { run, probe, step }); } catch (e) { say(e.message); return; }
  if (seq !== state.matrixSeq) return; // the slider moved on meanwhile
  const peak = body.z.flat().reduce((m, v) => (v === null ? m : Math.max(m, Math.abs(v))), 1e-12);
  Plotly.react(
    $("matrix"),
    [{ type: "heatmap", z: body.z, colorscale: "RdBu", reversescale: true, zmin: -peak, zmax: peak }],
    {
      margin: { l: 50, r: 20, t: 40, b: 40 }, title: { text: esc(`${body.probe} · ${body.key} · step ${body.step}`) },
      yaxis: { autorange: "reversed", scaleanchor: "x" },
    },
    { displaylogo: false },
  );
}

