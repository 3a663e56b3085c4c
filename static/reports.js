/* Citizens' reports: a report's page follows its status live, and a form sends once.
   Without this file every page is complete; it only saves a reload. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });

  var box = document.getElementById("report-status");
  if (!box || !window.fetch || !window.JSON) return;
  var code = box.getAttribute("data-code");
  var lang = box.getAttribute("data-lang");
  var version = Number(box.getAttribute("data-version"));
  var strings = JSON.parse(document.getElementById("report-strings").textContent);
  var busy = false, again = false;

  function announce() {
    var el = document.getElementById("announcer"), now = box.querySelector(".status-now");
    if (el && now) el.textContent = strings.updated + " " + now.textContent;
  }
  // The server renders the changing part (same template as the page, same language).
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/reports/" + encodeURIComponent(code) + "/status?lang=" + encodeURIComponent(lang), { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 404) { location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) { box.innerHTML = html; announce(); }
      })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  function seen(view) {
    if (view.gone) { location.reload(); return; }
    if (view.version > version) { version = view.version; refresh(); }
  }
  if (window.EventSource) {
    var source = new EventSource("/api/reports/" + encodeURIComponent(code) + "/stream");
    source.onmessage = function (e) { seen(JSON.parse(e.data)); };
  } else {
    setInterval(function () {
      fetch("/api/reports/" + encodeURIComponent(code)).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (view) { if (view) seen(view); }).catch(function () {});
    }, 30000);
  }
})();
