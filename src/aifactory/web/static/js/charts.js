/* Draws every <table class="chart"> with uPlot (static/vendor/uPlot.iife.min.js) into a <div>
   inserted before it, hidden from assistive technology: the table is the accessible version
   and stays, folded into a <details> (with JavaScript off it is simply the table).
   The contract (docs/portal.md, "Charts"):
     <table class="chart" data-chart="line|area|bar" data-y-label="GPU hours">
       <caption>…</caption>
       <thead><tr><th scope="col">Time</th><th scope="col">series</th>…</tr></thead>
       <tbody><tr><th scope="row" data-x="UNIX_SECONDS">…</th><td data-y="NUMBER">…</td>…</tr></tbody>
     </table>
   A cell without a number is a gap. */
(function () {
  "use strict";

  // Okabe-Ito (distinguishable with colour blindness), and each line its own dash: never colour alone.
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
  var DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];
  var HEIGHT = 260;

  function number(text) {
    if (text === null || text.trim() === "") return null;
    var n = Number(text);
    return isFinite(n) ? n : null;
  }

  function read(table) {
    var heads = table.querySelectorAll("thead th");
    var names = [];
    for (var i = 1; i < heads.length; i++) names.push(heads[i].textContent.trim());
    var rows = [];
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var th = tr.querySelector("th[data-x]");
      var x = th ? number(th.getAttribute("data-x")) : null;
      if (x === null) return;
      var cells = tr.querySelectorAll("td");
      var ys = names.map(function (_, j) {
        return cells[j] ? number(cells[j].getAttribute("data-y")) : null;
      });
      rows.push([x].concat(ys));
    });
    rows.sort(function (a, b) { return a[0] - b[0]; }); // uPlot wants x ascending
    var data = [[]].concat(names.map(function () { return []; }));
    rows.forEach(function (row) {
      row.forEach(function (v, j) { data[j].push(v); });
    });
    return { names: names, data: data };
  }

  function series(kind, names) {
    return names.map(function (name, i) {
      var colour = COLOURS[i % COLOURS.length];
      var s = { label: name, stroke: colour, width: 2, spanGaps: false };
      if (kind === "bar") {
        s.fill = colour + "99";
        s.paths = uPlot.paths.bars({ size: [0.6, 64] });
        s.points = { show: false };
      } else {
        s.dash = DASHES[i % DASHES.length];
        if (kind === "area") s.fill = colour + "33";
      }
      return s;
    });
  }

  // Bars centred on their x would be cut in half at both ends: pad the range by half a step.
  function barRange(xs) {
    var step = Infinity;
    for (var i = 1; i < xs.length; i++) step = Math.min(step, xs[i] - xs[i - 1]);
    var pad = isFinite(step) && step > 0 ? step / 2 : 3600;
    return function (u, min, max) { return [min - pad, max + pad]; };
  }

  // One time alone (a day-old allocation's burn-down): uPlot widens such an axis by 86,400,000
  // (a day in milliseconds, years in our seconds); show the day around it instead.
  function oneTimeRange(xs) {
    var one = xs.length > 0 && xs[0] === xs[xs.length - 1];
    return function (u, min, max) { return one ? [xs[0] - 43200, xs[0] + 43200] : [min, max]; };
  }

  function width(box) {
    return Math.max(box.clientWidth, 200);
  }

  function draw(table) {
    if (table.hasAttribute("data-charted")) return;
    table.setAttribute("data-charted", "");
    var kind = table.getAttribute("data-chart") || "line";
    var got = read(table);
    if (got.data[0].length === 0 || got.names.length === 0) return;
    var caption = table.caption ? table.caption.textContent.trim() : "";

    var box = document.createElement("div");
    box.className = "chart-plot";
    box.setAttribute("aria-hidden", "true");
    var details = document.createElement("details");
    details.className = "chart-data";
    var summary = document.createElement("summary");
    summary.textContent = caption ? "Table of the data: " + caption : "Table of the data";
    table.parentNode.insertBefore(box, table);
    table.parentNode.insertBefore(details, table);
    details.appendChild(summary);
    details.appendChild(table);

    var x = { time: true };
    x.range = kind === "bar" ? barRange(got.data[0]) : oneTimeRange(got.data[0]);
    var plot = new uPlot({
      title: caption,
      width: width(box),
      height: HEIGHT,
      scales: { x: x },
      series: [{ label: "Time" }].concat(series(kind, got.names)),
      axes: [{}, { label: table.getAttribute("data-y-label") || "" }],
    }, got.data, box);
    plots.push({ plot: plot, box: box });
  }

  var plots = [];
  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      plots.forEach(function (p) { p.plot.setSize({ width: width(p.box), height: HEIGHT }); });
    });
  });

  function drawAll(root) {
    if (typeof uPlot === "undefined") return; // the tables stay as they are
    root.querySelectorAll("table.chart").forEach(draw);
  }

  drawAll(document);
  // Content swapped in by htmx may bring charts of its own.
  document.addEventListener("htmx:afterSettle", function (e) { drawAll(e.target); });
})();
