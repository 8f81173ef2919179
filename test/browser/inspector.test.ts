import chromium from '@sparticuz/chromium';
import { type Browser, chromium as playwright, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SessionSyncClient } from '../../client/src/index.js';
import { buildInspector } from '../../scripts/build-inspector.js';
import { INSPECTOR_CSP } from '../../src/inspector/routes.js';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// The session inspector (GET /inspect) in a real headless Chromium, served by
// the server itself with its CSP on. Every wait is for a DOM condition.
let t: TestApp;
let browser: Browser;
let api: SessionSyncClient;

beforeAll(async () => {
  await buildInspector();
  t = await createTestApp();
  await t.listen();
  api = createClient({ baseUrl: t.baseUrl });
  // chromium.args minus two flags meant for serverless hosts: --disable-web-security would switch off
  // the browser's same-origin checks this page's security is tested under, and --single-process
  // makes one page's end take the whole browser down.
  const args = chromium.args.filter((arg) => arg !== '--disable-web-security' && arg !== '--single-process');
  browser = await playwright.launch({ executablePath: await chromium.executablePath(), args, headless: true });
}, 120_000);

const pages: Page[] = [];
// A failed test leaves its page open: close it, so its streams do not hold the servers open.
afterEach(async () => {
  for (const page of pages.splice(0)) await page.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** A page on the inspector that records every console error and uncaught exception. */
async function open(baseUrl: string, hash = ''): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  pages.push(page);
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const response = await page.goto(`${baseUrl}/inspect${hash}`);
  expect(response?.status()).toBe(200);
  return { page, problems };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)?.slice(0, 400)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: 20_000 }).then((value) => value ?? '');
const count = (page: Page, selector: string) => page.locator(selector).count();
const untilText = (page: Page, selector: string, wanted: string | RegExp) =>
  until(() => text(page, selector), (value) => (typeof wanted === 'string' ? value.includes(wanted) : wanted.test(value)), `${selector} to show ${wanted}`);

