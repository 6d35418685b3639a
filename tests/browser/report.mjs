// Browser test of the bench's HTML report:
//   node report.mjs FILE.html SCREENSHOT_PREFIX CELLS WATERFALLS
// Opens the page in Debian's headless Chromium with JavaScript off, records
// every request the page makes (only the page itself may be loaded), and at
// a desktop width (1,200 px) and a phone's (400 px) checks that nothing is
// wider than the window and nothing scrolls sideways, that the table has a
// row per cell, that every plot and waterfall is drawn with a size and has
// both axes named and labelled, and saves a screenshot of the whole page
// (SCREENSHOT_PREFIX-1200.png, -400.png). Prints one JSON line; exits 1 on
// failure.
import { chromium } from "playwright-core";

const [file, prefix, cellsText, waterfallsText] = process.argv.slice(2);
const fail = (message) => { console.error(`FAIL: ${message}`); process.exit(1); };
if (!file || !prefix) fail("usage: node report.mjs FILE.html SCREENSHOT_PREFIX CELLS WATERFALLS");
const cells = Number(cellsText), waterfalls = Number(waterfallsText);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const summary = { requests: 0, screenshots: [] };
try {
  for (const width of [1200, 400]) {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width, height: 900 } });
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

    // Nothing wider than the window, nothing that scrolls sideways.
    const overflow = await page.evaluate(() => {
      const wide = [];
      if (document.documentElement.scrollWidth > window.innerWidth) {
        wide.push(`the page is ${document.documentElement.scrollWidth} px wide`);
      }
      for (const e of document.body.querySelectorAll("*")) {
        const style = getComputedStyle(e);
        const scrolls = ["auto", "scroll"].includes(style.overflowX) && e.scrollWidth > e.clientWidth + 1;
        const right = e.getBoundingClientRect().right;
        if (scrolls || right > window.innerWidth + 1) {
          wide.push(`${e.tagName.toLowerCase()}.${e.className} (${Math.round(right)} px, scrolls: ${scrolls})`);
        }
      }
      return wide;
    });
    if (overflow.length > 0) fail(`at ${width} px: ${overflow.slice(0, 5).join("; ")}`);

    const rows = await page.locator("table.sortable tbody tr").count();
    if (rows !== cells) fail(`${rows} table rows for ${cells} cells`);
    if (!(await page.locator("table.sortable").isVisible())) fail("the table is not visible");
    const sized = async (selector, least) => page.$$eval(selector, (els, least) =>
      els.map((e) => { const b = e.getBoundingClientRect(); return b.width > least && b.height > least; }), least);
    const plots = await sized("figure.plot svg", width > 500 ? 100 : 50);
    if (plots.length !== 1 || !plots.every(Boolean)) fail(`plots at ${width} px: ${JSON.stringify(plots)}`);
    const falls = await sized("figure.waterfall svg", width > 500 ? 100 : 50);
    if (falls.length !== waterfalls || !falls.every(Boolean)) {
      fail(`${falls.length} waterfalls drawn for ${waterfalls} cells: ${JSON.stringify(falls)}`);
    }
    // Every chart names both axes (the y one is the rotated text) and
    // labels them with values.
    const axes = await page.$$eval("figure svg", (svgs) => svgs.map((svg) => {
      const texts = Array.from(svg.querySelectorAll("text"));
      const x = texts.filter((t) => /^(concurrency \(log scale\)|seconds since the start)$/.test(t.textContent.trim())).length;
      const y = texts.filter((t) => /rotate/.test(t.getAttribute("transform") || "")).length;
      const values = texts.filter((t) => /^-?[0-9.]+ ?(ns|µs|ms|s|MiB|%)?$/.test(t.textContent.trim())).length;
      return { x, y, values };
    }));
    for (const [i, a] of axes.entries()) {
      if (a.x === 0 || a.y < a.x || a.values < 4 * a.x) fail(`chart ${i} at ${width} px: axes ${JSON.stringify(a)}`);
    }
    const text = await page.textContent("body");
    for (const needle of ["Environment", "outputs on", "Plots", "Waterfalls"]) {
      if (!text.includes(needle)) fail(`no '${needle}' on the page`);
    }
    if (text.includes("delay unknown")) fail("a waterfall's title does not name its delay");
    const screenshot = `${prefix}-${width}.png`;
    await page.screenshot({ path: screenshot, fullPage: true });
    summary.rows = rows;
    summary.plots = plots.length;
    summary.waterfalls = falls.length;
    summary.charts = axes.length;
    summary.screenshots.push(screenshot);
    await context.close();
  }
  console.log(JSON.stringify(summary));
} finally {
  await browser.close();
}
