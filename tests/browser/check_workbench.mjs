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
  const size = 10;
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
  report.stroke = { size, scale, sent, view_box: box };
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

  // 3. Screenshots of the other views, for the README.
  if (screensDir) {
    await frame.locator("main").screenshot({ path: path.join(screensDir, "workbench-inpaint.png") });
    for (const tool of ["segment", "depth"]) {
      await page.evaluate(([t, image]) => window.host.call(t, { image }), [tool, scene]);
      await ready(tool);
      await frame.locator("#lineage g.node").first().waitFor({ timeout: 30000 });
      const vbox = await view.boundingBox();
      await page.mouse.move(vbox.x + vbox.width * 0.55, vbox.y + vbox.height * 0.45);
      await frame.locator("main").screenshot({ path: path.join(screensDir, `workbench-${tool}.png`) });
    }
  }
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
