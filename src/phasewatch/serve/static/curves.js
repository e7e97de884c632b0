// The curves: one metric, the selected runs overlaid, events as bands, a run's phase timeline as a
// coloured strip above the plot, live growth.
//
// Curves arrive bucketed by the server (min, max and last per pixel-wide bucket), so a zoom asks
// again for the new range at the plot's width; a running run is polled for the rows after its
// cursor only, and those are appended with Plotly.extendTraces, without a reload.
//
// The x-axis is step or tokens (step × the run's tokens_per_step, each run its own factor: the
// server's `scale`), linear or log; on a log axis x is the position + 1, so step 0 stays on it.
// Event labels go in lanes above the plot, as the report's do (report/figures.py stack_labels):
// a label takes the first lane where it clears the others; with several runs one label per kind
// and metric, at the median of their steps.
import { $, api, esc, say, state } from "./common.js";

const PALETTE = JSON.parse(document.body.dataset.palette);
const REBUCKET_FACTOR = 4; // a trace this many times the plot's width in points is fetched bucketed again
const LANE_PX = 15, LABEL_GAP_PX = 10, MODEBAR_PX = 30, STRIP_PX = 14, MAX_LANES = 8;
const isLog = () => $("xscale").value.startsWith("log");
const wantUnit = () => ($("xscale").value.endsWith("tokens") ? "tokens" : "step");
const X = (step, k = 1) => (isLog() ? step * k + 1 : step * k); // a run's step on the axis
const fromAxis = (v) => (isLog() ? Math.pow(10, v) - 1 : v); // a log axis reports log10(x)
const annotationX = (x) => (isLog() ? Math.log10(x) : x); // annotations on a log axis take log10(x)
let measure = null;

function textWidth(text, size) {
  measure = measure || document.createElement("canvas").getContext("2d");
  measure.font = `${size}px sans-serif`;
  return measure.measureText(text).width;
}

function stackLabels(labels, extent, widthPx) {
  // labels: {x (axis position), text, size}; sets each one's lane and xanchor; returns the lane count
  const [lo, hi] = extent;
  const ends = [];
  for (const label of [...labels].sort((a, b) => a.x - b.x)) {
    const width = textWidth(label.text, label.size);
    const centre = ((annotationX(label.x) - lo) / (hi - lo || 1)) * widthPx;
    label.xanchor = centre - width / 2 < 0 ? "left" : centre + width / 2 > widthPx ? "right" : "center";
    const left = { left: centre, right: centre - width, center: centre - width / 2 }[label.xanchor];
    let lane = ends.findIndex((end) => end + LABEL_GAP_PX <= left);
    if (lane < 0) { lane = ends.length; ends.push(0); }
    ends[lane] = left + width;
    label.lane = Math.min(lane, MAX_LANES - 1);
  }
  return Math.min(ends.length, MAX_LANES);
}

export async function loadMetrics() {
  const select = $("metric"), current = select.value || state.wantMetric;
  let names = [];
  if (state.selected.size) {
    try { names = (await api("metrics", { runs: [...state.selected].join(",") })).metrics; } catch (e) { say(e.message); }
  }
  select.replaceChildren(...names.map((name) => new Option(name, name)));
  select.value = [current, "train/loss", "test/loss", names[0]].find((name) => names.includes(name)) || "";
  state.wantMetric = null;
}

function colours(runs) {
  // one colour per distinct value of the chosen setting (per run when none is chosen), in the
  // values' order (numbers by size), so that neighbouring settings get neighbouring colours
  const key = $("colour-by").value;
  const raw = runs.map((run) => (key ? state.info[run]?.[key] ?? null : run));
  const values = raw.map((v) => JSON.stringify(v));
  const distinct = [...new Set(values)].sort((a, b) => {
    const x = JSON.parse(a), y = JSON.parse(b);
    return typeof x === "number" && typeof y === "number" ? x - y : a < b ? -1 : a > b ? 1 : 0;
  });
  return runs.map((run, i) => ({
    colour: PALETTE[distinct.indexOf(values[i]) % PALETTE.length],
    label: key ? `${key}=${raw[i] ?? "–"}` : "",
    rank: distinct.indexOf(values[i]),
  }));
}

