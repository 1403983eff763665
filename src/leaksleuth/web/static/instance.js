// Instance page: uPlot charts of the stored series, restarts and captures marked, heap profiles picked on the
// chart for a flame graph or a diff. Text from data reaches the page through textContent only.
(function () {
  "use strict";
  const CHARTS = [
    ["goroutines", "goroutines", count],
    ["heap_inuse", "heap in use", bytes],
    ["rss_bytes", "RSS", bytes],
    ["num_gc", "GC cycles", count],
  ];
  const picked = document.getElementById("picked");
  const targetId = picked.dataset.targetId;
  let data = JSON.parse(document.getElementById("chart-data").textContent);
  let choice = [];  // heap snapshot [time, id] pairs, at most two
  const charts = {};
  window.leaksleuthCharts = charts;  // the tests pick points through it

  function count(v) { return v == null ? "" : Math.round(v).toLocaleString("en"); }
  function bytes(v) {
    if (v == null) { return ""; }
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(Math.round(v))) + " " + units[i];
  }
  function line(u, ctx, t, colour, dash) {
    const x = u.valToPos(t, "x", true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
    ctx.save(); ctx.strokeStyle = colour; ctx.lineWidth = 2 * devicePixelRatio; ctx.setLineDash(dash);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.restore();
  }
  function marks(u) {
    const ctx = u.ctx;
    data.restarts.forEach(function (t) { line(u, ctx, t, "#c62828", [6, 4]); });
    data.captures.forEach(function (t) { line(u, ctx, t, "#ef8f00", [2, 3]); });
    const bottom = u.bbox.top + u.bbox.height - 5 * devicePixelRatio;
    data.heap.forEach(function (snapshot) {
      const x = u.valToPos(snapshot[0], "x", true);
      const chosen = choice.some(function (c) { return c[1] === snapshot[1]; });
      ctx.save(); ctx.fillStyle = chosen ? "#c62828" : "#3b6fd4";
      ctx.beginPath(); ctx.arc(x, bottom, (chosen ? 5 : 3) * devicePixelRatio, 0, 2 * Math.PI); ctx.fill(); ctx.restore();
    });
  }
  function nearestHeap(t) {
    let best = null;
    data.heap.forEach(function (s) { if (best === null || Math.abs(s[0] - t) < Math.abs(best[0] - t)) { best = s; } });
    return best;
  }
  function when(t) { return new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ") + "Z"; }
  function link(text, href) { const a = document.createElement("a"); a.href = href; a.textContent = text; return a; }
  function showChoice() {
    picked.replaceChildren();
    if (choice.length === 0) { picked.textContent = "Click a heap profile on a chart for its flame graph."; return; }
    const sorted = choice.slice().sort(function (a, b) { return a[0] - b[0]; });
    const base = "/instance/" + targetId + "/flame?snapshot=";
    picked.append("Picked: ");
    sorted.forEach(function (s, i) {
      if (i) { picked.append(" and "); }
      picked.append(link("heap profile at " + when(s[0]), base + s[1]));
    });
    if (sorted.length === 2) {
      picked.append(" · ");
      const diff = link("diff flame graph (newer − older)", base + sorted[1][1] + "&base=" + sorted[0][1]);
      diff.id = "diff-link";
      picked.append(diff);
    } else {
      picked.append(" · click another heap profile for the diff");
    }
    Object.values(charts).forEach(function (u) { u.redraw(false); });
  }
  function pick(t) {
    const snapshot = nearestHeap(t);
    if (snapshot === null) { return; }
    if (choice.length === 2) { choice = []; }
    if (!choice.some(function (c) { return c[1] === snapshot[1]; })) { choice.push(snapshot); }
    showChoice();
  }
  window.leaksleuthPick = pick;
  const sync = uPlot.sync("leaksleuth");
  CHARTS.forEach(function (spec) {
    const name = spec[0];
    const box = document.getElementById("chart-" + name);
    if (!data[name] || !data[name].some(function (v) { return v != null; })) {
      const none = document.createElement("p"); none.className = "muted"; none.textContent = "not reported";
      box.append(none); return;
    }
    const options = {
      width: Math.max(320, box.clientWidth - 16), height: 190,
      cursor: { sync: { key: sync.key } },
      legend: { show: false },
      scales: { x: { time: true } },
      series: [{}, { label: spec[1], stroke: "#3b6fd4", width: 2, fill: "rgba(59,111,212,0.08)", spanGaps: false,
                     points: { show: false }, value: function (u, v) { return spec[2](v); } }],
      axes: [{}, { size: 84, values: function (u, vals) { return vals.map(spec[2]); } }],
      hooks: { draw: [marks] },
    };
    const u = new uPlot(options, [data.times, data[name]], box);
    u.over.addEventListener("click", function (event) {
      // the click's own position: uPlot's cursor follows mousemove a frame late
      pick(u.posToVal(event.offsetX, "x"));
    });
    charts[name] = u;
  });
  document.body.dataset.chartsReady = "1";
  performance.mark("leaksleuth-charts-ready");  // bench/dashboard_bench.py reads it

  const live = document.getElementById("live");
  if (!window.EventSource || live.textContent !== "live") { return; }
  const events = new EventSource("/events");
  events.addEventListener("open", function () { live.classList.remove("off"); });
  events.addEventListener("error", function () { live.classList.add("off"); });
  events.addEventListener("round", async function () {
    const response = await fetch("/instance/" + targetId + "/chart.json", { credentials: "same-origin" });
    if (!response.ok) { return; }
    data = await response.json();
    Object.keys(charts).forEach(function (name) { charts[name].setData([data.times, data[name]]); });
    document.body.dataset.rounds = String(data.times.length);
  });
})();
