// The PixWizard workbench: shows a tool's result with what it means, and lets a person point.
// Images come through the host (resources/read of pixwizard://images/{id}); tools run through the host
// (tools/call). Nothing is fetched from anywhere else.
"use strict";

const $ = (id) => document.getElementById(id);
const bridge = new McpAppBridge({ name: "pixwizard-workbench", version: WORKBENCH_VERSION }, {});
const MAX_VIEW = 384; // CSS pixels of the longer side of the view
const MASK_TINTS = [[255, 0, 200], [0, 200, 255], [255, 160, 0], [40, 220, 60], [255, 255, 255], [0, 0, 0]];
const LEGEND_ROWS = 8;
const ANALYSIS = new Set(["ground", "segment", "depth"]);
// Kinds whose views read fields of their own output; an image opened by id has none of them.
const STRUCTURED = new Set(["plan", "ground", "segment", "depth", "regenerated", "restore_then", "recipe"]);
const MAX_CACHED = 48; // images kept decoded (oldest dropped first, never one the view shows)

const state = {
  view: null, // what is shown: see show()
  images: new Map(), // id -> Promise<HTMLImageElement>
  selection: { mask: null, box: null, pixels: 0 },
  stroke: null,
  toolName: null,
  busy: false,
};

// ---- images through the host ------------------------------------------------------------------------

function imageId(ref) {
  if (typeof ref !== "string") return null;
  const match = ref.match(/(img_[0-9a-f]{6,})/);
  return match ? match[1] : null;
}

function loadImage(id) {
  if (!state.images.has(id)) {
    const promise = bridge.readResource(`pixwizard://images/${id}`).then(async (result) => {
      const item = (result.contents || [])[0];
      if (!item || !item.blob) throw new Error(`the host returned no image for ${id}`);
      const img = new Image();
      img.src = `data:${item.mimeType || "image/png"};base64,${item.blob}`;
      await img.decode();
      return img;
    });
    promise.catch(() => state.images.delete(id));
    state.images.set(id, promise);
    const keep = new Set(viewImages());
    for (const old of state.images.keys()) {
      if (state.images.size <= MAX_CACHED) break;
      if (!keep.has(old) && old !== id) state.images.delete(old);
    }
  } else {
    const promise = state.images.get(id); // most recently used last
    state.images.delete(id);
    state.images.set(id, promise);
  }
  return state.images.get(id);
}

// The images the current view draws, which the cache keeps.
function viewImages() {
  const view = state.view;
  if (!view) return [];
  return [view.base, view.before, view.seg, view.depth, ...view.masks.map((m) => m.id), ...view.strip.map((i) => i.id)]
    .filter(Boolean);
}

function pixels(img) {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

function maskOf(img) {
  const data = pixels(img);
  const mask = new Uint8Array(data.width * data.height);
  for (let i = 0; i < mask.length; i++) {
    const [r, g, b, a] = data.data.subarray(4 * i, 4 * i + 4);
    mask[i] = a > 0 && 0.299 * r + 0.587 * g + 0.114 * b > 127 ? 1 : 0;
  }
  return { mask, width: data.width, height: data.height };
}

// A tint far from the colours under the mask, so the overlay is visible on any object.
function tintFor(base, mask) {
  const sum = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < mask.mask.length; i++) {
    if (!mask.mask[i]) continue;
    sum[0] += base.data[4 * i];
    sum[1] += base.data[4 * i + 1];
    sum[2] += base.data[4 * i + 2];
    n++;
  }
  const mean = n ? sum.map((v) => v / n) : [128, 128, 128];
  let best = MASK_TINTS[0];
  let far = -1;
  for (const tint of MASK_TINTS) {
    const d = tint.reduce((acc, v, k) => acc + (v - mean[k]) ** 2, 0);
    if (d > far) [best, far] = [tint, d];
  }
  return best;
}

// ---- reading a result -------------------------------------------------------------------------------

function kindOf(output, toolName) {
  if (output.steps && output.plan) return "plan";
  if (Array.isArray(output.objects)) return "ground";
  if (Array.isArray(output.classes)) return "segment";
  if (output.stats && output.convention) return "depth";
  if (output.output && output.tool && "args" in output) return "regenerated";
  if (Array.isArray(output.restored)) return "restore_then";
  if ("region" in output && "verification" in output) return "recipe";
  const name = toolName || (output.provenance && output.provenance.tool) || "image";
  return STRUCTURED.has(name) ? "image" : name; // e.g. a depth map opened from the lineage: shown as it is
}

