/* Keeps a server-rendered timeline current: WebSocket, else Server-Sent Events, else
   polling; resumes from the last seq it holds; applies every event in place; reloads the
   page's snapshot on a reset or a gap. No framework, no build step, no third party. */
(function () {
  "use strict";
  var configEl = document.getElementById("live-config");
  if (!configEl || !window.JSON || !document.querySelector) return;
  var cfg = JSON.parse(configEl.textContent);
  var T = cfg.t;
  var seq = cfg.seq;
  var api = "/api/incidents/" + encodeURIComponent(cfg.incident);
  var embedded = document.body.classList.contains("embed");
  var baseTitle = document.title;
  var unread = 0;
  var transport = window.WebSocket ? "ws" : window.EventSource ? "sse" : "poll";
  var failures = 0;
  var refusals = 0; // the server answered HTTP but this transport did not open
  var timer = null;
  var link = null; // the open WebSocket or EventSource (or a poll marker)
  var stopped = false;

  function $(id) { return document.getElementById(id); }

  // --- times: the incident's zone, the reader's language -------------------------
  function fmt(options) {
    try { return new Intl.DateTimeFormat(cfg.lang, Object.assign({ timeZone: cfg.zone }, options)); }
    catch (e) { return new Intl.DateTimeFormat(cfg.lang, options); }
  }
  var hhmm = fmt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var day = fmt({ month: "short", day: "numeric" });
  var full = fmt({ dateStyle: "long", timeStyle: "short" });
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(cfg.lang, { numeric: "auto" }) : null;

  var year = fmt({ year: "numeric" });
  function clock(iso) {
    var d = new Date(iso), now = new Date();
    if (year.format(d) !== year.format(now)) return full.format(d);
    return day.format(d) === day.format(now) ? hhmm.format(d) : day.format(d) + " " + hhmm.format(d);
  }
  function ago(iso) {
    var s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (!relative || s < 45) return T.just_now;
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (s >= units[i][1] * 0.9 || i === units.length - 1) return relative.format(-Math.round(s / units[i][1]), units[i][0]);
    }
  }
  function setTime(el, iso) {
    if (!el) return;
    el.setAttribute("datetime", iso);
    el.textContent = clock(iso);
    el.title = full.format(new Date(iso));
  }
  function refreshAges() {
    var all = document.querySelectorAll("[data-ago]");
    for (var i = 0; i < all.length; i++) {
      var iso = all[i].getAttribute("data-ago");
      if (iso) all[i].textContent = ago(iso);
    }
  }

  // --- what readers are told --------------------------------------------------------
  function setConn(state) {
    var el = $("conn");
    if (!el) return;
    el.hidden = false;
    el.className = "conn" + (state === "live" ? "" : " bad");
    el.textContent = { live: T.connected, polling: T.polling, connecting: T.connecting, reconnecting: T.reconnecting, offline: T.offline }[state];
  }
  function announce(text) {
    var el = $("announcer");
    if (el) el.textContent = text;
  }
  function textOf(html) {
    return new DOMParser().parseFromString(html, "text/html").body.textContent.replace(/\s+/g, " ").trim();
  }
  function countUnread() {
    if (!document.hidden) return;
    unread += 1;
    document.title = "(" + unread + " " + T.unread + ") " + baseTitle;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unread = 0; document.title = baseTitle; }
  });

  // --- events, applied in place -------------------------------------------------------
  function clone(id) { return $(id).content.firstElementChild.cloneNode(true); }
  function article(id) { return $("u-" + id); }
  function setNext(iso) {
    var el = $("next-update");
    if (!el) return;
    el.hidden = !iso;
    if (iso) setTime(el.querySelector("time"), iso);
  }
  // The operator's own translation of an update, when there is one in the reader's language.
  function shown(d) {
    var t = d.translations || {}, want = cfg.lang.split("-")[0].toLowerCase();
    for (var tag in t) if (tag.split("-")[0].toLowerCase() === want) return { html: t[tag].html, lang: tag };
    return { html: d.html, lang: ($("title") || document.documentElement).lang };
  }
  function posted(d, ev, answer) {
    var list = $("updates");
    if (cfg.archive || !list || article(d.id)) return;
    var node = clone("tpl-update");
    node.id = "u-" + d.id;
    node.setAttribute("data-id", d.id);
    setTime(node.querySelector(".at"), d.published_at);
    var age = node.querySelector(".ago");
    age.setAttribute("data-ago", d.published_at);
    age.textContent = ago(d.published_at);
    var text = shown(d);
    if (answer) { // a reader's question answered in public: the question first (as text, never markup)
      node.querySelector(".question").hidden = false;
      node.querySelector(".question .q-text").textContent = d.question;
      node.querySelector(".answer-label").hidden = false;
    }
    node.querySelector(".body").innerHTML = text.html; // sanitised by the server (nh3)
    node.querySelector(".body").lang = text.lang;
    var gallery = node.querySelector(".photos");
    (d.photos || []).forEach(function (p, i) {
      var a = document.createElement("a"), img = document.createElement("img");
      var scale = 240 / Math.max(p.width, p.height);
      a.href = p.url;
      img.src = p.thumb_url;
      img.alt = T.photo.replace("%(n)s", i + 1);
      img.width = Math.round(p.width * scale);
      img.height = Math.round(p.height * scale);
      img.loading = "lazy";
      a.appendChild(img);
      gallery.appendChild(a);
    });
    gallery.hidden = !(d.photos && d.photos.length);
    var promise = node.querySelector(".promise");
    promise.hidden = !d.next_update_at;
    if (d.next_update_at) setTime(promise.querySelector("time"), d.next_update_at);
    node.classList.add("fresh");
    setTimeout(function () { node.classList.remove("fresh"); }, 4000);
    list.insertBefore(node, list.firstChild);
    if (embedded && list.children.length > 20) list.removeChild(list.lastElementChild);
    $("no-updates").hidden = true;
    if (!answer) setNext(d.next_update_at); // an answer promises nothing and keeps the promise standing
    announce(answer ? T.asked + " " + d.question + " " + T.answer + " " + textOf(text.html)
      : T.new_update + " " + textOf(text.html));
    countUnread();
  }
  function corrected(d, ev) {
    var node = article(d.id);
    if (!node) return;
    var body = node.querySelector(".body");
    var rev = clone("tpl-revision");
    setTime(rev.querySelector("time"), ev.at);
    rev.querySelector(".reason").textContent = d.reason;
    rev.querySelector(".old").innerHTML = body.innerHTML;
    var revisions = node.querySelector(".revisions");
    revisions.insertBefore(rev, revisions.firstChild);
    var text = shown(d);
    body.innerHTML = text.html;
    body.lang = text.lang;
    node.classList.add("corrected");
    node.querySelector(".badge.corrected").hidden = false;
    if ($("pinned") && !$("pinned").hidden && node.querySelector(".badge.pin:not([hidden])")) {
      $("pinned").querySelector(".pinned-body").innerHTML = text.html;
    }
    announce(T.corrected + ": " + textOf(text.html));
  }
  function retracted(d) {
    var node = article(d.id);
    if (!node) return;
    node.classList.add("retracted");
    node.querySelector(".photos").hidden = true;
    node.querySelector(".badge.withdrawn").hidden = false;
    var note = node.querySelector(".withdrawn-note");
    note.hidden = false;
    note.querySelector(".reason").textContent = d.reason;
    if (node.querySelector(".badge.pin:not([hidden])")) unpinned();
    announce(T.withdrawn + ": " + d.reason);
  }
  function pinned(d) {
    var node = article(d.id);
    var box = $("pinned");
    unpinned();
    if (!node) return box ? reload() : undefined; // not on this page: fetch it
    node.querySelector(".badge.pin").hidden = false;
    if (box) {
      box.querySelector(".pinned-body").innerHTML = node.querySelector(".body").innerHTML;
      box.hidden = false;
    }
  }
  function unpinned() {
    var shown = document.querySelectorAll(".badge.pin:not([hidden])");
    for (var i = 0; i < shown.length; i++) shown[i].hidden = true;
    if ($("pinned")) $("pinned").hidden = true;
  }
  function facts(d) {
    var box = $("facts");
    if (!box) return;
    var dl = box.querySelector("dl");
    dl.textContent = "";
    var known = d.facts.filter(function (f) { return f.value; });  // empty: a label not filled in yet
    known.forEach(function (f) {
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = f.label;
      dd.textContent = f.value;
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    box.hidden = known.length === 0;
  }
  function edited(d) {
    var title = $("title");
    if ("title" in d && title) {
      (title.querySelector("a") || title).textContent = d.title;
      baseTitle = baseTitle.replace(/^.*?( · [^·]*)$/, d.title + "$1");
      document.title = baseTitle;
    }
    if ("summary" in d && $("summary")) { $("summary").textContent = d.summary; $("summary").hidden = !d.summary; }
    if ("area" in d && $("area")) { $("area").textContent = d.area; $("area").hidden = !d.area; }
    if ("instruction" in d && $("instruction")) {
      $("instruction").querySelector("p").textContent = d.instruction;
      $("instruction").hidden = !d.instruction || !!($("state") && $("state").classList.contains("resolved"));
      if (d.instruction) announce(T.what_to_do + ": " + d.instruction);
    }
    if ("expected_restoration" in d && $("restoration")) reload(); // the page words revisions in full
    if ("area_shape" in d && !document.body.classList.contains("embed")) reload(); // the map is drawn on the server; area.js rebinds on the reload
  }
  function state(live, d, ev) {
    var el = $("state");
    if (el) { el.textContent = live ? T.live : T.resolved; el.className = "state " + (live ? "live" : "resolved"); }
    var note = $("resolution");
    if (note) {
      note.hidden = live;
      if (!live) {
        setTime(note.querySelector("time"), ev.at);
        var reason = note.querySelector(".reason");
        reason.hidden = !d.reason;
        reason.textContent = d.reason ? ": " + d.reason : "";
      }
    }
    if (!live) setNext(null);
    var back = $("restoration");
    if (back) back.hidden = !live || !back.querySelector("time").getAttribute("datetime");
    var todo = $("instruction"); // advice for while it lasts
    if (todo) todo.hidden = !live || !todo.querySelector("p").textContent;
    announce(live ? T.live : T.resolved + (d.reason ? ": " + d.reason : ""));
  }
  var handlers = {
    "update.posted": posted,
    "question.answered": function (d, ev) { posted(d, ev, true); },
    "update.corrected": corrected,
    "update.retracted": retracted,
    "update.pinned": pinned,
    "update.unpinned": unpinned,
    "facts.changed": facts,
    "incident.edited": edited,
    "incident.resolved": function (d, ev) { state(false, d, ev); },
    "incident.reopened": function (d, ev) { state(true, d, ev); }
  };

  function apply(ev) {
    if (ev.type === "reset") return reload();
    if (ev.seq <= seq) return; // already held: a resumed stream may repeat
    if (ev.seq !== seq + 1) return reload(); // a gap: never show a timeline with a hole
    seq = ev.seq;
    var handle = handlers[ev.type];
    if (handle) handle(ev.data, ev);
    reportHeight();
  }

  // --- the snapshot, fetched again on a reset or a gap ----------------------------------
  var reloading = false;
  function reload() {
    if (reloading) return;
    reloading = true;
    disconnect();
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live-config");
        // Scripts parsed by DOMParser stay inert when imported: live.js does not run twice.
        $("main").replaceWith(document.importNode(doc.getElementById("main"), true));
        seq = JSON.parse(fresh.textContent).seq;
        reloading = false;
        failures = 0;
        announce(T.reloaded);
        document.dispatchEvent(new CustomEvent("timeline:reloaded")); // area.js, map.js bind again
        reportHeight();
        connect();
      })
      .catch(function () { reloading = false; retryLater(); });
  }

  // --- transports ----------------------------------------------------------------------
  function backoff() {
    return Math.min(30000, 500 * Math.pow(2, Math.min(failures, 6))) * (0.5 + Math.random());
  }
  function disconnect() {
    clearTimeout(timer);
    if (link && link.close) { var old = link; link = null; old.close(); }
    link = null;
  }
  function retryLater() {
    failures += 1;
    setConn(navigator.onLine === false ? "offline" : "reconnecting");
    clearTimeout(timer);
    timer = setTimeout(connect, backoff());
  }
  // A transport that did not open: if plain HTTP still works, catch up through it and
  // count a refusal (after two, the transport is taken to be blocked: fall back).
  function failedToOpen(next) {
    fetch(api + "/events?since=" + seq + "&limit=1000", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) {
        if (body.reset) return reload();
        body.events.forEach(apply);
        refusals += 1;
        if (refusals >= 2) { transport = next; refusals = 0; failures = 0; }
        retryLater();
      })
      .catch(retryLater);
  }
  function connect() {
    disconnect();
    if (stopped || cfg.archive) return;
    setConn(failures ? "reconnecting" : "connecting");
    if (transport === "ws") openSocket();
    else if (transport === "sse") openStream();
    else poll();
  }
  function openSocket() {
    var opened = false;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + api + "/live?since=" + seq);
    link = ws;
    ws.onopen = function () { opened = true; failures = 0; refusals = 0; setConn("live"); };
    ws.onmessage = function (m) { apply(JSON.parse(m.data)); };
    ws.onclose = function (e) {
      if (link !== ws) return; // closed on purpose
      link = null;
      if (e.code === 4404) { stopped = true; return setConn("offline"); }
      if (!opened) failedToOpen(window.EventSource ? "sse" : "poll");
      else retryLater();
    };
  }
  function openStream() {
    var opened = false;
    var es = new EventSource(api + "/stream?since=" + seq);
    link = es;
    es.onopen = function () { opened = true; failures = 0; refusals = 0; setConn("live"); };
    es.onmessage = function (m) { apply(JSON.parse(m.data)); };
    es.onerror = function () {
      es.close(); // we resume ourselves, from the seq we hold
      if (link !== es) return;
      link = null;
      if (!opened) failedToOpen("poll");
      else retryLater();
    };
  }
  function poll() {
    var marker = { close: function () { marker.closed = true; } };
    link = marker;
    fetch(api + "/events?since=" + seq + "&limit=1000", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) {
        if (marker.closed) return;
        if (body.reset) return reload();
        failures = 0;
        setConn("polling");
        body.events.forEach(apply);
        timer = setTimeout(poll, 5000);
      })
      .catch(function () { if (!marker.closed) retryLater(); });
  }
  window.addEventListener("online", function () { failures = 0; connect(); });
  window.addEventListener("offline", function () { setConn("offline"); });

  // --- the embed tells its parent page how tall it is --------------------------------
  function reportHeight() {
    if (!embedded || window.parent === window) return;
    window.parent.postMessage({ type: "incidents:embed-height", incident: cfg.incident, height: document.documentElement.scrollHeight }, "*");
  }
  if (embedded) {
    window.addEventListener("load", reportHeight);
    window.addEventListener("resize", reportHeight);
    if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(document.body);
  }

  // --- the embed code's copy button ----------------------------------------------------
  var copy = $("copy-embed");
  if (copy) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var code = $("embed-code");
      var done = function () { copy.textContent = T.copied; };
      if (navigator.clipboard) navigator.clipboard.writeText(code.value).then(done, function () { code.select(); });
      else { code.select(); document.execCommand("copy"); done(); }
    });
  }

  setInterval(refreshAges, 30000);
  refreshAges();
  reportHeight();
  connect();
})();
