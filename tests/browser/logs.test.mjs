// End-to-end test of the Logs page: the real `lookout` binary, real logs, a real browser.
//
// It starts `lookout serve` on a free loopback port with a fresh data directory, ingests a few
// NDJSON lines, waits until they are searchable, then drives Debian's Chromium through
// playwright-core (no downloaded browsers) the way a developer would: search, expand a hit,
// go back, mistype a query. Every wait polls a condition against a deadline.
//
// Run: cd tests/browser && npm ci && node --test
// Needs: target/debug/lookout (or LOOKOUT_BIN) built after `npm run build` in query-ui/ (debug
// builds read query-ui/dist at run time), and /usr/bin/chromium (or CHROMIUM_BIN).
// Screenshots land in tests/browser/artifacts/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const BIN = process.env.LOOKOUT_BIN || path.join(repo, 'target', 'debug', 'lookout');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ARTIFACTS = path.join(here, 'artifacts');

const QUERY = 'service:checkout AND declined';
const BAD_QUERY = 'status:[500 TO';
const EXPECTED = 'payment declined for order A-17';
// Lines that share a word or a service with the query but must not match it.
const NOT_EXPECTED = ['payment authorized for order A-18', 'card declined by issuer'];

const cleanups = [];
let server; // { base, proc, log() }
let browser; // a persistent Chromium context

// ---- helpers -------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Thrown from a `waitFor` probe to stop waiting at once. */
class Fatal extends Error {}

