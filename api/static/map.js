// The regulator's map: airspace, traffic, reviews, constraints and alerts over the HTTP API.
// Plain JavaScript, no build step, no request to any other host. Every string that comes
// from the API reaches the page through textContent (the el() helper), never parsed as
// HTML: a flight's purpose is whatever its operator typed.
"use strict";

const STATE_COLOURS = { pending_review: "#ff7f00", approved: "#1f78b4", activated: "#33a02c",
  nonconforming: "#e31a1c", replan_required: "#6a3d9a", rejected: "#999999", ended: "#999999",
  cancelled: "#999999" };
const CLASS_COLOURS = { prohibited: "#d7191c", restricted: "#fdae61", controlled: "#74add1",
  corridor: "#17a2b8" };
const MAX_FLIGHT_PAGES = 20;

const $ = (id) => document.getElementById(id);

// An element with text (never parsed as HTML), optional class and children.
function el(tag, text, className, children) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  if (className) { node.className = className; }
  for (const child of children || []) { node.appendChild(child); }
  return node;
}

// -- state ----------------------------------------------------------------------------------

const app = {
  token: sessionStorage.getItem("utm-token") || "",
  context: null,          // GET /v1/map/context
  clockOffsetMs: 0,       // server clock minus browser clock
  tracks: new Map(),      // flight id -> { track, line }
  alerts: [],
  selected: null,         // the flight shown in the details panel
  stream: null,           // AbortController of the event stream
  stats: {},
};
window.__mapStats = app.stats;

// A thin line takes a click a few pixels either side of it (Leaflet's default is 0).
const renderer = L.canvas({ padding: 0.3, tolerance: 4 });
const map = L.map("map", { preferCanvas: true, renderer, zoomSnap: 0.5 })
  .setView([30.66, 104.2], 9);
const layers = {
  cities: L.layerGroup().addTo(map),
  cells: L.layerGroup(),
  zones: L.layerGroup().addTo(map),
  vertiports: L.layerGroup().addTo(map),
  corridors: L.layerGroup().addTo(map),
  flights: L.featureGroup().addTo(map),  // a feature group passes its lines' clicks on
  alerts: L.layerGroup().addTo(map),
  selection: L.layerGroup().addTo(map),
};
L.control.layers(null, {
  "City boundaries": layers.cities,
  "Airspace grid cells (H3)": layers.cells,
  "Zones and constraints": layers.zones,
  "Vertiports": layers.vertiports,
  "Corridors (arrows: direction)": layers.corridors,
  "Flights in the window": layers.flights,
  "Alerts and conflicts": layers.alerts,
}, { collapsed: false }).addTo(map);
L.control.scale({ imperial: false }).addTo(map);

const hint = L.control({ position: "bottomleft" });
hint.onAdd = () => el("div", "", "map-hint");
hint.addTo(map);
const legend = L.control({ position: "bottomright" });
legend.onAdd = () => {
  const box = el("div", null, "map-legend");
  for (const [state, colour] of Object.entries(STATE_COLOURS).slice(0, 5)) {
    const swatch = el("i");
    swatch.style.background = colour;
    box.appendChild(el("div", null, null, [swatch, document.createTextNode(state)]));
  }
  box.appendChild(el("div", "thick line: emergency"));
  return box;
};
legend.addTo(map);

function setStat(name, value) {
  app.stats[name] = value;
  map.getContainer().dataset[name] = String(value);
}

function status(text, isError) {
  const line = $("status");
  line.textContent = text;
  line.className = isError ? "note error" : "note";
}

// -- the API --------------------------------------------------------------------------------

async function api(path, options) {
  const init = Object.assign({}, options || {});
  init.headers = Object.assign({ Authorization: "Bearer " + app.token }, init.headers || {});
  if (init.json !== undefined) {
    init.body = JSON.stringify(init.json);
    init.headers["Content-Type"] = "application/json";
    delete init.json;
  }
  const response = await fetch(path, init);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && (body.detail || body.title) ? body.detail || body.title : "";
    const error = new Error(response.status + " " + path.split("?")[0] + ": " + detail);
    error.status = response.status;
    throw error;
  }
  return body;
}

