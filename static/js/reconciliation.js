// Reconciliation page: a waterfall from the computed cost to the invoice, one step per explanation.
// Data comes from the json_script element "reconciliation-chart-data" (CSP: no inline scripts).
(function () {
  "use strict";
  var source = document.getElementById("reconciliation-chart-data");
  var target = document.getElementById("reconciliation-chart");
  if (!source || !target || typeof Plotly === "undefined") return;
  var data = JSON.parse(source.textContent);
  Plotly.newPlot(target, [{
    type: "waterfall",
    x: data.labels,
    y: data.values,
    measure: data.measures,
    connector: { line: { width: 1 } },
    hovertemplate: "%{x}: %{y:,.2f} " + data.currency + "<extra></extra>"
  }], {
    margin: { t: 10, r: 10, b: 60, l: 80 },
    yaxis: { title: { text: "Cost (" + data.currency + ")" }, tickformat: ",.2f" },
    showlegend: false
  }, { displayModeBar: false, responsive: true });
})();
