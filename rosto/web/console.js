// Rosto console: send a photo (or its URL) to POST api/v1/features and draw what comes back.
// Plain JavaScript, no dependencies: every request goes to the server that served this page.
"use strict";

const API = "api/v1/features"; // relative: works behind a reverse proxy's path prefix too
const TOKEN_KEY = "rosto.token";
const COLOURS = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#2563eb", "#ea580c"];
// Polylines of the landmark mesh: [group, closed?]
const MESH = [["jaw", false], ["right_eyebrow", false], ["left_eyebrow", false], ["nose", false],
  ["right_eye", true], ["left_eye", true], ["upper_lip", true], ["under_lip", true]];
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = { file: null, faces: [], objectUrl: null, busy: false };

// --- small DOM helpers ------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP
    else node.setAttribute(key, value);
  }
  return node;
}

const colour = (i) => COLOURS[i % COLOURS.length];
const pct = (p) => `${Math.round(p * 100)}%`;

// --- the request ------------------------------------------------------------------------------

function selectedFeatures() {
  return [...document.querySelectorAll("#features input:checked")].map((input) => input.value);
}

function setBusy(busy) {
  state.busy = busy;
  $("analyze").disabled = busy;
  $("analyze").classList.toggle("busy", busy);
  $("analyze").querySelector(".label").textContent = busy ? "Analysing…" : "Analyse";
}

async function analyse() {
  if (state.busy) return;
  const url = $("url").value.trim();
  if (!state.file && !url) {
    showError("no image", "Choose or drop a photo, or paste an image URL, first.");
    return;
  }
  const body = new FormData();
  body.append("features", selectedFeatures().join(","));
  if (state.file) body.append("image", state.file, state.file.name || "image");
  else body.append("url", url);
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers.Authorization = `Token token="${token}"`;

  hideError();
  setBusy(true);
  $("status").textContent = "Analysing…";
  const start = performance.now();
  let response, payload;
  try {
    response = await fetch(API, { method: "POST", headers, body });
    payload = await response.json().catch(() => null);
  } catch (err) {
    setBusy(false);
    $("status").textContent = "No answer";
    showError("network error", `The Rosto server could not be reached (${err.message}).`);
    return;
  }
  const elapsed = performance.now() - start;
  setBusy(false);
  if (!response.ok) {
    const error = payload && payload.error;
    clearResults();
    $("status").textContent = `HTTP ${response.status} in ${Math.round(elapsed)} ms`;
    $("json").textContent = JSON.stringify(payload, null, 2);
    if (error) showError(`${response.status} · ${error.code}`, error.message);
    else showError(`HTTP ${response.status}`, response.statusText || "The server's answer was not JSON.");
    return;
  }
  state.faces = payload.faces;
  $("json").textContent = JSON.stringify(payload, null, 2);
  if (!state.file) await showPhoto(url);
  render(elapsed);
}

// --- the photo --------------------------------------------------------------------------------

function showPhoto(src) {
  const img = $("photo");
  return new Promise((resolve) => {
    if (img.getAttribute("src") === src && img.complete) {
      resolve();
      return;
    }
    img.onload = img.onerror = () => resolve();
    img.referrerPolicy = "no-referrer";
    img.src = src;
    $("stage").hidden = false;
    $("placeholder").hidden = true;
  });
}

function useFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError("not an image", `${file.name} is ${file.type}: choose a photo.`);
    return;
  }
  state.file = file;
  $("url").value = "";
  $("file-name").textContent = file.name || "pasted image";
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  clearResults();
  showPhoto(state.objectUrl).then(analyse);
}

function clearResults() {
  state.faces = [];
  $("overlay").replaceChildren();
  $("leaders").replaceChildren();
  $("badges").replaceChildren();
  $("cards").replaceChildren();
}

// --- drawing ----------------------------------------------------------------------------------

function render(elapsed) {
  const img = $("photo");
  const width = img.naturalWidth, height = img.naturalHeight;
  const faces = state.faces;
  clearResults();
  state.faces = faces;
  const overlay = $("overlay");
  overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  faces.forEach((face, i) => overlay.append(drawFace(face, i)));
  faces.forEach((face, i) => $("cards").append(card(face, i)));
  const count = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
  const size = width ? ` · ${width}×${height} px` : "";
  $("status").innerHTML = "";
  $("status").append(el("b", {}, count), ` in ${Math.round(elapsed)} ms${size}`);
  placeOverlay();
}

