// Browser test of the charfinder page: node charfinder.mjs BASE_URL SCREENSHOT.png
// Loads the page in Debian's headless Chromium, types a query, scrolls until
// every page has arrived, checks the rows against the API, then checks that a
// new query replaces the old one. Prints one JSON line; exits 1 on failure.
import { chromium } from "playwright-core";

const [base, screenshot] = process.argv.slice(2);
const fail = (message) => { console.error(`FAIL: ${message}`); process.exit(1); };
if (!base || !screenshot) fail("usage: node charfinder.mjs BASE_URL SCREENSHOT.png");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(15000);
  await page.goto(base);
  const query = "arrow";
  const api = await (await fetch(`${base}api/search?q=${query}&start=0&stop=1`)).json();
  const total = api.total;
  if (total <= 100) fail(`query '${query}' should need several pages, has ${total}`);

  await page.fill("#q", query);
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#results li").length > 0);
  const first = await page.locator("#results li").count();
  const firstCount = await page.textContent("#count");
  if (first >= total) fail(`the first page held everything (${first})`);
  if (!/^\d+ of \d+$/.test(firstCount)) fail(`count reads '${firstCount}'`);

  // Scroll until all rows are there, within a bound.
  const deadline = Date.now() + 30000;
  let rows = first, scrolls = 0;
  while (rows < total && Date.now() < deadline) {
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    scrolls += 1;
    await page.waitForTimeout(100);
    rows = await page.locator("#results li").count();
  }
  if (rows !== total) {
    fail(`${rows} rows of ${total} after ${scrolls} scrolls; the count reads '${await page.textContent("#count")}'`);
  }
  const countText = await page.textContent("#count");
  if (countText !== `${total} of ${total}`) fail(`count reads '${countText}'`);
  const cps = await page.$$eval("#results .cp", (els) => els.map((e) => e.textContent));
  if (new Set(cps).size !== cps.length) fail("duplicate rows");
  const names = await page.$$eval("#results .name", (els) => els.map((e) => e.textContent));
  if (!names.every((n) => n.includes("ARROW"))) fail("a row without ARROW");
  await page.screenshot({ path: screenshot });

  // A new query replaces the old one's rows entirely.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.fill("#q", "cat face");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.querySelector("#count").textContent === "10 of 10");
  const catRows = await page.$$eval("#results .name", (els) => els.map((e) => e.textContent));
  if (catRows.length !== 10 || !catRows.every((n) => n.includes("CAT") && n.includes("FACE"))) {
    fail(`after the new query: ${JSON.stringify(catRows)}`);
  }
  console.log(JSON.stringify({ total, first, scrolls, rows, screenshot }));
} finally {
  await browser.close();
}
