/* Shared Estate workspace: one MapLibre map of the register, and the panels a manager runs the estate from.
   Everything it loads comes from this service; the online basemap is optional. */
(function () {
  "use strict";
  const cfg = window.ESTATE_MAP_CONFIG;
  const RAGS = ["red", "amber", "green", "unrated"];
  const HUB_COLOUR = "#503cb4";
  const PALETTE = ["#1d70b8", "#912b88", "#00703c", "#b58840", "#d53880", "#28a197", "#6f72af", "#f47738",
    "#4c2c92", "#85994b", "#5694ca", "#a285d1"];
  const $ = (id) => document.getElementById(id);
  const status = $("estate-status");
  const say = (text) => { status.textContent = text; };

  // ---- sign-in: a person signs in at /login; the session cookie rides along with every same-origin
  // request (tiles included), and this is the one place a request learns what else it must carry. ----
  const SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];
  let me = { signed_in: false };  // GET /me: who is signed in, and the CSRF token their writes must echo
  let meLoaded = Promise.resolve();
  const isWrite = (method) => !SAFE_METHODS.includes(String(method || "GET").toUpperCase());
  function authHeaders(method) {
    return isWrite(method) && me.csrf_token ? { [me.csrf_header]: me.csrf_token } : {};
  }
  const signedIn = () => me.signed_in === true;

  function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    const send = () => {
      opts.headers = Object.assign({}, authHeaders(opts.method), opts.headers || {});
      return fetch(cfg.apiBase + path, opts);
    };
    // A write waits for /me, so it never leaves without the CSRF token of the person signed in.
    return isWrite(opts.method) ? meLoaded.then(send) : send();
  }

  // ---- formatting ----
  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  const num = (v, digits) => Number(v).toLocaleString("en-GB", { maximumFractionDigits: digits || 0 });
  function money(v) {
    if (v === null || v === undefined) { return "not shown"; }
    const a = Math.abs(v);
    if (a >= 1e9) { return "£" + num(v / 1e9, 2) + "bn"; }
    if (a >= 1e6) { return "£" + num(v / 1e6, 1) + "m"; }
    return "£" + num(v);
  }
  const ownerNames = Object.fromEntries(cfg.owners.map((o) => [o.code, o.name]));
  const ownerName = (code) => ownerNames[code] || code;
  const label = (s) => String(s || "").replace(/_/g, " ");
  const ownerColour = (code) => PALETTE[Math.max(0, cfg.owners.findIndex((o) => o.code === code)) % PALETTE.length];

  // ---- state, mirrored in the URL so a view can be shared ----
  const state = { owner: "", use: "", town: "", rag: RAGS.slice(), record: null, tab: "view", hub: null,
    sort: "name", offset: 0 };
  function readUrl() {
    const q = new URLSearchParams(location.search);
    state.owner = q.get("owner") || "";
    state.use = q.get("use") || "";
    state.town = q.get("town") || "";
    const rags = (q.get("rag") || "").split(",").filter((r) => RAGS.includes(r));
    if (rags.length) { state.rag = rags; }
    state.record = q.get("record");
    state.tab = ["view", "record", "hubs", "receipts"].includes(q.get("tab")) ? q.get("tab") : (state.record ? "record" : "view");
    state.sort = q.get("sort") || "name";
    const at = (q.get("at") || "").split("/").map(Number);
    return at.length === 3 && at.every(Number.isFinite) ? { zoom: at[0], center: [at[2], at[1]] } : null;
  }
  function writeUrl() {
    const q = new URLSearchParams();
    ["owner", "use", "town"].forEach((k) => { if (state[k]) { q.set(k, state[k]); } });
    if (state.rag.length !== RAGS.length) { q.set("rag", state.rag.join(",")); }
    if (state.record) { q.set("record", state.record); }
    if (state.tab !== "view") { q.set("tab", state.tab); }
    if (state.sort !== "name") { q.set("sort", state.sort); }
    if (map) {
      const c = map.getCenter();
      q.set("at", [map.getZoom().toFixed(2), c.lat.toFixed(5), c.lng.toFixed(5)].join("/"));
    }
    history.replaceState(null, "", location.pathname + "?" + q.toString().replace(/%2F/g, "/").replace(/%2C/g, ","));
    const signIn = $("estate-signin");
    if (signIn) { signIn.href = signInHref(); }
  }
  function filterParams(withRag) {
    const q = new URLSearchParams();
    if (state.owner) { q.set("owner", state.owner); }
    if (state.use) { q.set("use", state.use); }
    if (state.town) { q.set("town", state.town); }
    if (withRag && state.rag.length && state.rag.length !== RAGS.length) { q.set("rag", state.rag.join(",")); }
    return q;
  }

  // ---- symbols drawn on canvas: no glyph server needed, so they work offline ----
  const RATIO = 2;
  function canvas(w, h) {
    const c = document.createElement("canvas");
    c.width = w * RATIO; c.height = h * RATIO;
    const ctx = c.getContext("2d");
    ctx.scale(RATIO, RATIO);
    return [c, ctx];
  }
  function imageOf(c, ctx) {
    return { width: c.width, height: c.height, data: ctx.getImageData(0, 0, c.width, c.height).data };
  }
  function shapeIcon(rag) {
    const [c, ctx] = canvas(18, 18);
    ctx.lineWidth = 1.8;
    ctx.strokeStyle = rag === "unrated" ? "#555" : "#1b1b1b";
    ctx.fillStyle = rag === "unrated" ? "#ffffff" : cfg.ragColours[rag];
    ctx.beginPath();
    if (rag === "red") { ctx.rect(3, 3, 12, 12); }                      // square
    else if (rag === "amber") { ctx.moveTo(9, 1.5); ctx.lineTo(16.5, 9); ctx.lineTo(9, 16.5); ctx.lineTo(1.5, 9); ctx.closePath(); } // diamond
    else { ctx.arc(9, 9, rag === "green" ? 6.5 : 5, 0, 2 * Math.PI); } // circle; hollow when unrated
    ctx.fill(); ctx.stroke();
    return imageOf(c, ctx);
  }
  const bubbleRadius = (count) => Math.round(Math.min(26, 10 + 4 * Math.log10(1 + count)));
  function pieIcon(counts) {
    const total = counts.red + counts.amber + counts.green + counts.unrated;
    const r = bubbleRadius(total);
    const size = 2 * r + 4;
    const [c, ctx] = canvas(size, size);
    let start = -Math.PI / 2;
    RAGS.forEach((rag) => {
      if (!counts[rag]) { return; }
      const end = start + 2 * Math.PI * counts[rag] / total;
      ctx.beginPath(); ctx.moveTo(size / 2, size / 2);
      ctx.arc(size / 2, size / 2, r, start, end); ctx.closePath();
      ctx.fillStyle = cfg.ragColours[rag === "unrated" ? "none" : rag]; ctx.fill();
      start = end;
    });
    ctx.beginPath(); ctx.arc(size / 2, size / 2, r, 0, 2 * Math.PI);
    ctx.lineWidth = 1.5; ctx.strokeStyle = "#1b1b1b"; ctx.stroke();
    ctx.beginPath(); ctx.arc(size / 2, size / 2, r * 0.62, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff"; ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#1b1b1b";
    ctx.font = "bold " + (total >= 10000 ? 9 : 11) + "px system-ui, sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(total >= 100000 ? Math.round(total / 1000) + "k" : String(total), size / 2, size / 2 + 0.5);
    return imageOf(c, ctx);
  }
  function textIcon(text, big) {
    const font = (big ? "600 14px" : "600 12px") + " system-ui, sans-serif";
    const probe = document.createElement("canvas").getContext("2d");
    probe.font = font;
    const w = Math.ceil(probe.measureText(text).width) + 8;
    const [c, ctx] = canvas(w, big ? 20 : 17);
    ctx.font = font; ctx.textBaseline = "middle";
    ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,.95)"; ctx.strokeText(text, 4, (big ? 20 : 17) / 2);
    ctx.fillStyle = "#222"; ctx.fillText(text, 4, (big ? 20 : 17) / 2);
    return imageOf(c, ctx);
  }

  // ---- the map ----
  let map = null;
  const startAt = readUrl();
  const pointsMinZoom = cfg.pointsMinZoom;
  let tileRevalidate = false;  // after a save, tiles are revalidated (ETag) rather than served from the cache

  function tileUrl(params) {
    const s = params.toString();
    return cfg.tilesUrl + (s ? "?" + s : "");
  }
  // Tiles at point zooms carry owner, rag and use, so those filters apply in the browser and
  // refetch nothing; only filters the tile does not carry (town) go in the points' URL.
  const pointsUrl = () => { const q = new URLSearchParams(); if (state.town) { q.set("town", state.town); } return tileUrl(q); };
  const clustersUrl = () => tileUrl(filterParams(true));

  function pointFilter() {
    const all = ["all"];
    if (state.owner) { all.push(["==", ["get", "owner"], state.owner]); }
    if (state.use) { all.push(["==", ["get", "use"], state.use]); }
    if (state.rag.length !== RAGS.length) {
      all.push(["in", ["coalesce", ["get", "rag"], "unrated"], ["literal", state.rag]]);
    }
    return all;
  }

  // Every body's estate outline, or only the chosen body's when the owner filter is set.
  const estateFilter = () => state.owner ? ["all", ["==", ["get", "kind"], "estate"], ["==", ["get", "owner"], state.owner]]
    : ["==", ["get", "kind"], "estate"];

  function buildStyle() {
    const sources = {
      points: { type: "vector", tiles: [pointsUrl()], minzoom: pointsMinZoom, maxzoom: 22, promoteId: "id" },
      clusters: { type: "vector", tiles: [clustersUrl()], minzoom: 0, maxzoom: 22 },
      bubbles: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
      wayfinding: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
      hub: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
    };
    const layers = [{ id: "background", type: "background", paint: { "background-color": "#eef0ea" } }];
    if (cfg.basemap) {
      sources.basemap = { type: "raster", tiles: [cfg.basemap.url], tileSize: 256, attribution: cfg.basemap.attribution, maxzoom: 19 };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    const offline = cfg.basemap ? "none" : "visible";
    const estateColour = ["match", ["get", "owner"]].concat(
      cfg.owners.flatMap((o) => [o.code, ownerColour(o.code)])).concat(["#555"]);
    layers.push(
      { id: "estate-fill", type: "fill", source: "wayfinding", filter: estateFilter(),
        layout: { visibility: offline }, paint: { "fill-color": estateColour, "fill-opacity": 0.04 } },
      { id: "estate-line", type: "line", source: "wayfinding", filter: estateFilter(),
        layout: { visibility: offline }, paint: { "line-color": estateColour, "line-width": ["case", ["==", ["get", "owner"], state.owner], 2.5, 1], "line-opacity": 0.6, "line-dasharray": [3, 2] } },
      { id: "hub-outline", type: "line", source: "hub", paint: { "line-color": HUB_COLOUR, "line-width": 3 } },
      { id: "hub-fill", type: "fill", source: "hub", paint: { "fill-color": HUB_COLOUR, "fill-opacity": 0.12 } },
      // The cluster tiles are read, re-binned on screen and drawn as bubbles (see rebin); this layer only loads them.
      { id: "cluster-cells", type: "circle", source: "clusters", "source-layer": "property_clusters", maxzoom: pointsMinZoom,
        paint: { "circle-radius": 0, "circle-opacity": 0, "circle-stroke-width": 0 } },
      { id: "dense-cells", type: "circle", source: "points", "source-layer": "property_clusters", minzoom: pointsMinZoom,
        paint: { "circle-radius": 0, "circle-opacity": 0, "circle-stroke-width": 0 } },
      { id: "bubbles", type: "symbol", source: "bubbles",
        layout: { "icon-image": ["get", "icon"], "icon-allow-overlap": true, "icon-ignore-placement": true,
          "symbol-sort-key": ["get", "count"] } },
      // Town names above the bubbles, just above the town's centre so its bubble's count stays readable.
      { id: "towns", type: "symbol", source: "wayfinding", filter: ["==", ["get", "kind"], "town"],
        layout: { visibility: offline, "icon-image": ["concat", "town:", ["get", "name"]], "symbol-sort-key": ["-", 0, ["get", "buildings"]],
          "icon-anchor": "bottom", "icon-offset": [0, -24], "icon-padding": 2, "icon-allow-overlap": false } },
      { id: "hub-members", type: "circle", source: "points", "source-layer": "properties", filter: ["in", ["get", "id"], ["literal", []]],
        paint: { "circle-radius": 13, "circle-color": HUB_COLOUR, "circle-opacity": 0.2, "circle-stroke-color": HUB_COLOUR, "circle-stroke-width": 3 } },
      { id: "points", type: "symbol", source: "points", "source-layer": "properties", filter: pointFilter(),
        layout: { "icon-image": ["match", ["coalesce", ["get", "rag"], "unrated"], "red", "rag-red", "amber", "rag-amber", "green", "rag-green", "rag-unrated"],
          "icon-allow-overlap": true, "icon-ignore-placement": true,
          "icon-size": ["interpolate", ["linear"], ["zoom"], pointsMinZoom, 0.6, 15, 1],
          "symbol-sort-key": ["match", ["coalesce", ["get", "rag"], "unrated"], "red", 3, "amber", 2, "green", 1, 0] } },
      { id: "selected", type: "circle", source: "points", "source-layer": "properties", filter: ["==", ["get", "id"], ""],
        paint: { "circle-radius": 12, "circle-opacity": 0, "circle-stroke-color": "#0b0c0c", "circle-stroke-width": 3 } },
    );
    return { version: 8, sources, layers };
  }

  function createMap() {
    map = new maplibregl.Map({
      container: "map",
      style: buildStyle(),
      bounds: startAt ? undefined : cfg.bounds,
      center: startAt ? startAt.center : undefined,
      zoom: startAt ? startAt.zoom : undefined,
      fitBoundsOptions: { padding: 20 },
      dragRotate: false,
      pitchWithRotate: false,
      attributionControl: { compact: true },
      transformRequest: (url, type) => {
        if (url.startsWith(cfg.apiBase)) {
          const req = { url, headers: authHeaders("GET") };
          if (type === "Tile" && tileRevalidate) { req.cache = "no-cache"; }
          return req;
        }
        return { url };
      },
    });
    map.touchZoomRotate.disableRotation();
    map.keyboard.disableRotation();
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
    RAGS.forEach((rag) => map.addImage("rag-" + rag, shapeIcon(rag), { pixelRatio: RATIO }));
    map.on("styleimagemissing", (e) => {
      if (e.id.startsWith("town:")) {
        map.addImage(e.id, textIcon(e.id.slice(5), true), { pixelRatio: RATIO });
      }
    });
    watchBasemap();
    map.on("load", () => {
      // Town names and estate outlines scan the whole register (a second at a million buildings):
      // they follow the first full picture instead of competing with its tiles for the server.
      map.once("idle", loadWayfinding);
      map.on("moveend", () => { writeUrl(); scheduleSummary(); scheduleRebin(); });
      map.on("idle", scheduleRebin);  // the signature check in rebin keeps this from looping
      map.on("sourcedata", (e) => { if ((e.sourceId === "clusters" || e.sourceId === "points") && e.isSourceLoaded) { scheduleRebin(); } });
      map.on("click", "points", (e) => { if (e.features.length) { openRecord(e.features[0].properties.id, false); } });
      map.on("click", "bubbles", (e) => {
        const f = e.features[0];
        map.easeTo({ center: f.geometry.coordinates, zoom: Math.min(map.getZoom() + 2, Math.max(map.getZoom() + 1, pointsMinZoom)) });
      });
      ["points", "bubbles"].forEach((id) => {
        map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
        map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
      });
      loadSummary();  // the first view is settled at load: no need to wait out the pan debounce
      if (state.record) { openRecord(state.record, !startAt, state.tab === "record"); }
      meLoaded.then(() => { ready = true; });
    });
  }

  // Offline: once the basemap fails, draw what the register knows instead of a blank sheet.
  function watchBasemap() {
    let failures = 0;
    map.on("error", (e) => {
      if (e.sourceId === "basemap" && ++failures === 2) { goOffline(); }
    });
    if (!cfg.basemap) { $("estate-offline-note").hidden = false; }
  }
  function goOffline() {
    if (map.getLayer("basemap")) { map.setLayoutProperty("basemap", "visibility", "none"); }
    ["estate-fill", "estate-line", "towns"].forEach((id) => map.setLayoutProperty(id, "visibility", "visible"));
    $("estate-offline-note").hidden = false;
    offline = true;
  }
  let offline = !cfg.basemap;
  let towns = [];
  function loadWayfinding() {
    api("/map/wayfinding.geojson").then((r) => r.json()).then((fc) => {
      map.getSource("wayfinding").setData(fc);
      towns = fc.features.filter((f) => f.properties.kind === "town");
      $("estate-towns").innerHTML = towns.map((t) => '<option value="' + esc(t.properties.name) + '">').join("");
    }).catch(() => say("Town names unavailable."));
  }

  // ---- bubbles: cluster cells re-binned on screen, so counts add up and never pile on each other ----
  let rebinTimer = null;
  function scheduleRebin() { clearTimeout(rebinTimer); rebinTimer = setTimeout(rebin, 60); }
  const BIN_PX = 70;
  let lastRebin = "";
  function rebin() {
    if (!map || !map.isStyleLoaded()) { return; }
    const z = map.getZoom();
    const sourceId = z < pointsMinZoom ? "clusters" : "points";
    const cells = map.querySourceFeatures(sourceId, { sourceLayer: "property_clusters" });
    // Drawing the bubbles triggers a render, and tiles report loaded more than once: redo only on change.
    const c = map.getCenter();
    const signature = [z.toFixed(3), c.lng.toFixed(6), c.lat.toFixed(6), sourceId, cells.length,
      cells.reduce((s, f) => s + f.properties.count, 0)].join("|");
    if (signature === lastRebin) { return; }
    lastRebin = signature;
    const seen = new Set();
    const bins = new Map();
    cells.forEach((f) => {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      // A tile also aggregates the buildings in its buffer, which its neighbour counts too; a cell
      // counts only in the tile its centroid lies in, so the bubbles add up to the register's count.
      const vt = f._vectorTileFeature;
      if (vt && vt.loadGeometry) {
        const at = vt.loadGeometry()[0][0];
        if (at.x < 0 || at.y < 0 || at.x >= vt.extent || at.y >= vt.extent) { return; }
      } else {
        const key = lon.toFixed(6) + "," + lat.toFixed(6) + "," + p.count;
        if (seen.has(key)) { return; }
        seen.add(key);
      }
      const pt = map.project([lon, lat]);
      const bin = Math.floor(pt.x / BIN_PX) + ":" + Math.floor(pt.y / BIN_PX);
      const b = bins.get(bin) || { count: 0, red: 0, amber: 0, green: 0, unrated: 0, x: 0, y: 0 };
      b.count += p.count; b.red += p.red || 0; b.amber += p.amber || 0; b.green += p.green || 0; b.unrated += p.unrated || 0;
      b.x += lon * p.count; b.y += lat * p.count;
      bins.set(bin, b);
    });
    // Bubbles that would still touch merge into the larger one, so no count hides under another.
    const kept = [];
    Array.from(bins.values()).sort((a, b) => b.count - a.count).forEach((b) => {
      b.px = map.project([b.x / b.count, b.y / b.count]);
      const near = kept.find((k) => Math.hypot(k.px.x - b.px.x, k.px.y - b.px.y) < bubbleRadius(k.count) + bubbleRadius(b.count) + 2);
      if (!near) { kept.push(b); return; }
      RAGS.concat(["count", "x", "y"]).forEach((f) => { near[f] += b[f]; });
    });
    const features = kept.map((b) => {
      const icon = ["pie", b.red, b.amber, b.green, b.unrated].join(":");
      if (!map.hasImage(icon)) { map.addImage(icon, pieIcon(b), { pixelRatio: RATIO }); }
      return { type: "Feature", geometry: { type: "Point", coordinates: [b.x / b.count, b.y / b.count] },
        properties: { icon, count: b.count, red: b.red, amber: b.amber, green: b.green, unrated: b.unrated } };
    });
    map.getSource("bubbles").setData({ type: "FeatureCollection", features });
    bubbleTotal = features.reduce((s, f) => s + f.properties.count, 0);
  }
  let bubbleTotal = 0;

  // ---- filters ----
  function applyFilters(refetchPoints) {
    map.setFilter("points", pointFilter());
    map.setFilter("estate-fill", estateFilter());
    map.setFilter("estate-line", estateFilter());
    map.setPaintProperty("estate-line", "line-width", ["case", ["==", ["get", "owner"], state.owner], 2.5, 1]);
    map.getSource("clusters").setTiles([clustersUrl()]);
    if (refetchPoints) { map.getSource("points").setTiles([pointsUrl()]); }
    state.offset = 0;
    writeUrl();
    scheduleSummary();
    if (state.tab === "receipts") { estimateReceipts(); }
  }
  function initFilters() {
    $("estate-filter-owner").value = state.owner;
    $("estate-filter-use").value = state.use;
    $("estate-filter-town").value = state.town;
    document.querySelectorAll('.rag-filter input[name="rag"]').forEach((box) => { box.checked = state.rag.includes(box.value); });
    $("estate-filter-owner").addEventListener("change", (e) => { state.owner = e.target.value; applyFilters(false); });
    $("estate-filter-use").addEventListener("change", (e) => { state.use = e.target.value; applyFilters(false); });
    $("estate-filter-town").addEventListener("change", (e) => { state.town = e.target.value.trim(); applyFilters(true); });
    document.querySelectorAll('.rag-filter input[name="rag"]').forEach((box) => box.addEventListener("change", () => {
      const checked = RAGS.filter((r) => document.querySelector('.rag-filter input[value="' + r + '"]').checked);
      if (!checked.length) { box.checked = true; say("At least one rating stays shown."); return; }
      state.rag = checked;
      applyFilters(false);
    }));
  }

  // ---- "In view" ----
  let summaryTimer = null;
  let summaryAbort = null;
  let lastSummary = null;
  // The view as the summary asks for it (west, south, east, north), rounded once so list and map use the same box.
  function viewBbox() {
    const b = map.getBounds();
    return [Math.max(-180, b.getWest()), Math.max(-90, b.getSouth()), Math.min(180, b.getEast()), Math.min(90, b.getNorth())]
      .map((v) => Number(v.toFixed(6)));
  }
  function scheduleSummary() { clearTimeout(summaryTimer); summaryTimer = setTimeout(loadSummary, 150); }
  function loadSummary() {
    const q = filterParams(true);
    q.set("bbox", viewBbox().join(","));
    q.set("sort", state.sort);
    q.set("offset", state.offset);
    q.set("limit", 25);
    if (summaryAbort) { summaryAbort.abort(); }
    summaryAbort = new AbortController();
    api("/properties/summary?" + q.toString(), { signal: summaryAbort.signal })
      .then((r) => r.ok ? r.json() : r.json().then((p) => Promise.reject(p.detail || r.status)))
      .then((s) => { lastSummary = s; renderSummary(s); })
      .catch((err) => { if (err && err.name !== "AbortError") { say("Could not summarise the view: " + err); } });
  }
  function renderSummary(s) {
    const total = s.count || 1;
    const bar = RAGS.map((r) => '<span style="width:' + (100 * s.rag[r] / total) + "%;background:" +
      cfg.ragColours[r === "unrated" ? "none" : r] + '"></span>').join("");
    const cols = [["name", "Building"], ["owner", "Owner"], ["rag", "RAG"], ["gia_m2", "m²", "num"], ["value_gbp", "Value", "num"]];
    const head = cols.map(([key, text, cls]) => {
      const now = state.sort === key ? "ascending" : state.sort === "-" + key ? "descending" : "none";
      return '<th class="' + (cls || "") + '" aria-sort="' + now + '"><button type="button" data-sort="' + key + '">' + text +
        (now === "ascending" ? " ▲" : now === "descending" ? " ▼" : "") + "</button></th>";
    }).join("");
    const rows = s.items.map((p) => '<tr class="row"><td><button type="button" data-id="' + esc(p.id) + '">' + esc(p.name) +
      "</button><br><small>" + esc(p.post_town || "") + " · " + esc(label(p.use_category)) + "</small></td><td>" + esc(ownerName(p.owner)) +
      "</td><td>" + (p.rag ? '<span class="shape shape-' + p.rag + '"></span>' + esc(p.rag) : "—") + '</td><td class="num">' +
      (p.gia_m2 === null ? "—" : num(p.gia_m2)) + '</td><td class="num">' + (p.value_gbp === null ? "—" : money(p.value_gbp)) + "</td></tr>").join("");
    const first = s.count ? s.offset + 1 : 0;
    const last = s.offset + s.items.length;
    $("pane-view").innerHTML =
      '<div class="totals" id="estate-totals">' +
      '<div>Buildings<b id="estate-count">' + num(s.count) + "</b></div>" +
      "<div>Floor area<b>" + num(s.gia_m2) + " m²</b></div>" +
      "<div>Value<b>" + (s.value_known ? money(s.value_gbp) : "not shown") + "</b>" +
      (s.value_known < s.count ? "<small>" + num(s.value_known) + " of " + num(s.count) + " valued or visible</small>" : "") + "</div>" +
      '<div>Rating<div class="ragbar" role="img" aria-label="RAG split">' + bar + "</div></div></div>" +
      '<p class="ragsplit" id="estate-ragsplit">' + RAGS.map((r) => '<span class="shape shape-' + r + '"></span>' + r + " " + num(s.rag[r])).join(" · ") + "</p>" +
      (s.count ? '<table class="list"><caption class="visually-hidden">Buildings in view</caption><thead><tr>' + head + "</tr></thead><tbody>" + rows + "</tbody></table>" +
        '<div class="pager"><button type="button" id="estate-prev"' + (s.offset ? "" : " disabled") + '>Previous</button><span>' + first + "–" + last + " of " + num(s.count) +
        '</span><button type="button" id="estate-next"' + (s.next_offset === null ? " disabled" : "") + ">Next</button></div>"
        : '<p class="empty">No building in view matches the filters. Zoom out or clear a filter.</p>');
    $("pane-view").querySelectorAll("th button").forEach((b) => b.addEventListener("click", () => {
      const key = b.dataset.sort;
      state.sort = state.sort === key ? "-" + key : key;
      state.offset = 0; writeUrl(); loadSummary();
    }));
    $("pane-view").querySelectorAll("tr.row button").forEach((b) => b.addEventListener("click", () => openRecord(b.dataset.id, true)));
    const prev = $("estate-prev"), next = $("estate-next");
    if (prev) { prev.addEventListener("click", () => { state.offset = Math.max(0, s.offset - s.limit); loadSummary(); }); }
    if (next) { next.addEventListener("click", () => { state.offset = s.next_offset; loadSummary(); }); }
  }

  // ---- tabs and panel ----
  function showTab(tab) {
    state.tab = tab;
    ["view", "record", "hubs", "receipts"].forEach((t) => {
      $("tab-" + t).setAttribute("aria-selected", String(t === tab));
      $("pane-" + t).hidden = t !== tab;
    });
    if (tab === "hubs") { loadHubs(); }
    if (tab === "receipts") { initReceipts(); }
    writeUrl();
  }
  function initPanel() {
    ["view", "record", "hubs", "receipts"].forEach((t) => $("tab-" + t).addEventListener("click", () => showTab(t)));
    $("estate-panel-toggle").addEventListener("click", (e) => {
      const panel = $("panel");
      panel.hidden = !panel.hidden;
      e.target.setAttribute("aria-expanded", String(!panel.hidden));
      e.target.textContent = panel.hidden ? "Show panel" : "Hide panel";
      map.resize();
    });
  }

  // ---- who is signed in: a "Sign in" link that comes back to this view, or the person and "Sign out" ----
  const signInHref = () => cfg.apiBase + "/login?next=" + encodeURIComponent(location.pathname + location.search);
  function loadMe() {
    return api("/me").then((r) => r.ok ? r.json() : Promise.reject(r.status))
      .then((body) => { me = body; })
      .catch(() => { me = { signed_in: false }; say("Could not tell who is signed in: showing the public view."); })
      .then(renderWho);
  }
  function renderWho() {
    const box = $("estate-who");
    if (!signedIn()) {
      box.innerHTML = '<a id="estate-signin" href="' + esc(signInHref()) + '">Sign in</a>';
      return;
    }
    const who = (me.email || me.actor || "") + (me.org ? " — " + ownerName(me.org) : "") + " (" + label(me.role) + ")";
    box.innerHTML = '<span id="estate-me">' + esc(who) + "</span>" +
      (me.must_change_password ? ' <a href="' + esc(cfg.apiBase) + '/login">Choose your password</a>' : "") +
      (me.via === "session" ? ' <button type="button" id="estate-signout">Sign out</button>' : "");
    const out = $("estate-signout");
    if (out) { out.addEventListener("click", signOut); }
  }
  function signOut() {
    say("Signing out…");
    api("/logout", { method: "POST" }).then((r) => {
      if (!r.ok) { return Promise.reject(r.status); }
      location.reload();  // start again as the public: nothing the person could see stays on the page
    }).catch((st) => say("Sign-out failed (" + esc(st) + "); try again."));
  }
  function reloadTiles() {
    tileRevalidate = true;
    map.getSource("points").setTiles([pointsUrl()]);
    map.getSource("clusters").setTiles([clustersUrl()]);
  }

  // ---- search: buildings from the register, towns from the wayfinding layer ----
  function initSearch() {
    $("estate-search").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = $("estate-search-input").value.trim();
      const list = $("estate-search-results");
      list.innerHTML = "";
      if (!text) { return; }
      const lower = text.toLowerCase();
      const townHits = towns.filter((t) => t.properties.name.toLowerCase().startsWith(lower)).slice(0, 3);
      townHits.forEach((t) => addResult(list, "Town: " + t.properties.name + " (" + num(t.properties.buildings) + " buildings)", () => {
        map.flyTo({ center: t.geometry.coordinates, zoom: Math.max(pointsMinZoom + 2, 13) });
      }));
      api("/properties?limit=15&q=" + encodeURIComponent(text)).then((r) => r.json()).then((page) => {
        (page.items || []).forEach((p) => addResult(list, p.name + " — " + (p.post_town || "") + " " + (p.postcode || ""), () => openRecord(p.id, true)));
        if (!list.children.length) { list.innerHTML = "<li>No match.</li>"; }
        const firstButton = list.querySelector("button");
        if (firstButton) { firstButton.focus(); }
      });
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") { $("estate-search-results").innerHTML = ""; } });
  }
  function addResult(list, text, action) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text;
    b.addEventListener("click", () => { list.innerHTML = ""; action(); });
    li.appendChild(b); list.appendChild(li);
  }

  // ---- the record ----
  let record = null;       // as read (the base of any edit)
  let recordEtag = null;
  let pendingEdits = null; // the manager's edits kept across a conflict
  const fieldSchema = (name) => {
    const s = cfg.fieldSchemas[name];
    if (!s) { return null; }
    const variants = (s.anyOf || [s]).filter((v) => v.type !== "null");
    return Object.assign({ description: s.description }, variants[0] || {});
  };
  function displayValue(name, v) {
    if (v === null || v === undefined || (Array.isArray(v) && !v.length)) { return "—"; }
    if (name === "geometry") { return v.coordinates.map((c) => typeof c === "number" ? c.toFixed(5) : c).join(", "); }
    if (name === "footprint") { return "outline recorded"; }
    if (name === "owner") { return ownerName(v); }
    if (/_gbp(_pa)?$/.test(name)) { return "£" + num(v); }
    if (typeof v === "boolean") { return v ? "yes" : "no"; }
    if (Array.isArray(v)) { return v.map(label).join(", "); }
    if (/_at$/.test(name)) { return new Date(v).toLocaleString("en-GB"); }
    if (typeof v === "number") { return num(v, 2); }
    return label(v) === v ? v : (/^[a-z_]+$/.test(v) ? label(v) : v);
  }
  // Only an owner (or an admin) is shown who last changed a record, so its presence marks a record of one's own body.
  const canEdit = (rec) => signedIn() && me.can_edit && rec && Object.prototype.hasOwnProperty.call(rec, "updated_by");
  function readOnlyWhy(rec) {
    if (!signedIn()) { return "Read only. Sign in to edit your body's records."; }
    if (!me.can_edit) { return "Read only: your role (" + label(me.role) + ") can see records but not change them."; }
    return "Read only: this building belongs to " + ownerName(rec.owner) + ", not to your body.";
  }

  // ---- location and footprint: typed as lon/lat or easting/northing, or dragged on the map ----
  const BNG = "EPSG:27700";
  let editMarker = null;
  let placeBase = null;  // the coordinates the location inputs started from, in their system
  const AXES = { lonlat: ["Longitude", "Latitude"], bng: ["Easting (m)", "Northing (m)"] };
  function locationInput(value) {
    const [x, y] = value ? value.coordinates : ["", ""];
    placeBase = { system: "lonlat", x: value ? x : null, y: value ? y : null };
    return '<span class="location" role="group" aria-label="Location">' +
      '<select id="f-geometry-system" aria-label="Coordinates given as"><option value="lonlat">lon, lat (WGS84)</option>' +
      '<option value="bng">easting, northing (British National Grid)</option></select>' +
      '<input type="number" step="any" id="f-geometry" name="geometry" aria-label="Longitude" aria-describedby="err-geometry" value="' + esc(x) + '">' +
      '<input type="number" step="any" id="f-geometry-y" aria-label="Latitude" aria-describedby="err-geometry" value="' + esc(y) + '">' +
      '<button type="button" id="f-geometry-drag">Move on the map</button></span>';
  }
  function footprintInput(value) {
    const text = value ? JSON.stringify(value) : "";
    return '<span class="footprint"><textarea id="f-footprint" name="footprint" rows="3" spellcheck="false" aria-describedby="err-footprint hint-footprint" data-base="' +
      esc(text) + '">' + esc(text) + '</textarea><small id="hint-footprint">GeoJSON Polygon or MultiPolygon in the same coordinates as the location; empty clears it.</small></span>';
  }
  // Switching to easting/northing asks the service for the point in British National Grid (no projection library here).
  function switchSystem(system) {
    const x = $("f-geometry"), y = $("f-geometry-y");
    x.setAttribute("aria-label", AXES[system][0]); y.setAttribute("aria-label", AXES[system][1]);
    if (!record.geometry) { placeBase = { system, x: null, y: null }; return Promise.resolve(); }
    if (system === "lonlat") {
      placeBase = { system, x: record.geometry.coordinates[0], y: record.geometry.coordinates[1] };
      x.value = placeBase.x; y.value = placeBase.y;
      return Promise.resolve();
    }
    return api("/collections/properties/items/" + encodeURIComponent(record.id) + "?crs=" + BNG)
      .then((r) => r.ok ? r.json() : Promise.reject(r.status)).then((f) => {
        const [e, n] = f.geometry.coordinates.map((v) => Math.round(v * 100) / 100);
        placeBase = { system, x: e, y: n };
        x.value = e; y.value = n;
      }).catch(() => { $("err-geometry").textContent = "Could not read the easting and northing; enter lon, lat instead."; });
  }
  function readLocation() {
    const rx = $("f-geometry").value.trim(), ry = $("f-geometry-y").value.trim();
    if (rx === "" && ry === "") { return null; }
    // A value that is not a number goes as typed: the register names the field it refuses.
    const parse = (raw) => raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    return { type: "Point", coordinates: [parse(rx), parse(ry)] };
  }
  function locationEdit() {
    const v = readLocation();
    const unchanged = v === null ? placeBase.x === null
      : placeBase.x !== null && v.coordinates[0] === placeBase.x && v.coordinates[1] === placeBase.y;
    return unchanged ? undefined : v;
  }
  function footprintEdit(form) {
    const el = form.elements.footprint;
    const raw = el.value.trim();
    if (raw === el.dataset.base) { return undefined; }
    if (raw === "") { return null; }
    try { return JSON.parse(raw); } catch (err) { return { invalidJson: String(err.message || err) }; }
  }
  function startDrag() {
    if (editMarker) { editMarker.remove(); }
    const at = readLocation();
    const lonlat = $("f-geometry-system").value === "lonlat" && at && at.coordinates.every(Number.isFinite)
      ? at.coordinates : record.geometry ? record.geometry.coordinates : map.getCenter().toArray();
    editMarker = new maplibregl.Marker({ draggable: true, color: "#1d70b8" }).setLngLat(lonlat).addTo(map);
    const el = editMarker.getElement();
    el.setAttribute("aria-label", "New location: drag, or press the arrow keys, to move (Shift: finer)");
    el.setAttribute("role", "button");
    el.tabIndex = 0;
    el.id = "estate-edit-marker";
    map.easeTo({ center: lonlat, zoom: Math.max(map.getZoom(), 16) });
    const placed = () => {
      const ll = editMarker.getLngLat();
      const put = () => {
        $("f-geometry").value = ll.lng.toFixed(6); $("f-geometry-y").value = ll.lat.toFixed(6);
        $("f-geometry").closest(".row").classList.add("changed");
      };
      if ($("f-geometry-system").value !== "lonlat") { $("f-geometry-system").value = "lonlat"; switchSystem("lonlat").then(put); } else { put(); }
    };
    editMarker.on("dragend", placed);
    // The keyboard's way to drag: arrows move the marker 10 screen pixels (Shift: 1), whatever the zoom.
    el.addEventListener("keydown", (ev) => {
      const step = ev.shiftKey ? 1 : 10;
      const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
      if (!d) { return; }
      ev.preventDefault(); ev.stopPropagation();  // the marker moves, not the map under it
      const at = map.project(editMarker.getLngLat());
      editMarker.setLngLat(map.unproject([at.x + d[0], at.y + d[1]]));
      placed();
    });
    el.focus({ preventScroll: true });
    say("Drag the blue marker to the building's new place, or move it with the arrow keys, then save.");
  }
  function stopDrag() { if (editMarker) { editMarker.remove(); editMarker = null; } }

  function inputFor(name, value) {
    if (name === "geometry") { return locationInput(value); }
    if (name === "footprint") { return footprintInput(value); }
    const s = fieldSchema(name);
    const id = "f-" + name;
    const common = 'id="' + id + '" name="' + name + '" aria-describedby="err-' + name + '"';
    if (s.type === "array" && s.items && s.items.enum) {
      return '<span role="group" aria-label="' + esc(name) + '">' + s.items.enum.map((opt) =>
        '<label><input type="checkbox" name="' + name + '" value="' + esc(opt) + '"' + ((value || []).includes(opt) ? " checked" : "") + "> " + esc(label(opt)) + "</label>").join(" ") + "</span>";
    }
    if (s.enum) {
      return "<select " + common + '><option value="">—</option>' + s.enum.map((opt) =>
        '<option value="' + esc(opt) + '"' + (opt === value ? " selected" : "") + ">" + esc(label(opt)) + "</option>").join("") + "</select>";
    }
    if (s.type === "boolean") { return "<input type=\"checkbox\" " + common + (value ? " checked" : "") + ">"; }
    if (s.type === "integer" || s.type === "number") {
      return '<input type="number" ' + common + ' step="' + (s.type === "integer" ? 1 : "any") + '"' +
        (s.minimum !== undefined ? ' min="' + s.minimum + '"' : "") + (s.maximum !== undefined ? ' max="' + s.maximum + '"' : "") +
        ' value="' + (value === null || value === undefined ? "" : esc(value)) + '">';
    }
    if (s.format === "date") { return '<input type="date" ' + common + ' value="' + esc(value || "") + '">'; }
    if ((s.maxLength || 0) > 200) { return "<textarea " + common + ' rows="2">' + esc(value || "") + "</textarea>"; }
    return '<input type="text" ' + common + (s.maxLength ? ' maxlength="' + s.maxLength + '"' : "") + ' value="' + esc(value === null || value === undefined ? "" : value) + '">';
  }
  function readInput(form, name) {
    const s = fieldSchema(name);
    if (s.type === "array") { return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map((b) => b.value); }
    const el = form.elements[name];
    if (s.type === "boolean") { return el.checked; }
    const raw = el.value.trim();
    if (raw === "") { return null; }
    if (s.type === "integer") { return Number.isInteger(Number(raw)) ? Number(raw) : raw; }
    if (s.type === "number") { return Number.isFinite(Number(raw)) ? Number(raw) : raw; }
    return raw;
  }
  const same = (a, b) => JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
  function editsIn(form) {
    const edits = {};
    cfg.editable.forEach((name) => {
      if (!form.querySelector('[name="' + name + '"]')) { return; }
      if (name === "geometry" || name === "footprint") {
        const v = name === "geometry" ? locationEdit() : footprintEdit(form);
        if (v !== undefined) { edits[name] = v; }
        return;
      }
      const v = readInput(form, name);
      const base = name === "postcode" || name === "disposal_blockers" ? record[name] : record[name];
      if (!same(v, base) && !(v === null && (base === "" || base === undefined))) { edits[name] = v; }
    });
    return edits;
  }

  function openRecord(id, fly, switchTab) {
    state.record = id;
    pendingEdits = null;
    if (switchTab !== false) { showTab("record"); }
    map.setFilter("selected", ["==", ["get", "id"], id]);
    // Whether the record opens as a form depends on who is signed in.
    return meLoaded.then(() => api("/properties/" + encodeURIComponent(id)))
      .then((r) => { recordEtag = r.headers.get("ETag"); return r.ok ? r.json() : Promise.reject(r.status); })
      .then((p) => {
        record = p;
        renderRecord();
        if (fly && p.geometry) { map.flyTo({ center: p.geometry.coordinates, zoom: Math.max(map.getZoom(), 16) }); }
        loadHistory(id);
      })
      .catch((st) => { $("pane-record").innerHTML = '<p class="empty">Could not open that building (' + esc(st) + ").</p>"; });
  }

  function renderRecord(conflict) {
    stopDrag();
    const p = record;
    const editable = canEdit(p);
    const groups = cfg.recordGroups.map((g) => {
      const rows = g.fields.filter((f) => Object.prototype.hasOwnProperty.call(p, f.name)).map((f) => {
        const edit = editable && cfg.editable.includes(f.name);
        return '<div class="row" data-field="' + f.name + '">' +
          (edit ? '<label for="f-' + f.name + '">' + esc(f.label) + "</label>" + inputFor(f.name, p[f.name])
                : "<span>" + esc(f.label) + "</span><span>" + esc(displayValue(f.name, p[f.name])) + "</span>") +
          '<span class="field-error" id="err-' + f.name + '" role="alert"></span></div>';
      }).join("");
      const extra = g.title === "Disposal" ? suggestedRating() + disposalWindow() : "";
      return rows || extra ? "<fieldset><legend>" + esc(g.title) + "</legend>" + rows + extra + "</fieldset>" : "";
    }).join("");
    const who = editable ? "You can edit this record; saving checks nobody changed it meanwhile." : readOnlyWhy(p);
    $("pane-record").innerHTML =
      '<div class="record"><h2 id="record-title">' + esc(p.name) + '</h2><p class="empty">' + esc(ownerName(p.owner)) +
      " · version " + esc(p.version) + "<br>" + who + "</p>" +
      (conflict || "") +
      '<form id="record-form" novalidate>' + groups +
      (editable ? '<div class="actions"><button type="submit" id="record-save">Save changes</button><button type="button" id="record-reset">Undo edits</button><span id="record-status" role="status"></span></div>' : "") +
      '</form><h3>History</h3><ol class="timeline" id="record-history" aria-label="History of this record"><li>Loading…</li></ol></div>';
    loadSuggestion(p.id);
    loadDisposal(p.id);
    const form = $("record-form");
    // Only the record's own Save submits it; Enter in the interest fields registers interest instead.
    form.addEventListener("submit", (e) => e.preventDefault());
    if (editable) {
      form.addEventListener("input", (e) => { const row = e.target.closest(".row"); if (row) { row.classList.add("changed"); } });
      form.addEventListener("submit", (e) => { e.preventDefault(); save(editsIn(form)); });
      $("record-reset").addEventListener("click", () => renderRecord());
      if ($("f-geometry-system")) {
        $("f-geometry-system").addEventListener("change", (e) => switchSystem(e.target.value));
        $("f-geometry-drag").addEventListener("click", startDrag);
      }
    }
    writeUrl();
  }
  // The register's suggested rating (GET /properties/{id}/rag-suggestion, partners) beside the human one.
  function suggestedRating() {
    return '<div class="suggested" id="record-suggested"><b>Suggested rating:</b> <span id="record-suggested-body">loading…</span></div>';
  }
  function loadSuggestion(id) {
    api("/properties/" + encodeURIComponent(id) + "/rag-suggestion").then((r) => r.ok ? r.json() : Promise.reject(r.status)).then((sg) => {
      const el = $("record-suggested-body");
      if (!el) { return; }
      el.innerHTML = '<span class="shape shape-' + esc(sg.suggested_rag) + '"></span>' + esc(sg.suggested_rag) +
        (sg.differs ? " — differs from the rating set by a person (" + esc(sg.human_rag || "unrated") + ")" : " — agrees with the rating set by a person") +
        (sg.reasons.length ? "<ul>" + sg.reasons.map((x) => "<li>" + esc(x.reason) + "</li>").join("") + "</ul>" : "");
    }).catch((st) => {
      const el = $("record-suggested-body");
      if (el) { el.textContent = st === 403 || st === 401 ? "shown to partners (sign in to see it)." : "none available for this building."; }
    });
  }

  // The partners' window (GET /properties/{id}/disposal, partners): while a building declared surplus
  // waits out its window, another body's editor registers the service it would put there.
  function disposalWindow() {
    return '<div class="interest" id="record-interest" hidden></div>';
  }
  const longDate = (iso) => new Date(iso + "T00:00:00").toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric" });
  const INTEREST_FIELDS = ["service", "floor_area_m2", "note"];
  function loadDisposal(id, said) {
    api("/properties/" + encodeURIComponent(id) + "/disposal").then((r) => r.ok ? r.json() : Promise.reject(r.status)).then((d) => {
      const box = $("record-interest");
      if (!box || !record || record.id !== d.property_id) { return; }
      const w = d.interest_window;
      if (d.stage !== "declared_surplus" || !w || !w.open_for_interest) { box.hidden = true; return; }
      const mine = d.interest.filter((x) => x.window_id === w.id);
      const list = mine.length
        ? '<ul id="interest-list" aria-label="Interest registered">' + mine.map((x) => '<li data-org="' + esc(x.org) + '">' + esc(ownerName(x.org)) + ": " +
            esc(x.service) + ", " + num(x.floor_area_m2) + " m²" + (x.note ? " — " + esc(x.note) : "") + "</li>").join("") + "</ul>"
        : '<p id="interest-list" class="empty">No interest registered that you may see.</p>';
      const already = signedIn() && me.org && mine.some((x) => x.org === me.org);
      const mayRegister = signedIn() && me.can_edit && me.org && me.org !== d.owner && !already;
      const field = (name, text, input) => '<div class="row"><label for="i-' + name + '">' + text + "</label>" + input +
        '<span class="field-error" id="ierr-' + name + '" role="alert"></span></div>';
      const form = mayRegister
        ? '<div role="group" aria-labelledby="interest-heading" id="interest-form"><h4 id="interest-heading">Register your body\'s interest</h4>' +
          field("service", "Service you would put there", '<input type="text" id="i-service" maxlength="500" aria-describedby="ierr-service">') +
          field("floor_area_m2", "Floor area needed (m²)", '<input type="number" id="i-floor_area_m2" min="0" step="any" aria-describedby="ierr-floor_area_m2">') +
          field("note", "Note (optional)", '<textarea id="i-note" rows="2" maxlength="2000" aria-describedby="ierr-note"></textarea>') +
          '<div class="actions"><button type="button" id="interest-register">Register interest</button><span id="interest-status" role="status"></span></div></div>'
        : "";
      box.innerHTML = '<p id="interest-window" data-ends-on="' + esc(w.ends_on) + '"><b>Partners\' window closes ' + esc(longDate(w.ends_on)) + "</b></p>" +
        "<h4>Interest registered</h4>" + list + form;
      box.hidden = false;
      if (said) { const st = $("interest-status"); if (st) { st.textContent = said; } else { box.insertAdjacentHTML("beforeend", '<p id="interest-status" role="status">' + esc(said) + "</p>"); } }
      if (!mayRegister) { return; }
      $("interest-register").addEventListener("click", () => registerInterest(d.property_id));
      INTEREST_FIELDS.filter((n) => n !== "note").forEach((n) => $("i-" + n).addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); registerInterest(d.property_id); }
      }));
    }).catch(() => { const box = $("record-interest"); if (box) { box.hidden = true; } });  // not a partner: nothing to show
  }
  function registerInterest(id) {
    const st = $("interest-status");
    INTEREST_FIELDS.forEach((n) => { $("ierr-" + n).textContent = ""; $("i-" + n).removeAttribute("aria-invalid"); });
    const raw = (n) => $("i-" + n).value.trim();
    const area = raw("floor_area_m2");
    const body = { service: raw("service"), floor_area_m2: area === "" ? null : (Number.isFinite(Number(area)) ? Number(area) : area) };
    if (raw("note")) { body.note = raw("note"); }
    st.textContent = "Registering…";
    api("/properties/" + encodeURIComponent(id) + "/disposal/interest", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }).then((r) => r.json().then((b) => ({ r, b }))).then(({ r, b }) => {
      if (r.ok) { loadDisposal(id, "Interest registered."); return; }
      const general = [];
      const errors = b.errors || (b.field ? [{ field: b.field, message: b.detail }] : []);
      errors.forEach((err) => {
        const name = String(err.field).split(".").find((part) => INTEREST_FIELDS.includes(part));
        if (name) { $("ierr-" + name).textContent = err.message; $("i-" + name).setAttribute("aria-invalid", "true"); }
        else { general.push((err.field ? err.field + ": " : "") + err.message); }
      });
      const csrf = String(b.type || "").endsWith("/csrf-refused");
      const why = csrf ? "your sign-in has changed since this page opened: reload the page and try again."
        : general.length ? general.join("; ") : errors.length ? "see the fields marked." : (b.detail || r.status);
      st.textContent = "Not registered: " + why;
      const first = document.querySelector("#interest-form [aria-invalid='true']");
      if (first) { first.focus(); }
    }).catch(() => { st.textContent = "Not registered: the service did not answer."; });
  }

  function save(edits, crsGiven) {
    const st = $("record-status");
    document.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
    if (!Object.keys(edits).length) { st.textContent = "Nothing changed."; return; }
    if (edits.footprint && edits.footprint.invalidJson) {
      $("err-footprint").textContent = "Not GeoJSON: " + edits.footprint.invalidJson;
      st.textContent = "Not saved: see the fields marked.";
      return;
    }
    st.textContent = "Saving…";
    const base = record;
    // Coordinates typed as easting/northing go as they are; the service reprojects (and checks) them.
    const system = $("f-geometry-system");
    const crs = crsGiven !== undefined ? crsGiven
      : system && system.value === "bng" && ("geometry" in edits || "footprint" in edits) ? "?crs=" + BNG : "";
    api("/properties/" + encodeURIComponent(base.id) + crs, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", "If-Match": recordEtag || "" },
      body: JSON.stringify(edits),
    }).then((r) => r.json().then((body) => ({ r, body }))).then(({ r, body }) => {
      if (r.ok) {
        record = body; recordEtag = r.headers.get("ETag"); pendingEdits = null;
        renderRecord();
        $("record-status").textContent = "Saved: " + Object.keys(edits).map(fieldLabel).join(", ") + ".";
        loadHistory(base.id); reloadTiles(); scheduleSummary();
        return;
      }
      if (r.status === 412) { return showConflict(base, edits, crs); }
      if (r.status === 422 && body.errors) {
        const general = [];
        body.errors.forEach((err) => {
          const slot = $("err-" + String(err.field).split(".")[0]);
          if (slot) { slot.textContent = err.message; } else { general.push(err.field + ": " + err.message); }
        });
        st.textContent = "Not saved: " + (general.length ? general.join("; ") : "see the fields marked.");
        const firstError = document.querySelector(".field-error:not(:empty)");
        if (firstError) { const input = firstError.parentElement.querySelector("input,select,textarea"); if (input) { input.focus(); } }
        return;
      }
      const csrf = String(body.type || "").endsWith("/csrf-refused");
      const why = csrf ? "your sign-in has changed since this page opened: reload the page and try again."
        : { 403: "you may not change this body's buildings.", 401: "you are not signed in (sign in again).", 409: body.detail }[r.status];
      if (r.status === 409 && body.field && $("err-" + body.field)) { $("err-" + body.field).textContent = body.detail; }
      st.textContent = "Not saved: " + (why || body.detail || r.status);
    }).catch(() => { st.textContent = "Not saved: the service did not answer."; });
  }
  const fieldLabel = (name) => {
    for (const g of cfg.recordGroups) { for (const f of g.fields) { if (f.name === name) { return f.label; } } }
    return label(name);
  };

  // Someone saved first: show what they changed, keep the manager's edits, and let them re-apply on top.
  function showConflict(base, edits, crs) {
    return api("/properties/" + encodeURIComponent(base.id)).then((r) => {
      const etag = r.headers.get("ETag");
      return r.json().then((current) => {
        const theirs = Object.keys(current).filter((k) => !["version", "updated_at", "updated_by", "rag_set_at", "rag_set_by"].includes(k) && !same(current[k], base[k]));
        pendingEdits = edits;
        record = current; recordEtag = etag;
        const clash = Object.keys(edits).filter((k) => theirs.includes(k));
        const rows = theirs.map((k) => "<tr><td>" + esc(fieldLabel(k)) + "</td><td>" + esc(displayValue(k, base[k])) + "</td><td>" +
          esc(displayValue(k, current[k])) + "</td></tr>").join("");
        const mine = Object.keys(edits).map((k) => "<tr><td>" + esc(fieldLabel(k)) + "</td><td>" + esc(displayValue(k, edits[k])) +
          (clash.includes(k) ? " <b>(they changed this too)</b>" : "") + "</td></tr>").join("");
        const box = '<div class="conflict" id="record-conflict" role="alert"><h3>Someone else saved this record first</h3>' +
          "<p>" + esc(current.updated_by ? "Changed by " + current.updated_by + ", " : "Changed ") + "now at version " + esc(current.version) +
          ". Nothing of yours or theirs has been overwritten.</p>" +
          "<table><thead><tr><th>They changed</th><th>from</th><th>to</th></tr></thead><tbody>" + (rows || '<tr><td colspan="3">no field you may see</td></tr>') + "</tbody></table>" +
          "<table><thead><tr><th>Your edits</th><th>value</th></tr></thead><tbody>" + mine + "</tbody></table>" +
          '<p><button type="button" id="record-reapply">Re-apply my edits on top</button> <button type="button" id="record-discard">Discard my edits</button></p></div>';
        renderRecord(box);
        $("record-reapply").addEventListener("click", () => save(pendingEdits, crs));
        $("record-discard").addEventListener("click", () => { pendingEdits = null; renderRecord(); });
        loadHistory(base.id);
      });
    });
  }

  function loadHistory(id) {
    api("/properties/" + encodeURIComponent(id) + "/history").then((r) => r.ok ? r.json() : Promise.reject(r.status)).then((h) => {
      const list = $("record-history");
      if (!list) { return; }
      list.innerHTML = h.changes.slice().reverse().map((c) => {
        const changed = c.action === "insert" || !c.before ? null
          : Object.keys(c.after || {}).filter((k) => !["version", "updated_at", "updated_by"].includes(k) && !same(c.before[k], c.after[k]));
        const detail = changed === null ? "<ul><li>created</li></ul>"
          : "<ul>" + changed.map((k) => "<li>" + esc(fieldLabel(k)) + ": " + esc(displayValue(k, c.before[k])) + " → " + esc(displayValue(k, c.after[k])) + "</li>").join("") + "</ul>";
        return '<li data-version="' + esc(c.version) + '"><span class="when">v' + esc(c.version) + " · " + esc(new Date(c.changed_at).toLocaleString("en-GB")) +
          " · " + esc(c.actor || "someone") + "</span>" + detail + "</li>";
      }).join("");
    }).catch(() => { const list = $("record-history"); if (list) { list.innerHTML = "<li>History unavailable.</li>"; } });
  }

  // ---- co-location hubs ----
  let hubs = null;
  function loadHubs() {
    if (hubs) { return; }
    hubs = [];
    $("pane-hubs").innerHTML = '<p class="empty">Finding hub candidates…</p>';
    api("/colocation/candidates?limit=25").then((r) => r.ok ? r.json() : Promise.reject(r.status)).then((body) => {
      hubs = body.candidates;
      const p = body.parameters;
      $("pane-hubs").innerHTML = "<p class=\"empty\">Buildings of " + p.min_owners + "+ bodies within " + num(p.distance_m) +
        " m of a host that could take them, best first. Select one to see its buildings.</p>" +
        '<ol class="hubs" id="hub-list">' + hubs.map((h, i) => '<li><button type="button" aria-pressed="false" data-index="' + i + '">' +
          "<b>#" + h.rank + " " + esc(h.town || "") + "</b> — " + h.owners.length + " bodies, releases " + h.released_count +
          " building" + (h.released_count === 1 ? "" : "s") + "<br><small>capital " + money(h.capital_value_gbp) + " · saves " +
          money(h.running_cost_saved_gbp_pa) + " a year · score " + esc(h.score) + '</small></button><div class="detail" hidden></div></li>').join("") + "</ol>";
      $("pane-hubs").querySelectorAll("#hub-list > li > button").forEach((b) => b.addEventListener("click", () => selectHub(Number(b.dataset.index))));
    }).catch((st) => { hubs = null; $("pane-hubs").innerHTML = '<p class="empty">Hub candidates unavailable (' + esc(st) + ").</p>"; });
  }
  function selectHub(i) {
    const h = hubs[i];
    state.hub = h;
    document.querySelectorAll("#hub-list > li").forEach((li, j) => {
      li.querySelector("button").setAttribute("aria-pressed", String(j === i));
      li.querySelector(".detail").hidden = j !== i;
    });
    const detail = document.querySelectorAll("#hub-list .detail")[i];
    detail.innerHTML = "<p>Host: <b>" + esc(h.host.name) + "</b> (" + esc(ownerName(h.host.owner)) + ", " + num(h.host.gia_m2 || 0) + " m²)</p>" +
      "<p>Space needed " + num(h.space_needed_m2 || 0) + " m², host spare " + num(h.host_spare_m2 || 0) + " m²" + (h.fits ? "" : " — needs " + num(h.extra_space_m2 || 0) + " m² more") +
      "; payback " + (h.payback_years === null ? "not shown" : esc(h.payback_years) + " years") + "</p>" +
      "<b>Why</b><ul>" + h.reasons.map((r) => "<li>" + esc(r) + "</li>").join("") + "</ul>" +
      "<b>Members</b><ul>" + h.members.map((m) => '<li><button type="button" class="linkish" data-id="' + esc(m.id) + '">' + esc(m.name) + "</button> — " +
        esc(ownerName(m.owner)) + (m.released ? ", released" : "") + ", " + num(m.distance_to_host_m || 0) + " m</li>").join("") + "</ul>";
    detail.querySelectorAll("button[data-id]").forEach((b) => b.addEventListener("click", () => openRecord(b.dataset.id, true)));
    const ids = [h.host.id].concat(h.members.map((m) => m.id));
    map.setFilter("hub-members", ["in", ["get", "id"], ["literal", ids]]);
    map.getSource("hub").setData(h.geometry ? { type: "Feature", geometry: h.geometry, properties: {} } : { type: "FeatureCollection", features: [] });
    const coords = [h.host.geometry.coordinates];
    (function walk(c) { if (typeof c[0] === "number") { coords.push(c); } else { c.forEach(walk); } })(h.geometry ? h.geometry.coordinates : []);
    const bounds = coords.reduce((b, c) => b.extend(c), new maplibregl.LngLatBounds(coords[0], coords[0]));
    map.fitBounds(bounds, { padding: 60, maxZoom: 17, minZoom: pointsMinZoom + 1 });
  }

  // ---- receipts ----
  let receiptsReady = false;
  let receiptsAbort = null;
  const PERCENT = new Set(["market_volatility_pa", "disposal_cost_rate", "discount_rate"]);
  const CONTROL_LABELS = {
    market_volatility_pa: "Market volatility (% a year)",
    disposal_cost_rate: "Disposal cost (% of receipt)",
    transition_cost_gbp_per_m2: "Transition cost (£ per m²)",
    discount_rate: "Discount rate (% real)",
    amber_first_year: "Amber sells from year",
    amber_last_year: "Amber sells by year",
  };
  function initReceipts() {
    if (receiptsReady) { estimateReceipts(); return; }
    receiptsReady = true;
    const controls = cfg.receiptsControls.map((c) => {
      const pct = PERCENT.has(c.name);
      const scale = pct ? 100 : 1;
      return '<label for="r-' + c.name + '" title="' + esc(c.description) + '">' + esc(CONTROL_LABELS[c.name] || label(c.name)) + "</label>" +
        '<input type="number" id="r-' + c.name + '" name="' + c.name + '" value="' + +(c.default * scale).toFixed(4) + '"' +
        (c.minimum !== null && c.minimum !== undefined ? ' min="' + c.minimum * scale + '"' : "") +
        (c.maximum !== null && c.maximum !== undefined ? ' max="' + c.maximum * scale + '"' : "") +
        ' step="' + (c.type === "integer" ? 1 : pct ? 0.5 : 10) + '">';
    }).join("");
    $("pane-receipts").innerHTML = '<div class="receipts"><p class="empty" id="receipts-scope"></p>' +
      '<div class="headline" id="receipts-headline">Estimating…</div>' +
      '<div class="chart" id="receipts-chart"></div>' +
      '<table class="compare" id="receipts-compare"></table>' +
      '<h3>Assumptions</h3><form id="receipts-form">' + controls + '</form><p><button type="button" id="receipts-reset">Reset to defaults</button></p>' +
      '<p id="receipts-error" class="field-error" role="alert"></p></div>';
    let timer = null;
    $("receipts-form").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(estimateReceipts, 400); });
    $("receipts-form").addEventListener("submit", (e) => { e.preventDefault(); estimateReceipts(); });
    $("receipts-reset").addEventListener("click", () => {
      cfg.receiptsControls.forEach((c) => { $("r-" + c.name).value = +(c.default * (PERCENT.has(c.name) ? 100 : 1)).toFixed(4); });
      estimateReceipts();
    });
    estimateReceipts();
  }
  function estimateReceipts() {
    if (!receiptsReady) { return; }
    const scenario = {};
    cfg.receiptsControls.forEach((c) => {
      const raw = Number($("r-" + c.name).value);
      scenario[c.name] = PERCENT.has(c.name) ? raw / 100 : raw;
    });
    const q = new URLSearchParams();
    if (state.owner) { q.set("owner", state.owner); }
    if (state.town) { q.set("town", state.town); }
    $("receipts-scope").textContent = "For " + (state.owner ? ownerName(state.owner) : "the whole estate") + (state.town ? " in " + state.town : "") +
      " (owner and town filters apply). Figures are net of disposal and transition costs.";
    $("receipts-headline").setAttribute("aria-busy", "true");
    if (receiptsAbort) { receiptsAbort.abort(); }
    const abort = new AbortController();
    receiptsAbort = abort;
    const path = "/receipts/estimate" + (q.toString() ? "?" + q.toString() : "");
    // The server runs one estimate per caller at a time: a newer request made while an older one is
    // still finishing gets 429 with Retry-After, so wait that long and ask again (this one only).
    const send = (attempt) => api(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(scenario), signal: abort.signal,
    }).then((r) => {
      if (r.status === 429 && attempt < 10) {
        const waitS = Math.min(10, Number(r.headers.get("Retry-After")) || 1);
        return new Promise((resolve) => setTimeout(resolve, waitS * 1000)).then(() => {
          if (abort.signal.aborted) { throw new DOMException("superseded", "AbortError"); }
          return send(attempt + 1);
        });
      }
      return r.json().then((body) => ({ r, body }));
    });
    send(0).then(({ r, body }) => {
      $("receipts-headline").removeAttribute("aria-busy");
      document.querySelectorAll("#receipts-form input").forEach((i) => i.removeAttribute("aria-invalid"));
      if (!r.ok) {
        const errs = (body.errors || []).map((e) => { const el = $("r-" + e.field); if (el) { el.setAttribute("aria-invalid", "true"); } return (CONTROL_LABELS[e.field] || e.field) + ": " + e.message; });
        $("receipts-error").textContent = (r.status === 401 || r.status === 403) && !signedIn()
          ? "Receipts are built from valuations, which partners see: sign in to estimate them."
          : "Not re-estimated: " + (errs.join("; ") || body.detail);
        return;
      }
      $("receipts-error").textContent = "";
      renderReceipts(body);
    }).catch((err) => { if (err.name !== "AbortError") { $("receipts-error").textContent = "The estimate did not answer."; } });
  }
  function renderReceipts(body) {
    const se = body.single_estate, silo = body.silo, d = body.difference;
    $("receipts-headline").innerHTML = 'Net receipts, single estate: <b id="receipts-p50">' + money(se.net.p50) + "</b><br>" +
      '<span id="receipts-range">P10 ' + money(se.net.p10) + " – P90 " + money(se.net.p90) + "</span> over " + se.years.length + " years; present value " + money(se.present_value.p50);
    $("receipts-compare").innerHTML = "<thead><tr><th></th><th>Single estate</th><th>Silo</th><th>Difference</th></tr></thead><tbody>" +
      ["gross", "net", "present_value"].map((k) => "<tr><td>" + label(k).replace(/^./, (c) => c.toUpperCase()) + " (expected)</td><td>" + money(se[k].expected) +
        "</td><td>" + money(silo[k].expected) + "</td><td>" + money(d[k].expected) + "</td></tr>").join("") +
      "<tr><td>Buildings releasable</td><td>" + num(se.counts.releasable) + "</td><td>" + num(silo.counts.releasable) + "</td><td>+" + num(d.additional_releasable) + "</td></tr></tbody>";
    $("receipts-chart").innerHTML = yearChart(se.years, silo.years);
  }
  // Expected net receipts a year (bars) with the P10–P90 spread (whiskers), and the silo estate (line).
  function yearChart(years, siloYears) {
    const W = 360, H = 190, L = 46, B = 24, T = 10, R = 8;
    const max = Math.max(1, ...years.map((y) => y.net_p90), ...siloYears.map((y) => y.expected_net));
    const bw = (W - L - R) / years.length;
    const y = (v) => T + (H - T - B) * (1 - Math.max(0, v) / max);
    const ticks = [0, 0.5, 1].map((f) => '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y(max * f) + '" y2="' + y(max * f) + '" stroke="#ddd"/>' +
      '<text x="' + (L - 4) + '" y="' + (y(max * f) + 3) + '" text-anchor="end">' + money(max * f) + "</text>").join("");
    const bars = years.map((yr, i) => {
      const x = L + i * bw;
      return '<g><title>' + yr.calendar_year + ": expected " + money(yr.expected_net) + " (P10 " + money(yr.net_p10) + ", P90 " + money(yr.net_p90) + ")</title>" +
        '<rect x="' + (x + bw * 0.15) + '" y="' + y(yr.expected_net) + '" width="' + bw * 0.7 + '" height="' + (y(0) - y(yr.expected_net)) + '" fill="#1d70b8"/>' +
        '<line x1="' + (x + bw / 2) + '" x2="' + (x + bw / 2) + '" y1="' + y(yr.net_p10) + '" y2="' + y(yr.net_p90) + '" stroke="#0b0c0c"/>' +
        '<text x="' + (x + bw / 2) + '" y="' + (H - 8) + '" text-anchor="middle">' + yr.calendar_year + "</text></g>";
    }).join("");
    const line = siloYears.map((yr, i) => (L + i * bw + bw / 2) + "," + y(yr.expected_net)).join(" ");
    return '<svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-labelledby="receipts-chart-title"><title id="receipts-chart-title">Net receipts a year: single estate (bars, with P10–P90) and silo (line)</title>' +
      ticks + bars + '<polyline points="' + line + '" fill="none" stroke="#d4351c" stroke-width="2" stroke-dasharray="4 2"/>' +
      '<g transform="translate(' + (L + 6) + "," + (T + 4) + ')"><rect width="9" height="9" fill="#1d70b8"/><text x="13" y="8">single estate</text>' +
      '<line x1="90" x2="104" y1="5" y2="5" stroke="#d4351c" stroke-width="2" stroke-dasharray="4 2"/><text x="108" y="8">silo</text></g></svg>';
  }

  // ---- start ----
  let ready = false;
  meLoaded = loadMe();
  initFilters();
  createMap();
  initPanel();
  initSearch();
  showTab(state.tab);
  window.ESTATE_MAP = {
    map: () => map,
    ready: () => ready,
    openRecord,
    summary: () => lastSummary,
    offline: () => offline,
    bubbleTotal: () => bubbleTotal,
    // ids of the buildings drawn in the current view (points layer), for tests and checks
    viewBbox,
    pointsInView: () => {
      const [w, s, e, n] = viewBbox();
      const drawn = new Map();
      map.queryRenderedFeatures({ layers: ["points"] }).forEach((f) => {
        const [x, y] = f.geometry.coordinates;
        if (x >= w && x <= e && y >= s && y <= n) { drawn.set(f.properties.id, { id: f.properties.id, lon: x, lat: y }); }
      });
      return Array.from(drawn.values());
    },
    highlighted: () => Array.from(new Set(map.queryRenderedFeatures({ layers: ["hub-members"] }).map((f) => f.properties.id))),
  };
})();