function drawFace(face, i) {
  const group = svg("g", { class: "face", "data-face": i, style: `--c: ${colour(i)}` });
  for (const polygon of (face.hair && face.hair.polygons) || []) {
    group.append(svg("polygon", { class: "hair", points: polygon.map((p) => `${p.x},${p.y}`).join(" ") }));
  }
  const b = face.bounds;
  if (b) {
    group.append(svg("rect", { class: "face-box", x: b.left, y: b.top,
      width: b.right - b.left, height: b.bottom - b.top, rx: 2 }));
  }
  if (face.landmarks) {
    const marks = svg("g", { class: "landmarks" });
    for (const [name, closed] of MESH) {
      const pts = face.landmarks[name];
      if (!pts) continue;
      marks.append(svg(closed ? "polygon" : "polyline", { class: "mesh",
        points: pts.map((p) => `${p.x},${p.y}`).join(" ") }));
    }
    for (const value of Object.values(face.landmarks)) {
      for (const p of Array.isArray(value) ? value : [value]) {
        marks.append(svg("circle", { class: "point", cx: p.x, cy: p.y, r: 1 }));
      }
    }
    group.append(marks);
  }
  return group;
}

// Fits the overlay on the displayed image, then sizes the points and places the badges in screen
// pixels, so they keep their size whatever the photo's scale.
function placeOverlay() {
  const img = $("photo"), overlay = $("overlay");
  if (!img.naturalWidth) return;
  Object.assign(overlay.style, { left: `${img.offsetLeft}px`, top: `${img.offsetTop}px`,
    width: `${img.clientWidth}px`, height: `${img.clientHeight}px` });
  const scale = img.clientWidth / img.naturalWidth;
  const radius = 1.4 / scale; // 1.4 screen pixels
  overlay.querySelectorAll("circle.point").forEach((c) => c.setAttribute("r", radius));
  placeBadges(scale, img.offsetLeft, img.offsetTop);
}

// --- numbered badges that never overlap -------------------------------------------------------

const overlaps = (a, b, gap = 0) =>
  a.x < b.x + b.size + gap && b.x < a.x + a.size + gap &&
  a.y < b.y + b.size + gap && b.y < a.y + a.size + gap;

const boxOverlaps = (a, box) =>
  a.x < box.x1 && box.x0 < a.x + a.size && a.y < box.y1 && box.y0 < a.y + a.size;

// The badge pitch: largest (up to 30 px) at which the stage holds more than 4 grid cells per
// face. A placed badge covers at most 4 cells of that grid, so the grid scan below always finds a
// free cell: badges never overlap, whatever the crowd.
function badgePitch(width, height, count) {
  let pitch = Math.min(30, Math.floor(Math.sqrt((width * height) / (6 * Math.max(count, 1)))));
  while (pitch > 2 && Math.floor(width / pitch) * Math.floor(height / pitch) <= 4 * count) pitch -= 1;
  return Math.max(pitch, 2);
}

function placeBadges(scale, offsetX, offsetY) {
  const layer = $("badges"), leaders = $("leaders"), stage = $("stage");
  layer.replaceChildren();
  leaders.replaceChildren();
  const width = stage.clientWidth, height = stage.clientHeight;
  const pitch = badgePitch(width, height, state.faces.length);
  const size = pitch - 2, gap = pitch - size;
  const boxes = state.faces.map((face) => {
    const b = face.bounds || { left: 0, top: 0, right: 0, bottom: 0 };
    return { x0: offsetX + b.left * scale, y0: offsetY + b.top * scale,
      x1: offsetX + b.right * scale, y1: offsetY + b.bottom * scale };
  });
  const placed = [];
  const fits = (c) => c.x >= 0 && c.y >= 0 && c.x + size <= width && c.y + size <= height &&
    placed.every((p) => !overlaps(c, p, gap));
  boxes.forEach((box, i) => {
    const near = candidates(box, size, gap + 2).map(([x, y]) => ({ x, y, size }));
    const clear = (c) => fits(c) && boxes.every((other, j) => j === i || !boxOverlaps(c, other));
    let spot = near.find(clear) || near.find(fits);
    let adjacent = Boolean(spot);
    if (!spot) {
      spot = ring(box, size, width, height).find(fits) || gridScan(box, pitch, size, width, height, fits);
      adjacent = false;
    }
    placed.push(spot);
    layer.append(badge(i, spot));
    if (!adjacent) leaders.append(leader(box, spot, i));
  });
}

// Spots touching the box, in order of preference: above, beside, below, inside its corner.
function candidates(box, size, gap) {
  const { x0, y0, x1, y1 } = box;
  return [
    [x0, y0 - size - gap], [x0 - size - gap, y0], [x1 - size, y0 - size - gap], [x1 + gap, y0],
    [x0, y1 + gap], [x1 - size, y1 + gap], [x0 - size - gap, y1 - size], [x1 + gap, y1 - size],
    [x0 + gap, y0 + gap],
  ];
}

