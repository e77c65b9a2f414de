// The tier page's chart: scans, entries, exits and people over the page's hours or days,
// drawn with uPlot (static/vendor) from the page's JSON block, times in Vietnam time.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const box = document.getElementById("chart");
  if (!box || !window.uPlot || !data.x.length) return;
  const colours = {scans: "#0b6e4f", entries: "#3b5ba5", exits: "#b26a00", people: "#b3261e"};
  const vietnam = (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Asia/Ho_Chi_Minh");
  const daily = data.view === "days";

  function size() {
    const width = Math.max(280, box.clientWidth - 16);
    return {width: width, height: width < 500 ? 220 : 280};
  }

  const options = Object.assign(size(), {
    tzDate: vietnam,
    legend: {live: true},
    cursor: {drag: {x: false, y: false}},
    scales: {x: {time: true}, y: {range: (u, min, max) => [0, Math.max(4, max * 1.1)]}},
    axes: [
      {values: daily ? "{DD}/{MM}" : "{HH}:{mm}", space: 50},
      {size: 50},
    ],
    series: [{label: data.time_label, value: daily ? "{DD}/{MM}/{YYYY}" : "{HH}:{mm} {DD}/{MM}"}].concat(data.series.map((s) => ({
      label: s.label, stroke: colours[s.key] || "#5f6368", width: 2,
      points: {show: true, size: 4}, value: (u, v) => (v == null ? "—" : v.toLocaleString(document.documentElement.lang)),
    }))),
  });
  const plot = new uPlot(options, [data.x].concat(data.series.map((s) => s.values)), box);
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => plot.setSize(size()), 150);
  });
})();
