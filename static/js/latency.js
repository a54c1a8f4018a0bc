// Latency page: plotly line charts from the json_script data (the heatmap is an HTML table and
// the tables sort with js/sort.js). No inline scripts (CSP script-src 'self'); data comes from
// <script type="application/json">.
(function () {
  "use strict";

  var CONFIG = { displaylogo: false, responsive: true };

  function lines(element, series, days, yTitle, yFormat, extraLayout) {
    if (!element || !series.length) return;
    var traces = series.map(function (s) {
      return { type: "scatter", mode: "lines+markers", name: s.label, x: days, y: s.values,
               connectgaps: false, hovertemplate: "%{x}: %{y:" + yFormat + "}<extra>" + s.label + "</extra>" };
    });
    var layout = {
      margin: { t: 10, l: 60, r: 10, b: 40 },
      yaxis: { title: { text: yTitle }, rangemode: "tozero", automargin: true },
      legend: { orientation: "h" }
    };
    Object.keys(extraLayout || {}).forEach(function (key) { layout[key] = extraLayout[key]; });
    Plotly.newPlot(element, traces, layout, CONFIG);
  }

  function drawCharts() {
    if (typeof Plotly === "undefined") return;
    var source = document.getElementById("latency-charts");
    if (source) {
      var data = JSON.parse(source.textContent);
      var labels = data.region_labels || data.regions;  // "East US 2 (eastus2)"
      lines(document.getElementById("latency-trend"),
            labels.map(function (label, i) { return { label: label, values: data.trend_p95_ms[i] }; }),
            data.days, "p95 total time (ms)", ".0f");
    }
    var trends = document.getElementById("latency-operation-trends-data");
    if (trends) {
      var t = JSON.parse(trends.textContent);
      lines(document.getElementById("latency-operation-p95"),
            t.series.map(function (s) { return { label: s.label, values: s.p95_ms }; }),
            t.days, "p95 total time (ms)", ".0f");
      lines(document.getElementById("latency-operation-errors"),
            t.series.map(function (s) { return { label: s.label + " 429", values: s.throttled_pct }; })
              .concat(t.series.map(function (s) { return { label: s.label + " 5xx", values: s.error_pct }; })),
            t.days, "share of requests (%)", ".1f");
    }
  }

  document.addEventListener("DOMContentLoaded", drawCharts);
})();