function parentOf(output) {
  const prov = output.provenance;
  if (prov) {
    const fromArgs = imageId(prov.args && prov.args.image);
    if (fromArgs) return fromArgs;
    if (prov.parents && prov.parents.length) return prov.parents[0];
  }
  return null;
}

// The input an image was made from, from its stored provenance (outputs without a provenance field).
async function storedParent(id) {
  try {
    const step = resultOutput(await bridge.callTool("history", { image: id, depth: 1 })).steps[0];
    if (!step || !step.tool) return null;
    return imageId(step.args && step.args.image) || step.parents[0] || null;
  } catch (error) {
    return null; // history is not served (a tool selection): no before/after
  }
}

// Turn a tool output into what the view draws: the picture, what goes over it, and what it applies to.
async function describe(output, toolName) {
  const kind = kindOf(output, toolName);
  if (kind === "regenerated") return describe(output.output, output.tool);
  const view = {
    kind, tool: toolName || kind, output, main: output.image, parent: parentOf(output),
    masks: [], boxes: [], seg: null, depth: null, strip: [], legend: [], details: [],
  };
  if (kind === "ground") {
    const referring = (output.provenance && output.provenance.args.referring) || "object";
    output.objects.forEach((obj, k) => {
      const label = `${referring} ${(obj.confidence * 100).toFixed(0)}%` + (output.objects.length > 1 ? ` #${k + 1}` : "");
      if (obj.mask) view.masks.push({ id: obj.mask.id, label });
      view.boxes.push({ box: obj.box, label });
    });
    view.details.push(["found", output.found ? `${output.objects.length} object(s)` : "nothing"]);
  } else if (kind === "segment") {
    view.seg = output.image.id;
    view.legend = output.classes.map((c) => ({ name: c.name, fraction: c.fraction, color: c.color || null }));
    view.details.push(["unknown", `${(output.unknown_fraction * 100).toFixed(1)}%`]);
  } else if (kind === "depth") {
    view.depth = output.image.id;
    const s = output.stats;
    view.details.push(["convention", output.convention], ["range", `${s.min.toFixed(2)} – ${s.max.toFixed(2)}`], ["median", s.p50.toFixed(2)]);
  } else if (kind === "recipe") {
    if (output.region) view.masks.push({ id: output.region.id, label: "edited region" });
    if (output.box) view.boxes.push({ box: output.box, label: "edited region" });
    view.details.push(["found", String(output.found)], ["edited", String(output.edited)], ["changed outside", String(output.changed_outside)]);
    if (output.verification) {
      const v = output.verification;
      view.details.push(["verification", `${v.passed ? "passed" : "failed"}: ${v.check} (score ${v.score.toFixed(2)}, ${v.attempts} attempt(s))`]);
    }
    view.strip = (output.intermediates || []).map((step) => ({ id: step.id, caption: step.step }));
  } else if (kind === "plan") {
    view.strip = output.steps.filter((step) => step.images.length).map((step, k) => ({ id: step.images[0], caption: `${k + 1} ${step.tool}`, step }));
    view.details.push(["status", output.status]);
    if (output.error) view.details.push(["error", output.error]);
  } else if (kind === "restore_then") {
    view.strip = output.restored.map((img, k) => ({ id: img.id, caption: output.problems[k] || `step ${k + 1}` }));
    if (output.analysis_image) view.strip.push({ id: output.analysis_image.id, caption: output.then });
  }
  if (output.changed_fraction !== undefined && output.changed_fraction !== null) {
    view.details.push(["changed", `${(output.changed_fraction * 100).toFixed(1)}%`]);
  }
  for (const warning of output.warnings || []) view.details.push(["warning", warning]);
  if (!view.main && view.strip.length) view.main = { id: view.strip[view.strip.length - 1].id };
  if (!view.parent && view.main && view.main.id) view.parent = await storedParent(view.main.id);
  // Analyses are drawn over the photo they were made from, and edits apply to that photo.
  view.base = ANALYSIS.has(kind) && view.parent ? view.parent : view.main && view.main.id;
  view.target = view.base;
  if (view.base === view.parent || !view.parent) view.before = null;
  else view.before = view.parent;
  if (kind === "depth") view.before = view.parent;
  return view;
}