// Regulators and admins review, restrict and read alerts; operators only look.
const mayRegulate = () => app.context && app.context.principal.role !== "operator";
const city = () => $("city").value;
const toInput = (iso) => iso.slice(0, 16);
const fromInput = (value) => value + ":00Z";
const serverNow = () => new Date(Date.now() + app.clockOffsetMs);
const windowStart = () => fromInput($("window-start").value);
const windowEnd = () => fromInput($("window-end").value);
const latLngs = (path) => path.map(([lng, lat]) => [lat, lng]);
const query = (params) => new URLSearchParams(
  Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();

// -- static layers: cities, zones, vertiports, corridors ------------------------------------

function popupOf(lines) {
  return el("div", null, null, lines.map((line, i) => el(i ? "div" : "strong", line)));
}

function inCity(properties) {
  const wanted = city();
  if (!wanted) { return true; }
  const cities = properties.jurisdictions || [properties.jurisdiction];
  return cities.includes(wanted) || properties.jurisdiction === null;
}

async function loadCities() {
  const cities = await api("/v1/jurisdictions");
  layers.cities.clearLayers();
  let shown = 0;
  L.geoJSON(cities, {
    filter: (f) => !city() || f.id === city(),
    // Not interactive: on a canvas a polygon catches every click inside it, even unfilled.
    style: { color: "#444", weight: 1.5, fill: false, dashArray: "6 4", interactive: false },
    onEachFeature: (f, layer) => {
      shown += 1;
      L.tooltip({ permanent: true, direction: "center", className: "city-label",
        interactive: false }).setLatLng(layer.getBounds().getCenter())
        .setContent(el("span", f.properties.name + " " + f.properties.name_zh))
        .addTo(layers.cities);
      if (f.id === city()) { map.fitBounds(layer.getBounds()); }
    },
  }).addTo(layers.cities);
  setStat("cities", shown);
}

async function loadZones() {
  const zones = await api("/v1/zones");
  layers.zones.clearLayers();
  let shown = 0;
  L.geoJSON(zones, {
    filter: (f) => inCity(f.properties),
    style: (f) => ({ color: CLASS_COLOURS[f.properties.class] || "#999", weight: 1,
      fillOpacity: 0.2, dashArray: f.properties.active_windows.length ? "4 3" : null }),
    onEachFeature: (f, layer) => {
      shown += 1;
      const p = f.properties;
      const windows = p.active_windows.map((w) => w.start_time + " to " + w.end_time);
      layer.bindPopup(popupOf([p.name || f.id, "class: " + p.class,
        "from " + p.floor_agl_m + " to " + p.ceiling_agl_m + " m AGL",
        windows.length ? "active " + windows.join(", ") : "always active",
        p.reason || "", p.authority || ""]));
    },
  }).addTo(layers.zones);
  setStat("zones", shown);
}

async function loadVertiports() {
  const vertiports = await api("/v1/vertiports");
  layers.vertiports.clearLayers();
  let shown = 0;
  L.geoJSON(vertiports, {
    filter: (f) => inCity(f.properties),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, { renderer, radius: 4, weight: 1,
      color: "#1b5e20", fillColor: "#66bb6a", fillOpacity: 0.9 }),
    onEachFeature: (f, layer) => {
      shown += 1;
      const p = f.properties;
      layer.bindPopup(popupOf([f.id + ": " + p.name, p.pads + " pads, turnaround "
        + p.pad_turnaround_s + " s", "opening hours: " + (p.opening_hours || "always")]));
    },
  }).addTo(layers.vertiports);
  setStat("vertiports", shown);
}

