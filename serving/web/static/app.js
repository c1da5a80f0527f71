// Shared by every page: the API client (session cookie + CSRF token), the planner's number and
// date formats, small DOM helpers. No framework and nothing from another host.
"use strict";

const Anticipate = (() => {
  const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const locale = document.documentElement.dataset.locale || navigator.language || "en-GB";

  /** An API answer that is not 2xx: status, the ErrorBody's message and field. */
  class ApiError extends Error {
    constructor(status, body) {
      const detail = (body && (body.message || body.detail)) || `HTTP ${status}`;
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
      this.body = body;
      this.field = body && (body.field || (body.fields && body.fields[0] && body.fields[0].field));
    }
  }

  /** fetch against our API with the session cookie; unsafe methods carry the CSRF token. */
  async function api(path, { method = "GET", json, form, accept = "application/json" } = {}) {
    const headers = { Accept: accept };
    let body;
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new ApiError(401, { message: "the session has ended; log in again" });
    }
    const type = response.headers.get("Content-Type") || "";
    const payload = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, typeof payload === "object" ? payload : { message: payload });
    return payload;
  }

  const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  const oneDecimal = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const twoDecimals = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });
  const signedPercent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0, signDisplay: "exceptZero" });
  const longDate = new Intl.DateTimeFormat(locale, { weekday: "short", year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const shortDate = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", timeZone: "UTC" });
  const stamp = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

  const utcDay = (iso) => new Date(`${String(iso).slice(0, 10)}T00:00:00Z`);
  const missing = (x) => x === null || x === undefined || Number.isNaN(x);

  /** Formats in the planner's units (pieces) and locale; "–" for what is unknown. */
  const fmt = {
    locale,
    pieces: (x) => (missing(x) ? "–" : integer.format(Math.round(x))),
    quantity: (x) => (missing(x) ? "–" : Math.abs(x) < 10 ? oneDecimal.format(x) : integer.format(Math.round(x))),
    score: (x) => (missing(x) ? "–" : twoDecimals.format(x)),
    percent: (x) => (missing(x) ? "–" : percent.format(x)),
    change: (x) => (missing(x) ? "–" : signedPercent.format(x)),
    date: (iso) => (iso ? longDate.format(utcDay(iso)) : "–"),
    shortDate: (iso) => (iso ? shortDate.format(utcDay(iso)) : "–"),
    stamp: (iso) => (iso ? stamp.format(new Date(iso)) : "–"),
  };

  /** A DOM element: el("td", {class: "num"}, "12"); attributes `on*` take listeners. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Tell screen readers what just happened (the live region of the page). */
  function announce(message) {
    const region = document.getElementById("announcer");
    if (region) {
      region.textContent = "";
      window.setTimeout(() => { region.textContent = message; }, 50);
    }
  }

  /** Show an error inside `box` (role=alert) and return it. */
  function showError(box, error, prefix = "") {
    const message = error instanceof Error ? error.message : String(error);
    const field = error && error.field ? ` (field ${error.field})` : "";
    box.replaceChildren(el("p", { class: "error", role: "alert" }, `${prefix}${message}${field}`));
    return box;
  }

  /** A CSV download of `text` named `filename`. */
  function download(text, filename, type = "text/csv") {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /** The days from `start` (ISO) for `n` days, as ISO strings. */
  function isoDays(start, n) {
    const first = utcDay(start);
    return Array.from({ length: n }, (_, i) => new Date(first.getTime() + i * 86400000).toISOString().slice(0, 10));
  }

  const addDays = (iso, n) => new Date(utcDay(iso).getTime() + n * 86400000).toISOString().slice(0, 10);

  /** A plain, keyboard-reachable table: columns [{label, value(row), num?}], sortable headers. */
  function table(caption, columns, rows, { id, emptyText = "Nothing to show." } = {}) {
    const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
    const body = el("tbody");
    const fill = (items) => {
      body.replaceChildren(
        ...(items.length
          ? items.map((row) => el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : null, "data-col": c.key || null }, c.value(row)))))
          : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, emptyText))]),
      );
    };
    fill(rows);
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      el("table", { id }, el("caption", {}, caption), el("thead", {}, head), body));
  }

  function initLocaleSelect() {
    const select = document.getElementById("locale-select");
    if (!select) return;
    select.addEventListener("change", () => {
      const value = select.value;
      document.cookie = `anticipate_locale=${encodeURIComponent(value)}; path=/; max-age=31536000; samesite=strict`;
      window.location.reload();
    });
  }

  /** Mark `input` invalid with `message` shown right after it (linked by aria-describedby). */
  function markField(input, message) {
    if (!input) return;
    const id = `${input.id}-error`;
    document.getElementById(id)?.remove();
    input.setAttribute("aria-invalid", "true");
    input.insertAdjacentElement("afterend", el("p", { class: "field-error", id }, message));
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== id);
    input.setAttribute("aria-describedby", [...described, id].join(" "));
  }

  /** Remove every mark of markField inside `scope`. */
  function clearMarks(scope = document) {
    for (const note of scope.querySelectorAll(".field-error")) {
      const target = document.querySelector(`[aria-describedby~="${note.id}"]`);
      if (target) {
        const rest = target.getAttribute("aria-describedby").split(" ").filter((x) => x !== note.id);
        if (rest.length) target.setAttribute("aria-describedby", rest.join(" "));
        else target.removeAttribute("aria-describedby");
        target.removeAttribute("aria-invalid");
      }
      note.remove();
    }
  }

  document.addEventListener("DOMContentLoaded", initLocaleSelect);

  return { api, ApiError, fmt, el, announce, showError, download, isoDays, addDays, table, csrfToken, markField, clearMarks };
})();