// ---- drawing ----------------------------------------------------------------------------------------

const TURBO = [[48, 18, 59], [70, 134, 251], [27, 229, 181], [164, 252, 60], [251, 185, 56], [122, 4, 3]];
function colormap(v) {
  const x = Math.min(Math.max(v, 0), 1) * (TURBO.length - 1);
  const i = Math.min(Math.floor(x), TURBO.length - 2);
  const t = x - i;
  return TURBO[i].map((c, k) => Math.round(c + (TURBO[i + 1][k] - c) * t));
}

function canvasOf(width, height, fill) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(width, height);
  fill(data.data);
  ctx.putImageData(data, 0, 0);
  return canvas;
}

async function prepare(view) {
  const base = await loadImage(view.base);
  view.width = base.naturalWidth;
  view.height = base.naturalHeight;
  view.baseImage = base;
  const basePixels = pixels(base);
  view.beforeImage = view.before ? await loadImage(view.before) : null;
  view.maskLayers = [];
  for (const item of view.masks) {
    const mask = maskOf(await loadImage(item.id));
    const tint = tintFor(basePixels, mask);
    item.tint = tint;
    view.maskLayers.push(canvasOf(mask.width, mask.height, (d) => {
      for (let i = 0; i < mask.mask.length; i++) {
        if (!mask.mask[i]) continue;
        d.set([tint[0], tint[1], tint[2], 150], 4 * i);
      }
    }));
  }
  if (view.seg) {
    const seg = pixels(await loadImage(view.seg));
    view.maskLayers.push(canvasOf(seg.width, seg.height, (d) => {
      d.set(seg.data);
      for (let i = 3; i < d.length; i += 4) d[i] = 140;
    }));
  }
  if (view.depth) {
    const grey = pixels(await loadImage(view.depth));
    view.depthValues = new Float32Array(grey.width * grey.height);
    for (let i = 0; i < view.depthValues.length; i++) view.depthValues[i] = grey.data[4 * i] / 255;
    view.depthImage = canvasOf(grey.width, grey.height, (d) => {
      for (let i = 0; i < view.depthValues.length; i++) d.set([...colormap(view.depthValues[i]), 255], 4 * i);
    });
    view.depthWidth = grey.width;
    view.depthHeight = grey.height;
  }
}

function scaleFor(width, height) {
  const side = Math.max(width, height);
  return side <= MAX_VIEW ? Math.max(1, Math.floor(MAX_VIEW / side)) : MAX_VIEW / side;
}

function render() {
  const view = state.view;
  const canvas = $("view");
  if (!view || !view.baseImage) return;
  const s = view.scale;
  const W = Math.round(view.width * s);
  const H = Math.round(view.height * s);
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, W, H);
  const picture = view.depthImage || view.baseImage;
  ctx.drawImage(picture, 0, 0, W, H);
  if (view.beforeImage && !$("slider").hidden) {
    const split = Math.round((W * Number($("slider").value)) / 100);
    ctx.save();
    ctx.beginPath();
    ctx.rect(split, 0, W - split, H);
    ctx.clip();
    ctx.drawImage(view.depth ? view.baseImage : view.beforeImage, 0, 0, W, H);
    ctx.restore();
    ctx.fillStyle = "rgba(255,255,255,0.9)";
    ctx.fillRect(split - 1, 0, 2, H);
  }
  if ($("show-masks").checked) for (const layer of view.maskLayers) ctx.drawImage(layer, 0, 0, W, H);
  if ($("show-boxes").checked) {
    ctx.lineWidth = 2;
    ctx.font = "12px sans-serif";
    view.boxes.forEach((item, k) => {
      const [x0, y0, x1, y1] = item.box;
      const tint = (view.masks[k] && view.masks[k].tint) || [255, 200, 0];
      ctx.strokeStyle = `rgb(${tint.join(",")})`;
      ctx.strokeRect(x0 * s + 1, y0 * s + 1, (x1 - x0) * s - 2, (y1 - y0) * s - 2);
      if ($("show-labels").checked) {
        const text = item.label;
        const w = ctx.measureText(text).width + 6;
        const y = y0 * s >= 16 ? y0 * s - 16 : y1 * s;
        ctx.fillStyle = "rgba(0,0,0,0.7)";
        ctx.fillRect(x0 * s, y, w, 16);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, x0 * s + 3, y + 12);
      }
    });
  }
  const sel = state.selection;
  if ($("show-selection").checked && sel.mask && sel.pixels) {
    if (!sel.layer) {
      sel.layer = canvasOf(view.width, view.height, (d) => {
        for (let i = 0; i < sel.mask.length; i++) if (sel.mask[i]) d.set([0, 255, 255, 110], 4 * i);
      });
    }
    ctx.drawImage(sel.layer, 0, 0, W, H);
  }
  if (sel.box) {
    const [x0, y0, x1, y1] = sel.box;
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = "#00e5ff";
    ctx.lineWidth = 2;
    ctx.strokeRect(x0 * s, y0 * s, (x1 - x0) * s, (y1 - y0) * s);
    ctx.setLineDash([]);
  }
}

