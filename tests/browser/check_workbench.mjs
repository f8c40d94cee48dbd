// Drive the PixWizard workbench (an MCP App) in Debian's headless Chromium through a test host built on
// the official AppBridge, connected to a running `pixwizard mcp --transport streamable-http` server.
//
//   node check_workbench.mjs MCP_URL SCENE.png "the brown hexagon" OUT_DIR [SCREENS_DIR]
//
// The page and /mcp share one origin: this script serves the host page and forwards /mcp to MCP_URL,
// keeping every JSON-RPC request the server received. It writes into OUT_DIR: report.json, the view with
// the masks shown and hidden (view_on.png, view_off.png), the result's mask (ground_mask.png), the mask
// the server received from the app (received_mask.png) and the mask the server stored (stored_mask.png).
// With SCREENS_DIR it also saves screenshots of the workbench for ground, segment and depth.
import http from "node:http";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [mcpUrl, scene, referring, outDir, screensDir] = process.argv.slice(2);
const target = new URL(mcpUrl);
const received = []; // JSON-RPC requests forwarded to the server

const bundle = await esbuild.build({
  entryPoints: [path.join(HERE, "workbench_host.mjs")],
  bundle: true, write: false, format: "esm", platform: "browser", target: "es2022", logLevel: "silent",
});
const page_html = `<!doctype html><html><head><meta charset="utf-8"><title>test host</title></head>
<body style="margin:0;background:#fff"><script type="module">${bundle.outputFiles[0].text.replaceAll("</script", "<\\/script")}</script></body></html>`;

