// Sign-in in a real browser against `lookout serve` with authentication on: the sign-in form,
// a wrong password shown in place, the pages after signing in, an acknowledgement made through
// the UI (its CSRF token) recorded with the signed-in user, the Audit page, and signing out.
//
// Run: cd tests/browser && npm ci && node --test security.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN, get, launchBrowser, openPage, runCleanups, shot, startLookout, waitFor } from './harness.mjs';

const cleanups = [];
let server;
let browser;
let ingestToken;
const PASSWORD = 'ada-browser-password';

function cli(args, input) {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `lookout ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  const prepare = async (dir) => {
    cli(['user', 'add', 'ada', '--role', 'admin', '--data-dir', dir], `${PASSWORD}\n`);
    ingestToken = cli(['token', 'create', 'browser-prometheus', '--role', 'ingest', '--data-dir', dir]);
  };
  server = await startLookout('serve', [], cleanups, { prepare });
  browser = await launchBrowser(cleanups);
});

after(() => runCleanups(cleanups));

test('sign in, acknowledge as the signed-in user, read the audit log, sign out', { timeout: 90_000 }, async () => {
  const { page, errors, external } = await openPage(browser, server.base);
  try {
    // Anonymous API calls are refused; the page asks to sign in.
    assert.equal((await get(`${server.base}/api/v1/logs/search`)).status, 401);
    await page.goto(`${server.base}/alerts`);
    await page.getByRole('heading', { name: 'Sign in to Lookout' }).waitFor();
    await shot(page, 'sign-in');

    await page.fill('input[name=username]', 'ada');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.locator('[data-testid=sign-in-error]').waitFor();
    assert.match(await page.locator('[data-testid=sign-in-error]').textContent(), /invalid user name or password/);

    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.locator('[data-testid=whoami]').waitFor();
    assert.match(await page.locator('[data-testid=whoami]').textContent(), /ada\s*admin/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'lookout_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));

    // An alert from a "Prometheus" with an ingest token, acknowledged through the UI.
    const name = `SecuredAlert${process.pid}`;
    const post = await get(`${server.base}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ingestToken}` },
      body: JSON.stringify([{ labels: { alertname: name, severity: 'page' }, annotations: { summary: 's' } }]),
    });
    assert.equal(post.status, 200, await post.text());
    const card = page.locator('[data-testid=alert]', { hasText: name });
    await waitFor('the alert on the Alerts page', async () => {
      if (await card.count()) return true;
      await page.reload();
      await page.waitForTimeout(500);
      return false;
    }, { timeout: 30_000, interval: 500 });
    await card.locator('[data-testid=ack-button]').click();
    await card.locator('[data-testid=ack]').waitFor({ timeout: 15_000 });
    assert.match(await card.locator('[data-testid=ack]').textContent(), /acknowledged by ada/);

    // A request from the page without the CSRF token is refused.
    const forged = await page.evaluate(async () => (await fetch('/api/v2/silences', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status);
    assert.equal(forged, 403);

    // The Audit page (admins only) lists the failed and the good sign-in and the acknowledgement.
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.locator('[data-testid=audit-row]').first().waitFor();
    const text = await page.locator('.audit table').textContent();
    for (const want of ['login.failed', 'login', 'POST /api/v1/alerts/{fp}/ack', 'user:ada']) {
      assert.ok(text.includes(want), `audit page lacks ${want}`);
    }
    await shot(page, 'audit');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Lookout' }).waitFor();
    assert.deepEqual(errors, [], 'the page threw or violated the CSP');
    assert.deepEqual(external, []);
  } catch (err) {
    await shot(page, 'security-failure').catch(() => {});
    err.message += `\n${server.log()}`;
    throw err;
  } finally {
    await page.close();
  }
});
