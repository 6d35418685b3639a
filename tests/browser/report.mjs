// Browser test of the bench's HTML report: node report.mjs FILE.html SCREENSHOT.png CELLS WATERFALLS
// Opens the page in Debian's headless Chromium with JavaScript off, records
// every request the page makes (only the page itself may be loaded), checks
// that the table has a row per cell, that every plot and waterfall is drawn
// with a size, and saves a screenshot of the whole page. Prints one JSON
// line; exits 1 on failure.
import { chromium } from "playwright-core";

const [file, screenshot, cellsText, waterfallsText] = process.argv.slice(2);
const fail = (message) => { console.error(`FAIL: ${message}`); process.exit(1); };
if (!file || !screenshot) fail("usage: node report.mjs FILE.html SCREENSHOT.png CELLS WATERFALLS");
const cells = Number(cellsText), waterfalls = Number(waterfallsText);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 } });
  // Refuse the network: any request but the page itself is recorded and aborted.
  const url = `file://${file}`;
  const requests = [];
  await context.route("**/*", (route) => {
    const asked = route.request().url();
    if (asked === url) return route.continue();
    requests.push(asked);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("request", (request) => { if (request.url() !== url) requests.push(request.url()); });
  page.setDefaultTimeout(15000);
  await page.goto(url);
  await page.waitForLoadState("load");
  if (requests.length > 0) fail(`the page asked for ${JSON.stringify(requests)}`);

  const rows = await page.locator("table.sortable tbody tr").count();
  if (rows !== cells) fail(`${rows} table rows for ${cells} cells`);
  if (!(await page.locator("table.sortable").isVisible())) fail("the table is not visible");
  const sized = async (selector) => page.$$eval(selector, (els) =>
    els.map((e) => { const b = e.getBoundingClientRect(); return b.width > 100 && b.height > 100; }));
  const plots = await sized("figure.plot svg");
  if (plots.length !== 1 || !plots.every(Boolean)) fail(`plots: ${JSON.stringify(plots)}`);
  const falls = await sized("figure.waterfall svg");
  if (falls.length !== waterfalls || !falls.every(Boolean)) {
    fail(`${falls.length} waterfalls drawn for ${waterfalls} cells: ${JSON.stringify(falls)}`);
  }
  const text = await page.textContent("body");
  for (const needle of ["Environment", "outputs on", "Plots", "Waterfalls"]) {
    if (!text.includes(needle)) fail(`no '${needle}' on the page`);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ rows, plots: plots.length, waterfalls: falls.length, requests: requests.length, screenshot }));
} finally {
  await browser.close();
}
