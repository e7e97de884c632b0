// Shared by the dashboard's modules: the page's state, element lookup, escaping, the JSON API.
//
// Everything from the store (run names, experiments, config values, metric names) is data: it
// goes into the page with textContent or new Option(), never innerHTML, and into Plotly (which
// renders a subset of HTML in names and labels) through esc().

export const $ = (id) => document.getElementById(id);

export const state = {
  rows: [], settings: [], info: {}, selected: new Set(), traces: [], shapes: [], annotations: [],
  gen: 0, range: null, uirevision: "0", polling: false, ticks: 0, probes: {}, matrixSeq: 0, wantMetric: null,
  sweeps: {}, wantSweep: null, wantColour: null, unit: "step", top: 40, noPhases: false, labels: { labels: [], phases: [], above: 2 },
};

export const esc = (text) =>
  String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export const say = (text) => { $("message").textContent = text || ""; };

export async function api(path, params) {
  // GET api/PATH?params; the server's {"error": ...} becomes the Error's message
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const response = await fetch(`api/${path}?${query}`, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