function smoothed(values, ema) {
  // debiased exponential moving average (as TensorBoard): display only, the data stays raw
  const beta = Number($("smoothing").value);
  return values.map((v) => {
    if (v === null) return null;
    ema.acc = beta * ema.acc + (1 - beta) * v;
    ema.n += 1;
    return ema.acc / (1 - Math.pow(beta, ema.n));
  });
}

const shown = (trace, values) => ($("smooth").checked ? smoothed(values, trace.ema) : values);

export function loadPhaseRuns() {
  // the runs whose phase timeline can be drawn: the selected ones; the first by default, none
  // when the user chose none
  const select = $("phases-run"), current = select.value, runs = [...state.selected].sort();
  select.replaceChildren(new Option("none", ""), ...runs.map((run) => new Option(run, run)));
  select.value = runs.includes(current) ? current : state.noPhases ? "" : runs[0] || "";
}

export async function drawSeries(reset) {
  const gen = ++state.gen;
  const runs = [...state.selected].sort(), metric = $("metric").value, plot = $("plot");
  if (reset) {
    state.range = null;
    state.uirevision = String(gen); // a new view autoranges; a zoom's refetch keeps the zoom
  }
  if (!runs.length || !metric) {
    state.traces = [];
    state.shapes = [];
    state.annotations = [];
    state.labels = { labels: [], phases: [], above: 2 };
    state.top = 40;
    $("xnote").textContent = "";
    render();
    return;
  }
  const params = {
    runs: runs.join(","), metric, xscale: isLog() ? "log" : "step", x: wantUnit(),
    width: Math.max(100, Math.round(plot.clientWidth || 800)),
  };
  if (state.range) {
    params.x0 = Math.max(0, Math.floor(state.range[0]));
    params.x1 = Math.max(params.x0, Math.ceil(state.range[1]));
  }
  const phasesRun = runs.includes($("phases-run").value) ? $("phases-run").value : "";
  let body, events, timeline;
  try {
    [body, events, timeline] = await Promise.all([
      api("series", params),
      Promise.all(runs.map((run) => api("events", { run }))),
      phasesRun ? api("timeline", { run: phasesRun }) : Promise.resolve({ phases: [] }),
    ]);
  } catch (e) { say(e.message); return; }
  if (gen !== state.gen) return; // a newer draw started meanwhile
  state.unit = body.x;
  const palette = colours(runs);
  const scale = (run) => body.scales[run] ?? 1;
  state.traces = runs.filter((run) => body.runs[run]).map((run) => ({
    run, metric, steps: body.runs[run].step, values: body.runs[run].value, cursor: body.runs[run].cursor,
    scale: scale(run), status: state.info[run]?.status, style: palette[runs.indexOf(run)], ema: { acc: 0, n: 0 },
  })).sort((a, b) => a.style.rank - b.style.rank || (a.run < b.run ? -1 : 1)); // the legend in the colours' order
  state.shapes = [];
  const labels = [], groups = new Map();
  events.forEach((reply, i) => {
    const run = runs[i], k = scale(run);
    for (const event of reply.events) {
      if (event.step_low === null || event.step_high === null) continue;
      const colour = palette[i].colour;
      state.shapes.push({
        type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below", opacity: runs.length > 3 ? 0.08 : 0.15,
        x0: X(event.step_low, k), x1: X(Math.max(event.step_high, event.step_low), k), fillcolor: colour, line: { width: 1, color: colour },
      });
      const key = `${event.kind}\u0000${event.metric}`;
      if (!groups.has(key)) groups.set(key, { kind: event.kind, metric: event.metric, colour, xs: [], lines: [] });
      const group = groups.get(key);
      group.xs.push(X(event.step ?? event.step_low, k));
      group.lines.push(`${run}: step ${event.step} [${event.step_low}, ${event.step_high}]`);
      if (group.colour !== colour) group.colour = "#444444"; // several runs' colours: neutral
    }
  });
  for (const group of groups.values()) {
    const xs = group.xs.sort((a, b) => a - b), n = xs.length;
    labels.push({
      x: xs[Math.floor((n - 1) / 2)], size: 10, colour: group.colour,
      text: `${group.kind} · ${group.metric}` + (n > 1 ? ` ×${n}` : ""), hover: group.lines.map(esc).join("<br>"),
    });
  }
  const strip = phasesRun && timeline.phases.length ? timeline.phases : [];
  const k = scale(phasesRun);
  for (const span of strip) {
    if (span.end <= span.start) continue;
    const x0 = X(span.start, k), x1 = X(span.end, k);
    state.shapes.push({
      type: "rect", xref: "x", yref: "paper", ysizemode: "pixel", yanchor: 1, y0: 2, y1: 2 + STRIP_PX,
      x0, x1, fillcolor: span.colour, opacity: 0.6, line: { width: 0 }, name: "phase",
    });
  }
  const phases = [];
  for (const span of strip) {
    if (span.end <= span.start) continue;
    const mid = isLog() ? Math.sqrt(X(span.start, k) * X(span.end, k)) : (X(span.start, k) + X(span.end, k)) / 2;
    phases.push({
      x: annotationX(mid), xref: "x", y: 1, yref: "paper", yanchor: "bottom", yshift: 3, showarrow: false,
      text: esc(span.name), font: { size: 10, color: "#222222" }, hovertext: esc(span.text), name: "phase",
    });
  }
  state.labels = { labels, phases, above: strip.length ? STRIP_PX + 4 : 2 };
  placeLabels(axisExtent(state.traces, state.shapes), Math.max(200, (plot.clientWidth || 800) - 400));
  const notes = [body.note];
  if (phasesRun && !timeline.phases.length) notes.push(`${phasesRun} has no phase timeline (a preset without [events.phases])`);
  $("xnote").textContent = notes.filter(Boolean).join(" · ");
  say("");
  render();
}

