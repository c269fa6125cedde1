// Shared by the browser tests: start the real `lookout` binary on a free port with a fresh data
// directory, poll conditions against deadlines, and launch Debian's Chromium through
// playwright-core (no downloaded browsers). Not a test file itself.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const BIN = process.env.LOOKOUT_BIN || path.join(repo, 'target', 'debug', 'lookout');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const ARTIFACTS = path.join(here, 'artifacts');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Thrown from a `waitFor` probe to stop waiting at once. */
export class Fatal extends Error {}

/** Polls `probe` until it returns a truthy value, or fails after `timeout` ms saying `what`. */
export async function waitFor(what, probe, { timeout = 15_000, interval = 100 } = {}) {
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
export function freePort() {
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
export function get(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
}

/**
 * Starts `lookout <command> --listen 127.0.0.1:<free port> --data-dir <temp> ...extra` in `cwd`
 * and resolves once /health/ready answers 200. `cleanups` receives the stop and removal steps;
 * `prepare(dataDir)` may put files in the data directory first.
 */
export async function startLookout(command, extra, cleanups, { cwd = repo, prepare } = {}) {
  if (!existsSync(BIN)) {
    throw new Error(
      `${BIN} does not exist: build it with \`cargo build -p aggregator\` (after ` +
        '`cd query-ui && npm ci && npm run build`), or point LOOKOUT_BIN at a lookout binary',
    );
  }
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookout-browser-data-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  if (prepare) await prepare(dataDir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, [command, '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...extra], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
  });
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
  return { base, proc, log, dataDir };
}

/** A headless Chromium with a throwaway profile; closed by `cleanups`. */
export async function launchBrowser(cleanups) {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'lookout-browser-profile-'));
  cleanups.push(() => fs.rm(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, {
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
    viewport: { width: 1366, height: 900 },
    // A zone that is neither UTC nor a whole hour away, whatever the machine's own zone is: the
    // local-time and UTC paths of the UI then differ, as they do for most users.
    timezoneId: process.env.BROWSER_TZ || 'Asia/Kolkata',
    timeout: 30_000,
  });
  cleanups.push(() => browser.close());
  return browser;
}

/** Runs every cleanup, newest first, reporting (not throwing) failures. */
export async function runCleanups(cleanups) {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error('cleanup failed:', err);
    }
  }
}

/** A page that records uncaught errors and requests that left the aggregator's origin. */
export async function openPage(browser, base) {
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  const external = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // A Content-Security-Policy violation is a defect of the page, like an uncaught error.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) errors.push(`CSP: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(base) && !url.startsWith('data:') && !url.startsWith('blob:')) external.push(url);
  });
  return { page, errors, external };
}

export function shot(page, name) {
  return page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}
