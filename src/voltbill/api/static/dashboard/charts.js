// Draws every <figure class="chart" data-chart="KIND"> from the JSON in its <script type="application/json">.
// The server computes all figures; this file only maps them onto ECharts options. Each figure also carries
// a data table (<details>) so the numbers are available without the picture.
(function () {
  "use strict";

  var palette = ["#0b5cad", "#d9480f", "#2b8a3e", "#7048e8", "#c2255c", "#0c8599", "#5c940d"];

  function cartesian(spec, type) {
    return {
      color: palette,
      tooltip: { trigger: "axis" },
      legend: { show: spec.series.length > 1, top: 0 },
      grid: { left: 64, right: 24, top: spec.series.length > 1 ? 32 : 16, bottom: 40 },
      xAxis: { type: "category", data: spec.x, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value" },
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: type,
          data: s.data,
          stack: spec.stacked ? "total" : undefined,
          smooth: false,
          showSymbol: spec.x.length < 40,
          areaStyle: type === "line" && spec.area ? { opacity: 0.15 } : undefined
        };
      })
    };
  }

  function heatmap(spec) {
    var max = 0;
    spec.data.forEach(function (d) { max = Math.max(max, Number(d[2])); });
    return {
      tooltip: {
        position: "top",
        formatter: function (p) {
          return spec.y[p.value[1]] + " " + spec.x[p.value[0]] + ": " + p.value[2] + (spec.unit ? " " + spec.unit : "");
        }
      },
      grid: { left: 64, right: 24, top: 8, bottom: 72 },
      xAxis: { type: "category", data: spec.x, splitArea: { show: true } },
      yAxis: { type: "category", data: spec.y, splitArea: { show: true } },
      visualMap: {
        min: 0, max: max || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0,
        inRange: { color: ["#f1f5fb", "#6ea8e6", "#0b5cad", "#06315e"] }
      },
      series: [{ type: "heatmap", data: spec.data, label: { show: false } }]
    };
  }

  function placement(spec) {
    var max = 0;
    spec.points.forEach(function (p) { max = Math.max(max, Number(p.value)); });
    return {
      color: palette,
      tooltip: {
        formatter: function (p) { return p.data.name + ": " + p.data.value[2] + (spec.unit ? " " + spec.unit : ""); }
      },
      grid: { left: 72, right: 48, top: 40, bottom: 48 },
      xAxis: { type: "value", name: "longitude", nameLocation: "middle", nameGap: 28, scale: true },
      yAxis: { type: "value", name: "latitude", nameLocation: "middle", nameGap: 48, scale: true },
      series: [{
        type: "scatter",
        data: spec.points.map(function (p) { return { name: p.name, value: [p.lon, p.lat, p.value] }; }),
        symbolSize: function (v) { return 10 + 40 * (max ? Number(v[2]) / max : 0); },
        label: { show: true, position: "top", formatter: function (p) { return p.data.name; } }
      }]
    };
  }

  function optionFor(kind, spec) {
    if (kind === "heatmap") { return heatmap(spec); }
    if (kind === "placement") { return placement(spec); }
    return cartesian(spec, kind === "bar" ? "bar" : "line");
  }

  function draw(figure) {
    var data = figure.querySelector("script[type='application/json']");
    var plot = figure.querySelector(".plot");
    if (!data || !plot || typeof echarts === "undefined") { return; }
    var chart = echarts.init(plot, null, { renderer: "canvas" });
    chart.setOption(optionFor(figure.dataset.chart, JSON.parse(data.textContent)));
    window.addEventListener("resize", function () { chart.resize(); });
    figure.dataset.drawn = "true";
  }

  function drawAll() {
    document.querySelectorAll("figure.chart[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