/** Polls `probe` until it returns a truthy value, or fails after `timeout` ms saying `what`. */
async function waitFor(what, probe, { timeout = 15_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await sleep(interval);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** fetch with a deadline of its own, so a hung server cannot hang the test. */
function get(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
}

/** Starts `lookout serve` and resolves once /health/ready answers 200. */
async function startServer() {
  if (!existsSync(BIN)) {
    throw new Error(
      `${BIN} does not exist: build it with \`cargo build -p aggregator\` (after ` +
        '`cd query-ui && npm ci && npm run build`), or point LOOKOUT_BIN at a lookout binary',
    );
  }
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookout-browser-data-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, ['serve', '--no-auth', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  // Keep the tail of the server's output for failure messages.
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  cleanups.push(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const log = () => `--- lookout output (tail) ---\n${output}\n--- end ---`;
  await waitFor(
    `${base}/health/ready`,
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Fatal(`lookout exited early (${proc.exitCode ?? proc.signalCode})\n${log()}`);
      }
      const res = await get(`${base}/health/ready`);
      await res.arrayBuffer();
      return res.status === 200;
    },
    { timeout: 60_000 },
  ).catch((err) => {
    throw new Error(`${err.message}\n${log()}`);
  });
  return { base, proc, log };
}

async function ingest(lines) {
  const res = await get(`${server.base}/api/v1/logs/ingest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-ndjson' },
    body: lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
  });
  const text = await res.text();
  assert.equal(res.status, 200, `ingest answered ${res.status}: ${text}`);
  assert.equal(JSON.parse(text).accepted, lines.length, `ingest answered ${text}`);
}

async function search(q) {
  const end = Math.floor(Date.now() / 1000) + 60;
  const params = new URLSearchParams({ q, start: String(end - 3600 - 60), end: String(end), limit: '100' });
  const res = await get(`${server.base}/api/v1/logs/search?${params}`);
  return { status: res.status, body: await res.json() };
}

/** Waits until the Logs page has finished its search for `q` and returns the hits' texts. */
async function settledHits(page, q) {
  await page.waitForFunction(
    (q) => {
      const results = document.querySelector('[data-testid=results]');
      return (
        new URLSearchParams(location.search).get('q') === (q || null) &&
        results?.getAttribute('aria-busy') === 'false'
      );
    },
    q,
    { timeout: 15_000 },
  );
  return page.$$eval('[data-testid=hit]', (rows) => rows.map((r) => r.textContent ?? ''));
}

// ---- fixture -------------------------------------------------------------------------------

before(async () => {
  server = await startServer();

  const now = Date.now();
  const at = (secondsAgo) => new Date(now - secondsAgo * 1000).toISOString();
  await ingest([
    {
      timestamp: at(40), level: 'error', service: 'checkout', host: 'web-1',
      message: EXPECTED, order_id: 'A-17', latency_ms: 830, http: { status: 502 },
    },
    {
      timestamp: at(35), level: 'info', service: 'checkout', host: 'web-2',
      message: NOT_EXPECTED[0], order_id: 'A-18', latency_ms: 120,
    },
    {
      timestamp: at(30), level: 'warn', service: 'billing', host: 'web-3',
      message: NOT_EXPECTED[1], card: 'visa',
    },
    {
      timestamp: at(25), level: 'debug', service: 'inventory', host: 'worker-1',
      message: 'cache refreshed in 12 ms', entries: 5120,
    },
    {
      timestamp: at(20), level: 'info', service: 'frontend', host: 'web-1',
      message: 'GET /cart 200', status: 200, path: '/cart',
    },
  ]);

  // Near real time: poll until every line is searchable, so that a missing line in the UI
  // means the query excluded it, not that it was not indexed yet.
  await waitFor('the ingested lines to become searchable', async () => {
    const all = await search('');
    const hit = await search(QUERY);
    return (
      all.status === 200 &&
      all.body.total >= 5 &&
      hit.status === 200 &&
      hit.body.hits.some((h) => h.message === EXPECTED)
    );
  }, { timeout: 20_000, interval: 200 });

  await fs.mkdir(ARTIFACTS, { recursive: true });
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'lookout-browser-profile-'));
  cleanups.push(() => fs.rm(profile, { recursive: true, force: true }));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    timeout: 30_000,
  });
  cleanups.push(() => browser.close());
});

after(async () => {
  // Browser first, then the server, then the directories they used.
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error('cleanup failed:', err);
    }
  }
});

// ---- tests ---------------------------------------------------------------------------------

test('the Logs page searches, expands a hit, keeps its state in the URL, and shows query errors', { timeout: 120_000 }, async (t) => {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  t.after(() => {
    if (pageErrors.length) console.error('page errors:', pageErrors);
  });

  try {
    // Opening the page searches everything in the last hour.
    await page.goto(`${server.base}/logs`);
    let hits = await settledHits(page, '');
    assert.ok(hits.length >= 5, `expected all 5 lines on the unfiltered page, got ${hits.length}`);
    await page.waitForSelector('[data-testid=histogram] canvas');
    assert.equal(await page.inputValue('[data-testid=query-input]'), '');

    // Type a query and press Enter.
    await page.fill('[data-testid=query-input]', QUERY);
    await page.press('[data-testid=query-input]', 'Enter');
    hits = await settledHits(page, QUERY);
    assert.ok(hits.some((h) => h.includes(EXPECTED)), `expected "${EXPECTED}" among ${JSON.stringify(hits)}`);
    for (const other of NOT_EXPECTED) {
      assert.ok(!hits.some((h) => h.includes(other)), `"${other}" should not match ${QUERY}`);
    }
    const url = new URL(page.url());
    assert.equal(url.pathname, '/logs');
    assert.equal(url.searchParams.get('q'), QUERY, `the URL should carry the query: ${page.url()}`);
    assert.equal(url.searchParams.get('range'), '1h');

    // The hit shows its level (coloured as an error), service and host, and expands to its fields.
    const row = page.locator('[data-testid=hit]', { hasText: EXPECTED });
    assert.equal((await row.locator('[data-testid=hit-level]').textContent())?.trim(), 'error');
    assert.match((await row.locator('[data-testid=hit-level]').getAttribute('class')) ?? '', /lvl-error/);
    assert.equal((await row.locator('[data-testid=hit-service]').textContent())?.trim(), 'checkout');
    assert.equal((await row.locator('[data-testid=hit-host]').textContent())?.trim(), 'web-1');
    await row.locator('[data-testid=hit-summary]').click();
    const detail = await row.locator('[data-testid=hit-detail]').textContent();
    assert.match(detail ?? '', /"order_id": "A-17"/, `expanded fields: ${detail}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'logs-query.png'), fullPage: true });

    // A shared link reproduces the search; Back returns to the unfiltered one.
    await page.goBack();
    hits = await settledHits(page, '');
    assert.equal(await page.inputValue('[data-testid=query-input]'), '');
    assert.ok(hits.some((h) => h.includes(NOT_EXPECTED[0])), 'Back should show every line again');
    await page.goForward();
    hits = await settledHits(page, QUERY);
    assert.equal(await page.inputValue('[data-testid=query-input]'), QUERY);
    assert.ok(!hits.some((h) => h.includes(NOT_EXPECTED[0])), 'Forward should filter again');

    // The unfiltered page with one hit expanded and every level colour, for a person to look at.
    await page.goBack();
    await settledHits(page, '');
    await page.locator('[data-testid=hit]', { hasText: EXPECTED }).locator('[data-testid=hit-summary]').click();
    await page.waitForSelector('[data-testid=hit-detail]');
    await page.screenshot({ path: path.join(ARTIFACTS, 'logs.png'), fullPage: true });

    // A malformed query: the server's message appears in place, with no results.
    const api = await search(BAD_QUERY);
    assert.equal(api.status, 400, `the API should reject ${BAD_QUERY}: ${JSON.stringify(api.body)}`);
    await page.fill('[data-testid=query-input]', BAD_QUERY);
    await page.click('[data-testid=search-button]');
    const error = page.locator('[data-testid=query-error]');
    await error.waitFor({ state: 'visible' });
    assert.equal((await error.textContent())?.trim(), api.body.error);
    assert.equal(new URL(page.url()).searchParams.get('q'), BAD_QUERY);
    assert.equal(await page.locator('[data-testid=hit]').count(), 0, 'no hits next to a query error');
    await page.screenshot({ path: path.join(ARTIFACTS, 'logs-error.png'), fullPage: true });

    assert.deepEqual(pageErrors, [], 'the page threw');
  } catch (err) {
    await page
      .screenshot({ path: path.join(ARTIFACTS, 'logs-failure.png'), fullPage: true })
      .catch(() => {});
    err.message += `\n${server.log()}`;
    throw err;
  }
});