function renderSide(view) {
  const rows = [["tool", view.tool], ["image", view.main ? view.main.id : view.base], ...view.details];
  if (view.parent) rows.splice(2, 0, ["parent", view.parent]);
  const table = document.createElement("table");
  for (const [key, value] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = value;
  }
  $("details").replaceChildren(table);
  const legend = $("legend");
  legend.replaceChildren();
  if (view.legend.length) {
    const t = document.createElement("table");
    t.id = "classes";
    const shown = legend.dataset.all === "1" ? view.legend : view.legend.slice(0, LEGEND_ROWS);
    for (const entry of shown) {
      const tr = t.insertRow();
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      if (entry.color) swatch.style.background = `rgb(${entry.color.join(",")})`;
      tr.insertCell().append(swatch);
      tr.insertCell().textContent = entry.name;
      tr.insertCell().textContent = `${(entry.fraction * 100).toFixed(1)}%`;
    }
    legend.append(t);
    if (view.legend.length > LEGEND_ROWS) {
      const more = document.createElement("button");
      more.type = "button";
      more.id = "legend-more";
      more.textContent = legend.dataset.all === "1" ? "show fewer" : `show all ${view.legend.length} classes`;
      more.addEventListener("click", () => {
        legend.dataset.all = legend.dataset.all === "1" ? "0" : "1";
        renderSide(state.view);
      });
      legend.append(more);
    }
  }
  if (view.depth) {
    const bar = canvasOf(160, 1, (d) => {
      for (let x = 0; x < 160; x++) d.set([...colormap(x / 159), 255], 4 * x);
    });
    bar.style.width = "160px";
    bar.style.height = "10px";
    const caption = document.createElement("div");
    caption.className = "muted";
    caption.textContent = "far 0 → 1 near (normalised)";
    legend.append(bar, caption);
  }
  const strip = $("plan-strip");
  strip.replaceChildren();
  strip.hidden = !view.strip.length;
  for (const item of view.strip) {
    const figure = document.createElement("figure");
    figure.dataset.image = item.id;
    const img = document.createElement("img");
    img.alt = item.caption;
    loadImage(item.id).then((loaded) => { img.src = loaded.src; }, () => { img.alt = `${item.caption} (unreadable)`; });
    const caption = document.createElement("figcaption");
    caption.textContent = item.caption;
    figure.append(img, caption);
    figure.addEventListener("click", () => {
      const keepStrip = { strip: view.strip, current: item.id };
      if (item.step && item.step.output) show(item.step.output, item.step.tool, keepStrip);
      else showImage(item.id, keepStrip);
    });
    if (item.id === view.stripCurrent) figure.className = "current";
    strip.append(figure);
  }
  $("slider").hidden = !view.beforeImage;
  $("slider").value = view.beforeImage ? 50 : 100;
  $("to-parent").disabled = !view.parent;
  $("regenerate").disabled = !(view.main && view.main.id) || state.busy;
}

// ---- showing ----------------------------------------------------------------------------------------

