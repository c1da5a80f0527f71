// Today: the business's next week against last week, the hierarchy as an expandable tree, and
// the series that need attention first (drifting, biased, stock-out risk), from GET /v1/overview.
"use strict";

(() => {
  const A = Anticipate;
  const { el, fmt } = A;
  const expanded = new Set();
  let drill = "store";
  let levels = new Set();
  let rows = [];
  let children = new Map();

  const seriesLink = (row) => el("a", { href: `/series?id=${encodeURIComponent(row.unique_id)}` }, row.label || row.unique_id);
  const arrows = { up: "▲", down: "▼", flat: "▶" };
  const words = { up: "up", down: "down", flat: "flat" };

  function direction(row) {
    const dir = row.direction || "flat";
    return el("span", { class: `dir-${dir}` },
      el("span", { "aria-hidden": "true" }, `${arrows[dir] || ""} `),
      `${words[dir] || dir} ${row.change === null || row.change === undefined ? "" : fmt.change(row.change)}`.trim());
  }

  function flags(row) {
    const found = [];
    if (row.drift) found.push(el("span", { class: "flag bad", title: row.drift_reason || "" }, "drift"));
    if (row.biased) found.push(el("span", { class: "flag warn", title: row.bias_reason || "" }, "biased"));
    if (row.stockout_risk) found.push(el("span", { class: "flag warn", title: row.stockout_reason || "" }, "stock-out risk"));
    return found.length ? found.flatMap((f, i) => (i ? [" ", f] : [f])) : [el("span", { class: "muted" }, "–")];
  }

  function cards(total, overview, overall) {
    const drifting = rows.filter((r) => r.drift).length;
    const card = (label, value, extra, id) => el("div", { class: "card", id }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), extra ? el("div", { class: "muted" }, extra) : null);
    document.getElementById("summary-cards").replaceChildren(
      card(`Next ${overview.days} days, all stores`, fmt.pieces(total.next_total), `80 %: ${fmt.pieces(total.next_low80)} – ${fmt.pieces(total.next_high80)} pieces`, "card-next"),
      card(`Last ${overview.days} days sold`, fmt.pieces(total.last_total), el("span", {}, direction(total)), "card-last"),
      card("Expected accuracy (MASE)", fmt.score(total.expected_mase), "from the backtest", "card-expected"),
      card("Realized accuracy (MASE)", fmt.score(overall && overall.realized.mase), overall ? `${fmt.pieces(overall.realized.n_points)} served points scored against sales` : "no sales scored yet", "card-realized"),
      card("Series drifting", fmt.pieces(drifting), `of ${fmt.pieces(rows.length)}`, "card-drift"),
    );
    document.getElementById("today-lede").textContent = `Sales known to ${fmt.date(overview.last_observed)}; the next ${overview.days} days against the last ${overview.days}, and how far each forecast can be trusted.`;
  }

  function attention(overview) {
    const byId = new Map(rows.map((r) => [r.unique_id, r]));
    const items = (overview.attention || []).map((a) => ({ ...byId.get(a.unique_id), ...a }));
    const columns = [
      { label: "Series", value: (r) => el("a", { href: `/series?id=${encodeURIComponent(r.unique_id)}` }, r.level === "series" ? r.unique_id : r.label || r.unique_id) },
      { label: "Level", value: (r) => r.level },
      { label: "Why", value: (r) => el("span", {}, flags(r), el("br"), el("span", { class: "help" }, (r.reasons || []).join(" · "))) },
      { label: `Next ${overview.days} days`, num: true, value: (r) => fmt.pieces(r.next_total) },
      { label: "Change", num: true, value: direction },
    ];
    document.getElementById("attention").replaceChildren(
      A.table("Series that need attention, most urgent first", columns, items.slice(0, 25), { id: "attention-table", emptyText: "Nothing needs attention: every forecast is within its promised accuracy." }),
      ...(items.length > 25 ? [el("p", { class: "help" }, `and ${fmt.pieces(items.length - 25)} more`)] : []),
    );
  }

  function treeRows() {
    const shown = [];
    const walk = (id, depth) => {
      for (const child of children.get(id) || []) {
        shown.push([child, depth]);
        if (expanded.has(child.unique_id)) walk(child.unique_id, depth + 1);
      }
    };
    const roots = rows.filter((r) => !r.parent || !rows.some((p) => p.unique_id === r.parent));
    for (const root of roots) {
      shown.push([root, 0]);
      if (!expanded.has(root.unique_id)) continue;
      // under the total: the stores (or, switched, the categories), each opening further
      const top = (children.get(root.unique_id) || []).filter((c) => c.level === drill || !levels.has(drill));
      for (const child of top) {
        shown.push([child, 1]);
        if (expanded.has(child.unique_id)) walk(child.unique_id, 2);
      }
    }
    return shown;
  }

  function drawTree(overview) {
    const head = el("tr", {},
      ["Series", `Next ${overview.days} days`, "80 % range", `Last ${overview.days} days`, "Change", "Expected MASE", "Realized MASE", "Flags"].map((label, i) =>
        el("th", { scope: "col", class: i > 0 && i < 7 ? "num" : null }, label)));
    const body = el("tbody");
    for (const [row, depth] of treeRows()) {
      const kids = children.get(row.unique_id) || [];
      const open = expanded.has(row.unique_id);
      const toggle = kids.length
        ? el("button", { type: "button", class: "toggle", "aria-expanded": String(open), "aria-label": `${open ? "Close" : "Open"} ${row.label || row.unique_id} (${kids.length})`, onclick: () => { open ? expanded.delete(row.unique_id) : expanded.add(row.unique_id); drawTree(overview); document.querySelector(`[data-node="${CSS.escape(row.unique_id)}"] button.toggle`)?.focus(); } }, open ? "▾" : "▸")
        : el("span", { class: "toggle", "aria-hidden": "true" }, "");
      body.append(el("tr", { class: `depth-${Math.min(depth, 3)}`, "data-node": row.unique_id, "data-level": row.level },
        el("td", {}, toggle, seriesLink(row), el("span", { class: "muted hide-narrow" }, ` ${row.level}`)),
        el("td", { class: "num" }, fmt.pieces(row.next_total)),
        el("td", { class: "num" }, `${fmt.pieces(row.next_low80)} – ${fmt.pieces(row.next_high80)}`),
        el("td", { class: "num" }, fmt.pieces(row.last_total)),
        el("td", { class: "num" }, direction(row)),
        el("td", { class: "num" }, fmt.score(row.expected_mase)),
        el("td", { class: "num" }, fmt.score(row.realized_mase)),
        el("td", {}, flags(row)),
      ));
    }
    document.getElementById("hierarchy").replaceChildren(
      el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Hierarchy" },
        el("table", { id: "hierarchy-table" }, el("caption", {}, "Forecast totals by hierarchy (pieces)"), el("thead", {}, head), body)));
  }

  function drawDrillSwitch(overview) {
    const box = document.getElementById("drill-switch");
    const choices = ["store", "category"].filter((level) => levels.has(level));
    if (choices.length < 2) { box.replaceChildren(); return; }
    const button = (level) => el("button", { type: "button", "aria-pressed": String(drill === level), onclick: () => {
      drill = level;
      drawDrillSwitch(overview);
      drawTree(overview);
      A.announce(`Showing the hierarchy by ${level}`);
    } }, level === "store" ? "By store" : "By category");
    box.replaceChildren(el("span", { id: "drill-label", class: "visually-hidden" }, "Open the total by"),
      el("div", { class: "segmented", role: "group", "aria-labelledby": "drill-label" }, choices.map(button)));
  }

  async function load() {
    document.body.dataset.ready = "no";
    try {
      const [overview, accuracy] = await Promise.all([A.api("/v1/overview?days=7"), A.api("/v1/accuracy")]);
      rows = overview.rows;
      levels = new Set(rows.map((r) => r.level));
      if (!levels.has("store")) drill = "category";
      drawDrillSwitch(overview);
      children = new Map();
      for (const row of rows) {
        if (!row.parent) continue;
        if (!children.has(row.parent)) children.set(row.parent, []);
        children.get(row.parent).push(row);
      }
      for (const list of children.values()) list.sort((a, b) => (b.next_total || 0) - (a.next_total || 0));
      const total = rows.find((r) => r.level === "total") || rows[0];
      if (total) expanded.add(total.unique_id);
      cards(total, overview, accuracy.overall);
      attention(overview);
      drawTree(overview);
      const rules = overview.rules || {};
      document.getElementById("rules").replaceChildren(...Object.entries(rules).map(([name, text]) => el("li", {}, el("strong", {}, `${name}: `), text)));
    } catch (error) {
      A.showError(document.getElementById("today-error"), error, "Could not load today's overview: ");
    }
    document.body.dataset.ready = "yes";
  }

  document.addEventListener("DOMContentLoaded", load);
})();
