// The curves: one metric, the selected runs overlaid, events as bands, live growth.
//
// Curves arrive bucketed by the server (min, max and last per pixel-wide bucket), so a zoom asks
// again for the new range at the plot's width; a running run is polled for the rows after its
// cursor only, and those are appended with Plotly.extendTraces, without a reload.
import { $, api, esc, say, state } from "./common.js";

const PALETTE = JSON.parse(document.body.dataset.palette);
const REBUCKET_FACTOR = 4; // a trace this many times the plot's width in points is fetched bucketed again
const isLog = () => $("xscale").value === "log";
const X = (step) => (isLog() ? step + 1 : step); // step + 1 on a log axis, so step 0 stays on it
const fromAxis = (v) => (isLog() ? Math.pow(10, v) - 1 : v); // a log axis reports log10(x)

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
  // one colour per distinct value of the chosen setting (per run when none is chosen)
  const key = $("colour-by").value;
  const values = runs.map((run) => (key ? JSON.stringify(state.info[run]?.[key] ?? null) : run));
  const distinct = [...new Set(values)];
  return runs.map((run, i) => ({
    colour: PALETTE[distinct.indexOf(values[i]) % PALETTE.length],
    label: key ? `${key}=${state.info[run]?.[key] ?? "–"}` : "",
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
    render();
    return;
  }
  const params = { runs: runs.join(","), metric, xscale: $("xscale").value, width: Math.max(100, Math.round(plot.clientWidth || 800)) };
  if (state.range) {
    params.x0 = Math.max(0, Math.floor(state.range[0]));
    params.x1 = Math.max(params.x0, Math.ceil(state.range[1]));
  }
  let body, events;
  try {
    [body, events] = await Promise.all([api("series", params), Promise.all(runs.map((run) => api("events", { run })))]);
  } catch (e) { say(e.message); return; }
  if (gen !== state.gen) return; // a newer draw started meanwhile
  const palette = colours(runs);
  state.traces = runs.filter((run) => body.runs[run]).map((run) => ({
    run, metric, steps: body.runs[run].step, values: body.runs[run].value, cursor: body.runs[run].cursor,
    status: state.info[run]?.status, style: palette[runs.indexOf(run)], ema: { acc: 0, n: 0 },
  }));
  state.shapes = [];
  state.annotations = [];
  events.forEach((reply, i) => {
    for (const event of reply.events) {
      if (event.step_low === null || event.step_high === null) continue;
      const colour = palette[i].colour;
      state.shapes.push({
        type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below", opacity: 0.15,
        x0: X(event.step_low), x1: X(Math.max(event.step_high, event.step_low)), fillcolor: colour, line: { width: 1, color: colour },
      });
      state.annotations.push({
        x: X(event.step ?? event.step_low), xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false,
        text: esc(`${event.kind} · ${event.metric}`), font: { size: 10, color: colour },
      });
    }
  });
  say("");
  render();
}

export function render() {
  const plot = $("plot"), metric = $("metric").value;
  const data = state.traces.map((t) => {
    t.ema = { acc: 0, n: 0 };
    return {
      type: "scatter", mode: "lines", x: t.steps.map(X), y: shown(t, t.values), customdata: t.steps,
      name: esc(t.run) + (t.style.label ? ` · ${esc(t.style.label)}` : ""), line: { color: t.style.colour, width: 1.5 },
      hovertemplate: "step %{customdata}<br>%{y:.5g}<extra>%{fullData.name}</extra>",
    };
  });
  const layout = {
    margin: { l: 70, r: 20, t: 40, b: 50 }, hovermode: "closest", uirevision: state.uirevision, showlegend: true,
    xaxis: { type: isLog() ? "log" : "linear", title: { text: isLog() ? "step + 1" : "step" } },
    yaxis: { title: { text: esc(metric) } }, shapes: state.shapes, annotations: state.annotations,
  };
  Plotly.react(plot, data, layout, { displaylogo: false, responsive: true });
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
        update.x.push(reply.step.map(X));
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