let showing = 0;
async function show(output, toolName, keepStrip = null) {
  const ticket = ++showing;
  setStatus("loading…");
  $("app").dataset.state = "loading";
  $("view").dataset.ready = "0";
  try {
    const view = await describe(output, toolName);
    if (keepStrip && !view.strip.length) {
      view.strip = keepStrip.strip;
      view.stripCurrent = keepStrip.current;
    }
    await prepare(view);
    if (ticket !== showing) return;
    view.scale = scaleFor(view.width, view.height);
    const keep = state.view && state.view.target === view.target && state.view.width === view.width && state.view.height === view.height;
    const previous = state.view && state.view.target;
    state.view = view;
    if (!keep) {
      const had = state.selection.pixels > 0;
      clearTimeout(selectionChanged.timer);
      clearSelection(false);
      $("legend").dataset.all = "0";
      if (had) tellModel(previous); // the model was told of a region of the previous image
    }
    $("view").dataset.selected = String(state.selection.pixels);
    renderSide(view);
    render();
    const canvas = $("view");
    Object.assign(canvas.dataset, {
      image: view.main ? view.main.id : view.base, target: view.target, parent: view.parent || "",
      kind: view.kind, scale: String(view.scale), width: String(view.width), height: String(view.height), ready: "1",
    });
    $("summary").textContent = `${view.tool} · ${view.width}×${view.height}`;
    $("summary").className = "muted";
    $("app").dataset.state = "ready";
    setStatus("");
    updateRunButton();
    drawLineage(view.main ? view.main.id : view.base);
  } catch (error) {
    if (ticket !== showing) return;
    showError(error);
  }
}

async function showImage(id, keepStrip = null) {
  let output = { image: { id }, provenance: null };
  try {
    const result = await bridge.callTool("history", { image: id, depth: 2 });
    const step = (result.structuredContent || {}).steps?.[0];
    if (step) output = { image: { id }, provenance: { tool: step.tool, args: step.args || {}, parents: step.parents } };
  } catch (error) {
    console.warn("[workbench] history:", error);
  }
  await show(output, output.provenance && output.provenance.tool ? `${output.provenance.tool}` : "image", keepStrip);
}

function showError(error) {
  $("app").dataset.state = "error";
  $("summary").textContent = String(error && error.message ? error.message : error);
  $("summary").className = "error";
  setStatus("");
}

function setStatus(text) {
  $("status").textContent = text;
}

