/* "Notify me" (templates/_follow.html): Web Push on this device. Without this file the e-mail
   form still works. Permission is asked only once the reader presses the button; a position
   from "where I am" is used here to fill the coordinates, and leaves only as the circle chosen. */
(function () {
  "use strict";
  var box = document.getElementById("follow-box"), form = document.getElementById("follow-form");
  var cfg = document.getElementById("follow-config");
  if (!box || !form || !cfg || !window.fetch) return;
  cfg = JSON.parse(cfg.textContent);
  var out = document.getElementById("follow-result"), t = cfg.t, reg = null;
  var push = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  function $(name) { return form.elements[name]; }
  function show(sel) { form.querySelectorAll(sel).forEach(function (el) { el.hidden = false; }); }
  function say(text, link) {
    out.textContent = text;
    if (link) { var a = document.createElement("a"); a.href = link; a.textContent = t.manage; out.append(" ", a); }
  }
  function fit() {
    document.getElementById("follow-area").hidden = $("what").value !== "area";
    $("email").required = $("channel").value === "email";
  }
  function opened() {
    if (!box.open || reg !== null) return;
    fit();
    reg = false;
    show(".js-only:not(.push-only)");
    if (!push) return;
    show(".push-only");
    $("channel").value = "webpush";
    fit();
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (r) { reg = r; }, function () { reg = false; });
  }
  function center() {
    var s = cfg.shape;
    if ($("place").value === "incident" && s) {
      if (s.type === "circle") return s.center;
      var la = s.points.map(function (p) { return p[0]; }), lo = s.points.map(function (p) { return p[1]; });
      return [(Math.min.apply(null, la) + Math.max.apply(null, la)) / 2, (Math.min.apply(null, lo) + Math.max.apply(null, lo)) / 2];
    }
    return [Number($("lat").value), Number($("lon").value)];
  }
  function locate() {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(); return; }
      say(t.locating);
      navigator.geolocation.getCurrentPosition(function (p) {
        $("lat").value = p.coords.latitude.toFixed(5);
        $("lon").value = p.coords.longitude.toFixed(5);
        say(""); resolve();
      }, reject, { timeout: 15000, maximumAge: 300000 });
    });
  }
  function subscribe() {
    if (!reg) return Promise.reject(new Error("no service worker"));
    return Promise.all([
      fetch("/api/push/key").then(function (r) { return r.json(); }),
      reg.pushManager.getSubscription()
    ]).then(function (got) {
      if (got[1]) return got[1];
      var key = got[0].public_key.replace(/-/g, "+").replace(/_/g, "/");
      key = Uint8Array.from(atob(key + "===".slice((key.length + 3) % 4)), function (c) { return c.charCodeAt(0); });
      return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    });
  }
  function send() {
    var area = $("what").value === "area";
    say(t.asking);
    return Notification.requestPermission().then(function (answer) {
      if (answer !== "granted") { say(t.denied); return null; }
      return subscribe().then(function (sub) {
        var body = {
          channel: "webpush", incident: area ? null : cfg.incident, level: $("level").value, lang: cfg.lang,
          drills: $("drills").checked, push: sub.toJSON(),
          area: area ? { type: "circle", center: center(), radius_km: Number($("radius_km").value) } : null
        };
        return fetch("/api/subscriptions", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
        });
      }).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : t.failed);
          say(t.done, data.manage_url);
        });
      });
    }).catch(function (e) { say(t.failed + (e && e.message ? " (" + e.message + ")" : "")); });
  }
  box.addEventListener("toggle", opened);
  opened();
  form.addEventListener("change", function (e) {
    if (e.target.name === "place" && e.target.value === "here") locate().catch(function () { say(t.no_place); });
    fit();
  });
  form.addEventListener("submit", function (e) {
    var here = $("what").value === "area" && $("place").value === "here" && !$("lat").value;
    if ($("channel").value !== "webpush" && !here) return;
    e.preventDefault();
    (here ? locate() : Promise.resolve()).then(function () {
      if ($("channel").value === "webpush") return send();
      form.submit();
    }, function () { say(t.no_place); });
  });
})();
