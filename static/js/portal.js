// Layout helpers shared by every page (loaded by base.html; no inline scripts under the CSP).
//
// * Print: plotly charts are redrawn at the paper's width before printing and back afterwards,
//   so they are neither cut off nor tiny on paper.
(function () {
  "use strict";

  function resizeCharts() {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll(".js-plotly-plot").forEach(function (chart) {
      Plotly.Plots.resize(chart);
    });
  }

  window.addEventListener("beforeprint", resizeCharts);
  window.addEventListener("afterprint", resizeCharts);
  if (window.matchMedia) {
    var print = window.matchMedia("print");
    var onChange = function (event) { if (event.matches) resizeCharts(); };
    if (print.addEventListener) print.addEventListener("change", onChange);
  }
})();
