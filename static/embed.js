/* For pages that embed a timeline: sizes each timeline iframe to its content.
   <iframe src="https://HOST/incidents/ID/embed"></iframe><script async src="https://HOST/static/embed.js"></script> */
(function () {
  "use strict";
  var origin = new URL(document.currentScript ? document.currentScript.src : location.href).origin;
  window.addEventListener("message", function (e) {
    var d = e.data;
    if (e.origin !== origin || !d || d.type !== "incidents:embed-height" || typeof d.height !== "number") return;
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === e.source) frames[i].style.height = Math.min(Math.max(d.height, 120), 20000) + "px";
    }
  });
})();
