/*
 * Charts. Every <figure class="chart" data-chart="KIND"> on a page is drawn
 * from the table inside it: the server renders the numbers once, as a table
 * people can read (the chart's text alternative, under a disclosure), and
 * this script draws them. A figure put on the page later (an htmx swap, a
 * live reload) is drawn as it arrives, one whose table changes is drawn
 * again, and each follows its width and the page's light or dark scheme.
 * Under our CSP: no inline script or style in any markup; uPlot and this
 * script set element.style from JavaScript only, which the CSP allows.
 *
 * The markup (docs/architecture.md, "Charts"):
 *
 *   <figure class="chart" data-chart="KIND" aria-labelledby="X-caption">
 *     <figcaption id="X-caption">Messages per day by channel</figcaption>
 *     <div class="chart-plot" aria-hidden="true"></div>
 *     <details class="chart-numbers"><summary>The numbers</summary>
 *       <table>
 *         <thead><tr><th scope="col">Day</th><th scope="col">SMS</th>…</tr></thead>
 *         <tbody><tr><th scope="row" data-x="1764892800">5 Dec</th><td data-y="12">12</td>…</tr></tbody>
 *       </table>
 *     </details>
 *   </figure>
 *
 * - Each column after the first is a series, named by its heading; each row
 *   is a point: data-x its time in Unix seconds (UTC), data-y each value (a
 *   number; empty for no value, drawn as a gap).
 * - KIND: "lines" (a line per series, each with its own dash), "stacked-bars"
 *   (the series stacked at each x), or "bars" (a horizontal bar per row,
 *   its series stacked along it; the row's header is its label, no data-x).
 * - data-color="N" (1–4) on a column's heading gives it the palette's Nth
 *   colour (and dash) rather than its column's: one series (a channel,
 *   "Failed") keeps its colour from chart to chart.
 * - On the figure, all optional: data-unit="%" (after the y axis's values),
 *   data-zone="Europe/London" (the IANA zone the time axis reads in; else the
 *   browser's), data-step="SECONDS" (rows are that far apart and a row left
 *   out counts as 0: a table may list only the steps with something in them).
 * - Periods to shade on the time axis, listed in words inside the details:
 *   <ul class="chart-periods"><li data-kind="paused" data-key="Paused"
 *   data-from="UNIX" data-to="UNIX">Paused from 10:00 to 10:05</li></ul>
 *   (kinds "paused" and "retrying" have their own shading).
 * Series colours (app.css, .chart --chart-1 … --chart-4) differ in lightness
 * as well as hue, so they read in grey scale, and lines differ in dash too.
 */
