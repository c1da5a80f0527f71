// Data: upload an export (POST /v1/imports), map its columns, check it (the validation report
// with located problems), build the datasets and retrain as background jobs, show the outcome.
"use strict";

(() => {
  const A = Anticipate;
  const { el, fmt } = A;
  const canAdmin = document.getElementById("data-page").dataset.canAdmin === "yes";
  const state = { upload: null, mapping: null, checked: false };
  const FIELDS = [
    { key: "item_cols", label: "Item (product) column", required: true, multiple: true },
    { key: "store_col", label: "Store column" },
    { key: "date_col", label: "Date column", required: true },
    { key: "quantity_col", label: "Quantity sold column", required: true },
    { key: "time_of_day_col", label: "Time of day column" },
    { key: "status_col", label: "Line status column (void, refund)" },
    { key: "order_col", label: "Order number column" },
  ];
  const busy = () => { document.body.dataset.ready = "no"; };
  const done = () => { document.body.dataset.ready = "yes"; };
  const show = (id) => { document.getElementById(id).hidden = false; };

  async function upload(event) {
    event.preventDefault();
    const out = document.getElementById("upload-result");
    const sales = document.getElementById("sales-file").files[0];
    if (!sales) { A.showError(out, "Choose the sales export first."); return; }
    const form = new FormData();
    form.append("sales", sales);
    const attributes = document.getElementById("attributes-file").files[0];
    if (attributes) form.append("attributes", attributes);
    busy();
    out.replaceChildren(el("p", { class: "muted" }, `Uploading ${sales.name}…`));
    try {
      const answer = await A.api("/v1/imports", { method: "POST", form });
      state.upload = answer;
      state.checked = false;
      const reading = answer.reading;
      const how = reading.format === "csv" ? `delimiter “${reading.delimiter}”, decimal mark “${reading.decimal}”, ${reading.encoding}` : "Parquet";
      out.replaceChildren(el("p", { class: "ok", id: "upload-summary" }, `${answer.sales.name}: ${fmt.pieces(answer.rows)} rows, ${answer.columns.length} columns (${how}).`));
      drawMapping(answer);
      document.getElementById("report-section").hidden = true;
      A.announce("Uploaded; check the column mapping next.");
    } catch (error) {
      A.showError(out, error, "The upload failed: ");
    }
    done();
  }

  function drawMapping(answer) {
    const names = answer.columns.map((c) => c.name);
    const kinds = new Map(answer.columns.map((c) => [c.name, c.kind]));
    const suggested = answer.suggested;
    const fields = FIELDS.map((field) => {
      const id = `map-${field.key}`;
      const chosen = suggested[field.key];
      const picked = Array.isArray(chosen) ? chosen : chosen ? [chosen] : [];
      const select = el("select", { id, name: field.key, multiple: field.multiple || null, required: field.required || null, size: field.multiple ? Math.min(4, names.length) : null },
        field.multiple ? null : el("option", { value: "", selected: picked.length ? null : true }, field.required ? "— choose —" : "— none —"),
        names.map((name) => el("option", { value: name, selected: picked.includes(name) || null }, `${name} (${kinds.get(name)})`)));
      return el("div", {}, el("label", { for: id }, field.label + (field.required ? " *" : "")), select);
    });
    document.getElementById("mapping-fields").replaceChildren(...fields);
    document.getElementById("keep-columns").replaceChildren(...names.map((name, i) =>
      el("label", { class: "check", for: `keep-${i}` }, el("input", { type: "checkbox", id: `keep-${i}`, value: name, checked: suggested.keep_cols.includes(name) || null }), name)));
    document.getElementById("duplicates").value = suggested.duplicates || "error";
    const columns = names.map((name) => ({ label: name, value: (row) => row[name] ?? "" }));
    document.getElementById("preview").replaceChildren(A.table(`The first rows of ${answer.sales.name}, as read`, columns, answer.preview, { id: "preview-table" }));
    show("mapping-section");
    document.getElementById("map-item_cols").focus();
  }

  function mapping() {
    const value = (key) => document.getElementById(`map-${key}`);
    const body = {
      item_cols: [...value("item_cols").selectedOptions].map((o) => o.value),
      date_col: value("date_col").value,
      quantity_col: value("quantity_col").value,
      keep_cols: [...document.querySelectorAll("#keep-columns input:checked")].map((box) => box.value),
      duplicates: document.getElementById("duplicates").value,
      negative: document.getElementById("negative").value,
      short_series: document.getElementById("short-series").value,
    };
    for (const key of ["store_col", "time_of_day_col", "status_col", "order_col"]) {
      if (value(key).value) body[key] = value(key).value;
    }
    const used = new Set([...body.item_cols, body.date_col, body.quantity_col, body.store_col, body.time_of_day_col, body.status_col, body.order_col].filter(Boolean));
    body.keep_cols = body.keep_cols.filter((name) => !used.has(name));
    return body;
  }

  function where(problem) {
    const parts = [];
    if (problem.file) parts.push(`file ${problem.file}`);
    if (problem.rows && problem.rows.length) {
      const more = problem.count > problem.rows.length ? ` and ${fmt.pieces(problem.count - problem.rows.length)} more` : "";
      parts.push(`${problem.rows.length === 1 && !more ? "row" : "rows"} ${problem.rows.slice(0, 10).join(", ")}${more}`);
    }
    if (problem.column) parts.push(`column ${problem.column}`);
    if (problem.series && problem.series.length) parts.push(`series ${problem.series.slice(0, 10).join(", ")}${problem.series.length > 10 ? " …" : ""}`);
    return parts.join(" · ");
  }

  async function check(event) {
    event.preventDefault();
    const report = document.getElementById("report");
    const missing = FIELDS.filter((f) => f.required).find((f) => {
      const select = document.getElementById(`map-${f.key}`);
      return f.multiple ? !select.selectedOptions.length : !select.value;
    });
    if (missing) {
      show("report-section");
      A.showError(report, `Choose the ${missing.label.toLowerCase()}.`);
      document.getElementById(`map-${missing.key}`).focus();
      return;
    }
    show("report-section");
    busy();
    report.replaceChildren(el("p", { class: "muted" }, "Checking…"));
    try {
      state.mapping = mapping();
      const answer = await A.api(`/v1/imports/${encodeURIComponent(state.upload.import_id)}/check`, { method: "POST", json: state.mapping });
      state.checked = answer.ok;
      const notes = answer.notes.length ? el("div", { class: "note" }, el("p", {}, "Repaired as asked:"), el("ul", {}, answer.notes.map((n) => el("li", {}, n)))) : null;
      if (answer.ok) {
        const s = answer.summary;
        report.replaceChildren(
          el("p", { class: "ok", id: "report-ok" }, `Ready: ${fmt.pieces(s.series)} series, ${fmt.pieces(s.rows)} rows, ${fmt.date(s.first_date)} to ${fmt.date(s.last_date)}, frequency ${s.frequency}${s.stores.length ? `, stores ${s.stores.join(", ")}` : ""}.`),
          el("p", { class: "help" }, `Hierarchy: ${Object.entries(s.levels).map(([k, v]) => `${k} ${fmt.pieces(v)}`).join(", ")}${s.exogenous.length ? `; known-future columns: ${s.exogenous.join(", ")}` : ""}.`),
          notes,
        );
        A.announce("The export is ready to build.");
      } else {
        report.replaceChildren(
          el("p", { class: "error", role: "alert" }, `${answer.problems.length} problem${answer.problems.length === 1 ? "" : "s"} to fix before the datasets can be built:`),
          el("ol", { class: "problems", id: "problems" }, answer.problems.map((p) => el("li", { "data-code": p.code },
            el("strong", {}, p.message), el("br"),
            el("span", { class: "where" }, where(p)),
            p.hint ? [el("br"), el("span", { class: "fix" }, `Fix: ${p.hint}`)] : null))),
          notes,
        );
        A.announce(`${answer.problems.length} problems found in the export.`);
      }
      if (canAdmin) document.getElementById("build-button").disabled = !answer.ok;
    } catch (error) {
      A.showError(report, error, "The check failed: ");
    }
    done();
  }

  async function follow(href, label) {
    const box = document.getElementById("job");
    const bar = el("progress", { max: "1", value: "0", "aria-label": `${label} progress` });
    const stage = el("p", { class: "muted", id: "job-stage" }, `${label}: queued`);
    box.replaceChildren(stage, bar);
    let last = "";
    for (;;) {
      const job = await A.api(href);
      bar.value = job.progress || 0;
      const text = `${label}: ${job.stage || job.status} (${fmt.percent(job.progress || 0)})`;
      if (text !== last) { stage.textContent = text; if (job.stage !== last) A.announce(text); last = text; }
      if (job.status === "succeeded" || job.status === "failed" || job.status === "interrupted") return job;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function build() {
    const box = document.getElementById("job");
    busy();
    try {
      const started = await A.api(`/v1/imports/${encodeURIComponent(state.upload.import_id)}/build`, { method: "POST", json: state.mapping });
      const job = await follow(started.href, "Building the datasets");
      if (job.status === "succeeded") {
        const s = job.result && (job.result.summary || job.result);
        box.append(el("p", { class: "ok", id: "build-ok" }, `Datasets built${s && s.series ? `: ${fmt.pieces(s.series)} series` : ""}. Retrain to use them.`));
        A.announce("Datasets built.");
      } else {
        box.append(el("p", { class: "error", role: "alert" }, `The build failed: ${job.error || "see the report"}`));
      }
    } catch (error) {
      A.showError(box, error, "The build could not start: ");
    }
    done();
  }

  async function retrain() {
    const box = document.getElementById("job");
    busy();
    try {
      const started = await A.api("/v1/retrain", { method: "POST" });
      const job = await follow(started.href, "Retraining");
      if (job.status === "succeeded") {
        const r = job.result;
        const verdict = r.promoted ? `Version ${r.version} was promoted and is now served.` : `Version ${r.version} was not promoted; the champion stays.`;
        box.append(el("div", { class: r.promoted ? "ok" : "note", id: "retrain-result" },
          el("p", {}, el("strong", {}, verdict)),
          el("p", {}, `Backtest MASE: new ${fmt.score(r.candidate_mase)} against the champion's ${fmt.score(r.champion_mase)}.`),
          el("p", { class: "help" }, `Why: ${r.rule}`)));
        A.announce(verdict);
      } else {
        box.append(el("p", { class: "error", role: "alert" }, `The retraining failed: ${job.error || job.status}`));
      }
    } catch (error) {
      A.showError(box, error, "The retraining could not start: ");
    }
    done();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("upload-form").addEventListener("submit", upload);
    document.getElementById("mapping-form").addEventListener("submit", check);
    if (canAdmin) {
      show("build-section");
      document.getElementById("build-button").disabled = true;
      document.getElementById("build-button").addEventListener("click", build);
      document.getElementById("retrain-button").addEventListener("click", retrain);
    } else {
      show("build-section");
    }
    done();
  });
})();