// An arrowhead at the fraction `at` of the segment a-b, pointing to b (or to a if `reverse`);
// its angle is taken on the Web Mercator plane, the same at every zoom.
function arrow(a, b, at, reverse) {
  const pa = L.CRS.EPSG3857.project(L.latLng(a));
  const pb = L.CRS.EPSG3857.project(L.latLng(b));
  const degrees = Math.atan2(pa.y - pb.y, pb.x - pa.x) * 180 / Math.PI;
  const glyph = el("div", reverse ? "◀" : "▶", "corridor-arrow");
  glyph.style.transform = "rotate(" + (-degrees) + "deg)";
  const where = [a[0] + (b[0] - a[0]) * at, a[1] + (b[1] - a[1]) * at];
  return L.marker(where, { interactive: false, keyboard: false,
    icon: L.divIcon({ className: "", html: glyph, iconSize: [14, 14] }) });
}

async function loadCorridors() {
  const corridors = await api("/v1/corridors");
  layers.corridors.clearLayers();
  let shown = 0;
  for (const f of corridors.features) {
    if (!inCity(f.properties)) { continue; }
    shown += 1;
    const p = f.properties;
    const line = latLngs(f.geometry.coordinates);
    L.polyline(line, { renderer, color: CLASS_COLOURS.corridor, weight: 4, opacity: 0.45,
      dashArray: p.direction === "one_way" ? "10 6" : null })
      .bindPopup(popupOf([f.id + ": " + p.name, p.direction === "one_way"
        ? "one way (arrows)" : "both ways", "width " + p.width_m + " m, " + p.floor_agl_m
        + " to " + p.ceiling_agl_m + " m AGL"]))
      .addTo(layers.corridors);
    // Arrows on every other segment: forward for one-way, both ways otherwise.
    for (let i = 0; i + 1 < line.length; i += 2) {
      if (p.direction === "one_way") {
        arrow(line[i], line[i + 1], 0.5, false).addTo(layers.corridors);
      } else {
        arrow(line[i], line[i + 1], 0.4, true).addTo(layers.corridors);
        arrow(line[i], line[i + 1], 0.6, false).addTo(layers.corridors);
      }
    }
  }
  setStat("corridors", shown);
}

// -- grid cells of the visible box -----------------------------------------------------------

let cellsRequest = 0;
async function loadCells() {
  if (!app.context || !map.hasLayer(layers.cells)) { hint.getContainer().textContent = ""; return; }
  const bounds = map.getBounds();
  const span = app.context.max_cell_bbox_span_deg;
  if (bounds.getEast() - bounds.getWest() > span || bounds.getNorth() - bounds.getSouth() > span) {
    layers.cells.clearLayers();
    setStat("cells", 0);
    hint.getContainer().textContent = "Zoom in to see the grid cells (boxes up to " + span
      + "° a side).";
    return;
  }
  const bbox = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
    .map((v) => v.toFixed(5)).join(",");
  const request = ++cellsRequest;
  const cells = await api("/v1/airspace/cells?" + query({ bbox, layer: $("altitude-layer").value,
    time: windowStart() }));
  if (request !== cellsRequest) { return; }  // the map moved on meanwhile
  layers.cells.clearLayers();
  L.geoJSON(cells, {
    style: (f) => ({ renderer, color: CLASS_COLOURS[f.properties.class] || "#999", weight: 0.5,
      fillOpacity: 0.35 }),
    onEachFeature: (f, layer) => layer.bindTooltip(el("span", f.properties.class + " "
      + f.id)),
  }).addTo(layers.cells);
  setStat("cells", cells.features.length);
  raiseTraffic();
  const layer = app.context.altitude_layers[Number($("altitude-layer").value)];
  hint.getContainer().textContent = cells.features.length + " cells that are not plain suitable, "
    + layer.floor_agl_m + "-" + layer.ceiling_agl_m + " m AGL";
}
map.on("moveend", () => loadCells().catch((e) => status(String(e.message), true)));
map.on("overlayadd", (e) => { if (e.layer === layers.cells) { loadCells().catch(() => {}); } });

// -- flights ----------------------------------------------------------------------------------

// One canvas draws every layer, and a click goes to the last drawn line under the pointer:
// flights (emergencies last) and alerts are kept above the airspace layers.
function raiseTraffic() {
  const emergencies = [];
  layers.flights.eachLayer((line) => {
    if (line.emergency) { emergencies.push(line); } else { line.bringToFront(); }
  });
  emergencies.forEach((line) => line.bringToFront());
  layers.alerts.eachLayer((line) => line.bringToFront());
}