// Spots on widening rings around the box's top-left corner.
function ring(box, size, width, height) {
  const spots = [];
  const limit = Math.max(width, height) / 3;
  for (let radius = size * 1.5; radius < limit; radius += size) {
    const steps = Math.max(8, Math.round((2 * Math.PI * radius) / size));
    for (let k = 0; k < steps; k += 1) {
      const angle = -Math.PI / 2 + (2 * Math.PI * k) / steps;
      spots.push({ x: box.x0 + radius * Math.cos(angle) - size / 2,
        y: box.y0 + radius * Math.sin(angle) - size / 2, size });
    }
  }
  return spots;
}

// Every cell of the stage's grid, nearest to the box first: the fallback that cannot fail.
function gridScan(box, pitch, size, width, height, fits) {
  const cells = [];
  for (let y = 0; y + pitch <= height; y += pitch) {
    for (let x = 0; x + pitch <= width; x += pitch) cells.push({ x, y, size });
  }
  const cx = (box.x0 + box.x1) / 2, cy = (box.y0 + box.y1) / 2;
  cells.sort((a, b) => Math.hypot(a.x - cx, a.y - cy) - Math.hypot(b.x - cx, b.y - cy));
  return cells.find(fits) || cells[0];
}

function badge(i, spot) {
  const node = el("button", { type: "button", class: "badge", "data-face": i,
    "aria-label": `Face ${i + 1}: show its card`,
    style: `left:${spot.x}px;top:${spot.y}px;width:${spot.size}px;height:${spot.size}px;` +
      `font-size:${Math.max(6, Math.round(spot.size * 0.5))}px;--c:${colour(i)}` }, String(i + 1));
  node.addEventListener("click", () => openCard(i, true));
  node.addEventListener("mouseenter", () => focusFace(i));
  node.addEventListener("mouseleave", () => focusFace(null));
  return node;
}

function leader(box, spot, i) {
  const cx = spot.x + spot.size / 2, cy = spot.y + spot.size / 2;
  const tx = Math.min(Math.max(cx, box.x0), box.x1), ty = Math.min(Math.max(cy, box.y0), box.y1);
  return svg("line", { x1: cx, y1: cy, x2: tx, y2: ty, style: `--c:${colour(i)}` });
}

// --- one card per face ------------------------------------------------------------------------

function card(face, i) {
  const body = el("div", { class: "card-body", id: `face-${i + 1}`, hidden: "" }, attributes(face));
  const head = el("button", { type: "button", class: "card-head", "aria-expanded": "false",
    "aria-controls": `face-${i + 1}` },
  el("span", { class: "badge", style: `--c:${colour(i)}` }, String(i + 1)),
  el("span", { class: "title" }, `Face ${i + 1}`),
  el("span", { class: "summary" }, summary(face)),
  chevron());
  head.addEventListener("click", () => openCard(i, head.getAttribute("aria-expanded") !== "true"));
  const node = el("article", { class: "card", "data-face": i, style: `--c:${colour(i)}` }, head, body);
  node.addEventListener("mouseenter", () => focusFace(i));
  node.addEventListener("mouseleave", () => focusFace(null));
  return node;
}

function chevron() {
  const icon = svg("svg", { class: "chevron", viewBox: "0 0 24 24", "aria-hidden": "true" });
  icon.append(svg("path", { d: "m6 9 6 6 6-6" }));
  return icon;
}

function summary(face) {
  const parts = [];
  if (face.gender) parts.push(face.gender.value);
  if (face.age !== undefined) parts.push(`${face.age} y`);
  if (face.emotion) parts.push(face.emotion.value);
  if (face.smile && face.smile.is_smiling) parts.push("smiling");
  if (!parts.length && face.bounds) {
    parts.push(`${face.bounds.right - face.bounds.left}×${face.bounds.bottom - face.bounds.top} px`);
  }
  return parts.join(" · ");
}

function row(label, ...content) {
  return el("div", { class: "attr" }, el("span", {}, label), el("div", {}, ...content));
}

function classesRow(label, answer) {
  const bars = Object.entries(answer.classes).sort((a, b) => b[1] - a[1]).map(([name, p]) =>
    el("div", { class: "bar" }, el("span", {}, name), el("i", { style: `--p:${pct(p)}` }),
      el("b", {}, pct(p))));
  return row(label, el("span", { class: "value" }, answer.value),
    el("span", { class: "prob" }, pct(answer.probability)), el("div", { class: "bars" }, bars));
}

