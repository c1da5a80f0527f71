// Accuracy: realized against expected accuracy over time per store, category or level (the
// anticipation KPI as a trend, GET /v1/accuracy/trend), and the drifting series with the rule.
"use strict";

(() => {
  const A = Anticipate;
  const { el, fmt } = A;
  const chart = document.getElementById("trend-chart");
  const colours = ["#1f5fbf", "#d9480f", "#0b7a3e", "#7a4fb3", "#8a5a00", "#b3261e", "#0e7c86", "#5b6472"];

  async function drawTrend() {
    const by = document.getElementById("group-by").value;
    const period = document.getElementById("period").value;
    const answer = await A.api(`/v1/accuracy/trend?by=${by}&period=${period}`);
    const groups = answer.groups || [];
    const traces = [];
    groups.forEach((group, i) => {
      const colour = colours[i % colours.length];
      const points = group.points || [];
      traces.push({ x: points.map((p) => p.period_start), y: points.map((p) => p.mase), type: "scatter", mode: "lines+markers", name: `${group.name} realized`, line: { color: colour, width: 2 }, meta: "realized", legendgroup: group.name });
      if (group.expected_mase !== null && group.expected_mase !== undefined && points.length) {
        const x = points.map((p) => p.period_start);
        traces.push({ x: [x[0], x[x.length - 1]], y: [group.expected_mase, group.expected_mase], type: "scatter", mode: "lines", name: `${group.name} expected`, line: { color: colour, dash: "dash", width: 1.5 }, meta: "expected", legendgroup: group.name });
      }
    });
    const layout = {
      margin: { l: 56, r: 12, t: 12, b: 48 }, hovermode: "x unified", legend: { orientation: "h", y: -0.2 },
      yaxis: { title: { text: "MASE (lower is better)" }, rangemode: "tozero" }, xaxis: { type: "date" },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
      annotations: traces.length ? [] : [{ text: "No served forecast has been scored yet: post actual sales to see the trend.", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
    };
    await Plotly.react(chart, traces, layout, { responsive: true, displaylogo: false });
    chart.setAttribute("aria-label", `Realized against expected MASE per ${by} and ${period === "W" ? "week" : period === "D" ? "day" : "month"}: ${groups.length} groups.`);
    const columns = [
      { label: by === "level" ? "Level" : by === "store" ? "Store" : "Category", value: (g) => g.name },
      { label: "Expected MASE", num: true, value: (g) => fmt.score(g.expected_mase) },
      { label: "Realized MASE, latest period", num: true, value: (g) => fmt.score(last(g)?.mase) },
      { label: "Realized MASE, all periods (points-weighted)", num: true, value: (g) => fmt.score(g.realized_mase) },
      { label: "Bias, latest period", num: true, value: (g) => fmt.change(last(g)?.bias) },
      { label: "Points scored", num: true, value: (g) => fmt.pieces(g.n_points) },
    ];
    document.getElementById("trend-table").replaceChildren(A.table("Accuracy per group", columns, groups, { id: "trend-groups", emptyText: "Nothing scored yet." }));
    document.getElementById("trend-note").textContent = answer.note || "";
  }

  const last = (group) => (group.points && group.points.length ? group.points[group.points.length - 1] : null);

  async function drawDrift() {
    const report = await A.api("/v1/accuracy");
    document.getElementById("drift-rule").textContent = `The rule: ${report.rule}`;
    const drifting = (report.by_series || []).filter((g) => g.drift && g.drift.drift);
    const columns = [
      { label: "Series", value: (g) => el("a", { href: `/series?id=${encodeURIComponent(g.key.unique_id)}` }, g.key.unique_id) },
      { label: "Why", value: (g) => g.drift.reason || "" },
      { label: "Realized MASE", num: true, value: (g) => fmt.score(g.realized.mase) },
      { label: "Expected MASE", num: true, value: (g) => fmt.score(g.expected && g.expected.mase) },
      { label: "Bias", num: true, value: (g) => fmt.change(g.realized.bias) },
      { label: "Points", num: true, value: (g) => fmt.pieces(g.realized.n_points) },
    ];
    document.getElementById("drift-list").replaceChildren(A.table("Series whose served forecasts drifted from the promise", columns, drifting, { id: "drift-table", emptyText: "No series drifts." }));
  }

  async function load() {
    document.body.dataset.ready = "no";
    const box = document.getElementById("accuracy-error");
    box.replaceChildren();
    try {
      await Promise.all([drawTrend(), drawDrift()]);
    } catch (error) {
      A.showError(box, error, "Could not load the accuracy: ");
    }
    document.body.dataset.ready = "yes";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("group-by").addEventListener("change", load);
    document.getElementById("period").addEventListener("change", load);
    document.getElementById("accuracy-controls").addEventListener("submit", (e) => { e.preventDefault(); load(); });
    load();
  });
})();
