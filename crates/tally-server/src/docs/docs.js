// Tally's interactive API reference: renders /api/v1/openapi.json and sends
// requests from the page. No dependencies; the CSP of the page allows only this
// script, this stylesheet and requests to this server.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : null;
}

function schemaName(ref) {
  return ref ? ref.split("/").pop() : null;
}

function requestExample(op) {
  const schema = op.requestBody?.content?.["application/json"]?.schema;
  if (!schema) return null;
  return "{}";
}

async function send(method, path, op, form, out) {
  let url = path;
  const query = new URLSearchParams();
  for (const p of op.parameters || []) {
    const value = form.querySelector(`[data-param="${p.name}"]`)?.value ?? "";
    if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(value));
    else if (p.in === "query" && value !== "") query.set(p.name, value);
  }
  if ([...query].length) url += "?" + query;
  const headers = {};
  const key = document.getElementById("key").value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const csrf = cookie("tally_csrf");
  if (csrf && method !== "get") headers["X-CSRF-Token"] = csrf;
  const init = { method: method.toUpperCase(), headers, credentials: "same-origin" };
  const body = form.querySelector("textarea");
  if (body && method !== "get") {
    headers["Content-Type"] = "application/json";
    init.body = body.value;
  }
  out.textContent = "…";
  try {
    const r = await fetch(url, init);
    const text = await r.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
    out.className = "response " + (r.ok ? "status-ok" : "status-err");
    out.dataset.status = String(r.status);
    out.textContent = `${r.status} ${r.statusText}\n\n${shown}`;
  } catch (err) {
    out.className = "response status-err";
    out.dataset.status = "0";
    out.textContent = String(err);
  }
}

function operation(method, path, op) {
  const form = el("form", { class: "body" });
  if (op.description) form.append(el("p", {}, op.description));
  const params = op.parameters || [];
  if (params.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "value")));
    for (const p of params) {
      const input = el("input", { class: "param", "data-param": p.name, placeholder: p.description || p.name, "aria-label": p.name });
      table.append(el("tr", {}, el("td", {}, p.name + (p.required ? " *" : "")), el("td", {}, p.in), el("td", {}, input)));
    }
    form.append(table);
  }
  const example = requestExample(op);
  if (example !== null) {
    const name = schemaName(op.requestBody.content["application/json"].schema.$ref);
    form.append(el("p", {}, "JSON body" + (name ? ` (${name})` : "")));
    form.append(el("textarea", { "aria-label": "request body" }, example));
  }
  const responses = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description || ""}`.trim());
  if (responses.length) form.append(el("p", { class: "summary" }, "Answers: " + responses.join(" · ")));
  const out = el("pre", { class: "response", "aria-label": "response" });
  const button = el("button", { class: "send", type: "submit" }, "Send");
  form.append(button, out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(method, path, op, form, out);
  });
  return el(
    "details",
    { class: "op", "data-route": `${method.toUpperCase()} ${path}` },
    el("summary", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path), el("span", { class: "summary" }, op.summary || "")),
    form,
  );
}

function render(doc) {
  document.getElementById("version").textContent = doc.info?.version || "";
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = item[method].tags?.[0] || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(method, path, item[method]));
    }
  }
  const main = document.getElementById("operations");
  main.replaceChildren();
  for (const [tag, ops] of groups) {
    main.append(el("section", { "data-tag": tag }, el("h2", {}, tag), ...ops));
  }
  main.dataset.operations = String([...groups.values()].reduce((n, ops) => n + ops.length, 0));
}

function filter(text) {
  const needle = text.toLowerCase();
  for (const op of document.querySelectorAll("details.op")) {
    op.hidden = needle !== "" && !op.dataset.route.toLowerCase().includes(needle);
  }
  for (const section of document.querySelectorAll("section[data-tag]")) {
    section.hidden = !section.querySelector("details.op:not([hidden])");
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const key = document.getElementById("key");
  key.value = sessionStorage.getItem("tally-docs-key") || "";
  key.addEventListener("change", () => sessionStorage.setItem("tally-docs-key", key.value.trim()));
  document.getElementById("filter").addEventListener("input", (e) => filter(e.target.value));
  try {
    const r = await fetch("/api/v1/openapi.json", { credentials: "same-origin" });
    render(await r.json());
  } catch (err) {
    document.getElementById("operations").textContent = "Could not load the API description: " + err;
  }
});
