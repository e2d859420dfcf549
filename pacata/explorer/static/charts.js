// Charts of the data in #chart-data, drawn with uPlot (vendored, static/vendor/uplot). Each
// .chart element names its series (data-series) and x values (data-x); the page also has the
// numbers as a table, so the charts are an addition, not the only way to read them.
(function () {
  "use strict";
  // uPlot's own labels round small values (fees of 0.00006 PAC) to 0: three significant
  // digits instead, and thousands grouped.
  function labels(u, splits) {
    return splits.map(function (v) {
      if (v === null || v === undefined) { return ""; }
      return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : String(+v.toPrecision(3));
    });
  }
  function draw() {
    var data = document.getElementById("chart-data");
    if (!data || !window.uPlot) { return; }
    var values = JSON.parse(data.textContent);
    var dark = document.documentElement.dataset.theme === "dark" ||
      (!document.documentElement.dataset.theme && window.matchMedia &&
       window.matchMedia("(prefers-color-scheme: dark)").matches);
    var stroke = dark ? "#8ab4f8" : "#0b57d0";
    var axis = dark ? "#e9eaec" : "#1b1d21";
    var grid = dark ? "#3a414b" : "#c9ced6";
    document.querySelectorAll(".chart").forEach(function (element) {
      var name = element.dataset.series;
      var xs = values[element.dataset.x];
      var ys = values[name];
      if (!xs || !ys || !xs.length) { element.textContent = "No data yet."; return; }
      var width = Math.max(240, element.clientWidth || 300);
      new window.uPlot({
        width: width,
        height: 180,
        legend: { show: false },
        cursor: { show: true },
        scales: { x: { time: false } },
        axes: [
          { stroke: axis, grid: { stroke: grid } },
          { stroke: axis, grid: { stroke: grid }, size: 64, values: labels }
        ],
        series: [{}, { label: name, stroke: stroke, width: 2, spanGaps: true }]
      }, [xs, ys], element);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