function trackStyle(track) {
  const emergency = track.priority === "emergency";
  return { renderer, color: STATE_COLOURS[track.state] || "#999", opacity: 0.8,
    weight: emergency ? 5 : track.priority === "public_service" ? 3 : 2,
    dashArray: track.state === "replan_required" ? "6 4" : null };
}

function drawTrack(track) {
  const known = app.tracks.get(track.id);
  if (known) { layers.flights.removeLayer(known.line); }
  if (track.path.length < 2) { app.tracks.delete(track.id); return; }
  const line = L.polyline(latLngs(track.path), trackStyle(track));
  line.flightId = track.id;
  line.emergency = track.priority === "emergency";
  layers.flights.addLayer(line);
  if (line.emergency) { line.bringToFront(); }
  app.tracks.set(track.id, { track, line });
}

// Every track of the window, page by page (a few thousand fit in one page).
async function fetchTracks() {
  const tracks = [];
  let cursor = null;
  for (let page = 0; page < MAX_FLIGHT_PAGES; page += 1) {
    const answer = await api("/v1/map/flights?" + query({ start_time: windowStart(),
      end_time: windowEnd(), jurisdiction: city(), limit: 5000, cursor }));
    tracks.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) { break; }
  }
  return tracks;
}

function showTracks(tracks) {
  layers.flights.clearLayers();
  app.tracks.clear();
  tracks.forEach(drawTrack);
  setStat("flights", app.tracks.size);
}

async function loadFlights() {
  showTracks(await fetchTracks());
}
layers.flights.on("click", (e) => selectFlight(e.layer.flightId));

// A track from a whole flight plan (an event brought news of it).
function trackOfPlan(plan) {
  return { id: plan.id, state: plan.state, priority: plan.priority,
    operator_id: plan.operator_id, jurisdictions: plan.jurisdictions,
    departure_time: plan.departure_time, arrival_time: plan.arrival_time,
    path: plan.route ? plan.route.coordinates.map(([lng, lat]) => [lng, lat]) : [] };
}

function inWindow(plan) {
  return plan.departure_time && plan.departure_time < windowEnd()
    && plan.arrival_time > windowStart() && (!city() || plan.jurisdictions.includes(city()));
}

// -- reviews ----------------------------------------------------------------------------------

async function loadReviews() {
  const list = $("reviews");
  if (!mayRegulate()) { return; }
  const answer = await api("/v1/reviews?" + query({ jurisdiction: city(), limit: 500 }));
  list.replaceChildren();
  for (const review of answer.items) {
    const item = el("li", null, "clickable", [
      el("div", review.flight_plan_id + " · " + review.jurisdiction),
      el("div", review.purpose + " (" + review.operator_id + ", " + review.priority + ")"),
      el("div", "departs " + (review.departure_time || "?") + "; crosses "
        + review.jurisdictions.join(", "), "meta"),
    ]);
    item.dataset.flightId = review.flight_plan_id;
    item.addEventListener("click", () => selectFlight(review.flight_plan_id, true));
    list.appendChild(item);
  }
  $("reviews-count").textContent = String(answer.items.length);
  setStat("reviews", answer.items.length);
}

// -- details, approve and reject --------------------------------------------------------------

function describeEndpoint(endpoint) {
  return endpoint.vertiport || (endpoint.lat.toFixed(5) + ", " + endpoint.lng.toFixed(5));
}