const server = http.createServer((req, res) => {
  if (req.url === "/" || req.url === "/index.html") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page_html);
    return;
  }
  if (req.url === "/favicon.ico") {
    res.writeHead(204).end();
    return;
  }
  if (!req.url.startsWith("/mcp")) {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    if (body.length) {
      try {
        const message = JSON.parse(body.toString("utf8"));
        for (const m of Array.isArray(message) ? message : [message]) received.push(m);
      } catch { /* not JSON: forwarded as it is */ }
    }
    const headers = { ...req.headers, host: target.host };
    delete headers.origin; // same origin for the browser; the server sees a local client
    delete headers.referer;
    const upstream = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: req.method, headers },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (error) => { res.writeHead(502).end(String(error)); });
    upstream.end(body);
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.PIXWIZARD_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const report = { console: [], errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 760 }, deviceScaleFactor: 1 });
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") report.console.push(m.text()); });
  page.on("pageerror", (e) => report.errors.push(String(e)));
  await page.goto(origin, { waitUntil: "load" });
  await page.waitForFunction(() => window.hostReady === true, null, { timeout: 60000 });
  const frame = page.frameLocator("#frame");
  const view = frame.locator("#view");
  const ready = async (kind, notImage) => {
    await frame.locator(`#view[data-ready="1"][data-kind="${kind}"]`).first().waitFor({ timeout: 180000 });
    if (notImage) {
      await frame.locator(`#view[data-ready="1"]:not([data-image="${notImage}"])`).waitFor({ timeout: 180000 });
    }
    return view.evaluate((el) => ({ ...el.dataset }));
  };

  // 1. The model calls ground; the host renders the workbench with its result.
  const ground = await page.evaluate(
    ([image, text]) => window.host.call("ground", { image, referring: text, mode: "mask" }).then((r) => r.structuredContent),
    [scene, referring],
  );
  report.ground = ground;
  report.layout = await ready("ground");
  report.tool_meta = await page.evaluate(() => window.host.tools.filter((t) => t._meta?.ui).map((t) => t.name));
  if (screensDir) await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-ground.png") });
  // Boxes and labels are drawn over the mask's edge: hide them, so the two views differ by the masks alone.
  await frame.locator("#show-boxes").uncheck();
  await frame.locator("#show-labels").uncheck();
  await view.screenshot({ path: path.join(outDir, "view_on.png") });
  await frame.locator("#show-masks").uncheck();
  await view.screenshot({ path: path.join(outDir, "view_off.png") });
  for (const id of ["#show-masks", "#show-boxes", "#show-labels"]) await frame.locator(id).check();
  if (ground.objects.length) {
    const mask = await page.evaluate((uri) => window.host.read(uri), ground.objects[0].mask.uri);
    await fs.writeFile(path.join(outDir, "ground_mask.png"), Buffer.from(mask.contents[0].blob, "base64"));
  }
  report.legend_rows = await frame.locator("#details tr").count();

  // 2. The person paints a stroke with the brush, then runs inpaint on it from the app.
  await frame.locator('input[name="tool"][value="brush"]').check();
  const size = 40; // screen pixels: a radius of 5 image pixels at the view's scale of 4
  await frame.locator("#brush-size").evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }, size);
  const box = await view.boundingBox();
  const scale = Number(report.layout.scale);
  const stroke = [[20.3, 30.6], [60.7, 52.2], [70.4, 20.5]]; // image coordinates
  // Whole screen pixels (the browser delivers pointer positions in them), 12 moves per segment.
  const toScreen = ([x, y]) => [Math.round(box.x + x * scale), Math.round(box.y + y * scale)];
  const sent = [toScreen(stroke[0])];
  for (let k = 1; k < stroke.length; k++) {
    const [a, b] = [stroke[k - 1], stroke[k]];
    for (let t = 1; t <= 12; t++) sent.push(toScreen([a[0] + ((b[0] - a[0]) * t) / 12, a[1] + ((b[1] - a[1]) * t) / 12]));
  }
  await page.mouse.move(...sent[0]);
  await page.mouse.down();
  for (const point of sent.slice(1)) await page.mouse.move(...point);
  await page.mouse.up();
  report.stroke = { size, scale, sent, view_box: box, app_rect: await view.evaluate((el) => el.getBoundingClientRect().toJSON()) };
  await frame.locator(`#view[data-selected]:not([data-selected="0"])`).waitFor({ timeout: 10000 });
  await page.waitForFunction(() => window.host.log.modelContext.length > 0, null, { timeout: 10000 });
  if (screensDir) await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-painted.png") });
  const before = report.layout.image;
  await frame.locator("#action").selectOption("inpaint");
  await frame.locator("#action-text").fill("grey floor");
  const callsBefore = received.filter((m) => m.method === "tools/call").length;
  await frame.locator("#run").click();
  report.after = await ready("inpaint", before);
  report.lineage = await frame.locator("#lineage g.node").evaluateAll((nodes) =>
    nodes.map((n) => ({ image: n.dataset.image, parents: n.dataset.parents.split(" ").filter(Boolean), current: n.classList.contains("current") })));
  report.slider_visible = await frame.locator("#slider").isVisible();
  const appCalls = received.filter((m) => m.method === "tools/call").slice(callsBefore);
  report.app_calls = appCalls.map((m) => ({ name: m.params.name, keys: Object.keys(m.params.arguments || {}) }));
  const inpaintCall = appCalls.find((m) => m.params.name === "inpaint");
  if (inpaintCall) {
    const uri = inpaintCall.params.arguments.mask;
    report.received_args = { ...inpaintCall.params.arguments, mask: uri.slice(0, 40) };
    await fs.writeFile(path.join(outDir, "received_mask.png"), Buffer.from(uri.split(",")[1], "base64"));
  }
  const history = await page.evaluate((id) => window.host.raw("history", { image: id, depth: 1 }).then((r) => r.structuredContent), report.after.image);
  report.history = history;
  const storedMask = history.steps[0]?.args?.mask;
  if (storedMask) {
    const mask = await page.evaluate((id) => window.host.read(`pixwizard://images/${id}`), storedMask);
    await fs.writeFile(path.join(outDir, "stored_mask.png"), Buffer.from(mask.contents[0].blob, "base64"));
  }
  report.model_context = await page.evaluate(() => window.host.log.modelContext);
  report.host_log = await page.evaluate(() => ({ ...window.host.log, modelContext: undefined }));
  report.theme_light = await frame.locator("html").getAttribute("data-theme");
  await page.evaluate(() => window.host.theme("dark"));
  await frame.locator('html[data-theme="dark"]').waitFor({ timeout: 5000 });
  report.theme_dark = await frame.locator("html").getAttribute("data-theme");

  if (screensDir) await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-inpaint.png") });

  // 3. Steering: a new seed, back to the parent, a lineage node, the readouts, a dragged box, a plan.
  const sceneId = report.ground.provenance.args.image;
  const readyImage = async (id) => {
    await frame.locator(`#view[data-ready="1"][data-image="${id}"]`).waitFor({ timeout: 180000 });
    return view.evaluate((el) => ({ ...el.dataset }));
  };
  const appCallsSince = (count) => received.filter((m) => m.method === "tools/call").slice(count)
    .map((m) => ({ name: m.params.name, arguments: m.params.arguments || {} }));
  const steer = {};
  report.steer = steer;
  let mark = received.filter((m) => m.method === "tools/call").length;
  await frame.locator("#regenerate").click();
  steer.regenerated = await ready("inpaint", report.after.image);
  steer.regenerate_calls = appCallsSince(mark).map((c) => ({ name: c.name, image: c.arguments.image, seed: c.arguments.seed }));
  await frame.locator("#to-parent").click();
  steer.back = await readyImage(sceneId);
  steer.back_disabled = await frame.locator("#to-parent").isDisabled();

  // Depth over the scene: the value under the pointer; then its lineage node of the scene, clicked.
  await page.evaluate((image) => window.host.call("depth", { image }), scene);
  steer.depth = await ready("depth");
  const dbox = await view.boundingBox();
  await page.mouse.move(dbox.x + dbox.width * 0.55, dbox.y + dbox.height * 0.45);
  steer.depth_readout = await frame.locator("#readout").textContent();
  if (screensDir) await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-depth.png") });
  // The depth map's own node: an analysis opened by id is shown as the image it is.
  await frame.locator(`#lineage g.node[data-image="${steer.depth.image}"]`).click();
  steer.depth_by_id = await readyImage(steer.depth.image);
  await frame.locator(`#lineage g.node[data-image="${sceneId}"]`).click();
  steer.lineage_click = await readyImage(sceneId);

  // Segment: the legend lists classes with their areas.
  await page.evaluate((image) => window.host.call("segment", { image }), scene);
  steer.segment = await ready("segment");
  steer.legend = await frame.locator("#legend tr").evaluateAll((rows) => rows.map((r) => r.textContent.trim()));
  if (screensDir) {
    await page.mouse.move(dbox.x + dbox.width * 0.55, dbox.y + dbox.height * 0.45);
    await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-segment.png") });
  }

  // A box dragged over the hexagon on the segment view, then remove_object on it (the box as region).
  await frame.locator('input[name="tool"][value="box"]').check();
  const [bx0, by0, bx1, by1] = report.ground.objects[0]?.box || [30, 30, 60, 60];
  const vb = await view.boundingBox();
  const sc = Number(steer.segment.scale);
  const at = (x, y) => [Math.round(vb.x + x * sc), Math.round(vb.y + y * sc)]; // whole screen pixels
  // Inside the corner pixels, half a pixel from their edges: the rectangle then covers exactly them.
  const [from, to] = [at(bx0 + 0.5, by0 + 0.5), at(bx1 - 0.5, by1 - 0.5)];
  steer.drag = { from, to, scale: sc, view_box: vb };
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move(...at((bx0 + bx1) / 2, (by0 + by1) / 2));
  await page.mouse.move(...to);
  await page.mouse.up();
  await frame.locator(`#view[data-selected]:not([data-selected="0"])`).waitFor({ timeout: 10000 });
  steer.box_selected = Number(await view.getAttribute("data-selected"));
  await frame.locator("#action").selectOption("remove_object");
  await frame.locator("#action-text").fill(referring);
  mark = received.filter((m) => m.method === "tools/call").length;
  await frame.locator("#run").click();
  steer.removed = await ready("recipe");
  const removeCall = appCallsSince(mark).find((c) => c.name === "remove_object");
  if (removeCall) {
    steer.remove_args = { ...removeCall.arguments, region: removeCall.arguments.region?.slice(0, 30) };
    await fs.writeFile(path.join(outDir, "box_region.png"), Buffer.from(removeCall.arguments.region.split(",")[1], "base64"));
  }

  // A plan: every step's image in order, and a step shown when clicked.
  const plan = { steps: [
    { id: "s1", tool: "restore", args: { image: "$input", problem: "denoise" } },
    { id: "s2", tool: "depth", args: { image: "$s1.image" } },
  ] };
  const planResult = await page.evaluate(([p, image]) => window.host.call("run_plan", { plan: p, images: [image] })
    .then((r) => r.structuredContent), [plan, scene]);
  steer.plan_steps = planResult.steps.map((st) => ({ tool: st.tool, images: st.images }));
  steer.plan_view = await ready("plan");
  const images = frame.locator("#plan-strip figure img");
  for (let k = 0; k < 100; k++) {
    if (await images.evaluateAll((all) => all.length > 0 && all.every((img) => img.naturalWidth > 0))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  steer.strip = await frame.locator("#plan-strip figure").evaluateAll((figures) =>
    figures.map((f) => ({ image: f.dataset.image, caption: f.querySelector("figcaption").textContent, loaded: f.querySelector("img").naturalWidth > 0 })));
  await frame.locator("#plan-strip figure").first().click();
  steer.strip_click = await readyImage(steer.plan_steps[0].images[0]);
  steer.strip_after_click = await frame.locator("#plan-strip figure").evaluateAll((figures) =>
    figures.map((f) => ({ image: f.dataset.image, current: f.classList.contains("current") })));
} catch (error) {
  report.failure = String(error && error.stack ? error.stack : error);
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
}
await fs.writeFile(path.join(outDir, "report.json"), JSON.stringify(report, null, 1));
console.log(JSON.stringify({ ok: !report.failure, failure: report.failure || null }));
process.exit(0); // the MCP client's open event stream would keep Node waiting
