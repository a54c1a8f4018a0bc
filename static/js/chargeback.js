// Daily cost chart of the chargeback page: one bar trace per cost center, stacked.
// Data comes from the json_script element "chargeback-chart-data" (CSP: no inline scripts).
(function () {
  "use strict";
  var source = document.getElementById("chargeback-chart-data");
  var target = document.getElementById("chargeback-chart");
  if (!source || !target || typeof Plotly === "undefined") return;
  var data = JSON.parse(source.textContent);
  var traces = data.series.map(function (series) {
    return {
      type: "bar",
      name: series.label,
      x: data.days,
      y: series.values,
      hovertemplate: "%{x}<br>" + series.name + ": %{y:,.2f} " + data.currency + "<extra></extra>"
    };
  });
  Plotly.newPlot(target, traces, {
    barmode: "relative",
    margin: { t: 10, r: 10, b: 40, l: 70 },
    xaxis: { type: "date", tickformat: "%d %b" },
    yaxis: { title: { text: "Cost (" + data.currency + ")" }, tickformat: ",.2f" },
    legend: { orientation: "h", y: -0.2 }
  }, { displayModeBar: false, responsive: true });
})();