function showDetails(plan) {
  app.selected = plan;
  $("details-section").hidden = false;
  $("details-id").textContent = plan.id;
  const floors = plan.volumes.map((v) => v.floor_agl_m);
  const ceilings = plan.volumes.map((v) => v.ceiling_agl_m);
  const stateBadge = el("span", plan.state, "state");
  stateBadge.style.background = STATE_COLOURS[plan.state] || "#999";
  const rows = [
    ["state", stateBadge],
    ["purpose", plan.purpose],
    ["operator", plan.operator_id],
    ["priority", plan.priority],
    ["drone", plan.drone.id + " (" + plan.drone.category + ")"],
    ["route", describeEndpoint(plan.origin) + " → " + describeEndpoint(plan.destination)],
    ["departs", plan.departure_time || "-"],
    ["arrives", plan.arrival_time || "-"],
    ["volumes", plan.volumes.length ? plan.volumes.length + " volumes, "
      + Math.min(...floors) + "-" + Math.max(...ceilings) + " m AGL" : "none"],
    ["cities", plan.jurisdictions.map((c) => c + ": " + (plan.reviews[c] || "automatic"))
      .join("; ") || "-"],
    ["reasons", plan.decision.reasons.map((r) => r.message).join(" / ") || "-"],
    ["conflicts", plan.decision.conflicts.map((c) => c.kind + " " + c.ref + ": " + c.message)
      .join(" / ") || "-"],
    ["notes", plan.notes.join(" / ") || "-"],
    ["approval", plan.approval_id || "-"],
  ];
  $("details").replaceChildren(...rows.flatMap(([name, value]) =>
    [el("dt", name), typeof value === "string" ? el("dd", value) : el("dd", null, null, [value])]));
  for (const item of $("reviews").children) {
    item.classList.toggle("selected", item.dataset.flightId === plan.id);
  }
  showReviewActions(plan);
  drawSelection(plan);
}

function showReviewActions(plan) {
  const box = $("review-actions");
  box.replaceChildren();
  if (!mayRegulate() || plan.state !== "pending_review") { return; }
  const principal = app.context.principal;
  const mine = Object.entries(plan.reviews).filter(([c, s]) => s === "pending"
    && (principal.role === "admin" || principal.jurisdictions.includes(c))).map(([c]) => c);
  if (!mine.length) { box.appendChild(el("p", "No review of yours pending.", "note")); return; }
  const note = el("textarea");
  note.id = "review-note";
  note.rows = 2;
  note.maxLength = 500;
  note.placeholder = "note (optional)";
  box.appendChild(note);
  for (const reviewCity of mine) {
    const approve = el("button", "Approve for " + reviewCity, "approve");
    const reject = el("button", "Reject for " + reviewCity, "reject");
    approve.type = reject.type = "button";
    approve.dataset.action = "approve";
    reject.dataset.action = "reject";
    approve.addEventListener("click", () => review(plan.id, reviewCity, "approve", note.value));
    reject.addEventListener("click", () => review(plan.id, reviewCity, "reject", note.value));
    box.appendChild(el("div", null, "buttons", [approve, reject]));
  }
}

async function review(flightId, reviewCity, decision, note) {
  try {
    const plan = await api("/v1/reviews/" + encodeURIComponent(flightId), { method: "POST",
      json: { decision, note, jurisdiction: reviewCity } });
    status(flightId + ": " + decision + "d for " + reviewCity + ", now " + plan.state);
    showDetails(plan);
    if (inWindow(plan)) { drawTrack(trackOfPlan(plan)); }
    await loadReviews();
  } catch (error) {
    status(error.message, true);
  }
}

function drawSelection(plan) {
  layers.selection.clearLayers();
  for (const volume of plan.volumes) {
    L.geoJSON(volume.outline, { style: { color: "#000", weight: 1, fillOpacity: 0.08 },
      interactive: false }).addTo(layers.selection);
  }
  if (plan.route) {
    L.polyline(latLngs(plan.route.coordinates), { color: "#000", weight: 2, dashArray: "2 4",
      interactive: false }).addTo(layers.selection);
  }
  // The flights it conflicted with, if they are drawn: a magenta halo.
  for (const conflict of plan.decision.conflicts) {
    const other = conflict.kind === "flight" && app.tracks.get(conflict.ref);
    if (other) {
      L.polyline(latLngs(other.track.path), { color: "#e7298a", weight: 8, opacity: 0.5,
        interactive: false }).addTo(layers.selection);
    }
  }
}

