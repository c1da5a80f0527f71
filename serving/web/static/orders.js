// Orders: a stock table (typed, or read from a CSV in the browser), the ordering policy, and
// the order quantities POST /v1/orders answers, as a table and as a CSV download.
"use strict";

(() => {
  const A = Anticipate;
  const { el, fmt } = A;
  /** Columns of a stock file: the fields of one item of POST /v1/orders (as `anticipate orders`). */
  const FILE_FIELDS = ["unique_id", "on_hand", "on_order", "lead_time", "review_period", "service_level",
    "unit_cost", "unit_price", "salvage_value", "pack_size", "min_order"];
  const POLICY_FIELDS = FILE_FIELDS.slice(3);
  const WHOLE_FIELDS = new Set(["lead_time", "review_period"]);
  /** The policy inputs of the form, by the API's field name. */
  const POLICY_INPUTS = {
    lead_time: "lead-time", review_period: "review-period", pack_size: "pack-size", min_order: "min-order",
    service_level: "service-level", unit_cost: "unit-cost", unit_price: "unit-price", salvage_value: "salvage-value",
  };
  const MAX_SHOWN_PROBLEMS = 20;

  const body = document.getElementById("stock-rows");
  const stockError = document.getElementById("stock-error");
  const policyError = document.getElementById("policy-error");
  const ordersError = document.getElementById("orders-error");
  const fileReport = document.getElementById("stock-file-report");
  const downloadButton = document.getElementById("orders-download");
  const byId = (id) => document.getElementById(id);
  const busy = () => { document.body.dataset.ready = "no"; };
  const done = () => { document.body.dataset.ready = "yes"; };

  /** The stock rows: {key, unique_id, on_hand, on_order (strings as typed), overrides {field: number}}. */
  let rows = [];
  let nextKey = 1;
  /** The last answer and the rows it was asked for (the download writes these). */
  let last = null;

  const newRow = (values = {}) => ({ key: nextKey++, unique_id: "", on_hand: "", on_order: "", overrides: {}, ...values });

  // ---------- the stock editor ----------

  function drawRows() {
    body.replaceChildren(...rows.map(rowElement));
  }

  function rowElement(row, index) {
    const n = index + 1;
    const input = (field, attrs) => {
      const node = el("input", { id: `stock-${field}-${row.key}`, value: row[field], ...attrs });
      node.addEventListener("input", () => { row[field] = node.value; });
      return node;
    };
    const series = input("unique_id", { type: "text", list: "order-series-options", autocomplete: "off", spellcheck: "false", size: "30", class: "stock-series" });
    const onHand = input("on_hand", { type: "number", min: "0", step: "any", inputmode: "decimal", class: "stock-on-hand" });
    const onOrder = input("on_order", { type: "number", min: "0", step: "any", inputmode: "decimal", placeholder: "0", class: "stock-on-order" });
    const fromFile = Object.entries(row.overrides).map(([field, value]) => `${field} ${value}`).join(", ");
    return el("tr", { "data-key": String(row.key) },
      el("td", {}, el("label", { for: series.id, class: "visually-hidden" }, `Series, row ${n}`), series),
      el("td", { class: "num" }, el("label", { for: onHand.id, class: "visually-hidden" }, `On hand, row ${n}`), onHand),
      el("td", { class: "num" }, el("label", { for: onOrder.id, class: "visually-hidden" }, `On order, row ${n}`), onOrder),
      el("td", { class: "hide-narrow muted", id: `stock-file-${row.key}` }, fromFile || "–"),
      el("td", {}, el("button", { type: "button", class: "stock-remove", "aria-label": `Remove row ${n}`, onclick: () => removeRow(row) }, "Remove")));
  }

  function addRow() {
    rows.push(newRow());
    drawRows();
    byId(`stock-unique_id-${rows[rows.length - 1].key}`).focus();
  }

  function removeRow(row) {
    const index = rows.indexOf(row);
    rows = rows.filter((r) => r !== row);
    if (!rows.length) rows.push(newRow());
    drawRows();
    const next = rows[Math.min(index, rows.length - 1)];
    byId(`stock-unique_id-${next.key}`).focus();
    A.announce(`Row ${index + 1} removed; ${rows.length} left.`);
  }

  async function loadSeriesOptions() {
    const options = [];
    let offset = 0;
    let level = "&level=series";
    for (let page = 0; page < 50 && offset !== null; page += 1) {
      let answer;
      try {
        answer = await A.api(`/v1/series?limit=1000&offset=${offset}${level}`);
      } catch (error) {
        if (error.status === 422 && level) { level = ""; continue; } // a model without a "series" level
        throw error;
      }
      for (const item of answer.items) options.push(el("option", { value: item.unique_id }));
      offset = answer.next_offset;
    }
    byId("order-series-options").replaceChildren(...options);
    return options.length;
  }

  // ---------- located errors ----------

  const markField = A.markField;
  const clearFieldErrors = () => A.clearMarks(byId("orders-form"));

  function problemList(box, title, problems) {
    const shown = problems.slice(0, MAX_SHOWN_PROBLEMS);
    box.replaceChildren(el("div", { class: "error", role: "alert" },
      el("p", {}, title),
      el("ul", { class: "problems" }, shown.map((p) => el("li", {}, p))),
      problems.length > shown.length ? el("p", {}, `and ${problems.length - shown.length} more`) : null));
  }

  // ---------- the stock file ----------

  /** Records of a CSV text (quotes, CRLF, a , ; or tab delimiter), each with its first line's number. */
  function parseCsv(text) {
    const source = text.replace(/^\uFEFF/, "");
    const firstLine = source.split(/\r?\n/, 1)[0];
    const count = (ch) => firstLine.split(ch).length - 1;
    const delimiter = [",", ";", "\t"].reduce((best, ch) => (count(ch) > count(best) ? ch : best), ",");
    const records = [];
    let cells = [];
    let cell = "";
    let quoted = false;
    let line = 1;
    let start = 1;
    for (let i = 0; i < source.length; i += 1) {
      const ch = source[i];
      if (quoted) {
        if (ch === '"' && source[i + 1] === '"') { cell += '"'; i += 1; }
        else if (ch === '"') quoted = false;
        else { if (ch === "\n") line += 1; cell += ch; }
      } else if (ch === '"') quoted = true;
      else if (ch === delimiter) { cells.push(cell); cell = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && source[i + 1] === "\n") i += 1;
        cells.push(cell);
        records.push({ line: start, cells });
        cells = []; cell = ""; line += 1; start = line;
      } else cell += ch;
    }
    if (cell !== "" || cells.length) { cells.push(cell); records.push({ line: start, cells }); }
    return { delimiter, records: records.filter((r) => r.cells.some((c) => c.trim() !== "")) };
  }

  /** A number as a stock file writes it ("12", "12.5", or "12,5" in a ;-separated file). */
  function numberOf(text, delimiter) {
    const plain = delimiter !== "," && /^-?\d+,\d+$/.test(text) ? text.replace(",", ".") : text;
    return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(plain) ? Number(plain) : NaN;
  }

  /** The stock rows of a stock file, or its located problems ("row 3: on_hand 'x' is not a number"). */
  function stockFromCsv(text) {
    const { delimiter, records } = parseCsv(text);
    if (!records.length) return { problems: ["the file is empty"], rows: [], ignored: [] };
    const header = records[0].cells.map((c) => c.trim().toLowerCase());
    const missing = ["unique_id", "on_hand"].filter((c) => !header.includes(c));
    if (missing.length) {
      return { problems: [`row 1: the header needs the column(s) ${missing.join(", ")}; it has ${header.join(", ") || "none"}`], rows: [], ignored: [] };
    }
    const ignored = header.filter((c) => c && !FILE_FIELDS.includes(c));
    const problems = [];
    const found = [];
    const firstRow = new Map();
    for (const record of records.slice(1)) {
      const cell = (name) => (record.cells[header.indexOf(name)] ?? "").trim();
      const where = `row ${record.line}`;
      const id = cell("unique_id");
      if (!id) { problems.push(`${where}: unique_id is empty`); continue; }
      if (firstRow.has(id)) { problems.push(`${where}: series '${id}' is already on row ${firstRow.get(id)}`); continue; }
      firstRow.set(id, record.line);
      const row = newRow({ unique_id: id });
      for (const field of FILE_FIELDS.slice(1).filter((f) => header.includes(f))) {
        const raw = cell(field);
        if (raw === "") {
          if (field === "on_hand") problems.push(`${where}: on_hand is empty`);
          continue;
        }
        const value = numberOf(raw, delimiter);
        if (!Number.isFinite(value)) problems.push(`${where}: ${field} '${raw}' is not a number`);
        else if (value < 0) problems.push(`${where}: ${field} ${raw} is below 0`);
        else if (WHOLE_FIELDS.has(field) && !Number.isInteger(value)) problems.push(`${where}: ${field} '${raw}' is not a whole number of days`);
        else if (field === "on_hand" || field === "on_order") row[field] = String(value);
        else row.overrides[field] = value;
      }
      found.push(row);
    }
    if (!found.length && !problems.length) problems.push("the file has a header but no rows");
    return { problems, rows: found, ignored };
  }

  async function readStockFile(event) {
    const input = event.target;
    const file = input.files && input.files[0];
    if (!file) return;
    busy();
    fileReport.replaceChildren();
    try {
      const parsed = stockFromCsv(await file.text());
      if (parsed.problems.length) {
        const n = parsed.problems.length;
        problemList(fileReport, `${file.name}: ${n} problem${n === 1 ? "" : "s"}; the stock table was not changed.`, parsed.problems);
        return;
      }
      rows = parsed.rows;
      drawRows();
      const note = parsed.ignored.length ? ` Ignored column(s): ${parsed.ignored.join(", ")}.` : "";
      fileReport.replaceChildren(el("p", { class: "ok" }, `Read ${fmt.pieces(rows.length)} series from ${file.name}.${note}`));
      A.announce(`Read ${rows.length} series from ${file.name}.`);
    } catch (error) {
      A.showError(fileReport, error, `${file.name} could not be read: `);
    } finally {
      input.value = "";
      done();
    }
  }

  // ---------- the request ----------

  const ruleOf = () => (byId("rule-perishable").checked ? "newsvendor" : "service_level");

  function showRule() {
    const perishable = ruleOf() === "newsvendor";
    byId("perishable-inputs").hidden = !perishable;
    byId("service-inputs").hidden = perishable;
  }

  /** The policy of the form as the API's fields, or located problems. */
  function policyOf(problems) {
    const policy = {};
    const read = (field, { optional = false, whole = false, scale = 1 } = {}) => {
      const input = byId(POLICY_INPUTS[field]);
      const label = document.querySelector(`label[for="${input.id}"]`).textContent;
      if (input.value === "") {
        if (!optional) { problems.push([input, `${label}: enter a number`]); }
        return;
      }
      const value = Number(input.value);
      if (whole && !Number.isInteger(value)) { problems.push([input, `${label}: a whole number of days`]); return; }
      policy[field] = value / scale;
    };
    read("lead_time", { whole: true });
    read("review_period", { whole: true });
    read("pack_size", { optional: true });
    read("min_order", { optional: true });
    if (ruleOf() === "newsvendor") {
      read("unit_cost");
      read("unit_price");
      read("salvage_value", { optional: true });
    } else {
      read("service_level", { scale: 100 });
    }
    return policy;
  }

  function requestOf() {
    const problems = [];
    const policy = policyOf(problems);
    const asked = rows.filter((r) => r.unique_id.trim() !== "" || r.on_hand !== "" || r.on_order !== "");
    if (!asked.length) problems.push([byId(`stock-unique_id-${rows[0].key}`), "Enter at least one series and its stock"]);
    const seen = new Map();
    for (const row of asked) {
      const n = rows.indexOf(row) + 1;
      const id = row.unique_id.trim();
      const series = byId(`stock-unique_id-${row.key}`);
      if (!id) problems.push([series, `row ${n}: pick a series`]);
      else if (seen.has(id)) problems.push([series, `row ${n}: ${id} is already on row ${seen.get(id)}`]);
      seen.set(id, n);
      const onHand = byId(`stock-on_hand-${row.key}`);
      if (row.on_hand === "" || onHand.validity.badInput) problems.push([onHand, `row ${n}: enter the stock on hand`]);
    }
    const items = asked.map((row) => {
      const item = { unique_id: row.unique_id.trim(), on_hand: Number(row.on_hand), ...policy, ...row.overrides };
      if (row.on_order !== "") item.on_order = Number(row.on_order);
      return item;
    });
    return { problems, asked, request: { items, distribution: byId("distribution").value } };
  }

  /** Put an API error next to the input its `field` names (body.items.3.on_hand, body.distribution). */
  function placeApiError(error, asked) {
    const field = error.field || "";
    const first = error.body && error.body.fields && error.body.fields[0];
    const problem = (first && first.problem) || error.message;
    const [root, list, position, name] = field.split(".");
    const row = root === "body" && list === "items" ? asked[Number(position)] : undefined;
    let box = stockError;
    let where = "";
    if (row) {
      where = `row ${rows.indexOf(row) + 1} (${row.unique_id || "no series"}): `;
      if (name === "unique_id" || name === "on_hand" || name === "on_order") markField(byId(`stock-${name}-${row.key}`), problem);
      else if (name && name in row.overrides) markField(byId(`stock-unique_id-${row.key}`), `${name} from the file: ${problem}`);
      else {
        box = policyError;
        markField(byId(POLICY_INPUTS[name] || (ruleOf() === "newsvendor" ? "unit-price" : "service-level")), problem);
      }
    } else if (field === "body.distribution") {
      box = policyError;
      markField(byId("distribution"), problem);
    } else if (field === "body.items") {
      markField(byId(`stock-unique_id-${rows[0].key}`), problem);
    }
    box.replaceChildren(el("p", { class: "error", role: "alert" }, `${where}${error.message}`));
  }

  async function submit(event) {
    event.preventDefault();
    busy();
    clearFieldErrors();
    for (const box of [stockError, policyError, ordersError]) box.replaceChildren();
    const { problems, asked, request } = requestOf();
    if (problems.length) {
      for (const [input, message] of problems) markField(input, message);
      problemList(stockError, "Please correct these first:", problems.map(([, message]) => message));
      problems[0][0].focus();
      done();
      return;
    }
    const button = byId("orders-submit");
    button.disabled = true;
    try {
      const answer = await A.api("/v1/orders", { method: "POST", json: request });
      last = { answer, asked: asked.map((r) => ({ ...r })), request };
      drawOrders(answer, last.asked);
    } catch (error) {
      if (error.status >= 400 && error.status < 500 && error.field) placeApiError(error, asked);
      else A.showError(ordersError, error, "No orders: ");
      A.announce(`No orders: ${error.message}`);
    } finally {
      button.disabled = false;
      done();
    }
  }

  // ---------- the answer ----------

  const decimals = new Intl.NumberFormat(fmt.locale, { maximumFractionDigits: 2 });
  /** An order quantity: whole pieces as pieces, packs of a fraction with their decimals. */
  const amount = (x) => (x === null || x === undefined ? "–" : Number.isInteger(x) ? fmt.pieces(x) : decimals.format(x));

  function drawOrders(answer, asked) {
    const stock = new Map(asked.map((r) => [r.unique_id.trim(), r]));
    const columns = [
      { label: "Series", key: "unique_id", value: (o) => el("a", { href: `/series?id=${encodeURIComponent(o.unique_id)}` }, o.unique_id) },
      { label: "On hand", key: "on_hand", num: true, value: (o) => amount(Number(stock.get(o.unique_id)?.on_hand)) },
      { label: "On order", key: "on_order", num: true, value: (o) => amount(Number(stock.get(o.unique_id)?.on_order || 0)) },
      { label: "Days covered", key: "protection_periods", num: true, value: (o) => fmt.pieces(o.protection_periods) },
      { label: "Forecast demand", key: "demand_mean", num: true, value: (o) => fmt.quantity(o.demand_mean) },
      { label: "Demand to cover", key: "demand_quantile", num: true, value: (o) => fmt.quantity(o.demand_quantile) },
      { label: "Order", key: "order_quantity", num: true, value: (o) => el("strong", {}, amount(o.order_quantity)) },
      { label: "Target", key: "target_probability", num: true, value: (o) => `${fmt.percent(o.target_probability)}${o.rule === "newsvendor" ? " (perishable)" : ""}` },
      { label: "Stock-out risk", key: "stockout_risk", num: true, value: (o) => fmt.percent(o.stockout_risk) },
      { label: "Expected leftover", key: "expected_leftover", num: true, value: (o) => fmt.quantity(o.expected_leftover) },
      { label: "Expected shortage", key: "expected_shortage", num: true, value: (o) => fmt.quantity(o.expected_shortage) },
    ];
    const caption = `Suggested orders, ${fmt.pieces(answer.orders.length)} series`;
    byId("orders-result").replaceChildren(A.table(caption, columns, answer.orders, { id: "orders-table" }));
    const total = answer.orders.reduce((sum, o) => sum + o.order_quantity, 0);
    const needing = answer.orders.filter((o) => o.order_quantity > 0).length;
    byId("orders-facts").textContent = `From model ${answer.model_name} version ${answer.model_version}: ` +
      `${fmt.pieces(needing)} of ${fmt.pieces(answer.orders.length)} series need an order, ${amount(total)} pieces in all. ` +
      "“Demand to cover” is the demand the stock must meet at the target; “forecast demand” its expected value over the days covered.";
    byId("orders-method").textContent = `How: ${answer.method}`;
    downloadButton.disabled = false;
    A.announce(`Orders for ${answer.orders.length} series: ${needing} need an order, ${amount(total)} pieces in all.`);
  }

  const csvCell = (value) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };

  /** The order table as CSV: the API's field names and numbers, with the stock that was sent. */
  function ordersCsv({ answer, request }) {
    const sent = new Map(request.items.map((item) => [item.unique_id, item]));
    const apiFields = Object.keys(answer.orders[0] || { unique_id: "" }).filter((k) => k !== "unique_id");
    const header = ["unique_id", "on_hand", "on_order", ...apiFields, "model_version"];
    const lines = answer.orders.map((o) => {
      const item = sent.get(o.unique_id) || {};
      return [o.unique_id, item.on_hand, item.on_order ?? 0, ...apiFields.map((k) => o[k]), answer.model_version].map(csvCell).join(",");
    });
    return [header.join(","), ...lines].join("\r\n") + "\r\n";
  }

  function localDate() {
    const now = new Date();
    const two = (n) => String(n).padStart(2, "0");
    return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
  }

  function downloadOrders() {
    if (!last) return;
    const name = `orders-${localDate()}.csv`;
    A.download(ordersCsv(last), name);
    A.announce(`Downloaded ${name}.`);
  }

  async function start() {
    busy();
    rows = [newRow()];
    drawRows();
    showRule();
    byId("stock-add").addEventListener("click", addRow);
    byId("stock-clear").addEventListener("click", () => {
      rows = [newRow()];
      drawRows();
      fileReport.replaceChildren();
      A.announce("The stock table is empty.");
    });
    byId("stock-file").addEventListener("change", readStockFile);
    for (const radio of document.querySelectorAll('input[name="rule"]')) radio.addEventListener("change", showRule);
    byId("orders-form").addEventListener("submit", submit);
    downloadButton.addEventListener("click", downloadOrders);
    try {
      const n = await loadSeriesOptions();
      byId("stock-help").append(` ${fmt.pieces(n)} series to choose from.`);
    } catch (error) {
      A.showError(stockError, error, "The list of series could not be loaded (you can still type ids): ");
    } finally {
      done();
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
