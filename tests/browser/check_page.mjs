// Open a local page in Debian's headless Chromium (playwright-core, never a browser download) and print
// what the tests check as JSON: every image (loaded or not) and, per request section, its plan and results.
// Usage: node check_page.mjs PAGE.html [SCREENSHOT.png]
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [page_path, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.PIXWIZARD_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const failed = [];
  page.on("requestfailed", (request) => failed.push(request.url()));
  await page.goto(pathToFileURL(path.resolve(page_path)).href, { waitUntil: "load" });
  const report = await page.evaluate(() => ({
    title: document.title,
    images: [...document.images].map((img) => ({
      src: img.getAttribute("src"), complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    })),
    sections: [...document.querySelectorAll("section.request")].map((section) => ({
      id: section.id,
      request: section.querySelector("h2")?.textContent ?? "",
      plan: [...section.querySelectorAll("ol.plan li")].map((li) => li.textContent),
      results: [...section.querySelectorAll("div.result")].map((div) => ({
        step: div.dataset.step,
        summary: [...div.querySelectorAll("ul.summary li")].map((li) => li.textContent),
        images: div.querySelectorAll("img").length,
      })),
      status: section.querySelector("p.status")?.textContent ?? "",
    })),
  }));
  report.failed_requests = failed;
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