async function selectFlight(flightId, zoom) {
  try {
    const plan = await api("/v1/flight-plans/" + encodeURIComponent(flightId));
    showDetails(plan);
    if (zoom && plan.route) { map.fitBounds(L.polyline(latLngs(plan.route.coordinates)).getBounds(),
      { maxZoom: 14, padding: [30, 30] }); }
  } catch (error) {
    status(error.message, true);
  }
}

// -- alerts -----------------------------------------------------------------------------------

function addAlert(alert, draw) {
  app.alerts.unshift(alert);
  const item = el("li", null, "clickable", [el("div", alert.kind + " · " + alert.flight_id),
    el("div", alert.message), el("div", alert.time + " · " + alert.jurisdiction, "meta")]);
  item.addEventListener("click", () => selectFlight(alert.flight_id, true));
  $("alerts").prepend(item);
  $("alerts-count").textContent = String(app.alerts.length);
  setStat("alerts", app.alerts.length);
  if (draw !== false) { highlight(alert.flight_id).catch(() => {}); }
}

// A red halo under a flight that raised an alert (fetched if it is not in the window).
async function highlight(flightId) {
  let path = app.tracks.has(flightId) ? app.tracks.get(flightId).track.path : null;
  if (!path) {
    const plan = await api("/v1/flight-plans/" + encodeURIComponent(flightId)).catch(() => null);
    path = plan && plan.route ? plan.route.coordinates : null;
  }
  if (path && path.length > 1) {
    L.polyline(latLngs(path), { renderer, color: "#e31a1c", weight: 10, opacity: 0.35 })
      .on("click", () => selectFlight(flightId)).addTo(layers.alerts);
  }
}

async function loadAlerts() {
  app.alerts = [];
  layers.alerts.clearLayers();
  $("alerts").replaceChildren();
  $("alerts-count").textContent = "0";
  setStat("alerts", 0);
  if (!mayRegulate()) { return; }
  const answer = await api("/v1/alerts?" + query({ jurisdiction: city(), limit: 500 }));
  answer.items.slice(-100).forEach((alert) => addAlert(alert, false));  // drawn after the flights
}

// -- drawing a constraint ---------------------------------------------------------------------

const drawing = { active: false, first: null, rectangle: null, bounds: null };

function setDrawing(active) {
  drawing.active = active;
  drawing.first = null;
  map.getContainer().classList.toggle("drawing", active);
  $("draw-button").textContent = active ? "Drawing: click two corners" : "Draw a rectangle";
}

function showRectangle(bounds) {
  if (drawing.rectangle) { drawing.rectangle.setBounds(bounds); return; }
  drawing.rectangle = L.rectangle(bounds, { color: "#b00020", weight: 2, dashArray: "5 4",
    fillOpacity: 0.1, interactive: false }).addTo(map);
}

function finishRectangle(bounds) {
  drawing.bounds = bounds;
  showRectangle(bounds);
  setDrawing(false);
  $("constraint-start").value = $("window-start").value;
  $("constraint-end").value = $("window-end").value;
  $("constraint-form").hidden = false;
}

function clearRectangle() {
  if (drawing.rectangle) { map.removeLayer(drawing.rectangle); }
  drawing.rectangle = drawing.bounds = null;
  $("constraint-form").hidden = true;
}

map.on("click", (e) => {
  if (!drawing.active) { return; }
  if (!drawing.first) { drawing.first = e.latlng; showRectangle(L.latLngBounds(e.latlng, e.latlng)); return; }
  finishRectangle(L.latLngBounds(drawing.first, e.latlng));
});
map.on("mousemove", (e) => {
  if (drawing.active && drawing.first) { showRectangle(L.latLngBounds(drawing.first, e.latlng)); }
});
// Shift-drag draws too (instead of Leaflet's box zoom) for a regulator: holding Shift stops
// the map from panning, so the drag draws.
map.boxZoom.disable();
document.addEventListener("keydown", (e) => {
  if (e.key === "Shift" && mayRegulate()) { map.dragging.disable(); }
});
document.addEventListener("keyup", (e) => { if (e.key === "Shift") { map.dragging.enable(); } });
map.on("mousedown", (e) => {
  if (!e.originalEvent.shiftKey || !mayRegulate() || drawing.active) { return; }
  const first = e.latlng;
  const move = (m) => showRectangle(L.latLngBounds(first, m.latlng));
  map.on("mousemove", move);
  map.once("mouseup", (up) => {
    map.off("mousemove", move);
    const corner = map.latLngToContainerPoint(first);
    if (corner.distanceTo(map.latLngToContainerPoint(up.latlng)) < 5) { clearRectangle(); return; }
    finishRectangle(L.latLngBounds(first, up.latlng));
  });
});

