// Latency page: plotly heatmap and trend from the json_script data (tables sort with js/sort.js).
// No inline scripts (CSP script-src 'self'); data comes from <script type="application/json">.
(function () {
  "use strict";

  function drawCharts() {
    var source = document.getElementById("latency-charts");
    if (!source || typeof Plotly === "undefined") return;
    var data = JSON.parse(source.textContent);
    var labels = data.region_labels || data.regions;  // display names ("East US 2")
    var config = { displaylogo: false, responsive: true };
    var heatmap = document.getElementById("latency-heatmap");
    if (heatmap && data.regions.length) {
      Plotly.newPlot(heatmap, [{
        type: "heatmap",
        x: data.hours,
        y: labels,
        z: data.heatmap_p95_ms,
        customdata: data.heatmap_requests,
        colorscale: "YlOrRd",
        colorbar: { title: { text: "p95 ms" } },
        hoverongaps: false,
        hovertemplate: "%{y}, %{x}:00 UTC<br>p95 %{z:.0f} ms<br>%{customdata} requests<extra></extra>"
      }], {
        margin: { t: 10, l: 140, r: 10, b: 40 },
        xaxis: { title: { text: "Hour of day (UTC)" }, dtick: 1 },
        height: Math.max(220, 60 + 36 * data.regions.length)
      }, config);
    }
    var trend = document.getElementById("latency-trend");
    if (trend && data.regions.length) {
      var traces = labels.map(function (region, i) {
        return { type: "scatter", mode: "lines+markers", name: region, x: data.days, y: data.trend_p95_ms[i],
                 connectgaps: false, hovertemplate: "%{x}: p95 %{y:.0f} ms<extra>" + region + "</extra>" };
      });
      Plotly.newPlot(trend, traces, {
        margin: { t: 10, l: 60, r: 10, b: 40 },
        yaxis: { title: { text: "p95 total time (ms)" }, rangemode: "tozero" },
        legend: { orientation: "h" }
      }, config);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
  });
})();