function resultOutput(result) {
  if (result.isError) {
    const text = (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join(" ");
    throw new Error(text || "the tool failed");
  }
  if (result.structuredContent) return result.structuredContent;
  const text = (result.content || []).find((c) => c.type === "text");
  return JSON.parse(text.text);
}

// ---- lineage ----------------------------------------------------------------------------------------

async function drawLineage(id) {
  const svg = $("lineage");
  let steps = [];
  try {
    const result = await bridge.callTool("history", { image: id, depth: 12 });
    steps = resultOutput(result).steps;
    const shown = state.view && (state.view.main ? state.view.main.id : state.view.base);
    if (shown !== id) return; // another image is shown by now
  } catch (error) {
    svg.replaceChildren();
    svg.dataset.nodes = "";
    return;
  }
  // Columns by distance from the shown image (ancestors to the left), one row per node in a column.
  const depthOf = new Map([[steps[0].image, 0]]);
  for (const step of steps) {
    const d = depthOf.get(step.image) ?? 0;
    for (const p of step.parents) if (!depthOf.has(p)) depthOf.set(p, d + 1);
  }
  const known = new Set(steps.map((s) => s.image));
  // An input is named by the argument it fills (a painted "mask", a "region"); the photo stays "input".
  const role = new Map();
  for (const step of steps) {
    for (const [key, value] of Object.entries(step.args || {})) {
      if (key !== "image" && typeof value === "string" && step.parents.includes(value)) role.set(value, key);
    }
  }
  const nodes = steps.filter((s) => depthOf.has(s.image));
  const maxDepth = Math.max(...nodes.map((s) => depthOf.get(s.image)));
  const rows = new Map();
  const place = new Map();
  for (const step of nodes) {
    const col = maxDepth - depthOf.get(step.image);
    const row = rows.get(col) || 0;
    rows.set(col, row + 1);
    place.set(step.image, { x: 4 + col * 96, y: 4 + row * 30 });
  }
  const NS = "http://www.w3.org/2000/svg";
  const parts = [];
  for (const step of nodes) {
    for (const p of step.parents) {
      if (!known.has(p) || !place.has(p)) continue;
      const a = place.get(p);
      const b = place.get(step.image);
      const line = document.createElementNS(NS, "line");
      line.setAttribute("x1", a.x + 88);
      line.setAttribute("y1", a.y + 11);
      line.setAttribute("x2", b.x);
      line.setAttribute("y2", b.y + 11);
      parts.push(line);
    }
  }
  for (const step of nodes) {
    const at = place.get(step.image);
    const g = document.createElementNS(NS, "g");
    g.setAttribute("class", step.image === id ? "node current" : "node");
    g.dataset.image = step.image;
    g.dataset.parents = step.parents.join(" ");
    const rect = document.createElementNS(NS, "rect");
    Object.entries({ x: at.x, y: at.y, width: 88, height: 22, rx: 4 }).forEach(([k, v]) => rect.setAttribute(k, v));
    const text = document.createElementNS(NS, "text");
    text.setAttribute("x", at.x + 5);
    text.setAttribute("y", at.y + 15);
    text.textContent = step.tool || role.get(step.image) || "input";
    const title = document.createElementNS(NS, "title");
    title.textContent = `${step.image}${step.tool ? ` (${step.tool})` : ""}`;
    g.append(rect, text, title);
    g.addEventListener("click", () => showImage(step.image));
    parts.push(g);
  }
  svg.replaceChildren(...parts);
  svg.setAttribute("height", String(8 + 30 * Math.max(...rows.values())));
  svg.setAttribute("width", String(8 + 96 * (maxDepth + 1)));
  svg.dataset.nodes = nodes.map((s) => s.image).join(" ");
}

// ---- selection: brush, eraser, box ------------------------------------------------------------------

// The brush's size is in screen pixels (what the person sees), its radius here in image pixels.
function brushRadius() {
  const rect = $("view").getBoundingClientRect();
  return Number($("brush-size").value) / 2 / (rect.width / state.view.width || 1);
}

function tool() {
  return document.querySelector('input[name="tool"]:checked').value;
}

function toImage(event) {
  const rect = $("view").getBoundingClientRect(); // as displayed, even if CSS scales the canvas
  const sx = rect.width / state.view.width;
  const sy = rect.height / state.view.height;
  return [(event.clientX - rect.left) / sx, (event.clientY - rect.top) / sy];
}

// Every pixel whose centre lies within the brush radius of the segment a-b.
function stamp(a, b, radius, value) {
  const view = state.view;
  const sel = state.selection;
  if (!sel.mask) sel.mask = new Uint8Array(view.width * view.height);
  const x0 = Math.max(0, Math.floor(Math.min(a[0], b[0]) - radius));
  const x1 = Math.min(view.width - 1, Math.ceil(Math.max(a[0], b[0]) + radius));
  const y0 = Math.max(0, Math.floor(Math.min(a[1], b[1]) - radius));
  const y1 = Math.min(view.height - 1, Math.ceil(Math.max(a[1], b[1]) + radius));
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = len2 ? Math.min(1, Math.max(0, ((px - a[0]) * dx + (py - a[1]) * dy) / len2)) : 0;
      const ex = px - (a[0] + t * dx);
      const ey = py - (a[1] + t * dy);
      if (ex * ex + ey * ey <= radius * radius) sel.mask[y * view.width + x] = value;
    }
  }
  sel.layer = null;
}

function countSelection() {
  const sel = state.selection;
  sel.pixels = sel.mask ? sel.mask.reduce((n, v) => n + v, 0) : 0;
}

function boxMask(box) {
  const view = state.view;
  const mask = new Uint8Array(view.width * view.height);
  const [x0, y0, x1, y1] = box;
  for (let y = y0; y < y1; y++) mask.fill(1, y * view.width + x0, y * view.width + x1);
  return mask;
}

function clearSelection(tell = true) {
  state.selection = { mask: null, box: null, pixels: 0 };
  if (tell) selectionChanged();
}

function selectionChanged() {
  countSelection();
  render();
  updateRunButton();
  const canvas = $("view");
  canvas.dataset.selected = String(state.selection.pixels);
  clearTimeout(selectionChanged.timer);
  selectionChanged.timer = setTimeout(tellModel, 250);
}

function selectionBox() {
  const sel = state.selection;
  if (sel.box) return sel.box;
  if (!sel.mask || !sel.pixels) return null;
  const w = state.view.width;
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  sel.mask.forEach((v, i) => {
    if (!v) return;
    const x = i % w;
    const y = (i - x) / w;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1);
  });
  return [x0, y0, x1, y1];
}