async function issueConstraint(event) {
  event.preventDefault();
  const b = drawing.bounds;
  const ring = [[b.getWest(), b.getSouth()], [b.getEast(), b.getSouth()],
    [b.getEast(), b.getNorth()], [b.getWest(), b.getNorth()], [b.getWest(), b.getSouth()]]
    .map(([lng, lat]) => [Number(lng.toFixed(6)), Number(lat.toFixed(6))]);
  try {
    const issued = await api("/v1/constraints", { method: "POST", json: {
      outline: { type: "Polygon", coordinates: [ring] },
      floor_agl_m: Number($("constraint-floor").value),
      ceiling_agl_m: Number($("constraint-ceiling").value),
      start_time: fromInput($("constraint-start").value),
      end_time: fromInput($("constraint-end").value),
      class: $("constraint-class").value, reason: $("constraint-reason").value,
    } });
    status("constraint " + issued.constraint.id + " issued; " + issued.affected.length
      + " flights re-planned or told to re-plan");
    clearRectangle();
    await loadZones();
    await loadFlights();
  } catch (error) {
    status(error.message, true);
  }
}

// -- the event stream (fetch: EventSource cannot send the Authorization header) ---------------

function logEvent(event) {
  const text = event.time.slice(11, 19) + " " + event.kind + " " + (event.flight_id || "")
    + " " + (event.data.state || event.data.kind || event.data.id || "");
  const list = $("events");
  list.prepend(el("li", text));
  while (list.children.length > 200) { list.lastChild.remove(); }
}

let reviewsTimer = null;
async function onEvent(event) {
  logEvent(event);
  if (event.kind === "alert") { addAlert(event.data); return; }
  if (event.kind === "constraint") { loadZones().then(raiseTraffic).catch(() => {}); return; }
  if (!event.flight_id) { return; }
  const plan = await api("/v1/flight-plans/" + encodeURIComponent(event.flight_id))
    .catch(() => null);
  if (!plan) { return; }
  if (inWindow(plan) && trackOfPlan(plan).path.length > 1
      && ["pending_review", "approved", "activated", "nonconforming", "replan_required"]
        .includes(plan.state)) {
    drawTrack(trackOfPlan(plan));
  } else if (app.tracks.has(plan.id)) {
    layers.flights.removeLayer(app.tracks.get(plan.id).line);
    app.tracks.delete(plan.id);
  }
  setStat("flights", app.tracks.size);
  if (app.selected && app.selected.id === plan.id) { showDetails(plan); }
  clearTimeout(reviewsTimer);  // a burst of decisions reloads the list once
  reviewsTimer = setTimeout(() => loadReviews().catch(() => {}), 300);
}

async function follow() {
  const controller = new AbortController();
  app.stream = controller;
  try {
    const response = await fetch("/v1/events", { signal: controller.signal,
      headers: { Authorization: "Bearer " + app.token, Accept: "text/event-stream" } });
    if (!response.ok) { throw new Error("event stream: " + response.status); }
    setStat("stream", "open");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) { break; }
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: "))
          .map((l) => l.slice(6)).join("\n");
        if (data) { onEvent(JSON.parse(data)).catch(() => {}); }
      }
    }
  } catch (error) {
    if (controller.signal.aborted) { return; }
  }
  setStat("stream", "closed");
  if (app.stream === controller) { setTimeout(() => { if (app.stream === controller) { follow(); } }, 3000); }
}

// -- sign-in and the time window --------------------------------------------------------------

