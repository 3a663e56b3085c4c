/* The console's area drawing: a circle (tap the centre, then the edge) or a polygon (tap the
   corners) on a Leaflet map, written into the text field #area_shape in the CAP text form the
   server reads ("lat,lon radius_km" or "lat,lon lat,lon ..."). Without JavaScript the text field is
   the whole interface; with it, the field stays and always shows what is drawn, and a value typed
   into it is drawn. Tiles from INCIDENTS_MAP_TILES when set; otherwise a plain grid with a scale,
   so that drawing works offline. Configuration: <script type="application/json" id="area-draw-data">. */
(function () {
  "use strict";
  var MAX_RADIUS_KM = 1000;
  var STYLE = { color: "#b3261e", weight: 2, fillOpacity: 0.2 };

  function round(value, digits) {
    var f = Math.pow(10, digits);
    return Math.round(value * f) / f;
  }
  function pair(latlng) {
    return round(latlng.lat, 6) + "," + round(L.Util.wrapNum(latlng.lng, [-180, 180], true), 6);
  }

  /* "lat,lon r" -> circle; "lat,lon lat,lon ..." (3+ corners, closing one optional) -> polygon. */
  function parse(text) {
    var parts = text.trim().split(/\s+/).filter(Boolean);
    if (!parts.length) return null;
    var points = [];
    var radius = null;
    for (var i = 0; i < parts.length; i++) {
      var m = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(parts[i]);
      if (m) points.push([parseFloat(m[1]), parseFloat(m[2])]);
      else if (i === 1 && parts.length === 2 && /^\d+(?:\.\d+)?$/.test(parts[i])) radius = parseFloat(parts[i]);
      else return null;
    }
    for (var j = 0; j < points.length; j++) {
      if (Math.abs(points[j][0]) > 90 || Math.abs(points[j][1]) > 180) return null;
    }
    if (radius !== null) return radius > 0 ? { type: "circle", center: points[0], radius_km: radius } : null;
    var last = points[points.length - 1];
    if (points.length > 1 && last[0] === points[0][0] && last[1] === points[0][1]) points.pop();
    return points.length >= 3 ? { type: "polygon", points: points } : null;
  }

  function gridLayer() {
    var Grid = L.GridLayer.extend({
      createTile: function () {
        var tile = document.createElement("canvas");
        var size = this.getTileSize();
        tile.width = size.x;
        tile.height = size.y;
        var ctx = tile.getContext("2d");
        ctx.fillStyle = "#f5f3ee";
        ctx.fillRect(0, 0, size.x, size.y);
        ctx.strokeStyle = "#d6d2c8";
        ctx.lineWidth = 1;
        for (var k = 0; k < size.x; k += size.x / 4) {
          ctx.beginPath(); ctx.moveTo(k + 0.5, 0); ctx.lineTo(k + 0.5, size.y); ctx.stroke();
          ctx.beginPath(); ctx.moveTo(0, k + 0.5); ctx.lineTo(size.x, k + 0.5); ctx.stroke();
        }
        return tile;
      }
    });
    return new Grid({ maxZoom: 19 });
  }

  function start() {
    var box = document.getElementById("area-draw");
    var data = document.getElementById("area-draw-data");
    var field = document.getElementById("area_shape");
    if (!box || !data || !field || !window.L || box.leafletMap) return;
    var config = JSON.parse(data.textContent);
    var t = config.t;
    var hint = document.getElementById("area-draw-hint");
    var modes = box.querySelectorAll("[data-mode]");
    var undo = box.querySelector("[data-act=undo]");
    box.hidden = false;

    var map = L.map(box.querySelector(".area-draw-map"), { zoomControl: false, scrollWheelZoom: false });
    box.leafletMap = map; // for the tests, which turn pixels into coordinates with it
    L.control.zoom({ zoomInTitle: t.zoom_in, zoomOutTitle: t.zoom_out }).addTo(map);
    // Leaflet's scale says "km" and "m" in English; the operator's words instead.
    var Scale = L.Control.Scale.extend({
      _updateMetric: function (maxMeters) {
        var meters = this._getRoundNum(maxMeters);
        var label = meters < 1000 ? meters + " " + t.m : meters / 1000 + " " + t.km;
        this._updateScale(this._mScale, label, meters / maxMeters);
      }
    });
    new Scale({ imperial: false }).addTo(map);
    map.attributionControl.setPrefix(false);
    if (config.tiles) {
      L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
    } else {
      gridLayer().addTo(map);
    }

    var mode = null; // "circle" | "polygon"
    var center = null; // circle
    var radiusM = null;
    var corners = []; // polygon: L.LatLng
    var layers = L.layerGroup().addTo(map);

    function handle(latlng, label, className, onMove) {
      var marker = L.marker(latlng, {
        draggable: true,
        title: label,
        alt: label,
        keyboard: false, // the text field is the keyboard's way
        icon: L.divIcon({ className: "area-handle " + className, iconSize: [22, 22] })
      });
      marker.on("drag", function () { onMove(marker.getLatLng()); redraw(false); });
      marker.on("dragend", function () { write(); });
      return marker;
    }

    function radiusKm() {
      return Math.min(MAX_RADIUS_KM, Math.max(0.01, round(radiusM / 1000, 3)));
    }

    function redraw(withHandles) {
      if (withHandles !== false) layers.clearLayers();
      else layers.eachLayer(function (layer) { if (!(layer instanceof L.Marker)) layers.removeLayer(layer); });
      if (mode === "circle" && center) {
        if (radiusM) L.circle(center, L.extend({ radius: radiusKm() * 1000, interactive: false }, STYLE)).addTo(layers);
        if (withHandles !== false) {
          handle(center, t.center, "area-center", function (p) { center = p; moveEdge(); }).addTo(layers);
          if (radiusM) edgeHandle().addTo(layers);
        }
      } else if (mode === "polygon" && corners.length) {
        var shape = corners.length >= 3 ? L.polygon(corners, L.extend({ interactive: false }, STYLE))
          : L.polyline(corners, L.extend({ interactive: false, dashArray: "4 4" }, STYLE));
        shape.addTo(layers);
        if (withHandles !== false) {
          corners.forEach(function (p, i) {
            handle(p, t.corner + " " + (i + 1), "area-corner", function (q) { corners[i] = q; }).addTo(layers);
          });
        }
      }
    }

    var edge = null;
    function edgePoint() {
      // Due east of the centre, at the radius.
      var dLon = (radiusKm() * 1000) / (111320 * Math.cos((center.lat * Math.PI) / 180));
      return L.latLng(center.lat, center.lng + dLon);
    }
    function edgeHandle() {
      edge = handle(edgePoint(), t.edge, "area-edge", function (p) { radiusM = center.distanceTo(p); });
      return edge;
    }
    function moveEdge() {
      if (edge && radiusM) edge.setLatLng(edgePoint());
    }

    function text() {
      if (mode === "circle" && center && radiusM) return pair(center) + " " + radiusKm();
      if (mode === "polygon" && corners.length >= 3) return corners.map(pair).join(" ");
      return "";
    }
    function write() {
      field.value = text();
      say();
    }
    function say(message) {
      if (message) { hint.textContent = message; return; }
      if (mode === "circle") {
        hint.textContent = !center ? t.circle_start : !radiusM ? t.circle_edge
          : t.circle_done + " " + t.radius + " " + radiusKm() + " " + t.km;
      } else if (mode === "polygon") {
        hint.textContent = corners.length === 0 ? t.polygon_start : corners.length < 3 ? t.polygon_more : t.polygon_done;
      } else {
        hint.textContent = "";
      }
    }
    function setMode(next) {
      mode = next;
      for (var i = 0; i < modes.length; i++) {
        modes[i].setAttribute("aria-pressed", modes[i].getAttribute("data-mode") === next ? "true" : "false");
      }
      undo.hidden = next !== "polygon";
      box.classList.toggle("drawing", !!next);
    }
    function reset(next) {
      center = null; radiusM = null; corners = []; edge = null;
      setMode(next);
      redraw();
    }

    for (var i = 0; i < modes.length; i++) {
      modes[i].addEventListener("click", function (event) {
        var next = event.currentTarget.getAttribute("data-mode");
        if (next === mode) return;
        reset(next);
        write();
      });
    }
    undo.addEventListener("click", function () {
      corners.pop();
      redraw();
      write();
    });
    box.querySelector("[data-act=clear]").addEventListener("click", function () {
      reset(mode);
      field.value = "";
      say(t.cleared);
    });

    map.on("click", function (e) {
      if (mode === "circle") {
        if (!center) center = e.latlng;
        else radiusM = center.distanceTo(e.latlng);
      } else if (mode === "polygon") {
        corners.push(e.latlng);
      } else {
        return;
      }
      redraw();
      write();
    });

    function fromField(announce) {
      var shape = parse(field.value);
      if (!shape) return false;
      if (shape.type === "circle") {
        reset("circle");
        center = L.latLng(shape.center[0], shape.center[1]);
        radiusM = shape.radius_km * 1000;
        redraw();
        map.fitBounds(center.toBounds(radiusM * 2.6));
      } else {
        reset("polygon");
        corners = shape.points.map(function (p) { return L.latLng(p[0], p[1]); });
        redraw();
        map.fitBounds(L.latLngBounds(corners), { padding: [24, 24] });
      }
      say(announce ? t.typed : null);
      return true;
    }
    field.addEventListener("change", function () {
      if (!field.value.trim()) { reset(mode); say(t.cleared); } else fromField(true);
    });

    function view() {
      map.invalidateSize();
      if (mode === "circle" && center && radiusM) map.fitBounds(center.toBounds(radiusM * 2.6));
      else if (mode === "polygon" && corners.length) map.fitBounds(L.latLngBounds(corners), { padding: [24, 24] });
      else map.setView(config.center, 13);
    }
    if (!fromField(false)) {
      setMode("circle");
      say();
    }
    view();
    // In the workspace the map sits in a folded section: it has no size until the fold opens.
    var fold = box.closest("details");
    if (fold) fold.addEventListener("toggle", function () { if (fold.open) view(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
