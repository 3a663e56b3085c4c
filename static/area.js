/* "Am I affected?": where the reader is relative to the incident's area, computed here, in
   the browser. The position never leaves the phone: nothing below sends it anywhere.

   The geometry is the same as broadcaster/core/geometry.py (tests/core/geometry_cases.json holds
   the cases both must answer alike; node loads this file through module.exports).
   The page gives the shape in <script type="application/json" id="area-data"> (no inline
   script: CSP). When live.js reloads the timeline (an edit of the area does that), it fires
   "timeline:reloaded" and the button is bound again to the fresh shape. */
(function (root, factory) {
  var area = factory();
  if (typeof module === "object" && module.exports) module.exports = area;
  else { root.IncidentArea = area; area.start(); }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";
  var EARTH_RADIUS_M = 6371008.8;
  var NEAR_M = 500;
  var RAD = Math.PI / 180;

  function distanceM(lat1, lon1, lat2, lon2) {
    var p1 = lat1 * RAD, p2 = lat2 * RAD;
    var dp = p2 - p1, dl = (lon2 - lon1) * RAD;
    var h = Math.pow(Math.sin(dp / 2), 2) + Math.cos(p1) * Math.cos(p2) * Math.pow(Math.sin(dl / 2), 2);
    return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
  }
  function inPolygon(points, lat, lon) {
    var inside = false;
    for (var i = 0, n = points.length; i < n; i++) {
      var a = points[i], b = points[(i - 1 + n) % n];
      if ((a[0] > lat) !== (b[0] > lat)) {
        var crossing = a[1] + (lat - a[0]) * (b[1] - a[1]) / (b[0] - a[0]);
        if (lon < crossing) inside = !inside;
      }
    }
    return inside;
  }
  function toPlane(origin, lat, lon) {
    var k = RAD * EARTH_RADIUS_M;
    return [(lon - origin[1]) * k * Math.cos(origin[0] * RAD), (lat - origin[0]) * k];
  }
  function segmentM(a, b) {
    var dx = b[0] - a[0], dy = b[1] - a[1];
    var length2 = dx * dx + dy * dy;
    var t = length2 === 0 ? 0 : Math.max(0, Math.min(1, -(a[0] * dx + a[1] * dy) / length2));
    return Math.hypot(a[0] + t * dx, a[1] + t * dy);
  }
  function distanceToPolygonM(points, lat, lon) {
    if (inPolygon(points, lat, lon)) return 0;
    var plane = points.map(function (p) { return toPlane([lat, lon], p[0], p[1]); });
    var best = Infinity;
    for (var i = 1; i < plane.length; i++) best = Math.min(best, segmentM(plane[i - 1], plane[i]));
    return best;
  }
  function distanceToShapeM(shape, lat, lon) {
    if (shape.type === "circle") {
      var d = distanceM(shape.center[0], shape.center[1], lat, lon);
      return Math.max(0, d - shape.radius_km * 1000);
    }
    return distanceToPolygonM(shape.points, lat, lon);
  }
  function classify(shape, lat, lon, nearM) {
    var distance = distanceToShapeM(shape, lat, lon);
    if (distance === 0) return "inside";
    return distance <= (nearM === undefined ? NEAR_M : nearM) ? "near" : "outside";
  }

  // --- the page: the button, the answer --------------------------------------------------
  function bind() {
    var data = document.getElementById("area-data");
    var button = document.getElementById("am-i-affected");
    var answer = document.getElementById("area-answer");
    var box = document.getElementById("affected");
    if (!data || !button || !answer || !box || button.dataset.bound) return;
    var config;
    try { config = JSON.parse(data.textContent); } catch (e) { return; }
    var T = config.t;
    button.dataset.bound = "1";
    box.hidden = false;
    if (!("geolocation" in navigator)) {
      button.disabled = true;
      answer.textContent = T.unsupported;
      return;
    }
    button.addEventListener("click", function () {
      answer.className = "area-answer";
      answer.textContent = T.locating;
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          button.disabled = false;
          var where = classify(config.shape, position.coords.latitude, position.coords.longitude);
          answer.className = "area-answer " + where;
          answer.textContent = T[where];
        },
        function (error) {
          button.disabled = false;
          answer.className = "area-answer unknown";
          answer.textContent = error && error.code === 1 ? T.denied : T.failed;
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 }
      );
    });
  }
  function start() {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind);
    else bind();
    document.addEventListener("timeline:reloaded", bind);
  }

  return {
    NEAR_M: NEAR_M,
    distanceM: distanceM,
    inPolygon: inPolygon,
    distanceToShapeM: distanceToShapeM,
    classify: classify,
    start: start
  };
});
