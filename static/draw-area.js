/* The console's area drawing: a circle (tap the centre, then tap the edge or drag outwards from
   the centre; the radius also in its own field) or a polygon (tap the corners; undo, finish) on a
   Leaflet map, written into the text field #area_shape in the CAP text form the
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
    var finish = box.querySelector("[data-act=finish]");
    var radiusBox = box.querySelector(".area-draw-radius");
    var radiusInput = document.getElementById("area-radius");
    box.hidden = false;
    // The server's drawing of the saved area (the no-JS view) would show it twice: this map has it.
    var figure = box.closest("form") && box.closest("form").querySelector(".area-figure");
    if (figure) figure.hidden = true;

    var map = L.map(box.querySelector(".area-draw-map"), {
      zoomControl: false,
      scrollWheelZoom: false,
      doubleClickZoom: false // two taps are a centre and an edge, or two corners: not a zoom
    });
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
    var pulling = false; // a drag from the centre of a circle without a radius yet sets the radius
    var corners = []; // polygon: L.LatLng
    var closed = false; // polygon finished: taps no longer add corners
    var layers = L.layerGroup().addTo(map);

    function handle(latlng, label, className, onMove, onEnd) {
      var marker = L.marker(latlng, {
        draggable: true,
        title: label,
        alt: label,
        keyboard: false, // the text field (and the radius field) are the keyboard's way
        icon: L.divIcon({ className: "area-handle " + className, iconSize: [40, 40] })
      });
      marker.on("drag", function () { onMove(marker.getLatLng()); redraw(false); });
      marker.on("dragend", function () {
        if (onEnd) onEnd();
        write();
      });
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
          handle(center, t.center, "area-center", function (p) {
            if (!radiusM || pulling) { pulling = true; radiusM = center.distanceTo(p); } // pulled out: the edge
            else { center = p; moveEdge(); }
          }, function () {
            if (pulling) { pulling = false; redraw(); } // the centre back in its place, the edge's handle out
          }).addTo(layers);
          if (radiusM) edgeHandle().addTo(layers);
        }
      } else if (mode === "polygon" && corners.length) {
        var shape = corners.length >= 3 ? L.polygon(corners, L.extend({ interactive: false }, STYLE))
          : L.polyline(corners, L.extend({ interactive: false, dashArray: "4 4" }, STYLE));
        shape.addTo(layers);
        if (withHandles !== false) {
          corners.forEach(function (p, i) {
            var corner = handle(p, t.corner + " " + (i + 1), "area-corner" + (i === 0 ? " area-first" : ""),
              function (q) { corners[i] = q; });
            if (i === 0) corner.on("click", function () { if (!closed && corners.length >= 3) close(); });
            corner.addTo(layers);
          });
        }
      }
      tools();
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
    var drawn = null; // the field's value the map shows: leaving the field then changes nothing
    function write() {
      field.value = drawn = text();
      say();
      tools();
    }
    function say(message) {
      if (message) { hint.textContent = message; return; }
      if (mode === "circle") {
        hint.textContent = !center ? t.circle_start : !radiusM ? t.circle_edge
          : t.circle_done + " " + t.radius + " " + radiusKm() + " " + t.km;
      } else if (mode === "polygon") {
        hint.textContent = corners.length === 0 ? t.polygon_start : corners.length < 3 ? t.polygon_more
          : closed ? t.polygon_closed : t.polygon_done;
      } else {
        hint.textContent = "";
      }
    }
    // The buttons and the radius field that fit the drawing as it is now.
    function tools() {
      undo.hidden = mode !== "polygon" || !corners.length;
      finish.hidden = mode !== "polygon" || closed || corners.length < 3;
      radiusBox.hidden = mode !== "circle" || !center;
      if (document.activeElement !== radiusInput) radiusInput.value = radiusM ? String(radiusKm()) : "";
    }
    function setMode(next) {
      mode = next;
      for (var i = 0; i < modes.length; i++) {
        modes[i].setAttribute("aria-pressed", modes[i].getAttribute("data-mode") === next ? "true" : "false");
      }
      box.classList.toggle("drawing", !!next);
      tools();
    }
    function reset(next) {
      center = null; radiusM = null; pulling = false; corners = []; closed = false; edge = null;
      setMode(next);
      redraw();
    }
    function close() {
      closed = true;
      box.classList.remove("drawing");
      write();
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
      closed = false;
      box.classList.add("drawing");
      redraw();
      write();
    });
    finish.addEventListener("click", close);
    box.querySelector("[data-act=clear]").addEventListener("click", function () {
      reset(mode);
      field.value = "";
      say(t.cleared);
    });
    radiusInput.addEventListener("input", function () {
      var km = parseFloat(radiusInput.value);
      if (!center || !(km > 0) || km > MAX_RADIUS_KM) return;
      radiusM = km * 1000;
      redraw();
      write();
    });
    radiusInput.addEventListener("change", function () { tools(); }); // shows the value as written

    map.on("click", function (e) {
      if (mode === "circle") {
        if (!center) center = e.latlng;
        else radiusM = center.distanceTo(e.latlng);
      } else if (mode === "polygon" && !closed) {
        corners.push(e.latlng);
      } else {
        return;
      }
      redraw();
      write();
    });

    // Not animated: a zoom animation under way makes Leaflet drop the next view (typing fits each
    // shape the text makes, one after another).
    function fit() {
      if (mode === "circle" && center && radiusM) map.fitBounds(center.toBounds(radiusM * 2.6), { animate: false });
      else if (mode === "polygon" && corners.length) {
        map.fitBounds(L.latLngBounds(corners), { padding: [24, 24], animate: false });
      }
    }
    function fromField() {
      var shape = parse(field.value);
      if (!shape) return false;
      drawn = field.value;
      if (shape.type === "circle") {
        reset("circle");
        center = L.latLng(shape.center[0], shape.center[1]);
        radiusM = shape.radius_km * 1000;
      } else {
        reset("polygon");
        corners = shape.points.map(function (p) { return L.latLng(p[0], p[1]); });
        closed = true;
        box.classList.remove("drawing");
      }
      redraw();
      fit();
      return true;
    }
    // Typing: a value that makes a shape is drawn at once; leaving the field says what came of it.
    // (A drag that starts while the field has the focus makes it "change": the handles being
    // dragged must not be drawn anew then.)
    field.addEventListener("input", function () {
      if (field.value === drawn) say(); // typed back to what the map shows
      else if (fromField()) say(t.typed);
    });
    field.addEventListener("change", function () {
      if (field.value === drawn) return;
      if (!field.value.trim()) { reset(mode); drawn = ""; say(t.cleared); }
      else if (fromField()) say(t.typed);
      else say(t.unreadable);
    });

    function view() {
      map.invalidateSize();
      if (mode === "circle" && center && radiusM || mode === "polygon" && corners.length) fit();
      else map.setView(config.center, 13);
    }
    if (fromField()) say();
    else {
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