(function () {
  "use strict";
  var DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4]];
  var HEIGHT = 220;
  var plots = new Map();

  function css(element, name) {
    return getComputedStyle(element).getPropertyValue(name).trim();
  }

  // A series' colour, dash and class by its palette index (its column's, or its data-color).
  function colour(figure, index) {
    return css(figure, "--chart-" + ((index % 4) + 1));
  }

  function seriesClass(index) {
    return "chart-series-" + ((index % 4) + 1);
  }

  function number(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-GB");
  }

  function read(figure) {
    var table = figure.querySelector("table");
    var names = [];
    var rows = [];
    var colours = [];
    if (table) {
      table.querySelectorAll("thead th").forEach(function (th, i) {
        if (i === 0) return;
        names.push(th.textContent.trim());
        colours.push(th.dataset.color ? Number(th.dataset.color) - 1 : i - 1);
      });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        var header = tr.querySelector("th");
        var values = Array.prototype.map.call(tr.querySelectorAll("td"), function (td) {
          var y = td.dataset.y;
          return y === undefined || y === "" ? null : Number(y);
        });
        rows.push({
          x: header && header.dataset.x !== undefined ? Number(header.dataset.x) : null,
          label: header ? header.textContent.trim() : "",
          values: values,
        });
      });
    }
    var periods = Array.prototype.map.call(figure.querySelectorAll(".chart-periods li"), function (li) {
      return {kind: li.dataset.kind, key: li.dataset.key || li.dataset.kind,
        from: Number(li.dataset.from), to: Number(li.dataset.to)};
    });
    return {names: names, colours: colours, rows: rows, periods: periods};
  }

  // The columns as uPlot takes them: [xs, series 1, series 2…], sorted by x;
  // with a step, the steps left out of the table are there, as 0.
  function columns(figure, data) {
    var rows = data.rows.filter(function (row) { return row.x !== null; });
    rows.sort(function (a, b) { return a.x - b.x; });
    var step = Number(figure.dataset.step) || 0;
    if (step && rows.length) {
      var byX = new Map(rows.map(function (row) { return [row.x, row]; }));
      var filled = [];
      for (var x = rows[0].x; x <= rows[rows.length - 1].x; x += step) {
        filled.push(byX.get(x) || {x: x, values: data.names.map(function () { return 0; })});
      }
      rows = filled;
    }
    var out = [rows.map(function (row) { return row.x; })];
    data.names.forEach(function (_, i) {
      out.push(rows.map(function (row) { return row.values[i] === undefined ? null : row.values[i]; }));
    });
    return out;
  }

  // Hatching for a period's kind, drawn in the axis's colour, so it reads without colour.
  function shading(u, figure, kind) {
    var size = 8 * devicePixelRatio;
    var tile = document.createElement("canvas");
    tile.width = tile.height = size;
    var ctx = tile.getContext("2d");
    ctx.strokeStyle = ctx.fillStyle = css(figure, "--chart-period");
    ctx.globalAlpha = 0.45;
    if (kind === "paused") {
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(0, size);
      ctx.lineTo(size, 0);
      ctx.stroke();
    } else {
      ctx.beginPath();
      ctx.arc(size / 2, size / 2, devicePixelRatio * 1.2, 0, 2 * Math.PI);
      ctx.fill();
    }
    return u.ctx.createPattern(tile, "repeat");
  }

  function periodHook(figure, periods) {
    return function (u) {
      var box = u.bbox;
      periods.forEach(function (period) {
        var from = Math.max(box.left, u.valToPos(period.from, "x", true));
        var to = Math.min(box.left + box.width, u.valToPos(period.to, "x", true));
        if (to < from) return;
        u.ctx.save();
        u.ctx.fillStyle = shading(u, figure, period.kind);
        u.ctx.fillRect(from, box.top, Math.max(to - from, 2 * devicePixelRatio), box.height);
        u.ctx.restore();
      });
    };
  }

  // Swatches for the shaded periods, under the plot (uPlot's legend names the series).
  function periodKey(plot, periods) {
    var seen = {};
    var key = document.createElement("ul");
    key.className = "chart-key";
    periods.forEach(function (period) {
      if (seen[period.kind]) return;
      seen[period.kind] = true;
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "chart-swatch chart-swatch-" + period.kind;
      item.append(swatch, document.createTextNode(period.key));
      key.appendChild(item);
    });
    if (key.children.length) plot.appendChild(key);
  }

  // Time between the x axis's ticks, in seconds: never less than a row's step
  // (uPlot's own choice ticks half-seconds, in milliseconds, on a chart of whole seconds).
  var TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 28 * 86400];

  function axes(figure, unit, step) {
    var text = css(figure, "--chart-text");
    var grid = css(figure, "--chart-grid");
    var axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    var x = Object.assign({}, axis, {incrs: TIME_INCRS.filter(function (incr) { return incr >= step; })});
    var y = Object.assign({}, axis, {size: 56});
    if (unit) y.values = function (u, values) { return values.map(function (v) { return number(v) + unit; }); };
    // Without a unit the values are counts: whole steps only.
    else y.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
    return [x, y];
  }

  function timePlot(figure, plot, data, stacked) {
    var xs = columns(figure, data);
    if (!xs[0].length) return null;
    var periods = data.periods;
    var step = Number(figure.dataset.step) || (xs[0].length > 1 ? xs[0][1] - xs[0][0] : 1);
    var zone = figure.dataset.zone;
    var low = Math.min.apply(null, xs[0].concat(periods.map(function (p) { return p.from; })));
    var high = Math.max.apply(null, xs[0].concat(periods.map(function (p) { return p.to; })));
    var pad = stacked ? step / 2 : 0;
    var series = [{}];
    var values = xs;
    if (stacked) {
      // Each series drawn up to its running total, the top one first, so each
      // lower one covers the bottom of the ones above it.
      var totals = [];
      xs.slice(1).forEach(function (column, i) {
        totals.push(column.map(function (v, j) { return (v || 0) + (i ? totals[i - 1][j] : 0); }));
      });
      values = [xs[0]].concat(totals.slice().reverse());
      data.names.slice().reverse().forEach(function (name, r) {
        var i = data.names.length - 1 - r;
        var c = data.colours[i];
        series.push({label: name, fill: colour(figure, c), stroke: colour(figure, c), width: 0,
          paths: uPlot.paths.bars({size: [0.7, 64]}), points: {show: false},
          value: function (u, v, s, idx) { return idx === null ? "–" : number(xs[i + 1][idx]); }});
      });
    } else {
      data.names.forEach(function (name, i) {
        var c = data.colours[i];
        series.push({label: name, stroke: colour(figure, c), width: 2, dash: DASHES[c % DASHES.length],
          spanGaps: false,
          value: function (u, v) { return v === null ? "–" : number(v) + (figure.dataset.unit || ""); }});
      });
    }
    var options = {
      width: plot.clientWidth,
      height: plot.clientWidth < 500 ? HEIGHT - 40 : HEIGHT,
      series: series,
      axes: axes(figure, figure.dataset.unit, step),
      scales: {
        x: {time: true, range: function () { return high > low ? [low - pad, high + pad] : [low - 1, high + 1]; }},
        y: {range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }},
      },
      cursor: {drag: {x: false, y: false}},
      hooks: {drawClear: [periodHook(figure, periods)]},
    };
    if (zone) options.tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); };
    var made = new uPlot(options, values, plot);
    periodKey(plot, periods);
    return made;
  }

  // Categories as plain bars: a label over each, read as easily on a phone.
  function categoryBars(figure, plot, data) {
    var totals = data.rows.map(function (row) {
      return row.values.reduce(function (sum, v) { return sum + (v || 0); }, 0);
    });
    var top = Math.max.apply(null, totals.concat([1]));
    var list = document.createElement("div");
    list.className = "chart-bars";
    data.rows.forEach(function (row, r) {
      var line = document.createElement("div");
      line.className = "chart-bar";
      var label = document.createElement("span");
      label.className = "chart-bar-label";
      label.textContent = row.label;
      var track = document.createElement("span");
      track.className = "chart-bar-track";
      row.values.forEach(function (value, i) {
        if (!value) return;
        var part = document.createElement("span");
        part.className = "chart-bar-part " + seriesClass(data.colours[i]);
        part.style.width = (100 * value / top) + "%";
        track.appendChild(part);
      });
      var total = document.createElement("span");
      total.className = "chart-bar-total";
      total.textContent = number(totals[r]);
      line.append(label, track, total);
      list.appendChild(line);
    });
    var key = document.createElement("ul");
    key.className = "chart-key";
    data.names.forEach(function (name, i) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "chart-swatch " + seriesClass(data.colours[i]);
      item.append(swatch, document.createTextNode(name));
      key.appendChild(item);
    });
    plot.replaceChildren(list, key);
    return null;
  }

  function signature(figure) {
    var numbers = figure.querySelector(".chart-numbers") || figure.querySelector("table");
    return (numbers ? numbers.innerHTML : "") + "|" + figure.dataset.chart;
  }

  function draw(figure) {
    var plot = figure.querySelector(".chart-plot");
    var before = plots.get(figure);
    if (before && before.uplot) before.uplot.destroy();
    plots.delete(figure);
    if (!plot || !plot.clientWidth) return;
    plot.replaceChildren();
    var data = read(figure);
    var kind = figure.dataset.chart;
    var made = null;
    if (kind === "bars") {
      made = categoryBars(figure, plot, data);
    } else if ((kind === "lines" || kind === "stacked-bars") && window.uPlot) {
      made = timePlot(figure, plot, data, kind === "stacked-bars");
    }
    figure.dataset.drawn = String(data.rows.length);
    plots.set(figure, {uplot: made, signature: signature(figure), width: plot.clientWidth});
  }

  function drawAll(force) {
    plots.forEach(function (state, figure) {
      if (figure.isConnected) return;
      if (state.uplot) state.uplot.destroy();
      plots.delete(figure);
    });
    document.querySelectorAll("figure.chart[data-chart]").forEach(function (figure) {
      var state = plots.get(figure);
      var plot = figure.querySelector(".chart-plot");
      if (!force && state && state.signature === signature(figure) && plot && state.width === plot.clientWidth) return;
      if (!resizes.has(figure)) {
        resizes.add(figure);
        watcher.observe(figure);
      }
      draw(figure);
    });
  }

  var resizes = new WeakSet();
  // Drawn in the next frame: a drawing that changes the figure's size inside
  // the observer's own callback would be reported as a loop.
  var watcher = new ResizeObserver(function () { requestAnimationFrame(function () { drawAll(false); }); });

  // A mutation inside a figure's plot is the chart itself (uPlot's legend follows the pointer).
  function aboutCharts(mutation) {
    var target = mutation.target.nodeType === 1 ? mutation.target : mutation.target.parentElement;
    if (!target || target.closest(".chart-plot")) return false;
    if (target.closest("figure.chart")) return true;
    return Array.prototype.some.call(mutation.addedNodes, function (node) {
      return node.nodeType === 1 && (node.matches("figure.chart") || node.querySelector("figure.chart"));
    });
  }

  function start() {
    drawAll(false);
    new MutationObserver(function (mutations) {
      if (mutations.some(aboutCharts)) drawAll(false);
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
    var dark = matchMedia("(prefers-color-scheme: dark)");
    dark.addEventListener("change", function () { drawAll(true); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
