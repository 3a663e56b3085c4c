/* The console's small conveniences; every form works without them. */
(function () {
  "use strict";
  // A form sends once: the button is disabled on submit (the server also ignores a
  // repeat, by the form's nonce used as Idempotency-Key).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
  // Ctrl+Enter (or Cmd+Enter) sends.
  document.querySelectorAll("form[data-ctrl-enter] textarea").forEach(function (area) {
    area.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        if (area.form.requestSubmit) area.form.requestSubmit(); else area.form.submit();
      }
    });
  });
  // Live preview, rendered by the server exactly as citizens will see it.
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    var target = document.getElementById(area.getAttribute("data-preview"));
    var timer = null, asked = 0;
    function show() {
      var mine = ++asked;
      if (!area.value.trim()) { target.hidden = true; return; }
      fetch("/console/preview", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ body: area.value })
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (answer) {
        if (!answer || mine !== asked) return;
        target.innerHTML = answer.html; // sanitised by the server
        target.hidden = false;
      });
    }
    area.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(show, 250); });
    show();
  });
  // Choosing a promised time selects "at".
  document.querySelectorAll("input[name=promise_at]").forEach(function (input) {
    input.addEventListener("input", function () {
      var at = input.form.querySelector("input[name=promise][value=at]");
      if (at) at.checked = true;
    });
  });
})();
