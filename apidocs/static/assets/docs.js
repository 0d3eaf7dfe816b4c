// ssegate API documentation: renders /openapi.json and runs the console.
// The DOM is built node by node, never from markup strings, so the page
// works under Trusted Types.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace", "query"];
  const MAX_LOG = 500;

  let doc = null;
  const ops = new Map(); // operationId -> {method, path, op}
  const remembered = new Map(); // parameter name -> last value typed or seen
  let source = null; // the open EventSource
  let eventCount = 0;

  // el builds an element: el("p", {class: "x"}, "text", child…).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // resolve follows a local $ref such as "#/components/schemas/X".
  function resolve(obj) {
    let seen = 0;
    while (obj && obj.$ref && seen++ < 10) {
      let target = doc;
      for (const part of obj.$ref.replace(/^#\//, "").split("/")) {
        target = target && target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      }
      obj = target;
    }
    return obj;
  }

  const refName = (ref) => ref.split("/").pop();
  const shortName = (full) => full.split(".").pop();
  const anchor = (name) => "schema-" + name.replace(/[^A-Za-z0-9_.-]/g, "_");

  // text renders a description: paragraphs, "- " lists and `code`.
  function text(s, cls) {
    const box = el("div", { class: "text " + (cls || "") });
    if (!s) return box;
    for (const para of s.split(/\n\s*\n/)) {
      const lines = para.split("\n");
      if (lines.every((l) => l.startsWith("- "))) {
        box.append(el("ul", {}, lines.map((l) => el("li", {}, inline(l.slice(2))))));
      } else {
        box.append(el("p", {}, inline(lines.join(" "))));
      }
    }
    return box;
  }

  function inline(s) {
    return s.split(/(`[^`]*`)/).map((part) =>
      part.startsWith("`") && part.endsWith("`") && part.length > 1 ? el("code", {}, part.slice(1, -1)) : part);
  }

  // typeOf renders a schema's type, short: links to named schemas.
  function typeOf(s) {
    if (!s) return "any";
    if (s.$ref) {
      const name = refName(s.$ref);
      return el("a", { href: "#" + anchor(name) }, shortName(name));
    }
    if (s.anyOf || s.oneOf) {
      const alts = s.anyOf || s.oneOf;
      const out = [];
      alts.forEach((a, i) => { if (i) out.push(" | "); out.push(typeOf(a)); });
      return el("span", {}, out);
    }
    if (s.const !== undefined) return el("code", {}, JSON.stringify(s.const));
    let types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    const nullable = types.includes("null") && types.length > 1;
    types = types.filter((t) => !nullable || t !== "null");
    let t;
    if (types[0] === "array") {
      t = el("span", {}, typeOf(s.items), "[]");
    } else if (types[0] === "object" && s.additionalProperties) {
      t = el("span", {}, "map<string, ", typeOf(s.additionalProperties), ">");
    } else if (s.enum) {
      t = el("span", {}, "enum");
    } else if (s.contentSchema) {
      t = el("span", {}, "JSON ", typeOf(s.contentSchema));
    } else {
      t = el("span", {}, types.join(" | ") || "any", s.format ? ` (${s.format})` : "");
    }
    return nullable ? el("span", {}, t, " | null") : t;
  }

  // fields renders an object schema's properties as a table.
  function fields(schema) {
    const s = resolve(schema);
    if (!s || !s.properties || Object.keys(s.properties).length === 0) {
      return el("p", { class: "muted small" }, s && s.type === "object" ? "No fields." : "");
    }
    const req = new Set(s.required || []);
    return el("table", { class: "fields" },
      el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Description"))),
      el("tbody", {}, Object.entries(s.properties).map(([name, p]) =>
        el("tr", {}, el("td", {}, el("code", {}, name), req.has(name) ? el("span", { class: "req" }, " required") : ""),
          el("td", {}, typeOf(p)),
          el("td", {}, text(p.description || (p.$ref && (resolve(p) || {}).description) || ""), p.enum ? el("p", { class: "small" }, p.enum.join(", ")) : ""))),
      ));
  }

  // events lists the kinds of event of an SSE media type's itemSchema.
  function eventKinds(media) {
    const item = media && media.itemSchema;
    if (!item) return [];
    return (item.oneOf || item.anyOf || []).map((alt) => {
      const p = alt.properties || {};
      const ev = p.event || {};
      const name = ev.const !== undefined ? ev.const : alt.not ? "message" : null;
      return { name, title: alt.title, description: alt.description || "", id: !!p.id, data: p.data || {}, retry: !!p.retry };
    });
  }

  function renderEvents(media) {
    const kinds = eventKinds(media);
    return el("div", { class: "events" },
      el("h4", {}, "Events (text/event-stream)"),
      text(media.description, "muted small"),
      el("table", { class: "fields" },
        el("thead", {}, el("tr", {}, el("th", {}, "event"), el("th", {}, "id"), el("th", {}, "data"), el("th", {}, "Description"))),
        el("tbody", {}, kinds.map((k) =>
          el("tr", { "data-event": k.name || "" },
            el("td", {}, el("code", {}, k.name || k.title)),
            el("td", {}, k.id ? "yes" : "—"),
            el("td", {}, k.data.contentSchema ? typeOf(k.data) : k.data.const !== undefined ? el("code", {}, k.data.const) : "text"),
            el("td", {}, text(k.description), k.data.description ? text(k.data.description, "muted small") : ""))))));
  }

  function renderParams(params) {
    if (!params.length) return null;
    return el("div", {},
      el("h4", {}, "Parameters"),
      el("table", { class: "fields" },
        el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description"))),
        el("tbody", {}, params.map((p) =>
          el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, " required") : ""),
            el("td", {}, p.in), el("td", {}, typeOf(p.schema)),
            el("td", {}, text(p.description || (p.schema && p.schema.description) || "")))))));
  }

  function params(op) {
    return (op.parameters || []).map(resolve).filter(Boolean);
  }

  function isStream(op) {
    const ok = op.responses && resolve(op.responses["200"]);
    return !!(ok && ok.content && ok.content["text/event-stream"]);
  }

  function renderOperation(method, path, op) {
    const ok = resolve(op.responses["200"]) || {};
    const content = ok.content || {};
    const stream = isStream(op);
    const errors = Object.entries(op.responses).filter(([code]) => code !== "200")
      .map(([code, r]) => el("li", {}, el("code", {}, code), " ", (resolve(r) || {}).description || ""));
    const body = op.requestBody && resolve(op.requestBody);
    const bodySchema = body && body.content && body.content["application/json"] && body.content["application/json"].schema;
    const section = el("section", {
      class: "op" + (stream ? " stream" : ""), id: "op-" + op.operationId,
      "data-operation-id": op.operationId, "data-method": method.toUpperCase(), "data-path": path,
    },
    el("h3", {}, el("span", { class: "method m-" + method }, method.toUpperCase()), " ", el("code", { class: "path" }, path),
      stream ? el("span", { class: "badge" }, "SSE") : "",
      Array.isArray(op.security) && op.security.length === 0 ? el("span", { class: "badge public" }, "public") : "",
      el("button", { type: "button", class: "try secondary", "data-operation-id": op.operationId }, "Try it")),
    el("p", { class: "summary" }, inline(op.summary || "")),
    op.description ? text(op.description) : "",
    renderParams(params(op)),
    bodySchema ? el("div", {}, el("h4", {}, "Request body"), el("p", {}, typeOf(bodySchema)), fields(bodySchema)) : "",
    stream ? renderEvents(content["text/event-stream"]) : "",
    content["application/json"] ? el("div", {}, el("h4", {}, "Response"), el("p", {}, typeOf(content["application/json"].schema)), fields(content["application/json"].schema)) : "",
    content["application/x-ndjson"] ? el("p", { class: "muted small" }, "Other clients: ", el("code", {}, "application/x-ndjson"), " — ", inline(content["application/x-ndjson"].description || "")) : "",
    el("details", {}, el("summary", {}, "Errors"), el("ul", { class: "errors" }, errors)));
    return section;
  }

  function render() {
    $("doc-title").textContent = doc.info.title + " API";
    $("doc-version").textContent = doc.info.version;
    document.title = doc.info.title + " API";
    $("intro").append(text(doc.info.description));

    const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
    for (const [path, item] of Object.entries(doc.paths)) {
      const entries = METHODS.filter((m) => item[m]).map((m) => [m, item[m]])
        .concat(Object.entries(item.additionalOperations || {}));
      for (const [method, op] of entries) {
        ops.set(op.operationId, { method: method.toUpperCase(), path, op });
        const tag = (op.tags && op.tags[0]) || "";
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push([method, path, op]);
      }
    }
    const tags = new Map((doc.tags || []).map((t) => [t.name, t]));
    for (const [tag, list] of byTag) {
      if (!list.length) continue;
      const t = tags.get(tag) || {};
      $("endpoints").append(el("section", { class: "tag" },
        el("h2", {}, tag), text(t.description, "muted"),
        list.map(([m, p, op]) => renderOperation(m, p, op))));
    }

    const schemas = (doc.components && doc.components.schemas) || {};
    $("schemas").append(el("h2", {}, "Schemas"),
      ...Object.keys(schemas).sort().map((name) => el("section", { class: "schema", id: anchor(name) },
        el("h3", {}, el("code", {}, name)),
        text(schemas[name].description),
        schemas[name].enum ? el("p", {}, "One of: ", schemas[name].enum.map((v, i) => [i ? ", " : "", el("code", {}, v)])) : fields(schemas[name]))));

    const select = $("console-op");
    for (const [id, o] of ops) {
      select.append(el("option", { value: id }, `${o.method} ${o.path}${isStream(o.op) ? "  (SSE)" : ""}`));
    }
    const firstStream = [...ops].find(([, o]) => isStream(o.op));
    select.value = firstStream ? firstStream[0] : select.value;
    document.addEventListener("click", (e) => {
      const b = e.target.closest("button.try");
      if (!b) return;
      select.value = b.dataset.operationId;
      chooseOp();
      $("console-op").focus();
    });
    select.addEventListener("change", chooseOp);
    chooseOp();
    // The page is built after load: follow a link to #op-… or #schema-… now.
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }

  // Console.

  function current() { return ops.get($("console-op").value); }

  function chooseOp() {
    const o = current();
    if (!o) return;
    $("console-summary").replaceChildren(...inline(o.op.summary || ""));
    const box = $("console-params");
    box.replaceChildren();
    const stream = isStream(o.op);
    for (const p of params(o.op)) {
      if (p.in === "header") continue; // EventSource sets Last-Event-ID itself
      const id = "param-" + p.name;
      const input = el("input", { id, name: p.name, "data-in": p.in, placeholder: p.in + (p.required ? ", required" : ""), required: p.required });
      if (remembered.has(p.name)) input.value = remembered.get(p.name);
      if (p.schema && p.schema.type === "boolean") input.placeholder = "true or false";
      input.addEventListener("input", () => { remembered.set(p.name, input.value); showURL(); });
      box.append(el("label", { for: id }, p.name, el("span", { class: "muted small" }, ` (${p.in})`)), input);
    }
    const hasBody = !!o.op.requestBody;
    $("console-body").hidden = !hasBody;
    $("console-body-label").hidden = !hasBody;
    if (hasBody && !$("console-body").value) $("console-body").value = "{}";
    $("console-send").textContent = stream ? "Open stream" : "Send";
    showURL();
  }

  function buildURL() {
    const o = current();
    let path = o.path;
    const query = new URLSearchParams();
    for (const input of $("console-params").querySelectorAll("input")) {
      const v = input.value.trim();
      if (input.dataset.in === "path") {
        path = path.replace("{" + input.name + "}", encodeURIComponent(v));
      } else if (input.dataset.in === "query" && v !== "") {
        query.append(input.name, v);
      }
    }
    const q = query.toString();
    return path + (q ? "?" + q : "");
  }

  function showURL() { $("console-url").textContent = buildURL(); }

  function setState(state) {
    $("console-state").dataset.state = state;
    $("console-state").textContent = state;
    $("console-close").disabled = !source;
  }

  function log(entry) {
    const list = $("console-log");
    list.append(entry);
    while (list.children.length > MAX_LOG) list.firstElementChild.remove();
    entry.scrollIntoView({ block: "nearest" });
  }

  const clock = () => new Date().toISOString().slice(11, 23);

  function pretty(data) {
    try { return JSON.stringify(JSON.parse(data), null, 2); } catch { return data; }
  }

  function note(msg, cls) { log(el("li", { class: "note " + (cls || "") }, el("span", { class: "time" }, clock()), " ", msg)); }

  function closeStream(why) {
    if (!source) return;
    source.close();
    source = null;
    setState("closed");
    if (why) note(why);
  }

  function openStream(url, op) {
    closeStream();
    eventCount = 0;
    $("console-count").textContent = "";
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    setState("connecting");
    note("GET " + url);
    const ok = resolve(op.responses["200"]);
    const kinds = eventKinds(ok.content["text/event-stream"]);
    const names = new Set(kinds.map((k) => k.name).filter(Boolean));
    names.add("message");
    // lastEventId carries over to events without an id line: show it only
    // for kinds of event that have ids of their own.
    const withID = new Set(kinds.filter((k) => k.id).map((k) => k.name));
    const onEvent = (e) => {
      if (es !== source) return;
      eventCount++;
      $("console-count").textContent = `${eventCount} events`;
      const id = withID.has(e.type) ? e.lastEventId : "";
      log(el("li", { class: "event ev-" + e.type, "data-event": e.type, "data-id": id },
        el("span", { class: "time" }, clock()),
        el("span", { class: "name" }, e.type),
        el("span", { class: "id" }, id ? "#" + id : ""),
        el("pre", { class: "data" }, pretty(e.data))));
      if (e.type === "end") closeStream("The stream ended (end event): closed, so EventSource does not reconnect.");
    };
    for (const name of names) if (name !== "error") es.addEventListener(name, onEvent);
    es.addEventListener("open", () => { if (es === source) setState("open"); });
    // "error" is both the gateway's final error event (a MessageEvent with
    // data) and EventSource's own connection error (no data).
    es.addEventListener("error", (e) => {
      if (es !== source) return;
      if (e.data !== undefined) {
        onEvent(e);
        closeStream("The stream failed (error event): closed.");
      } else if (es.readyState === EventSource.CLOSED) {
        source = null;
        setState("closed");
        note("Refused: an HTTP error (sign in? wrong parameter?) or 204 (the stream had already ended).", "bad");
      } else {
        setState("reconnecting");
        note("Connection lost; EventSource reconnects with Last-Event-ID " + (kinds.length ? "and resumes." : "."));
      }
    });
  }

  async function sendREST(o, url) {
    const init = { method: o.method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (o.op.requestBody) {
      init.headers["Content-Type"] = "application/json";
      init.body = $("console-body").value || "{}";
    }
    note(o.method + " " + url);
    let status = 0, body = "";
    try {
      const res = await fetch(url, init);
      status = res.status;
      body = await res.text();
    } catch (err) {
      note("Request failed: " + err, "bad");
      return;
    }
    log(el("li", { class: "response " + (status < 400 ? "good" : "bad"), "data-status": status },
      el("span", { class: "time" }, clock()), el("span", { class: "name" }, "HTTP " + status),
      el("pre", { class: "data" }, pretty(body))));
    try {
      const json = JSON.parse(body);
      // Remember ids the answer holds, for the next operation's parameters.
      for (const [k, v] of Object.entries(json || {})) if (typeof v === "string") remembered.set(k, v);
    } catch { /* not JSON */ }
    if (url.startsWith("/v1/sessions")) await refreshSession();
  }

  function setupConsole() {
    $("console-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const o = current();
      if (!o) return;
      const url = buildURL();
      if (isStream(o.op)) openStream(url, o.op); else sendREST(o, url);
    });
    $("console-close").addEventListener("click", () => closeStream("Closed by you."));
    $("console-clear").addEventListener("click", () => { $("console-log").replaceChildren(); eventCount = 0; $("console-count").textContent = ""; });
  }

  // Session.

  async function refreshSession() {
    let name = "";
    try {
      const res = await fetch("/v1/sessions/current", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.ok) name = ((await res.json()).principal || {}).username || "";
    } catch { /* signed out */ }
    $("session-state").dataset.username = name;
    $("session-state").textContent = name ? "Signed in as " + name : "Signed out";
    $("signin-form").hidden = !!name;
    $("signout").hidden = !name;
  }

  function setupSession() {
    $("signin-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const res = await fetch("/v1/sessions", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: $("signin-user").value, password: $("signin-pass").value }),
      });
      if (!res.ok) {
        const err = await res.json().catch(() => ({}));
        $("session-state").textContent = "Sign-in failed: " + (err.message || res.status);
        return;
      }
      $("signin-pass").value = "";
      await refreshSession();
    });
    $("signout").addEventListener("click", async () => {
      closeStream();
      await fetch("/v1/sessions/current", { method: "DELETE", credentials: "same-origin" });
      await refreshSession();
    });
  }

  async function main() {
    setupSession();
    setupConsole();
    try {
      const res = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("HTTP " + res.status);
      doc = await res.json();
      render();
    } catch (err) {
      $("load-error").hidden = false;
      $("load-error").textContent = "Could not load /openapi.json: " + err.message;
    }
    await refreshSession();
    document.documentElement.dataset.ready = "true";
  }

  main();
})();