function placeLabels(extent, widthPx) {
  // the event labels in lanes for a plot `widthPx` wide over `extent`, then the phase names
  const { labels, phases, above } = state.labels;
  const lanes = stackLabels(labels, extent, widthPx);
  state.annotations = labels.map((label) => ({
    x: annotationX(label.x), xref: "x", y: 1, yref: "paper", yanchor: "bottom", yshift: above + 2 + LANE_PX * label.lane,
    xanchor: label.xanchor, showarrow: false, text: esc(label.text), font: { size: label.size, color: label.colour },
    hovertext: label.hover,
  }));
  state.annotations.push(...phases);
  state.top = MODEBAR_PX + above + LANE_PX * lanes + 4;
}

function relabel(plot) {
  // once drawn, the plot's true width and x-range: lay the labels out again if they differ
  const size = plot._fullLayout?._size, range = plot._fullLayout?.xaxis?.range;
  if (!size || !range || !state.labels.labels.length) return;
  const before = JSON.stringify([state.annotations, state.top]);
  placeLabels([Number(range[0]), Number(range[1])], size.w);
  if (JSON.stringify([state.annotations, state.top]) !== before) {
    Plotly.relayout(plot, { annotations: state.annotations, "margin.t": state.top });
  }
}

function axisExtent(traces, shapes) {
  // the x-range the plot will autorange to, in the axis' units (log10 on a log axis)
  let lo = Infinity, hi = -Infinity;
  const take = (x) => {
    const v = annotationX(x);
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  };
  for (const t of traces) if (t.steps.length) { take(X(t.steps[0], t.scale)); take(X(t.steps[t.steps.length - 1], t.scale)); }
  for (const s of shapes) { take(s.x0); take(s.x1); }
  return Number.isFinite(lo) ? [lo, hi > lo ? hi : lo + 1] : [0, 1];
}