// What the person selected, for the model (through the host's model-context update).
async function tellModel(clearedOn = null) {
  const view = state.view;
  if (!view) return;
  const sel = state.selection;
  const box = selectionBox();
  const share = view.width * view.height ? sel.pixels / (view.width * view.height) : 0;
  let text;
  if (clearedOn) {
    text = `In the PixWizard workbench the selection on image ${clearedOn} was cleared (another image is shown).`;
  } else if (sel.pixels) {
    text = `In the PixWizard workbench the person selected a region of image ${view.target} (${view.width}x${view.height}): ` +
      `${sel.box ? "a box" : "a painted mask"} of ${sel.pixels} pixels (${(share * 100).toFixed(1)}% of the image), ` +
      `bounding box [${box.join(", ")}] (x0, y0, x1, y1, exclusive).`;
  } else {
    text = `In the PixWizard workbench the person cleared their selection on image ${view.target}.`;
  }
  const selection = sel.pixels && !clearedOn ? { kind: sel.box ? "box" : "mask", box, pixels: sel.pixels, share } : null;
  const structured = { image: view.target, selection };
  try {
    await bridge.updateModelContext([{ type: "text", text }], structured);
  } catch (error) {
    console.warn("[workbench] model context:", error);
  }
}

function onPointerDown(event) {
  const mode = tool();
  if (!state.view || mode === "none" || state.busy) return;
  event.preventDefault();
  $("view").setPointerCapture(event.pointerId);
  const p = toImage(event);
  state.stroke = { mode, start: p, last: p };
  if (mode === "box") {
    state.selection = { mask: null, box: null, pixels: 0 };
  } else {
    if (state.selection.box) state.selection = { mask: state.selection.mask, box: null, pixels: 0 };
    stamp(p, p, brushRadius(), mode === "brush" ? 1 : 0);
    countSelection();
    render();
  }
}

function onPointerMove(event) {
  if (state.view) showValue(event);
  const stroke = state.stroke;
  if (!stroke) return;
  const p = toImage(event);
  if (stroke.mode === "box") {
    state.selection.box = normalisedBox(stroke.start, p);
  } else {
    stamp(stroke.last, p, brushRadius(), stroke.mode === "brush" ? 1 : 0);
  }
  stroke.last = p;
  render();
}

function normalisedBox(a, b) {
  const view = state.view;
  const clampX = (v) => Math.min(view.width, Math.max(0, v));
  const clampY = (v) => Math.min(view.height, Math.max(0, v));
  return [
    Math.floor(clampX(Math.min(a[0], b[0]))), Math.floor(clampY(Math.min(a[1], b[1]))),
    Math.ceil(clampX(Math.max(a[0], b[0]))), Math.ceil(clampY(Math.max(a[1], b[1]))),
  ];
}

function onPointerUp(event) {
  const stroke = state.stroke;
  if (!stroke) return;
  state.stroke = null;
  if (stroke.mode === "box") {
    const box = normalisedBox(stroke.start, toImage(event));
    if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) state.selection = { mask: boxMask(box), box, pixels: 0 };
    else state.selection = { mask: null, box: null, pixels: 0 };
  }
  selectionChanged();
}

function showValue(event) {
  const view = state.view;
  const [x, y] = toImage(event).map(Math.floor);
  if (x < 0 || y < 0 || x >= view.width || y >= view.height) {
    $("readout").textContent = "";
    return;
  }
  let text = `(${x}, ${y})`;
  if (view.depthValues) {
    const dx = Math.min(view.depthWidth - 1, Math.floor((x * view.depthWidth) / view.width));
    const dy = Math.min(view.depthHeight - 1, Math.floor((y * view.depthHeight) / view.height));
    text += ` depth ${view.depthValues[dy * view.depthWidth + dx].toFixed(3)} (1 = nearest)`;
  }
  $("readout").textContent = text;
}

// ---- running tools on the selection -----------------------------------------------------------------

function maskDataUri() {
  const view = state.view;
  const mask = state.selection.mask;
  const canvas = canvasOf(view.width, view.height, (d) => {
    for (let i = 0; i < mask.length; i++) {
      const v = mask[i] ? 255 : 0;
      d.set([v, v, v, 255], 4 * i);
    }
  });
  return canvas.toDataURL("image/png");
}

