/* The area over map tiles (loaded only with INCIDENTS_MAP_TILES, after the vendored Leaflet).
   The server's SVG stays until the first tile arrives, and stays for good if none does. */
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("area-data");
    var figure = document.getElementById("area-figure");
    if (!data || !figure || !window.L || figure.querySelector(".area-tiles")) return;
    var config = JSON.parse(data.textContent);
    if (!config.tiles) return;
    var shape = config.shape;
    var box = document.createElement("div");
    box.className = "area-tiles";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", config.t.map);
    figure.appendChild(box);
    var map = L.map(box, { scrollWheelZoom: false, zoomControl: false });
    L.control.zoom({ zoomInTitle: config.t.zoom_in, zoomOutTitle: config.t.zoom_out }).addTo(map);
    map.attributionControl.setPrefix(false);
    var style = { color: "#b3261e", weight: 2, fillOpacity: 0.25 };
    var layer = shape.type === "circle"
      ? L.circle(shape.center, Object.assign({ radius: shape.radius_km * 1000 }, style))
      : L.polygon(shape.points, style);
    var tiles = L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19, crossOrigin: false });
    tiles.once("tileload", function () { figure.classList.add("tiled"); map.invalidateSize(); });
    // The view first: a layer is placed in the map's view, so it needs one.
    var bounds = shape.type === "circle"
      ? L.latLng(shape.center).toBounds(shape.radius_km * 2000)
      : L.latLngBounds(shape.points);
    map.fitBounds(bounds, { padding: [16, 16] });
    tiles.addTo(map);
    layer.addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
  document.addEventListener("timeline:reloaded", draw);
})();
