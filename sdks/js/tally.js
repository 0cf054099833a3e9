/*! Tally browser SDK — zero dependencies. https://github.com/tally (AGPL-3.0-only)
 *
 * <script src="https://TALLY/sdk.js" data-key="tly_ing_…" defer></script>
 * or: tally.init({ key: "tly_ing_…", host: "https://TALLY" })
 *
 * Guarantees (shared with Tally's other SDKs, docs/SDKS.md): capture never
 * throws; each event gets its uuid when captured, so a re-sent batch is stored
 * once; events wait in localStorage (capped) until Tally acknowledges them, so
 * they survive offline periods and reloads; form field values are never read.
 */
(function (w, d) {
  "use strict";
  if (w.tally && w.tally.__tally) return;
  var ls = store(w.localStorage), ss = store(w.sessionStorage);
  var P = "tally_", SESSION_MS = 30 * 60 * 1000;
  var cfg = null, queue = [], timer = 0, sending = null, backoff = 0, retryAt = 0, lastUrl = "";

  function store(s) {
    return {
      get: function (k) { try { return JSON.parse(s.getItem(k)); } catch (e) { return null; } },
      set: function (k, v) { try { s.setItem(k, JSON.stringify(v)); } catch (e) { /* full or blocked */ } },
      del: function (k) { try { s.removeItem(k); } catch (e) { /* blocked */ } }
    };
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var b = new Uint8Array(16); w.crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function assign(t) {
    for (var i = 1; i < arguments.length; i++) for (var k in arguments[i] || {}) t[k] = arguments[i][k];
    return t;
  }
  function distinctId() {
    var id = ls.get(P + "id");
    if (!id) { id = uuid(); ls.set(P + "id", id); }
    return id;
  }
  function sessionId() {
    var s = ss.get(P + "session"), now = Date.now();
    if (!s || now - s.last > SESSION_MS) s = { id: uuid(), last: now };
    s.last = now; ss.set(P + "session", s);
    return s.id;
  }
  function blocked() {
    return !cfg || ls.get(P + "opt_out") || (cfg.respectDnt && (navigator.doNotTrack == "1" || w.doNotTrack == "1"));
  }

  function capture(event, props) {
    try {
      if (blocked()) return false;
      var l = w.location;
      queue.push({
        event: String(event), distinct_id: distinctId(), uuid: uuid(), timestamp: new Date().toISOString(),
        properties: assign({
          $current_url: l.href, $pathname: l.pathname, $host: l.host, $referrer: d.referrer,
          $raw_user_agent: navigator.userAgent, $screen_width: w.screen && w.screen.width,
          $session_id: sessionId(), $lib: "tally-js", $lib_version: "0.1.0"
        }, ls.get(P + "props"), props)
      });
      if (queue.length > cfg.maxQueue) queue.splice(0, queue.length - cfg.maxQueue);
      save();
      if (queue.length >= cfg.batchSize) send(); else schedule(cfg.flushInterval);
      return true;
    } catch (e) { return false; }
  }
  function save() { ls.set(P + "queue", queue); }
  function schedule(ms) {
    if (!timer) timer = setTimeout(function () { timer = 0; send(); }, Math.max(ms, retryAt - Date.now(), 0));
  }
  function body(batch) {
    // text/plain and the key in the body: a "simple" request, no CORS preflight.
    return JSON.stringify({ api_key: cfg.key, sent_at: new Date().toISOString(), batch: batch });
  }
  // One request of up to 100 queued events; resolves true once they are
  // acknowledged (or refused as invalid), false when it failed (retried after a
  // back-off). What is left waits for the next interval, so events captured
  // during a send are batched, not sent one request each.
  function send() {
    if (sending) return sending;
    if (!cfg || !queue.length) return Promise.resolve(true);
    if (navigator.onLine === false || Date.now() < retryAt) { schedule(1000); return Promise.resolve(false); }
    // This request takes what a pending interval would have sent; what is
    // captured meanwhile waits a whole interval after it (rescheduled below).
    if (timer) { clearTimeout(timer); timer = 0; }
    var batch = queue.slice(0, 100), b = body(batch);
    sending = fetch(cfg.host + "/api/v1/capture", {
      // keepalive (delivery even if the page goes) is limited to 64 KB bodies.
      method: "POST", body: b, keepalive: b.length < 60000, credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" }
    }).then(function (r) {
      if (r.status == 429 || r.status >= 500) throw r;
      // Sent (or refused as invalid, which a retry would not change).
      drop(batch); backoff = 0; retryAt = 0;
      return true;
    }).catch(function (r) {
      backoff = Math.min(backoff ? backoff * 2 : 1000, 60000);
      var after = r && r.headers && parseFloat(r.headers.get("Retry-After"));
      retryAt = Date.now() + Math.max(backoff, after > 0 ? after * 1000 : 0);
      return false;
    }).then(function (sent) {
      sending = null;
      if (queue.length) schedule(retryAt ? 0 : cfg.flushInterval);
      return sent;
    });
    return sending;
  }
  // Sends everything queued now; resolves once all of it is acknowledged, or
  // when a send fails (the rest is retried later). Called while a send is under
  // way, it waits for that one first: a page that awaits flush() before it goes
  // loses nothing still queued.
  function flush() {
    if (sending) return sending.then(flush);
    return send().then(function (sent) { if (sent && queue.length) return flush(); });
  }
  function drop(batch) {
    var sent = {};
    batch.forEach(function (e) { sent[e.uuid] = 1; });
    queue = queue.filter(function (e) { return !sent[e.uuid]; });
    save();
  }
  function unload() {
    // The page is going: hand what is queued to the browser, which sends it after
    // the page is gone. Kept in the queue too: a re-send is stored once.
    if (!cfg || !queue.length || !navigator.sendBeacon || navigator.onLine === false) return;
    try { navigator.sendBeacon(cfg.host + "/api/v1/capture", new Blob([body(queue.slice(0, 100))], { type: "text/plain;charset=UTF-8" })); } catch (e) { /* best effort */ }
  }

  function pageview() {
    if (w.location.href === lastUrl) return;
    lastUrl = w.location.href;
    capture("$pageview");
  }
  function selector(el) {
    var parts = [];
    for (; el && el.nodeType === 1 && parts.length < 5; el = el.parentElement) {
      var p = el.tagName.toLowerCase();
      if (el.id) { parts.unshift(p + "#" + el.id); break; }
      if (el.classList && el.classList.length) p += "." + Array.prototype.slice.call(el.classList, 0, 2).join(".");
      parts.unshift(p);
    }
    return parts.join(" > ");
  }
  function onClick(e) {
    var el = e.target && e.target.closest && e.target.closest("a,button,[role=button],input[type=submit],input[type=button]");
    if (!el) return;
    capture("$autocapture", {
      $event_type: "click", $el_tag: el.tagName.toLowerCase(),
      $el_text: (el.innerText || el.value || "").trim().slice(0, 255) || undefined,
      $el_selector: selector(el), $el_href: el.href || undefined
    });
  }
  function onSubmit(e) {
    var f = e.target;
    // The form's identity only, never what was typed into it.
    capture("$autocapture", {
      $event_type: "submit", $el_tag: "form", $el_selector: selector(f),
      $form_id: f.id || undefined, $form_name: f.getAttribute("name") || undefined, $form_action: f.action || undefined
    });
  }
  function patchHistory() {
    ["pushState", "replaceState"].forEach(function (m) {
      var orig = history[m];
      history[m] = function () { var r = orig.apply(this, arguments); setTimeout(pageview, 0); return r; };
    });
    w.addEventListener("popstate", function () { setTimeout(pageview, 0); });
  }

  function init(o) {
    if (cfg) return tally;
    o = o || {};
    var auto = assign({ pageviews: true, clicks: true, forms: true }, o.autocapture === false ? { pageviews: false, clicks: false, forms: false } : o.autocapture);
    cfg = {
      key: o.key, host: String(o.host || "").replace(/\/$/, ""), respectDnt: !!o.respectDnt,
      batchSize: o.batchSize || 10, flushInterval: o.flushInterval || 2000, maxQueue: o.maxQueue || 1000
    };
    if (!cfg.key) { cfg = null; return tally; }
    queue = (ls.get(P + "queue") || []).slice(-cfg.maxQueue);
    w.addEventListener("online", function () { retryAt = 0; send(); });
    w.addEventListener("pagehide", unload);
    d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") unload(); });
    if (auto.clicks) d.addEventListener("click", onClick, true);
    if (auto.forms) d.addEventListener("submit", onSubmit, true);
    if (auto.pageviews) { patchHistory(); pageview(); }
    if (queue.length) schedule(0);
    return tally;
  }

  var tally = {
    __tally: true,
    init: init,
    capture: capture,
    flush: flush,
    identify: function (id, traits) {
      var anon = distinctId(); id = String(id);
      if (id !== anon) ls.set(P + "id", id);
      return capture("$identify", { $anon_distinct_id: anon !== id ? anon : undefined, $set: traits || {} });
    },
    alias: function (previous) { return capture("$create_alias", { alias: String(previous) }); },
    register: function (props) { ls.set(P + "props", assign(ls.get(P + "props") || {}, props)); },
    reset: function () { ls.del(P + "id"); ls.del(P + "props"); ss.del(P + "session"); },
    optOut: function () { ls.set(P + "opt_out", true); queue = []; save(); },
    optIn: function () { ls.del(P + "opt_out"); },
    get distinctId() { return distinctId(); },
    get queued() { return queue.length; }
  };
  w.tally = tally;

  var s = d.currentScript;
  var src = s && s.getAttribute("src");
  if (s && s.getAttribute("data-key")) {
    init({
      key: s.getAttribute("data-key"),
      host: s.getAttribute("data-host") || (src ? new URL(src, w.location.href).origin : ""),
      respectDnt: s.getAttribute("data-respect-dnt") === "true",
      autocapture: s.getAttribute("data-autocapture") === "false" ? false : undefined
    });
  }
})(window, document);