describe('GET /inspect', () => {
  it('is served by the server with a strict Content-Security-Policy, no inline code, and stays out of the API document', async () => {
    for (const path of ['/inspect', '/inspect/inspector.js', '/inspect/inspector.css', '/inspect/config.json']) {
      const response = await fetch(`${t.baseUrl}${path}`);
      expect(response.status, path).toBe(200);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toBe(INSPECTOR_CSP);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      // Read to the end: an unread body holds its connection (and so the server's close) open.
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const directives = new Map(INSPECTOR_CSP.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('style-src')).toBe("'self'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(INSPECTOR_CSP).not.toMatch(/unsafe|https?:|\*/);
    const html = await (await fetch(`${t.baseUrl}/inspect`)).text();
    // Every script is a file of this origin; no inline script, style or handler.
    expect(html.match(/<script[^>]*>/g)).toEqual(['<script type="module" src="/inspect/inspector.js">']);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(await (await fetch(`${t.baseUrl}/inspect/config.json`)).json()).toEqual({ auth: false });
    const document: any = await (await fetch(`${t.baseUrl}/openapi.json`)).json();
    expect(Object.keys(document.paths).filter((p) => p.startsWith('/inspect'))).toEqual([]);
  });

  it('lists sessions live: created ones appear, activity changes in place, deleted ones go; filters and pages past the first', async () => {
    await api.createSession({ id: 'list-parent' });
    const { page, problems } = await open(t.baseUrl);
    await untilText(page, '#connection', 'live');
    await page.locator('tr[data-session="list-parent"]').waitFor();

    await api.createSession({ id: 'list-new', parent_id: 'list-parent' });
    await page.locator('tr[data-session="list-new"]').waitFor();
    await api.setActivity('list-new', { status: 'thinking', detail: 'step 1' });
    await untilText(page, 'tr[data-session="list-new"] .activity', 'thinking step 1');
    await api.appendEvents('list-new', { events: [{ type: 'step', data: 1 }] });
    await untilText(page, 'tr[data-session="list-new"] td:nth-child(4)', '1');
    await api.deleteSession('list-new');
    await page.locator('tr[data-session="list-new"]').waitFor({ state: 'detached' });

    // 60 more: the first page holds 50, "More" reads the rest.
    for (let i = 0; i < 60; i++) await api.createSession({ id: `page-${String(i).padStart(2, '0')}` });
    await api.createSession({ id: 'child-1', parent_id: 'list-parent' });
    await page.reload();
    await untilText(page, '#list-status', 'more below');
    expect(await count(page, '#sessions tbody tr')).toBe(50);
    await page.locator('#list-more').click();
    await untilText(page, '#list-status', 'all loaded');
    expect(await count(page, '#sessions tbody tr')).toBe(62);

    await page.locator('#filter-prefix').fill('page-5');
    await until(() => count(page, '#sessions tbody tr'), (n) => n === 10, 'ten sessions with the prefix page-5');
    await page.locator('#filter-prefix').fill('');
    await page.locator('#filter-parent').fill('list-parent');
    await until(() => page.locator('#sessions tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-session'))), (ids) => ids.length === 1 && ids[0] === 'child-1', 'the parent filter');
    // A session created under the filter appears live; one that does not match does not.
    await api.createSession({ id: 'child-2', parent_id: 'list-parent' });
    await api.createSession({ id: 'page-99' });
    await page.locator('tr[data-session="child-2"]').waitFor();
    expect(await count(page, 'tr[data-session="page-99"]')).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("follows a session's state as deltas are posted, keeping the tree's folding, and travels back to versions it saw", async () => {
    const id = 'state-view';
    await api.createSession({ id });
    await api.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { title: 'first', plan: { steps: ['a'] } } });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#state-version', '1');
    await untilText(page, '#state-tree', '"first"');

    await api.pushDelta(id, { base_version: 1, patch: [{ op: 'add', path: '/plan/steps/-', value: 'b' }, { op: 'replace', path: '/title', value: 'second' }] });
    await untilText(page, '#state-version', '2');
    await untilText(page, '#state-tree', '"second"');
    expect(await text(page, '[data-path="/plan/steps"] summary')).toContain('[2]');

    // Fold the plan; the next delta re-renders the tree and the plan stays folded.
    await page.locator('[data-path="/plan"] > summary').click();
    expect(await page.locator('[data-path="/plan"]').evaluate((d) => (d as any).open)).toBe(false);
    await api.pushDelta(id, { base_version: 2, merge_patch: { title: 'third', done: true } });
    await untilText(page, '#state-version', '3');
    await untilText(page, '#state-tree', '"third"');
    expect(await page.locator('[data-path="/plan"]').evaluate((d) => (d as any).open)).toBe(false);
    await untilText(page, '#history', 'state.delta');

    // Time travel: version 2 was seen by the page; version 0 is before it opened and needs the server's ?at_version=.
    await page.locator('#travel-version').fill('2');
    await page.locator('#travel button[type=submit]').click();
    await untilText(page, '#travel-note', 'as this page saw it');
    await untilText(page, '#state-tree', '"second"');
    expect(await text(page, '#state-tree')).not.toContain('done');
    await page.locator('#travel-version').fill('0');
    await page.locator('#travel button[type=submit]').click();
    const served: any = await (await fetch(`${t.baseUrl}/openapi.json`)).json();
    const travels = served.paths['/v1/sessions/{id}/state'].get.parameters.some((p: any) => p.name === 'at_version');
    // Until the server has ?at_version= the page says so (and never shows a made-up state); with it, the server's answer.
    await untilText(page, '#travel-note', travels ? 'from the server' : 'needs its ?at_version= time travel');
    if (!travels) expect(await text(page, '#state-tree')).toBe('');
    await page.locator('#travel-live').click();
    await untilText(page, '#state-tree', '"third"');

    // A binary session has no tree: the page says what it holds and stays live.
    await api.createSession({ id: 'state-binary', encoding: 'binary' });
    await api.putSnapshot('state-binary', { base_version: 0, schema_version: 1, snapshot_base64: 'aGVsbG8=' });
    await page.goto(`${t.baseUrl}/inspect#/s/state-binary`);
    await untilText(page, '#state-tree', 'a snapshot of 5 bytes');
    await api.pushDelta('state-binary', { base_version: 1, delta_base64: 'IHdvcmxk' });
    await untilText(page, '#state-tree', '1 delta(s)');
    await untilText(page, '#connection', 'live');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows live events as published (token fragments as running text), activity, lease, queue and messages as they change', async () => {
    const id = 'live-view';
    await api.createSession({ id });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#connection', 'live');
    await untilText(page, '#activity-status', 'idle');

    await api.setActivity(id, { status: 'thinking', detail: 'drafting' });
    await untilText(page, '#activity-status', 'thinking');
    await api.publishLive(id, [{ type: 'token', data: { text: 'Hello, ' } }, { type: 'token', data: { text: 'world' } }]);
    await api.publishLive(id, { type: 'token', data: { text: '!' } });
    await untilText(page, '#running-text', 'Hello, world!');
    await api.publishLive(id, { type: 'progress', data: { pct: 40 } });
    await untilText(page, '#live-events', 'progress {"pct":40}');

    const lease = await api.claimLeaseOnce(id, { owner: 'worker-7', ttl_ms: 60_000 });
    await untilText(page, '#lease-owner', 'worker-7');
    await api.enqueue(id, { items: [{ text: 'next question' }] }, { leaseToken: lease.token });
    await untilText(page, '#queue', 'next question');
    await api.appendMessages(id, { messages: [{ role: 'user', content: 'What is session-sync?' }] }, { leaseToken: lease.token });
    await untilText(page, '#messages', 'What is session-sync?');
    await api.releaseLease(id, { leaseToken: lease.token });
    await untilText(page, '#lease', 'No lease');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('pages the history back to the start', async () => {
    const id = 'history-view';
    await api.createSession({ id });
    for (let batch = 0; batch < 3; batch++) {
      await api.appendEvents(id, { events: Array.from({ length: 40 }, (_, i) => ({ type: 'step', data: { n: batch * 40 + i + 1 } })) });
    }
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#history-status', 'Showing from seq 71');
    expect(await count(page, '#history tr')).toBe(50);
    await page.locator('#history-older').click();
    await untilText(page, '#history-status', 'Showing from seq 21');
    await page.locator('#history-older').click();
    await untilText(page, '#history-status', 'Start of the history');
    const seqs = await page.locator('#history tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => 120 - i));
    expect(await page.locator('#history-older').isHidden()).toBe(true);
    // New events arrive on top.
    await api.appendEvents(id, { events: [{ type: 'done', data: null }] });
    await untilText(page, '#history tr:first-child', 'done');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('renders markup and script in every shown field as literal text and runs none of it', async () => {
    const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><svg onload="window.__xss=3"></svg>';
    const short = '<img src=x onerror=__xss=4>'; // activity status is one line of at most 64 characters
    const id = 'xss-view';
    await api.createSession({ id, metadata: { [payload]: payload } });
    await api.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { [payload]: payload, list: [payload] } });
    await api.appendEvents(id, { events: [{ type: 'note', data: { html: payload } }] });
    const lease = await api.claimLeaseOnce(id, { owner: payload.slice(0, 128), ttl_ms: 60_000 });
    await api.enqueue(id, { items: [payload] }, { leaseToken: lease.token });
    await api.appendMessages(id, { messages: [{ role: 'assistant', content: payload }, { role: 'tool', content: { [payload]: payload } }] }, { leaseToken: lease.token });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#connection', 'live');
    await api.setActivity(id, { status: short, detail: payload });
    // Live events reach only streams open now: the activity arriving proves the session stream is (the indicator may be another stream's).
    await untilText(page, '#activity-status', short);
    await api.publishLive(id, [{ type: 'token', data: { text: payload } }, { type: 'other', data: { html: payload } }]);

    await untilText(page, '#metadata', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#state-tree', payload);
    await untilText(page, '#history', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#lease-owner', payload.slice(0, 128));
    await untilText(page, '#queue', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#messages', payload);
    await untilText(page, '#activity-status', short);
    await untilText(page, '#activity-detail', payload);
    await untilText(page, '#running-text', payload);
    await untilText(page, '#live-events', JSON.stringify(payload).slice(1, -1));
    // Nothing ran and nothing was injected before the reload below (which would clear the evidence).
    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
    expect(await count(page, '#app img, #app script, #app svg, #app iframe')).toBe(0);
    // The list row's activity as the list reads it (its live update by the changes feed is the list test's subject).
    await page.reload();
    await untilText(page, '#connection', 'live');
    await untilText(page, 'tr[data-session="xss-view"] .activity', short);
    // The state tree's key is the payload as text too.
    await page.locator('#state-tree .key', { hasText: payload }).first().waitFor({ timeout: 20_000 });

    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
    expect(await count(page, '#app img, #app script, #app svg, #app iframe')).toBe(0);
    expect(problems).toEqual([]);
    // The CSP is in force in this browser: markup handed to innerHTML is refused (Trusted Types), inline script does not run.
    const refused = await page.evaluate(() => {
      try {
        (globalThis as any).document.createElement('div').innerHTML = '<b>x</b>';
        return 'innerHTML accepted';
      } catch (error) {
        return (error as Error).name;
      }
    });
    expect(refused).toBe('TypeError');
    await page.close();
  });
});

describe('GET /inspect with AUTH_SECRET', () => {
  const SECRET = 'an-inspector-test-secret-of-at-least-32-bytes';
  let secured: TestApp;
  beforeAll(async () => {
    secured = await createTestApp({ env: { AUTH_SECRET: SECRET } });
    await secured.listen();
    const admin = createClient({ baseUrl: secured.baseUrl, token: await mintToken(SECRET, { sessions: ['*'], admin: true, ttlSeconds: 600 }) });
    await admin.createSession({ id: 'team-a:run-1' });
    await admin.putSnapshot('team-a:run-1', { base_version: 0, schema_version: 1, snapshot: { secret: 'for team a' } });
    await admin.createSession({ id: 'team-b:run-1' });
  });
  afterAll(() => secured?.close());

  it('asks for a token, keeps it for the tab only, and works with a read-only grant', async () => {
    const { page, problems } = await open(secured.baseUrl, '#/s/team-a:run-1');
    await page.locator('#token-form').waitFor();
    await untilText(page, '#connection', 'needs a token');
    expect(await page.locator('#app').isHidden()).toBe(true);
    const readOnly = await mintToken(SECRET, { sessions: ['team-a:*'], read: true, ttlSeconds: 600 });
    await page.locator('#token-input').fill(readOnly);
    await page.locator('#token-form button[type=submit]').click();
    await untilText(page, '#connection', 'live');
    await page.locator('tr[data-session="team-a:run-1"]').waitFor();
    await untilText(page, '#state-tree', 'for team a');
    // Only what the token may read is listed.
    expect(await count(page, 'tr[data-session="team-b:run-1"]')).toBe(0);
    expect(await page.evaluate(() => ({ session: Object.values((globalThis as any).sessionStorage), local: (globalThis as any).localStorage.length }))).toEqual({ session: [readOnly], local: 0 });
    expect(problems).toEqual([]);

    // A token the server refuses brings the prompt back, saying why.
    await page.locator('#forget-token').click();
    await page.locator('#token-input').fill('not-a-jwt');
    await page.locator('#token-form button[type=submit]').click();
    await untilText(page, '#token-problem', 'refused the token: 401 unauthorized');
    expect(await page.locator('#token-form').isVisible()).toBe(true);
    // The only console noise is the browser reporting the refused requests themselves.
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
    await page.close();
  });
});

describe('the inspector across a server restart', () => {
  it('shows reconnecting while the server is down and is live again, following new writes, once it is back', async () => {
    const first = await createTestApp();
    const address = new URL(await first.listen());
    const baseUrl = address.origin;
    const id = 'restart-view';
    const writer = createClient({ baseUrl });
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { n: 1 } });
    const { page, problems } = await open(baseUrl, `#/s/${id}`);
    await untilText(page, '#connection', 'live');
    await untilText(page, '#state-tree', 'n: 1');

    await first.app.close();
    await untilText(page, '#connection', 'reconnecting');
    const second = await createTestApp({ databaseUrl: first.url });
    try {
      await second.app.listen({ host: address.hostname, port: Number(address.port) });
      await untilText(page, '#connection', 'live');
      await writer.pushDelta(id, { base_version: 1, merge_patch: { n: 2 } });
      await untilText(page, '#state-tree', 'n: 2');
      await untilText(page, '#history', 'state.delta');
      await writer.createSession({ id: 'after-restart' });
      await page.locator('tr[data-session="after-restart"]').waitFor();
    } finally {
      await page.close();
      await second.close();
      await first.database.close();
    }
    // While the server was down the browser reported the refused connections; nothing else.
    expect(problems.filter((p) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|Failed to load resource/.test(p))).toEqual([]);
  });
});
