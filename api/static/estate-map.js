/* Shared Estate map: vector-tile layers per RAG and per owner, popups, search, filters.
   Everything it loads comes from this service; the OSM basemap is optional. */
// folium creates the Leaflet map in an inline script at the end of the body, so start on load.
window.addEventListener("load", function () {
  "use strict";
  var cfg = window.ESTATE_MAP_CONFIG;
  var map = window[cfg.mapName];
  // Leaflet 1.9 dropped fakeStop; VectorGrid's canvas path still calls it.
  L.DomEvent.fakeStop = L.DomEvent.fakeStop || function () {};
  var key = sessionStorage.getItem("estateKey") || "";
  var filters = { owner: "", use: "", town: "" };
  var status = document.getElementById("estate-status");
  var controlBox = document.getElementById("estate-controls");
  L.DomEvent.disableClickPropagation(controlBox);
  L.DomEvent.disableScrollPropagation(controlBox);

  function headers() { return key ? { Authorization: "Bearer " + key } : {}; }
  function say(text) { status.textContent = text; }
  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function money(v) { return v === null || v === undefined ? "not shown" : "£" + Number(v).toLocaleString("en-GB"); }
  function ownerName(code) {
    for (var i = 0; i < cfg.owners.length; i++) { if (cfg.owners[i].code === code) { return cfg.owners[i].name; } }
    return code;
  }

  map.fitBounds(cfg.bounds);

  // Basemap: OpenStreetMap when reachable, a plain background when not.
  var basemap = null;
  map.eachLayer(function (layer) { if (layer instanceof L.TileLayer) { basemap = layer; } });
  if (basemap) {
    var failures = 0;
    basemap.on("tileerror", function () {
      failures += 1;
      if (failures === 3) { map.removeLayer(basemap); say("Basemap offline: plain background."); }
    });
  }

  function query(extra) {
    var params = new URLSearchParams();
    Object.keys(extra).forEach(function (k) { if (extra[k]) { params.set(k, extra[k]); } });
    Object.keys(filters).forEach(function (k) { if (filters[k] && !params.has(k)) { params.set(k, filters[k]); } });
    var s = params.toString();
    return s ? "?" + s : "";
  }

  function pointStyle(colour, ring) {
    return function (props, zoom) {
      if (ring) {
        return { radius: 9, weight: 2, color: "#222", fill: false, opacity: 0.9 };
      }
      return { radius: zoom >= 14 ? 7 : 5, weight: 1, color: "#222", fillColor: colour, fill: true,
               fillOpacity: 0.9, opacity: 0.8 };
    };
  }
  function clusterStyle(colour, ring) {
    return function (props) {
      var r = Math.min(24, 4 + 3 * Math.log(1 + props.count));
      return ring ? { radius: r + 2, weight: 2, color: "#222", fill: false }
                  : { radius: r, weight: 1, color: "#222", fillColor: colour, fill: true, fillOpacity: 0.6 };
    };
  }

  function tileLayer(extra, colour, ring) {
    var layer = L.vectorGrid.protobuf(cfg.tilesUrl + query(extra), {
      rendererFactory: L.svg.tile,
      interactive: true,
      maxNativeZoom: 22,
      fetchOptions: { headers: headers() },
      getFeatureId: function (f) { return f.properties.id || undefined; },
      vectorTileLayerStyles: { properties: pointStyle(colour, ring), property_clusters: clusterStyle(colour, ring) }
    });
    layer.on("click", function (e) {
      var p = e.layer.properties;
      if (p.id) { openRecord(p.id, e.latlng); }
      else {
        L.popup().setLatLng(e.latlng).setContent(
          "<b>" + p.count + " buildings</b><br>red " + p.red + " · amber " + p.amber + " · green " + p.green +
          "<br><small>zoom in to see each building</small>").openOn(map);
      }
    });
    return layer;
  }

  function openRecord(id, latlng) {
    var etag = null;
    fetch(cfg.apiBase + "/properties/" + encodeURIComponent(id), { headers: headers() })
      .then(function (r) { etag = r.headers.get("ETag"); return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        var where = latlng || L.latLng(p.geometry.coordinates[1], p.geometry.coordinates[0]);
        var rag = p.rag ? '<span class="rag" style="background:' + cfg.ragColours[p.rag] + '">' + esc(p.rag) + "</span>" : "not shown";
        var html = '<div class="estate-popup"><h3>' + esc(p.name) + "</h3><table>" +
          "<tr><th>Owner</th><td>" + esc(ownerName(p.owner)) + "</td></tr>" +
          "<tr><th>Use</th><td>" + esc((p.use_category || "").replace(/_/g, " ")) + "</td></tr>" +
          "<tr><th>GIA</th><td>" + (p.gia_m2 ? Math.round(p.gia_m2).toLocaleString("en-GB") + " m²" : "unknown") + "</td></tr>" +
          "<tr><th>Value</th><td>" + money(p.value_gbp) + "</td></tr>" +
          "<tr><th>RAG</th><td>" + rag + "</td></tr>" +
          (p.rag_reason ? "<tr><th>Why</th><td>" + esc(p.rag_reason) + "</td></tr>" : "") +
          "</table><a class=\"record-link\" href=\"" + cfg.apiBase + "/collections/properties/items/" + esc(p.id) +
          '?f=html" target="_blank">Open record</a>' + (key ? editForm(p) : "") + "</div>";
        var popup = L.popup({ maxWidth: 340 }).setLatLng(where).setContent(html).openOn(map);
        var form = popup.getElement() && popup.getElement().querySelector(".estate-edit");
        if (form) { form.addEventListener("submit", function (ev) { ev.preventDefault(); saveRating(p, etag, form, where); }); }
      })
      .catch(function (status) { say("Could not load that building (" + status + ")."); });
  }

  // With a writer key, a manager can re-rate a building from its popup; If-Match
  // carries the version read, so an edit made meanwhile by someone else is never overwritten.
  function editForm(p) {
    var options = ["red", "amber", "green"].map(function (r) {
      return '<option value="' + r + '"' + (p.rag === r ? " selected" : "") + ">" + r + "</option>";
    }).join("");
    return '<form class="estate-edit"><label>RAG <select name="rag">' + options + "</select></label>" +
      '<label>Reason <textarea name="rag_reason" rows="2" cols="28" required>' + esc(p.rag_reason || "") + "</textarea></label>" +
      '<button type="submit">Save rating</button> <span class="estate-edit-status" role="status"></span></form>';
  }

  function saveRating(p, etag, form, where) {
    var status = form.querySelector(".estate-edit-status");
    var body = { rag: form.elements.rag.value, rag_reason: form.elements.rag_reason.value.trim() };
    var h = headers();
    h["Content-Type"] = "application/json";
    h["If-Match"] = etag || "";
    fetch(cfg.apiBase + "/properties/" + encodeURIComponent(p.id), { method: "PATCH", headers: h, body: JSON.stringify(body) })
      .then(function (r) {
        if (r.ok) { status.textContent = "Saved."; buildLayers(); setTimeout(function () { openRecord(p.id, where); }, 300); return; }
        return r.json().then(function (problem) {
          var why = { 412: "Changed by someone else since you opened it: reopen and try again.",
                      403: "Your key cannot change this body's buildings.",
                      401: "Your key was not accepted." }[r.status];
          status.textContent = why || ("Not saved: " + (problem.detail || r.status));
        });
      })
      .catch(function () { status.textContent = "Not saved: the service did not answer."; });
  }

  var overlays = {};
  var active = [];
  var control = null;
  var hubs = null;

  function buildLayers() {
    active.forEach(function (l) { map.removeLayer(l); });
    if (control) { map.removeControl(control); }
    overlays = {};
    active = [];
    ["red", "amber", "green", "unrated"].forEach(function (rag) {
      var colour = cfg.ragColours[rag === "unrated" ? "none" : rag];
      var label = '<span class="swatch" style="background:' + colour + '"></span>RAG: ' + rag;
      var layer = tileLayer({ rag: rag }, colour, false);
      overlays[label] = layer;
      layer.addTo(map);
      active.push(layer);
    });
    cfg.owners.forEach(function (o) {
      overlays['<span class="swatch ring"></span>' + esc(o.name)] = tileLayer({ owner: o.code }, null, true);
    });
    if (hubs) {
      overlays['<span class="swatch hub"></span>Co-location hubs'] = hubs;
      if (!map.hasLayer(hubs)) { hubs.addTo(map); }
    }
    control = L.control.layers(null, overlays, { collapsed: true }).addTo(map);
    Object.keys(overlays).forEach(function (k) { if (active.indexOf(overlays[k]) < 0) { active.push(overlays[k]); } });
  }

  function loadHubs() {
    if (!cfg.hubsUrl) { return Promise.resolve(); }
    return fetch(cfg.hubsUrl, { headers: headers() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc) { return; }
        // Each hub: its outline, and a ring on the host that stays visible at county zoom.
        hubs = L.layerGroup();
        fc.features.forEach(function (f) {
          var p = f.properties;
          var html = '<div class="estate-popup estate-hub"><h3>Hub candidate #' + esc(p.rank) + ": " + esc(p.town || "") + "</h3>" +
            "<p>Host: <b>" + esc(p.host_name) + "</b></p><p>Partners: " + esc((p.owner_names || p.owners || []).join(", ")) + "</p>" +
            "<p>Releases " + esc(p.released_count) + " buildings worth " + money(p.capital_value_gbp) + "</p>" +
            "<p>Saves " + money(p.running_cost_saved_gbp_pa) + " a year; payback " + esc(p.payback_years === null ? "not shown" : p.payback_years) + " years</p>" +
            "<p>Score " + esc(p.score) + "</p></div>";
          L.geoJSON(f, { style: { color: "#503cb4", weight: 2, fillOpacity: 0.15 } }).bindPopup(html).addTo(hubs);
          var host = p.host_geometry.coordinates;
          L.circleMarker([host[1], host[0]], { radius: 10, color: "#503cb4", weight: 3, fill: false, className: "estate-hub-host" })
            .bindPopup(html).addTo(hubs);
        });
      })
      .catch(function () { say("Hub layer unavailable."); });
  }

  document.getElementById("estate-filter-apply").addEventListener("click", function () {
    filters.owner = document.getElementById("estate-filter-owner").value;
    filters.use = document.getElementById("estate-filter-use").value;
    filters.town = document.getElementById("estate-filter-town").value.trim();
    buildLayers();
    say("Filter applied.");
  });
  document.getElementById("estate-key-apply").addEventListener("click", function () {
    key = document.getElementById("estate-key").value.trim();
    sessionStorage.setItem("estateKey", key);
    buildLayers();
    say(key ? "Using partner key." : "Public view.");
  });
  document.getElementById("estate-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = document.getElementById("estate-search-input").value.trim();
    var list = document.getElementById("estate-search-results");
    list.innerHTML = "";
    if (!text) { return; }
    fetch(cfg.apiBase + "/properties?limit=15&q=" + encodeURIComponent(text), { headers: headers() })
      .then(function (r) { return r.json(); })
      .then(function (page) {
        if (!page.items || !page.items.length) { list.innerHTML = "<li>No match.</li>"; return; }
        page.items.forEach(function (p) {
          var li = document.createElement("li");
          li.textContent = p.name + " — " + (p.post_town || "") + " " + (p.postcode || "");
          li.addEventListener("click", function () {
            if (!p.geometry) { say("That building has no location."); return; }
            var ll = L.latLng(p.geometry.coordinates[1], p.geometry.coordinates[0]);
            map.setView(ll, 16);
            openRecord(p.id, ll);
          });
          list.appendChild(li);
        });
      });
  });

  loadHubs().then(buildLayers);
  window.ESTATE_MAP = { map: map, overlays: function () { return overlays; }, openRecord: openRecord };
});
