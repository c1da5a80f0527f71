// Series page: the fan chart (history, forecast, 80/95 % bands, past served forecasts), the
// anticipation metric, a what-if on price and promotion, daily points or weekly totals.
"use strict";

(() => {
  const A = Anticipate;
  const { el, fmt } = A;
  const HISTORY_DAYS = 120;
  const PAST_FORECASTS = 4;
  const MAX_PLAN_ROWS = 10000;
  const chart = document.getElementById("fan-chart");
  const errorBox = document.getElementById("series-error");
  const state = { id: null, view: "daily", info: null, answer: null, history: [], served: [], plan: null, scenario: null, weekly: null };

  const path = (id) => id.split("/").map(encodeURIComponent).join("/");
  const busy = () => { document.body.dataset.ready = "no"; };
  const done = () => { document.body.dataset.ready = "yes"; };

  async function loadOptions() {
    const list = document.getElementById("series-options");
    let offset = 0;
    const options = [];
    for (let page = 0; page < 20 && offset !== null; page += 1) {
      const answer = await A.api(`/v1/series?limit=500&offset=${offset}`);
      for (const item of answer.items) options.push(el("option", { value: item.unique_id, label: `${item.unique_id} (${item.level})` }));
      offset = answer.next_offset;
    }
    list.replaceChildren(...options);
  }

  async function load(id) {
    busy();
    errorBox.replaceChildren();
    state.id = id;
    state.scenario = null;
    state.weekly = null;
    document.getElementById("whatif-result").replaceChildren();
    history.replaceState(null, "", `/series?id=${encodeURIComponent(id)}`);
    try {
      const [info, answer, observed, served, plan] = await Promise.all([
        A.api(`/v1/series/${path(id)}`),
        A.api("/v1/forecasts", { method: "POST", json: { unique_ids: [id], levels: [80, 95] } }),
        A.api(`/v1/series/${path(id)}/history?days=${HISTORY_DAYS}`),
        A.api(`/v1/forecasts/history?unique_id=${encodeURIComponent(id)}`),
        A.api(`/v1/series/${path(id)}/plan`),
      ]);
      state.info = info;
      state.answer = answer;
      state.history = observed.points || [];
      const forecast = answer.forecasts[0];
      state.served = pastForecasts(served.forecasts || [], answer.request_id);
      state.plan = plan;
      describe();
      drawWhatIfDays();
      await draw();
    } catch (error) {
      A.showError(errorBox, error, `Could not load ${id}: `);
      chart.setAttribute("aria-label", "Fan chart: not available");
      done();
    }
  }

  /** The newest earlier served forecast of each origin (newest first), not this page's own. */
  function pastForecasts(forecasts, ownRequest) {
    const seen = new Set();
    const kept = [];
    for (const f of forecasts) {
      if (f.request_id === ownRequest || seen.has(f.origin)) continue;
      seen.add(f.origin);
      kept.push(f);
    }
    return kept.slice(0, PAST_FORECASTS);
  }

  function describe() {
    const info = state.info;
    const forecast = state.answer.forecasts[0];
    document.getElementById("series-title").textContent = `· ${info.unique_id}`;
    const attributes = Object.entries(info.attributes || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    const members = info.members ? ` · ${fmt.pieces(info.members)} series inside` : "";
    document.getElementById("series-facts").textContent =
      `${info.level}${attributes ? ` · ${attributes}` : ""}${members} · sales known to ${fmt.date(forecast.origin)} · model ${answer().model_name} v${forecast.model_version} (${forecast.model})`;
    drawAnticipation(forecast.anticipation);
  }

  const answer = () => state.answer;

  function drawAnticipation(anticipation) {
    const box = document.getElementById("anticipation");
    const expected = anticipation.expected || {};
    const realized = anticipation.realized;
    const drift = anticipation.drift || {};
    const rows = [
      ["Expected MASE (backtest)", fmt.score(expected.mase)],
      ["Expected 80 % / 95 % coverage", `${fmt.percent(expected.coverage_80)} / ${fmt.percent(expected.coverage_95)}`],
      ["Realized MASE (served forecasts)", realized ? fmt.score(realized.mase) : "not yet scored"],
      ["Realized bias", realized ? fmt.change(realized.bias) : "–"],
      ["Realized 80 % coverage", realized ? fmt.percent(realized.coverage_80) : "–"],
      ["Points scored", realized ? fmt.pieces(realized.n_points) : "0"],
    ];
    const flag = drift.drift
      ? el("p", {}, el("span", { class: "flag bad" }, "Drifting"), " ", drift.reason || "")
      : el("p", {}, el("span", { class: "flag good" }, "On track"), realized ? " Realized accuracy is within what the backtest promised." : " No sales have arrived for the served forecasts yet.");
    box.replaceChildren(
      flag,
      el("dl", { class: "facts", id: "anticipation-facts" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("p", { class: "help" }, "MASE below 1 means the forecast beats repeating the same day of last week's sales."),
      el("details", {}, el("summary", {}, "The drift rule"), el("p", { class: "help" }, answer().drift_rule)),
    );
  }

  function bandTraces(x, lo95, hi95, lo80, hi80) {
    const loop = (hi, lo) => ({ x: [...x, ...[...x].reverse()], y: [...hi, ...[...lo].reverse()] });
    return [
      { ...loop(hi95, lo95), type: "scatter", mode: "lines", fill: "toself", fillcolor: "rgba(31,95,191,0.12)", line: { width: 0 }, name: "95 % interval", hoverinfo: "skip", meta: "band95" },
      { ...loop(hi80, lo80), type: "scatter", mode: "lines", fill: "toself", fillcolor: "rgba(31,95,191,0.25)", line: { width: 0 }, name: "80 % interval", hoverinfo: "skip", meta: "band80" },
    ];
  }

  const col = (points, name) => points.map((p) => p[name]);

  function dailyTraces() {
    const points = answer().forecasts[0].points;
    const x = col(points, "ds");
    const traces = bandTraces(x, col(points, "yhat_lo_95"), col(points, "yhat_hi_95"), col(points, "yhat_lo_80"), col(points, "yhat_hi_80"));
    traces.push({ x: col(state.history, "ds"), y: col(state.history, "y"), type: "scatter", mode: "lines+markers", marker: { size: 4 }, line: { color: "#1d2430", width: 1.5 }, name: "Sold", meta: "history" });
    state.served.forEach((served, i) => {
      traces.push({ x: col(served.points, "ds"), y: col(served.points, "yhat"), type: "scatter", mode: "lines", line: { dash: "dot", width: 1.5, color: ["#8a5a00", "#7a4fb3", "#0b7a3e", "#b3261e"][i % 4] }, name: `Served ${fmt.shortDate(served.origin)}`, meta: "served" });
    });
    traces.push({ x, y: col(points, "yhat"), type: "scatter", mode: "lines+markers", marker: { size: 5 }, line: { color: "#1f5fbf", width: 2.5 }, name: "Forecast", meta: "forecast" });
    if (state.scenario) {
      const s = state.scenario.points;
      traces.push({ x: col(s, "ds"), y: col(s, "yhat"), type: "scatter", mode: "lines+markers", marker: { size: 5, symbol: "diamond" }, line: { color: "#d9480f", width: 2.5 }, name: `What-if: ${state.scenario.name}`, meta: "scenario" });
    }
    return traces;
  }

  /** Weeks of 7 days: past ones ending on the origin, future ones starting the day after. */
  function weekBlocks(origin, horizon) {
    const past = [];
    for (let end = origin; ; end = A.addDays(end, -7)) {
      const start = A.addDays(end, -6);
      if (!state.history.length || start < state.history[0].ds) break;
      past.unshift({ start, end });
    }
    const future = [];
    for (let i = 0; i + 7 <= horizon; i += 7) future.push({ start: A.addDays(origin, i + 1), end: A.addDays(origin, i + 7) });
    return { past, future };
  }

  const sumIn = (points, block, key) => points.filter((p) => p.ds >= block.start && p.ds <= block.end).reduce((t, p) => t + (p[key] || 0), 0);

  async function weeklyTraces() {
    const forecast = answer().forecasts[0];
    const { past, future } = weekBlocks(forecast.origin, forecast.points.length);
    if (!state.weekly && future.length) {
      const totals = await A.api("/v1/forecasts/totals", { method: "POST", json: { unique_ids: [state.id], periods: future.map((b) => ({ start: b.start, end: b.end })), levels: [80, 95] } });
      state.weekly = totals.totals;
    }
    const weeks = state.weekly || [];
    const x = weeks.map((w) => w.end);
    const b = (w, level, side) => w.bounds[level][side];
    const traces = bandTraces(x, weeks.map((w) => b(w, "95", "lo")), weeks.map((w) => b(w, "95", "hi")), weeks.map((w) => b(w, "80", "lo")), weeks.map((w) => b(w, "80", "hi")));
    traces.push({ x: past.map((w) => w.end), y: past.map((w) => sumIn(state.history, w, "y")), type: "scatter", mode: "lines+markers", line: { color: "#1d2430" }, name: "Sold (week to the date)", meta: "history" });
    traces.push({ x, y: weeks.map((w) => w.mean), type: "scatter", mode: "lines+markers", line: { color: "#1f5fbf", width: 2.5 }, name: "Forecast (week total)", meta: "forecast" });
    if (state.scenario) {
      traces.push({ x, y: future.map((w) => sumIn(state.scenario.points, w, "yhat")), type: "scatter", mode: "lines+markers", line: { color: "#d9480f", width: 2.5 }, name: `What-if: ${state.scenario.name}`, meta: "scenario" });
    }
    return traces;
  }

  async function draw() {
    busy();
    const weekly = state.view === "weekly";
    const traces = weekly ? await weeklyTraces() : dailyTraces();
    const narrow = window.innerWidth < 600;
    const layout = {
      margin: { l: 56, r: 12, t: 12, b: narrow ? 90 : 48 },
      hovermode: "x unified",
      legend: { orientation: "h", y: -0.18 },
      yaxis: { title: { text: weekly ? "pieces per week" : "pieces per day" }, rangemode: "tozero", separatethousands: true },
      xaxis: { type: "date" },
      separators: separators(),
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
    };
    await Plotly.react(chart, traces, layout, { responsive: true, displaylogo: false, locale: "en", modeBarButtonsToRemove: ["select2d", "lasso2d"] });
    const forecast = answer().forecasts[0];
    const total = forecast.points.reduce((t, p) => t + p.yhat, 0);
    chart.setAttribute("aria-label", `Fan chart of ${state.id}: ${state.history.length} days sold, then a ${forecast.points.length}-day forecast totalling ${fmt.pieces(total)} pieces, with 80 and 95 percent intervals.`);
    drawNumbers();
    done();
  }

  /** plotly's decimal and thousands marks in the planner's locale. */
  function separators() {
    const parts = new Intl.NumberFormat(fmt.locale).formatToParts(12345.6);
    const decimal = parts.find((p) => p.type === "decimal")?.value || ".";
    const group = parts.find((p) => p.type === "group")?.value || ",";
    return decimal + group;
  }

  function drawNumbers() {
    const points = answer().forecasts[0].points;
    const scenario = state.scenario ? new Map(state.scenario.points.map((p) => [p.ds, p.yhat])) : null;
    const columns = [
      { label: "Date", value: (p) => fmt.date(p.ds) },
      { label: "Forecast", num: true, key: "yhat", value: (p) => fmt.quantity(p.yhat) },
      { label: "80 % interval", num: true, value: (p) => `${fmt.quantity(p.yhat_lo_80)} – ${fmt.quantity(p.yhat_hi_80)}` },
      { label: "95 % interval", num: true, value: (p) => `${fmt.quantity(p.yhat_lo_95)} – ${fmt.quantity(p.yhat_hi_95)}` },
    ];
    if (scenario) columns.push({ label: "What-if", num: true, key: "scenario", value: (p) => fmt.quantity(scenario.get(p.ds)) });
    document.getElementById("forecast-numbers").replaceChildren(A.table(`Daily forecast of ${state.id}`, columns, points, { id: "forecast-table" }));
  }

  function drawWhatIfDays() {
    const box = document.getElementById("whatif-days");
    const points = answer().forecasts[0].points;
    box.replaceChildren(...points.map((p, i) => el("label", { class: "check", for: `day-${i}` },
      el("input", { type: "checkbox", id: `day-${i}`, value: p.ds, name: "day" }), fmt.date(p.ds))));
    const usable = state.plan && state.plan.variables.length > 0;
    document.getElementById("whatif-run").disabled = !usable;
    if (!usable) {
      document.getElementById("whatif-result").replaceChildren(el("p", { class: "note" },
        "This model forecasts from sales alone (no member reads price or promotion), so a what-if cannot change its forecast."));
    }
  }

  function scenarioRows(days, change, promo) {
    const plan = state.plan;
    const priceVar = plan.variables.find((v) => v.toLowerCase().includes("price"));
    const promoVar = plan.variables.find((v) => v.toLowerCase().includes("promo"));
    if (change !== 0 && !priceVar) throw new Error("this model does not read a price");
    if (promo && !promoVar) throw new Error("this model does not read a promotion flag");
    const index = new Map(plan.dates.map((d, i) => [d, i]));
    const rows = [];
    for (const member of plan.members) {
      for (const day of days) {
        const i = index.get(day);
        if (i === undefined) continue;
        const row = { unique_id: member.unique_id, ds: day };
        const price = priceVar ? member.values[priceVar][i] : null;
        if (change !== 0 && price !== null && price !== undefined) row[priceVar] = Math.round(price * (1 + change / 100) * 10000) / 10000;
        if (promo) row[promoVar] = 1;
        if (Object.keys(row).length > 2) rows.push(row);
      }
    }
    if (!rows.length) throw new Error("the plan changes nothing: set a price change or a promotion");
    if (rows.length > MAX_PLAN_ROWS) throw new Error(`the plan has ${fmt.pieces(rows.length)} rows (series × days); choose fewer days or a smaller group (at most ${fmt.pieces(MAX_PLAN_ROWS)})`);
    return rows;
  }

  async function runWhatIf(event) {
    event.preventDefault();
    const out = document.getElementById("whatif-result");
    const days = [...document.querySelectorAll("#whatif-days input:checked")].map((box) => box.value);
    const change = Number(document.getElementById("price-change").value || 0);
    const promo = document.getElementById("promo-on").checked;
    if (!days.length) {
      A.showError(out, "Choose at least one day.");
      document.querySelector("#whatif-days input")?.focus();
      return;
    }
    busy();
    try {
      const name = [change ? `price ${change > 0 ? "+" : ""}${change} %` : "", promo ? "promotion" : ""].filter(Boolean).join(", ") + ` on ${days.length} day${days.length > 1 ? "s" : ""}`;
      const rows = scenarioRows(days, change, promo);
      const result = await A.api("/v1/forecasts", { method: "POST", json: { unique_ids: [state.id], levels: [80, 95], scenario: { name, rows } } });
      const series = result.scenario.forecasts[0];
      state.scenario = { name, points: series.points };
      const base = answer().forecasts[0].points.reduce((t, p) => t + p.yhat, 0);
      const what = series.points.reduce((t, p) => t + p.yhat, 0);
      const delta = base ? (what - base) / base : null;
      out.replaceChildren(el("p", { class: "ok", id: "whatif-summary" },
        `Under “${name}”: ${fmt.pieces(what)} pieces over the ${series.points.length} days, against ${fmt.pieces(base)} forecast (${fmt.change(delta)}).`));
      await draw();
      A.announce(`What-if drawn: ${fmt.pieces(what)} pieces against ${fmt.pieces(base)}.`);
    } catch (error) {
      A.showError(out, error, "The what-if failed: ");
      done();
    }
  }

  function setView(view) {
    state.view = view;
    document.getElementById("view-daily").setAttribute("aria-pressed", String(view === "daily"));
    document.getElementById("view-weekly").setAttribute("aria-pressed", String(view === "weekly"));
    draw().catch((error) => { A.showError(errorBox, error); done(); });
    A.announce(view === "weekly" ? "Showing weekly totals" : "Showing daily points");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const picker = document.getElementById("series-picker");
    picker.addEventListener("submit", (event) => {
      event.preventDefault();
      const id = document.getElementById("series-input").value.trim();
      if (id) load(id);
    });
    document.getElementById("view-daily").addEventListener("click", () => setView("daily"));
    document.getElementById("view-weekly").addEventListener("click", () => setView("weekly"));
    document.getElementById("whatif-form").addEventListener("submit", runWhatIf);
    document.getElementById("whatif-reset").addEventListener("click", () => {
      state.scenario = null;
      document.getElementById("whatif-result").replaceChildren();
      draw();
    });
    loadOptions().catch(() => {});
    load(picker.dataset.series || "total");
  });
})();