export function render() {
  const plot = $("plot"), metric = $("metric").value;
  const data = state.traces.map((t) => {
    t.ema = { acc: 0, n: 0 };
    return {
      type: "scatter", mode: "lines", x: t.steps.map((s) => X(s, t.scale)), y: shown(t, t.values), customdata: t.steps,
      name: esc(t.run) + (t.style.label ? ` · ${esc(t.style.label)}` : ""), line: { color: t.style.colour, width: 1.5 },
      hovertemplate: "step %{customdata}<br>%{y:.5g}<extra>%{fullData.name}</extra>",
    };
  });
  const unit = state.unit || "step";
  const layout = {
    margin: { l: 70, r: 20, t: state.top || 40, b: 50 }, hovermode: "closest", uirevision: state.uirevision, showlegend: true,
    xaxis: { type: isLog() ? "log" : "linear", title: { text: isLog() ? `${unit} + 1` : unit } },
    yaxis: { title: { text: esc(metric) } }, shapes: state.shapes, annotations: state.annotations,
  };
  Plotly.react(plot, data, layout, { displaylogo: false, responsive: true });
  relabel(plot);
  if (!plot.dataset.bound) {
    plot.on("plotly_relayout", onRelayout);
    plot.dataset.bound = "1";
  }
  countPoints();
}

function countPoints() {
  const points = state.traces.reduce((n, t) => n + t.steps.length, 0);
  $("points").textContent = state.traces.length ? `${points} points shown` : "";
}

function onRelayout(event) {
  // a zoom or pan: fetch buckets for the new x-range at the plot's width; a reset: the full range
  let range = null;
  if (event["xaxis.range[0]"] !== undefined) range = [event["xaxis.range[0]"], event["xaxis.range[1]"]];
  else if (Array.isArray(event["xaxis.range"])) range = event["xaxis.range"];
  else if (!event["xaxis.autorange"]) return;
  state.range = range && range.map(fromAxis);
  drawSeries(false);
}

export async function poll() {
  // one request for every running run: the rows after each one's cursor, appended to its trace
  const live = state.traces.filter((t) => t.status === "running");
  if (state.polling || !live.length) return;
  state.polling = true;
  const gen = state.gen;
  try {
    let body;
    do {
      const cursors = { run: live.map((t) => t.run).join(","), after: live.map((t) => t.cursor).join(",") };
      body = await api("updates", { ...cursors, metric: live[0].metric });
      if (gen !== state.gen) return; // the view changed meanwhile: these rows belong to no trace
      const grown = live.filter((t) => body.runs[t.run].step.length);
      const update = { x: [], y: [], customdata: [] };
      for (const trace of grown) {
        const reply = body.runs[trace.run];
        for (let k = 0; k < reply.step.length; k++) { trace.steps.push(reply.step[k]); trace.values.push(reply.value[k]); }
        update.x.push(reply.step.map((s) => X(s, trace.scale)));
        update.y.push(shown(trace, reply.value));
        update.customdata.push(reply.step);
      }
      if (grown.length) Plotly.extendTraces($("plot"), update, grown.map((t) => state.traces.indexOf(t)));
      for (const trace of live) {
        trace.cursor = body.runs[trace.run].cursor;
        trace.status = body.runs[trace.run].status;
      }
    } while (body.more);
    countPoints();
    const width = Math.max(100, $("plot").clientWidth || 800);
    if (state.traces.some((t) => t.steps.length > REBUCKET_FACTOR * width)) drawSeries(false);
  } catch (e) {
    say(e.message);
  } finally {
    state.polling = false;
  }
}