function attributes(face) {
  const rows = [];
  for (const key of ["gender", "emotion", "ethnicity", "glasses"]) {
    if (face[key]) rows.push(classesRow(key, face[key]));
  }
  if (face.age !== undefined) rows.push(row("age", el("span", { class: "value" }, `${face.age} years`)));
  if (face.smile) {
    rows.push(row("smile", el("span", { class: "value" }, face.smile.is_smiling ? "smiling" : "not smiling"),
      el("span", { class: "prob" }, pct(face.smile.probability))));
  }
  if (face.hair) {
    const { hex, name } = face.hair.color;
    rows.push(row("hair", hex ? el("span", { class: "swatch", style: `background:${hex}` }) : null,
      el("span", { class: "value" }, name), el("span", { class: "prob" },
        `${hex || ""} · ${face.hair.polygons.length} outline${face.hair.polygons.length === 1 ? "" : "s"}`)));
  }
  if (face.pose) {
    const p = face.pose;
    rows.push(row("pose", el("span", { class: "pill" }, `roll ${p.x_roll}°`),
      el("span", { class: "pill" }, `pitch ${p.y_pitch}°`), el("span", { class: "pill" }, `yaw ${p.z_yaw}°`)));
  }
  if (face.blur) {
    rows.push(row("blur", el("span", { class: "value" }, face.blur.is_blurry ? "blurry" : "sharp"),
      el("span", { class: "prob" }, `level ${face.blur.level} (threshold ${face.blur.threshold})`)));
  }
  if (face.exposure) rows.push(row("exposure", el("span", { class: "value" }, face.exposure.level)));
  if (face.landmarks) {
    const count = Object.values(face.landmarks).reduce((n, v) => n + (Array.isArray(v) ? v.length : 1), 0);
    rows.push(row("landmarks", el("span", { class: "value" }, `${count} points`)));
  }
  if (face.bounds) {
    const b = face.bounds;
    rows.push(row("bounds", el("span", { class: "value" }, `${b.right - b.left}×${b.bottom - b.top} px`),
      el("span", { class: "prob" }, `left ${b.left}, top ${b.top}`)));
  }
  return rows;
}

function openCard(i, open) {
  const node = document.querySelector(`.card[data-face="${i}"]`);
  if (!node) return;
  node.querySelector(".card-head").setAttribute("aria-expanded", String(open));
  node.querySelector(".card-body").hidden = !open;
  if (open) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function focusFace(i) {
  $("stage").classList.toggle("focusing", i !== null);
  for (const node of document.querySelectorAll("[data-face]")) {
    node.classList.toggle("active", i !== null && node.dataset.face === String(i));
  }
}

// --- errors -----------------------------------------------------------------------------------

function showError(title, message) {
  $("error-title").textContent = title;
  $("error-message").textContent = message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

// --- wiring -----------------------------------------------------------------------------------

function setUpToken() {
  const token = $("token"), remember = $("remember");
  const saved = localStorage.getItem(TOKEN_KEY);
  if (saved) {
    token.value = saved;
    remember.checked = true;
  }
  const store = () => {
    if (remember.checked && token.value.trim()) localStorage.setItem(TOKEN_KEY, token.value.trim());
    else localStorage.removeItem(TOKEN_KEY);
  };
  token.addEventListener("input", store);
  remember.addEventListener("change", store);
}

function setUpInputs() {
  $("file").addEventListener("change", (e) => useFile(e.target.files[0]));
  $("dropzone").addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  let depth = 0;
  document.addEventListener("dragenter", (e) => { e.preventDefault(); depth += 1; document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => { depth -= 1; if (depth <= 0) document.body.classList.remove("dragging"); });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) useFile(file);
  });
  document.addEventListener("paste", (e) => {
    const file = [...e.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) { e.preventDefault(); useFile(file); }
  });
  $("url").addEventListener("input", () => {
    if ($("url").value.trim()) { state.file = null; $("file-name").textContent = ""; $("file").value = ""; }
  });
  $("request").addEventListener("submit", (e) => { e.preventDefault(); analyse(); });
  $("toggle-features").addEventListener("click", () => {
    const boxes = [...document.querySelectorAll("#features input:not(:disabled)")];
    const check = !boxes.every((b) => b.checked);
    boxes.forEach((b) => { b.checked = check; });
    $("toggle-features").textContent = check ? "clear" : "all";
  });
  for (const input of document.querySelectorAll("[data-layer]")) {
    input.addEventListener("change", () => $("stage").classList.toggle(`hide-${input.dataset.layer}`, !input.checked));
  }
  $("copy").addEventListener("click", (e) => {
    e.preventDefault();
    navigator.clipboard.writeText($("json").textContent).catch(() => {});
  });
  new ResizeObserver(() => placeOverlay()).observe($("canvas"));
}

setUpToken();
setUpInputs();
