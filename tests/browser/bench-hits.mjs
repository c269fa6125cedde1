// Measures the Logs page's results list at 10,000 hits (BENCHMARKS.md, "UI: 10,000 hits"):
// the virtualised list against the same rows rendered in full, in the same page and run.
//
// Run: cd tests/browser && node bench-hits.mjs   (needs target/debug/lookout and Chromium)

import { get, launchBrowser, runCleanups, startLookout, waitFor } from './harness.mjs';

const N = 10_000;
const cleanups = [];
try {
  const server = await startLookout('serve', ['--no-auth'], cleanups);
  const now = Date.now();
  for (let b = 0; b < N / 2000; b++) {
    const lines = [];
    for (let i = 0; i < 2000; i++) {
      const n = b * 2000 + i;
      lines.push(JSON.stringify({ timestamp: new Date(now - n * 100).toISOString(), level: ['info', 'warn', 'error', 'debug'][n % 4], service: `svc-${n % 7}`, host: `web-${n % 3}`, message: `request ${n} handled in ${n % 900} ms`, n }));
    }
    const res = await get(`${server.base}/api/v1/logs/ingest`, { method: 'POST', body: lines.join('\n') + '\n' });
    if (res.status !== 200) throw new Error(await res.text());
  }
  await waitFor('10,000 searchable lines', async () => (await (await get(`${server.base}/api/v1/logs/search?limit=1&start=${Math.floor(now / 1000) - 7200}`)).json()).total >= N, { timeout: 60_000, interval: 500 });
  const browser = await launchBrowser(cleanups);
  const page = await browser.newPage();
  await page.goto(`${server.base}/logs?range=6h`);
  await page.waitForSelector('[data-testid=hit]');
  const t0 = Date.now();
  while ((await page.locator('[data-testid=load-more]').count()) > 0) {
    await page.click('[data-testid=load-more]');
    await page.waitForFunction(() => !document.querySelector('[data-testid=load-more]')?.disabled);
  }
  const loadMs = Date.now() - t0;
  const scroll = (selector) =>
    page.evaluate(async (selector) => {
      const el = document.querySelector(selector);
      const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const steps = 100;
      const start = performance.now();
      for (let i = 1; i <= steps; i++) {
        el.scrollTop = ((el.scrollHeight - el.clientHeight) * i) / steps;
        el.dispatchEvent(new Event('scroll'));
        await frames();
      }
      return (performance.now() - start) / steps;
    }, selector);
  const rows = await page.locator('[data-testid=hit]').count();
  const total = await page.evaluate(() => document.querySelector('[data-testid=hits]').getAttribute('aria-rowcount'));
  const virtualFrame = await scroll('[data-testid=hits-scroll]');
  // The same 10,000 rows rendered in full, with the page's own markup and styles.
  const full = await page.evaluate(async () => {
    const src = document.querySelector('[data-testid=hits-scroll]');
    const box = document.createElement('div');
    box.className = 'hits-scroll';
    box.id = 'full';
    const ol = document.createElement('ol');
    ol.className = 'hits';
    box.appendChild(ol);
    const template = src.querySelector('[data-testid=hit]');
    const start = performance.now();
    for (let i = 0; i < 10000; i++) ol.appendChild(template.cloneNode(true));
    src.parentElement.appendChild(box);
    box.getBoundingClientRect();
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return { renderMs: performance.now() - start, rows: ol.children.length };
  });
  const fullFrame = await scroll('#full');
  console.log(JSON.stringify({ hits: Number(total), loadMoreMs: loadMs, virtual: { domRows: rows, msPerScrollStep: +virtualFrame.toFixed(2) }, full: { domRows: full.rows, renderMs: +full.renderMs.toFixed(1), msPerScrollStep: +fullFrame.toFixed(2) } }, null, 1));
} finally {
  await runCleanups(cleanups);
}