async function refresh() {
  status("loading…");
  const started = performance.now();
  // Everything is asked for at once; the airspace is drawn first, so that the traffic is
  // drawn above it (see raiseTraffic).
  const tracks = fetchTracks();
  const lists = Promise.all([loadReviews(), loadAlerts()]);
  await Promise.all([loadCities(), loadZones(), loadVertiports(), loadCorridors()]);
  showTracks(await tracks);
  await lists;
  // Usable: the flights are drawn (the canvas paints in the next frame) and the reviews are
  // listed. benchmarks/map_load.py reads this.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  if (window.__mapReady === undefined) { window.__mapReady = performance.now(); }
  status(app.tracks.size + " flights from " + windowStart() + " to " + windowEnd() + " ("
    + Math.round(performance.now() - started) + " ms)");
  loadCells().catch(() => {});
  await Promise.all(app.alerts.map((alert) => highlight(alert.flight_id)));
}

function fillFilters() {
  const params = new URLSearchParams(location.search);
  const start = params.get("start") || serverNow().toISOString();
  const end = params.get("end")
    || new Date(Date.parse(start) + 3 * 3600 * 1000).toISOString();
  $("window-start").value = toInput(new Date(start).toISOString());
  $("window-end").value = toInput(new Date(end).toISOString());
  const citySelect = $("city");
  const all = app.context.principal.role === "regulator" ? "all my cities" : "all cities";
  citySelect.replaceChildren(el("option", all));
  citySelect.firstChild.value = "";
  for (const c of app.context.cities) {
    const option = el("option", c);
    option.value = c;
    citySelect.appendChild(option);
  }
  citySelect.value = app.context.cities.includes(params.get("city")) ? params.get("city") : "";
  $("altitude-layer").replaceChildren(...app.context.altitude_layers.map((layer) => {
    const option = el("option", layer.index + ": " + layer.floor_agl_m + "-"
      + layer.ceiling_agl_m + " m");
    option.value = String(layer.index);
    return option;
  }));
  $("altitude-layer").value = "1";
}

async function signIn() {
  try {
    app.context = await api("/v1/map/context");
  } catch (error) {
    status(error.status === 401 ? "That token is not valid." : error.message, true);
    return;
  }
  sessionStorage.setItem("utm-token", app.token);
  app.clockOffsetMs = Date.parse(app.context.now) - Date.now();
  const p = app.context.principal;
  $("whoami").textContent = "Signed in as " + p.name + " (" + p.role
    + (p.jurisdictions.length ? ": " + p.jurisdictions.join(", ") : "") + ").";
  $("token").value = "";
  $("signout-button").hidden = false;
  $("signin-button").hidden = true;
  $("token").hidden = true;
  document.querySelector("label[for=token]").hidden = true;
  for (const id of ["filters", "events-section"]) { $(id).hidden = false; }
  for (const id of ["reviews-section", "alerts-section", "constraint-section"]) {
    $(id).hidden = !mayRegulate();
  }
  fillFilters();
  try {
    await refresh();
  } catch (error) {
    status(error.message, true);
  }
  follow();
}

function signOut() {
  sessionStorage.removeItem("utm-token");
  if (app.stream) { app.stream.abort(); app.stream = null; }
  location.replace(location.pathname);
}

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  app.token = $("token").value.trim();
  if (app.token) { signIn(); }
});
$("signout-button").addEventListener("click", signOut);
$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  refresh().catch((error) => status(error.message, true));
});
$("now-button").addEventListener("click", () => {
  const now = serverNow();
  $("window-start").value = toInput(now.toISOString());
  $("window-end").value = toInput(new Date(now.getTime() + 3 * 3600 * 1000).toISOString());
  refresh().catch((error) => status(error.message, true));
});
$("altitude-layer").addEventListener("change", () => loadCells().catch(() => {}));
$("draw-button").addEventListener("click", () => { clearRectangle(); setDrawing(!drawing.active); });
$("constraint-cancel").addEventListener("click", clearRectangle);
$("constraint-form").addEventListener("submit", issueConstraint);

if (app.token) { signIn(); }