function actionArgs(action) {
  const view = state.view;
  const text = $("action-text").value.trim();
  const extra = $("action-extra").value.trim();
  const mask = maskDataUri();
  if (action === "inpaint") return { image: view.target, mask, ...(text ? { caption: text } : {}) };
  if (action === "remove_object") return { image: view.target, target: text || "the selected object", region: mask };
  if (action === "replace_object") {
    if (!extra) throw new Error("say what to put there");
    return { image: view.target, target: text || "the selected object", replacement: extra, region: mask };
  }
  if (action === "add_object") {
    if (!text) throw new Error("say what to add");
    return { image: view.target, what: text, where: mask };
  }
  throw new Error(`unknown action ${action}`);
}

async function runTool(name, args) {
  state.busy = true;
  updateRunButton();
  $("app").dataset.state = "busy";
  setStatus(`running ${name}…`);
  try {
    const result = await bridge.callTool(name, args);
    const output = resultOutput(result);
    await show(output, name);
  } catch (error) {
    showError(error);
  } finally {
    state.busy = false;
    updateRunButton();
  }
}

function updateRunButton() {
  const action = $("action").value;
  $("run").disabled = state.busy || !state.view || !state.selection.pixels;
  $("action-extra-row").hidden = action !== "replace_object";
  $("action-text").placeholder = {
    inpaint: "caption (optional)", remove_object: "what it is (e.g. the red circle)",
    replace_object: "what it is now", add_object: "what to add",
  }[action];
  if (state.view) $("regenerate").disabled = state.busy || !(state.view.main && state.view.main.id);
}

// ---- host context: theme and styles -----------------------------------------------------------------

function applyContext(context) {
  if (!context) return;
  if (context.theme) document.documentElement.dataset.theme = context.theme;
  const variables = context.styles && context.styles.variables;
  if (variables) {
    for (const [key, value] of Object.entries(variables)) {
      if (value) document.documentElement.style.setProperty(key, value);
    }
  }
  if (context.toolInfo && context.toolInfo.tool) state.toolName = context.toolInfo.tool.name;
}

// ---- wiring -----------------------------------------------------------------------------------------

bridge
  .on("ui/notifications/tool-input", () => setStatus("running…"))
  .on("ui/notifications/tool-input-partial", () => setStatus("preparing…"))
  .on("ui/notifications/tool-result", (result) => {
    try {
      show(resultOutput(result), state.toolName);
    } catch (error) {
      showError(error);
    }
  })
  .on("ui/notifications/tool-cancelled", (params) => showError(new Error(`cancelled${params.reason ? `: ${params.reason}` : ""}`)))
  .on("ui/notifications/host-context-changed", (context) => {
    if (bridge.host) Object.assign(bridge.host.hostContext || (bridge.host.hostContext = {}), context);
    applyContext(context);
  })
  .on("ui/resource-teardown", () => ({}));

const view = $("view");
view.addEventListener("pointerdown", onPointerDown);
view.addEventListener("pointermove", onPointerMove);
view.addEventListener("pointerup", onPointerUp);
view.addEventListener("pointercancel", onPointerUp);
view.addEventListener("pointerleave", () => { $("readout").textContent = ""; });
for (const id of ["show-masks", "show-boxes", "show-labels", "show-selection"]) $(id).addEventListener("change", render);
$("slider").addEventListener("input", render);
$("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = `${$("brush-size").value} px`; });
document.querySelectorAll('input[name="tool"]').forEach((radio) => radio.addEventListener("change", () => { view.className = tool(); }));
$("clear").addEventListener("click", () => clearSelection(true));
$("action").addEventListener("change", updateRunButton);
$("run").addEventListener("click", () => {
  let args;
  try {
    args = actionArgs($("action").value);
  } catch (error) {
    setStatus(error.message);
    return;
  }
  runTool($("action").value, args);
});
$("regenerate").addEventListener("click", () => {
  const main = state.view && state.view.main;
  if (main) runTool("regenerate", { image: main.id, seed: Math.floor(Math.random() * 2 ** 31) });
});
$("to-parent").addEventListener("click", () => { if (state.view && state.view.parent) showImage(state.view.parent); });

bridge.connect().then((init) => {
  applyContext(init.hostContext);
  const caps = init.hostCapabilities || {};
  if (!caps.serverTools) {
    // This host does not pass the app's tools/call on: the view works, steering cannot.
    $("steer").disabled = true;
    $("steer").title = "this host does not let apps call tools";
  }
  bridge.autoResize(document.body);
}, (error) => showError(error));
