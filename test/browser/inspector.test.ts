import { readFile } from 'node:fs/promises';
import chromium from '@sparticuz/chromium';
import { type Browser, chromium as playwright, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SessionSyncClient } from '../../client/src/index.js';
import { buildInspector } from '../../scripts/build-inspector.js';
import { INSPECTOR_CSP } from '../../src/inspector/routes.js';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { frozenCopy, screenshot, shownInGuide, written } from './screenshots.js';

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

const WIDE = { width: 1400, height: 900 };
const PHONE = { width: 360, height: 740 };

/** A page on the inspector that records every console error and uncaught exception. */
async function open(baseUrl: string, hash = '', viewport = WIDE): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  // Inside the test's own 30 s, so a wait that fails says what it waited for.
  page.setDefaultTimeout(20_000);
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
/** The attribute `name` of the element that has the keyboard focus. */
const focused = (page: Page, name: string) => page.evaluate((attribute) => (globalThis as any).document.activeElement?.getAttribute(attribute) ?? null, name);
const isOpen = (page: Page, selector: string) => page.locator(selector).first().evaluate((d) => (d as any).open as boolean);

/**
 * A session with one turn that has every part (its state change, a tool call
 * and another event, two messages, a queue claim completed, an attachment,
 * usage of two models, the lease released), as a worker commits it.
 */
async function withTurn(client: SessionSyncClient, id: string, turnId = 'plan-day-1'): Promise<{ attachment: string; claim: string; batch: string }> {
  await client.createSession({ id, metadata: { project: 'trip', owner: 'ana' } });
  await client.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { days: [], budget: 1200 } });
  const lease = await client.claimLeaseOnce(id, { owner: 'worker-7', ttl_ms: 60_000 });
  const leaseToken = lease.token;
  const batch = await client.enqueue(id, { items: [{ text: 'plan day 1' }] }, { leaseToken });
  const claim = (await client.claimQueue(id, { max_batches: 1, ttl_ms: 60_000 }, { leaseToken }))!;
  const attachment = await client.uploadAttachment(id, 'Day 1: the old town\n', { contentType: 'text/plain', leaseToken });
  await client.commitTurn(
    id,
    {
      turn_id: turnId,
      base_version: 1,
      state: { patch: [{ op: 'add', path: '/days/-', value: 'old town' }, { op: 'replace', path: '/budget', value: 1080 }] },
      events: [{ type: 'tool.call', data: { name: 'search', args: { q: 'old town walks' } } }, { type: 'note', data: { mood: 'keen' } }],
      messages: [{ role: 'user', content: 'plan day 1' }, { role: 'assistant', content: 'Day 1: the old town, on foot.' }],
      complete_claims: [claim.claim_id],
      attachments: [attachment.attachment_id],
      usage: [{ model: 'm-large', input_tokens: 1200, output_tokens: 80, cost_usd: 0.0042 }, { model: 'm-small', input_tokens: 300, output_tokens: 20, cost_usd: 0.0001 }],
      release_lease: true,
    },
    { leaseToken },
  );
  return { attachment: attachment.attachment_id, claim: claim.claim_id, batch: batch.batch_id };
}

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
    await untilText(page, '#list-connection', 'live');
    await page.locator('tr[data-session="list-parent"]').waitFor();
    // With no session picked, the other side says what to do.
    await untilText(page, '#session-hint', 'Pick a session, or open one by its id above.');

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

  it('shows in each row what the session is about: its first user message (as it arrives), its metadata, and the date it was created', async () => {
    await api.createSession({ id: 'about-1', metadata: { customer: 'acme', plan: 'pro' } });
    const { page, problems } = await open(t.baseUrl);
    const row = 'tr[data-session="about-1"]';
    // As the server keeps it (jsonb orders keys its own way).
    await untilText(page, `${row} .meta-preview`, 'customer: acme');
    expect(await text(page, `${row} .meta-preview`)).toContain('plan: pro');
    // A date and a time, not a time alone: yesterday's session must not read as today's.
    const created = (await api.getSession('about-1')).created_at;
    expect(await page.locator(`${row} .when time`).getAttribute('datetime')).toBe(created);
    expect(await text(page, `${row} .when time`)).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(await count(page, `${row} .first-message`)).toBe(0);
    // The first user message arrives after the row: the row reads it once the feed says the session moved.
    await api.appendMessages('about-1', { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Why is my invoice twice the quote?' }] });
    await untilText(page, `${row} .first-message`, 'Why is my invoice twice the quote?');
    await untilText(page, `${row} .counts`, '2 messages');
    expect(problems).toEqual([]);
    await page.close();
  });

  it("follows a session's state as deltas are posted, keeping the tree's folding, and travels back to any version", async () => {
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
    expect(await isOpen(page, '[data-path="/plan"]')).toBe(false);
    await api.pushDelta(id, { base_version: 2, merge_patch: { title: 'third', done: true } });
    await untilText(page, '#state-version', '3');
    await untilText(page, '#state-tree', '"third"');
    expect(await isOpen(page, '[data-path="/plan"]')).toBe(false);
    await untilText(page, '#history', 'state.delta');

    // Time travel: version 2 was seen by the page; version 0 is before it opened and comes from the server's ?at_version=.
    await page.locator('#travel-version').fill('2');
    await page.locator('#travel button[type=submit]').click();
    await untilText(page, '#travel-note', 'as this page saw it');
    await untilText(page, '#state-tree', '"second"');
    expect(await text(page, '#state-tree')).not.toContain('done');
    await page.locator('#travel-version').fill('0');
    await page.locator('#travel button[type=submit]').click();
    await untilText(page, '#travel-note', 'Version 0 from the server, ?at_version=0.');
    await untilText(page, '#state-tree', 'No state at this version.');
    await page.locator('#travel-live').click();
    await untilText(page, '#state-tree', '"third"');

    // A binary session has no tree: the page says what it holds and stays live.
    await api.createSession({ id: 'state-binary', encoding: 'binary' });
    await api.putSnapshot('state-binary', { base_version: 0, schema_version: 1, snapshot_base64: 'aGVsbG8=' });
    await page.goto(`${t.baseUrl}/inspect#/s/state-binary`);
    await untilText(page, '#state-tree', 'a snapshot of 5 bytes');
    await api.pushDelta('state-binary', { base_version: 1, delta_base64: 'IHdvcmxk' });
    await untilText(page, '#state-tree', '1 delta(s)');
    await untilText(page, '#session-connection', 'live');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('pretty-prints JSON: expands and collapses all, and shows the same value as indented text', async () => {
    const id = 'json-view';
    await api.createSession({ id });
    await api.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { a: { b: { c: { d: 'deep' } } }, list: [1, 2] } });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#state-tree', '"deep"');
    // Two levels open at first; deeper ones closed, showing the start of what they hold.
    expect(await isOpen(page, '#state-tree [data-path="/a/b"]')).toBe(false);
    expect(await page.locator('#state-tree [data-path="/a/b"] > summary .preview').isVisible()).toBe(true);
    expect(await text(page, '#state-tree [data-path="/a/b"] > summary .preview')).toContain('{"c":{"d":"deep"}}');
    await page.locator('#state-tree [data-action="expand"]').click();
    await until(() => isOpen(page, '#state-tree [data-path="/a/b/c"]'), (open) => open, 'every branch open');
    await page.locator('#state-tree [data-action="collapse"]').click();
    await until(() => isOpen(page, '#state-tree [data-path=""]'), (open) => !open, 'every branch closed');
    await page.locator('#state-tree [data-action="text"]').click();
    expect(await text(page, '#state-tree .json-text')).toBe(JSON.stringify({ a: { b: { c: { d: 'deep' } } }, list: [1, 2] }, null, 2));
    expect(await page.locator('#state-tree [data-action="text"]').getAttribute('aria-pressed')).toBe('true');
    // It stays text as the state changes, until switched back.
    await api.pushDelta(id, { base_version: 1, merge_patch: { list: [1, 2, 3] } });
    await untilText(page, '#state-tree .json-text', '    3\n');
    await page.locator('#state-tree [data-action="text"]').click();
    await page.locator('#state-tree [data-path="/list/2"]').waitFor({ state: 'attached' });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows live text and live events each under its own heading only once there are some, and the page load as no activity change', async () => {
    const id = 'live-view';
    await api.createSession({ id });
    await api.setActivity(id, { status: 'thinking', detail: 'before the page opened' });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#session-connection', 'live');
    await untilText(page, '#activity-status', 'thinking');
    // The activity the page found is the current one, not a change.
    expect(await count(page, '#activity-log li')).toBe(0);
    expect(await page.locator('#activity-none').isVisible()).toBe(true);
    expect(await page.locator('#live-none').isVisible()).toBe(true);
    expect(await page.locator('#live-text-part').isVisible()).toBe(false);
    expect(await page.locator('#live-events-part').isVisible()).toBe(false);

    await api.setActivity(id, { status: 'writing', detail: 'drafting' });
    await untilText(page, '#activity-log', 'writing — drafting');
    expect(await count(page, '#activity-log li')).toBe(1);
    expect(await page.locator('#activity-none').isVisible()).toBe(false);
    await api.publishLive(id, [{ type: 'token', data: { text: 'Hello, ' } }, { type: 'token', data: { text: 'world' } }]);
    await api.publishLive(id, { type: 'token', data: { text: '!' } });
    await untilText(page, '#running-text', 'Hello, world!');
    // Tokens went to the running text; the live events heading stays away while it would have nothing under it.
    expect(await page.locator('#live-text-part').isVisible()).toBe(true);
    expect(await page.locator('#live-events-part').isVisible()).toBe(false);
    expect(await page.locator('#live-none').isVisible()).toBe(false);
    await api.publishLive(id, { type: 'progress', data: { pct: 40 } });
    await untilText(page, '#live-events', 'progress {"pct":40}');
    expect(await page.locator('#live-events-part').isVisible()).toBe(true);

    const lease = await api.claimLeaseOnce(id, { owner: 'worker-7', ttl_ms: 60_000 });
    await untilText(page, '#lease-owner', 'worker-7');
    await api.enqueue(id, { items: [{ text: 'next question' }] }, { leaseToken: lease.token });
    await untilText(page, '#queue', 'next question');
    await api.appendMessages(id, { messages: [{ role: 'user', content: 'What is session-sync?' }] }, { leaseToken: lease.token });
    await untilText(page, '#messages', 'What is session-sync?');
    await untilText(page, '#overview [data-field="first user message"]', 'What is session-sync?');
    await api.releaseLease(id, { leaseToken: lease.token });
    await untilText(page, '#lease', 'No lease');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('pages the history back to the start, each event one line until opened', async () => {
    const id = 'history-view';
    await api.createSession({ id });
    for (let batch = 0; batch < 3; batch++) {
      await api.appendEvents(id, { events: Array.from({ length: 40 }, (_, i) => ({ type: 'step', data: { n: batch * 40 + i + 1 } })) });
    }
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#history-status', 'Showing from seq 71');
    expect(await count(page, '#history > li')).toBe(50);
    await page.locator('#history-older').click();
    await untilText(page, '#history-status', 'Showing from seq 21');
    await page.locator('#history-older').click();
    await untilText(page, '#history-status', 'Start of the history');
    const seqs = await page.locator('#history > li').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
    expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => 120 - i));
    expect(await page.locator('#history-older').isHidden()).toBe(true);
    // New events arrive on top.
    await api.appendEvents(id, { events: [{ type: 'done', data: { all: 120 } }] });
    await untilText(page, '#history > li:first-child', 'done');
    // Opened, an event's data is a tree; its summary line has the date and time it was written.
    const top = page.locator('#history > li:first-child');
    expect(await top.locator('time').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(await top.locator('.event-body').textContent()).toBe('');
    await top.locator('summary').first().click();
    await top.locator('.event-body [data-path="/all"]').waitFor();
    expect(problems).toEqual([]);
    await page.close();
  });

  it('groups a turn: its state change, tool calls, messages, claims, attachments and usage together, its events under it', async () => {
    const id = 'turn-view';
    const { attachment, claim, batch } = await withTurn(api, id);
    await api.appendEvents(id, { events: [{ type: 'after', data: 1 }] });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    const turn = '#history > li.turn[data-turn-id="plan-day-1"]';
    await page.locator(turn).waitFor();
    // Seqs 1-3 before the turn (snapshot, lease, enqueue, claim), the turn, and one event after it: each outside the turn stands alone.
    const top = await page.locator('#history > li').evaluateAll((rows) => rows.map((r) => `${r.className}:${r.getAttribute('data-type') ?? r.getAttribute('data-turn-id')}`));
    expect(top).toEqual(['event:after', 'turn:plan-day-1', 'event:queue.claimed', 'event:queue.enqueued', 'event:lease.acquired', 'event:state.snapshot']);
    expect(await text(page, `${turn} > details > summary`)).toMatch(/Turn plan-day-1 · v2 · seq 5–13 · \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} · 1,500 in · 100 out tokens · \$0\.0043/);
    const part = (name: string) => text(page, `${turn} [data-part="${name}"]`);
    expect(await part('state')).toContain('State: v1 → v2');
    expect(await part('state')).toContain('add /days/- "old town"');
    expect(await part('state')).toContain('replace /budget 1080');
    expect(await part('tools')).toContain('tool.call');
    expect(await part('tools')).toContain('"old town walks"');
    expect(await part('events')).toContain('note');
    expect(await part('events')).not.toContain('tool.call');
    expect(await part('messages')).toContain('Messages (2)');
    expect(await page.locator(`${turn} [data-part="messages"] li`).evaluateAll((items) => items.map((li) => li.textContent))).toEqual([
      'userplan day 1',
      'assistantDay 1: the old town, on foot.',
    ]);
    expect(await part('claims')).toContain(`claim ${claim} · batch ${batch}`);
    expect(await part('attachments')).toContain(`${attachment.slice(0, 12)}… text/plain · 20 B`);
    expect(await part('usage')).toContain('m-large1,20080$0.0042');
    expect(await part('usage')).toContain('m-small30020$0.0001');
    await untilText(page, turn, 'The turn released the lease.');
    // The raw events of the turn, folded under it, in seq order newest first.
    const raw = await page.locator(`${turn} .turn-raw li.event`).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type')));
    expect(raw).toEqual(['turn.committed', 'lease.released', 'attachment.committed', 'queue.completed', 'message.appended', 'message.appended', 'note', 'tool.call', 'state.delta']);
    expect(await isOpen(page, `${turn} .turn-raw`)).toBe(false);

    // A turn committed while the page is open groups as its turn.committed arrives.
    await api.commitTurn(id, { turn_id: 'live-turn', base_version: 2, state: { merge_patch: { budget: 1000 } }, messages: [{ role: 'assistant', content: 'Budget trimmed.' }] });
    await page.locator('#history > li:first-child[data-turn-id="live-turn"]').waitFor();
    expect(await count(page, '#history > li')).toBe(7);
    await untilText(page, '#history > li:first-child [data-part="state"]', 'budget: 1000');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('completes a turn whose first events are older than the history loaded once "Load older" reads them', async () => {
    const id = 'turn-straddle';
    await api.createSession({ id });
    await api.appendEvents(id, { events: Array.from({ length: 10 }, (_, i) => ({ type: 'before', data: i })) });
    // 45 events in one turn, then 10 more: the first page (the newest 50 events) holds the turn.committed and only part of the turn.
    await api.commitTurn(id, { turn_id: 'long-turn', events: Array.from({ length: 45 }, (_, i) => ({ type: 'tool.call', data: { i } })) });
    await api.appendEvents(id, { events: Array.from({ length: 10 }, (_, i) => ({ type: 'after', data: i })) });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    const turn = '#history > li.turn[data-turn-id="long-turn"]';
    await untilText(page, `${turn} .turn-partial`, "6 of this turn's 45 events are older than the history loaded");
    expect(await text(page, `${turn} [data-part="tools"] h5`)).toBe('Tool calls (39)');
    await page.locator('#history-older').click();
    await untilText(page, `${turn} [data-part="tools"] h5`, 'Tool calls (45)');
    expect(await count(page, `${turn} .turn-partial`)).toBe(0);
    // Events before the turn stand alone, below it.
    expect(await page.locator('#history > li').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type') ?? 'turn'))).toEqual([
      ...Array(10).fill('after'),
      'turn',
      ...Array(10).fill('before'),
    ]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows what changed between any two versions, from versions it saw and from the server, and from a turn', async () => {
    const id = 'diff-view';
    await api.createSession({ id });
    await api.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { title: 'draft', tags: ['a', 'b'], owner: 'ana' } });
    await api.pushDelta(id, { base_version: 1, merge_patch: { title: 'final', owner: null, done: true } });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#state-version', '2');
    // Before the viewer picks, the latest change: 1 → 2 (version 1 is the server's: the page opened at 2).
    await page.locator('#diff-form button[type=submit]').click();
    await untilText(page, '#diff-note', 'From version 1 (from the server, ?at_version=1) to version 2 (as this page saw it):');
    const changes = () => page.locator('#diff-result li').evaluateAll((items) => items.map((li) => `${li.getAttribute('data-op')} ${li.getAttribute('data-path')}: ${li.textContent}`));
    expect(await changes()).toEqual(['changed /title: ~ /title "draft" → "final"', 'removed /owner: − /owner "ana"', 'added /done: + /done true']);
    expect(await text(page, '#diff-result .diff-summary')).toBe('3 changes: 1 added, 1 removed, 1 changed');

    await api.commitTurn(id, { turn_id: 'retag', base_version: 2, state: { patch: [{ op: 'add', path: '/tags/-', value: 'c' }, { op: 'replace', path: '/tags/0', value: 'z' }] } });
    await untilText(page, '#state-version', '3');
    // From a turn: its own change, the panel brought into view and the focus on the answer.
    await page.locator('#history [data-compare="2-3"]').click();
    await untilText(page, '#diff-note', 'From version 2 (as this page saw it) to version 3 (as this page saw it)');
    expect(await changes()).toEqual(['changed /tags/0: ~ /tags/0 "a" → "z"', 'added /tags/2: + /tags/2 "c"']);
    expect(await focused(page, 'id')).toBe('diff-out');
    expect(await page.locator('#diff-from').inputValue()).toBe('2');

    // Any two, in either direction; the same version twice is no change; a version past the head is said to be so.
    await page.locator('#diff-from').fill('3');
    await page.locator('#diff-to').fill('1');
    await page.locator('#diff-form button[type=submit]').click();
    await until(changes, (list) => list.length === 5, 'the diff from 3 back to 1');
    expect(await changes()).toContain('added /owner: + /owner "ana"');
    await page.locator('#diff-to').fill('3');
    await page.locator('#diff-form button[type=submit]').click();
    await untilText(page, '#diff-result', 'The two versions hold the same state.');
    await page.locator('#diff-to').fill('9');
    await page.locator('#diff-form button[type=submit]').click();
    await untilText(page, '#diff-note', 'Version 9 does not exist yet (the head is 3).');
    // Trimmed history: a version before the page opened is gone, and the page says so rather than guess.
    await api.compactSession(id, { before_seq: 2 });
    await page.locator('#diff-from').fill('1');
    await page.locator('#diff-to').fill('3');
    await page.locator('#diff-form button[type=submit]').click();
    await untilText(page, '#diff-note', 'Version 1 is no longer kept by the server (its history was trimmed). This page has every version from 2 on (since it opened).');
    // The browser reports the 410 itself; nothing else went wrong.
    expect(problems.filter((p) => !/status of 410/.test(p))).toEqual([]);
    await page.close();
  });

  it("shows the session's usage and cost, per model over the turns loaded, and says the cost is the workers' own", async () => {
    const id = 'usage-view';
    await withTurn(api, id);
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#usage-totals', 'turns1');
    const totals = await page.locator('#usage-totals dd').evaluateAll((dds) => Object.fromEntries(dds.map((dd) => [dd.getAttribute('data-field'), dd.textContent])));
    expect(totals).toEqual({ turns: '1', 'input tokens': '1,500', 'output tokens': '100', cost: '$0.0043' });
    await untilText(page, '#panel-usage', 'the server adds it up and computes no prices of its own');
    await untilText(page, '#usage-models caption', 'By model, over every turn (1)');
    expect(await text(page, '#usage-models tr[data-model="m-large"]')).toBe('m-large11,20080$0.0042');

    // Another turn, without a cost for one model: the totals follow, and the table says what was not reported.
    await api.commitTurn(id, { turn_id: 'second', usage: [{ model: 'm-large', input_tokens: 1_000_000, output_tokens: 5 }] });
    await untilText(page, '#usage-totals [data-field="input tokens"]', '1,001,500');
    await untilText(page, '#usage-models tr[data-model="m-large"]', 'm-large21,001,20085$0.0042 + not reported');
    expect(await text(page, '#usage-totals [data-field="cost"]')).toBe('$0.0043');

    await api.createSession({ id: 'usage-none' });
    await page.goto(`${t.baseUrl}/inspect#/s/usage-none`);
    await untilText(page, '#usage', 'No turns committed yet');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('lists the attachments and downloads them, a page among them saved as a file, never opened', async () => {
    const id = 'files-view';
    const { attachment } = await withTurn(api, id);
    const hostile = '<!doctype html><script>localStorage.setItem("pwned", "yes")</script>';
    const page1 = await api.uploadAttachment(id, hostile, { contentType: 'text/html' });
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#attachments-status', '2 attachments.');
    expect(await text(page, `#attachments [data-attachment="${attachment}"]`)).toMatch(/text\/plain · 20 B · committed · \d{4}-\d{2}-\d{2} /);
    expect(await text(page, `#attachments [data-attachment="${page1.attachment_id}"]`)).toContain(`text/html · ${hostile.length} B · not committed`);

    const saved = async (button: string) => {
      const download = page.waitForEvent('download');
      await page.locator(button).first().click();
      const file = await download;
      return { name: file.suggestedFilename(), body: await readFile((await file.path())!, 'utf8') };
    };
    expect(await saved(`#attachments [data-download="${attachment}"]`)).toEqual({ name: `${attachment.slice(0, 16)}.txt`, body: 'Day 1: the old town\n' });
    // The turn's own list downloads the same file.
    expect(await saved(`#history [data-part="attachments"] [data-download="${attachment}"]`)).toEqual({ name: `${attachment.slice(0, 16)}.txt`, body: 'Day 1: the old town\n' });
    expect(await saved(`#attachments [data-download="${page1.attachment_id}"]`)).toEqual({ name: `${page1.attachment_id.slice(0, 16)}.html`, body: hostile });
    // Saved, not opened: nothing of it ran in the inspector's origin, and the inspector is still there.
    expect(await page.evaluate(() => (globalThis as any).localStorage.getItem('pwned'))).toBeNull();
    expect(page.url()).toBe(`${t.baseUrl}/inspect#/s/${id}`);
    expect(await count(page, '#app iframe, #app script')).toBe(0);

    // A committed upload shows without a reload.
    const more = await api.uploadAttachment(id, '{"a":1}', { contentType: 'application/json' });
    await api.commitAttachment(id, more.attachment_id);
    await untilText(page, '#attachments-status', '3 attachments.');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('keeps each view its own status: an unknown session says so in words while the list stays live, and opens once it exists', async () => {
    await api.createSession({ id: 'known-one' });
    const { page, problems } = await open(t.baseUrl);
    await untilText(page, '#list-connection', 'live');
    // Opened by typing its id.
    await page.locator('#open-id').fill('nobody-made-this');
    await page.locator('#open-id').press('Enter');
    await untilText(page, '#session-problem', 'There is no session "nobody-made-this" on this server: it was never created, or it was deleted. (404 session_not_found)');
    await untilText(page, '#session-connection', 'stopped');
    expect(page.url()).toBe(`${t.baseUrl}/inspect#/s/nobody-made-this`);
    // The list is unaffected.
    expect(await text(page, '#list-connection')).toBe('Sessions: live');
    expect(await page.locator('#list-connection').getAttribute('data-status')).toBe('live');
    expect(await page.locator('#list-problems').isHidden()).toBe(true);

    await api.createSession({ id: 'nobody-made-this' });
    await page.locator('#session-retry').click();
    await untilText(page, '#session-connection', 'This session: live');
    await page.locator('tr[data-session="nobody-made-this"]').waitFor();
    expect(await count(page, '#session-problem')).toBe(0);

    // Deleted while open: the view says so; the list drops it and stays live.
    await api.deleteSession('nobody-made-this');
    await untilText(page, '#session-connection', 'stopped: Session "nobody-made-this" was deleted.');
    await page.locator('tr[data-session="nobody-made-this"]').waitFor({ state: 'detached' });
    expect(await text(page, '#list-connection')).toBe('Sessions: live');

    // A link opens a session too, and the list's link marks it as the current one.
    await page.locator('tr[data-session="known-one"] a').click();
    await untilText(page, '#session-connection', 'This session: live');
    expect(await page.locator('tr[data-session="known-one"] a').getAttribute('aria-current')).toBe('page');
    expect(problems.filter((p) => !/status of 404/.test(p))).toEqual([]);
    await page.close();
  });

  it('is operable by keyboard: the list by arrows, a session by Enter, the skip link, folding of turns, events and trees', async () => {
    for (const id of ['keys-a', 'keys-b', 'keys-c']) await api.createSession({ id: `${id}` });
    await withTurn(api, 'keys-turn');
    const { page, problems } = await open(t.baseUrl);
    await page.locator('tr[data-session="keys-turn"]').waitFor();
    // The first Tab reaches the skip link; then the header's form, then the list's filters and its links.
    await page.keyboard.press('Tab');
    expect(await focused(page, 'class')).toBe('skip');
    await page.locator('#filter-parent').focus();
    await page.keyboard.press('Tab');
    expect(await focused(page, 'href')).toMatch(/^#\/s\//);
    const first = await focused(page, 'href');
    await page.keyboard.press('ArrowDown');
    const second = await focused(page, 'href');
    expect(second).not.toBe(first);
    await page.keyboard.press('ArrowUp');
    expect(await focused(page, 'href')).toBe(first);
    await page.keyboard.press('End');
    const last = await page.locator('#sessions tbody tr:last-child a.session-link').getAttribute('href');
    expect(await focused(page, 'href')).toBe(last);
    await page.keyboard.press('Home');
    expect(await focused(page, 'href')).toBe(first);
    // Newest first: keys-turn is at the top. Enter opens it and the focus moves to the session.
    expect(first).toBe('#/s/keys-turn');
    await page.keyboard.press('Enter');
    await until(() => focused(page, 'id'), (id) => id === 'session-title', 'the focus on the session title');
    await untilText(page, '#session-connection', 'live');

    // A turn folds and unfolds from the keyboard, and so does an event in it and a branch of the state tree.
    const turn = page.locator('#history li.turn').first();
    await turn.locator('summary.turn-summary').focus();
    expect(await isOpen(page, '#history li.turn > details')).toBe(true);
    await page.keyboard.press('Enter');
    expect(await isOpen(page, '#history li.turn > details')).toBe(false);
    await page.keyboard.press('Space');
    expect(await isOpen(page, '#history li.turn > details')).toBe(true);
    await page.keyboard.press('Tab');
    // Tab goes on into the turn.
    expect(await page.evaluate(() => !!(globalThis as any).document.activeElement?.closest('li.turn'))).toBe(true);
    await turn.locator('.turn-raw > summary').focus();
    await page.keyboard.press('Enter');
    const event = turn.locator('li.event[data-type="tool.call"] > details > summary');
    await event.focus();
    await page.keyboard.press('Enter');
    await turn.locator('li.event[data-type="tool.call"] .event-body [data-path="/args/q"]').waitFor();
    await page.locator('#state-tree [data-path="/days"] > summary').focus();
    await page.keyboard.press('Enter');
    expect(await isOpen(page, '#state-tree [data-path="/days"]')).toBe(false);

    // The skip link goes straight to the open session.
    await page.locator('#filter-prefix').focus();
    await page.locator('a.skip').focus();
    await page.keyboard.press('Enter');
    expect(await focused(page, 'id')).toBe('session-title');
    expect(page.url()).toBe(`${t.baseUrl}/inspect#/s/keys-turn`);
    // The open-by-id form works from the keyboard alone.
    await page.locator('#open-id').focus();
    await page.keyboard.type('keys-b');
    await page.keyboard.press('Enter');
    await untilText(page, '#session-title', 'keys-b');
    expect(await focused(page, 'id')).toBe('session-title');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('fits a 360 px phone: no sideways scrolling, the list or the session with a way back; and a wide screen side by side', async () => {
    const long = `a-session-with-a-long-id-${'x'.repeat(100)}`;
    await api.createSession({ id: long, metadata: { note: 'y'.repeat(300), nested: { deeper: { deepest: 'z'.repeat(200) } } } });
    await withTurn(api, 'narrow-turn', `turn-${'t'.repeat(150)}`);
    await api.putSnapshot(long, { base_version: 0, schema_version: 1, snapshot: { wide: 'w'.repeat(500), list: Array.from({ length: 20 }, (_, i) => ({ i, text: 'v'.repeat(80) })) } });
    await api.appendMessages(long, { messages: [{ role: 'user', content: 'u'.repeat(400) }] });
    const { page, problems } = await open(t.baseUrl, '', PHONE);
    await page.locator(`tr[data-session="${long}"]`).waitFor();
    /** Anything wider than the screen: the page's own width, or a visible element whose box passes the right edge. */
    const overflow = () =>
      page.evaluate(() => {
        const document = (globalThis as any).document;
        const width = document.documentElement.clientWidth;
        const wide: string[] = [];
        if (document.documentElement.scrollWidth > width) wide.push(`the page is ${document.documentElement.scrollWidth} px wide`);
        for (const element of document.querySelectorAll('header, main, .panel, .list, tr, h2, .view-status, .turn-body, .overview, .open-form')) {
          const box = element.getBoundingClientRect();
          if (box.width > 0 && box.right > width + 0.5) wide.push(`${element.tagName}#${element.id}.${element.className} ends at ${box.right}`);
        }
        return wide;
      });
    expect(await overflow()).toEqual([]);
    expect(await page.locator('#session').isVisible()).toBe(false);

    await page.locator(`tr[data-session="${long}"] a`).click();
    await untilText(page, '#state-tree', 'wwww');
    await untilText(page, '#messages', 'uuuu');
    expect(await page.locator('#list').isVisible()).toBe(false);
    expect(await overflow()).toEqual([]);
    await page.goto(`${t.baseUrl}/inspect#/s/narrow-turn`);
    await page.locator('#history li.turn').waitFor();
    await untilText(page, '#usage-totals', 'turns1');
    expect(await overflow()).toEqual([]);
    // The way back to the list.
    await page.locator('a.back').click();
    await page.locator('#list').waitFor();
    expect(await page.locator('#session').isVisible()).toBe(false);
    expect(await overflow()).toEqual([]);

    // Wide: the list and the session side by side, nothing past the edge either.
    await page.setViewportSize(WIDE);
    await page.goto(`${t.baseUrl}/inspect#/s/narrow-turn`);
    await page.locator('#history li.turn').waitFor();
    expect(await page.locator('#list').isVisible()).toBe(true);
    expect(await page.locator('a.back').isVisible()).toBe(false);
    const [list, session] = await Promise.all([page.locator('#list').boundingBox(), page.locator('#session').boundingBox()]);
    expect(list!.x + list!.width).toBeLessThanOrEqual(session!.x + 1);
    expect(await overflow()).toEqual([]);
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
    await api.appendMessages(id, { messages: [{ role: 'user', content: payload }, { role: 'assistant', content: payload }, { role: 'tool', content: { [payload]: payload } }] }, { leaseToken: lease.token });
    await api.commitTurn(
      id,
      {
        turn_id: '<img/src=x/onerror=__xss=5>',
        base_version: 1,
        state: { patch: [{ op: 'add', path: `/${short}`, value: payload }] },
        events: [{ type: 'tool.call', data: { [payload]: payload } }],
        messages: [{ role: 'assistant', content: payload }],
        usage: [{ model: payload, input_tokens: 1, output_tokens: 1, cost_usd: 0.01 }],
      },
      { leaseToken: lease.token },
    );
    const { page, problems } = await open(t.baseUrl, `#/s/${id}`);
    await untilText(page, '#session-connection', 'live');
    await api.setActivity(id, { status: short, detail: payload });
    // Live events reach only streams open now: the activity arriving proves the session stream is.
    await untilText(page, '#activity-status', short);
    await api.publishLive(id, [{ type: 'token', data: { text: payload } }, { type: 'other', data: { html: payload } }]);

    await untilText(page, '#metadata', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#state-tree', payload);
    await untilText(page, '#history', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#history li.turn .turn-id', '<img/src=x/onerror=__xss=5>');
    await untilText(page, '#history li.turn [data-part="messages"]', payload);
    await untilText(page, '#history li.turn [data-part="tools"]', payload);
    await untilText(page, '#history li.turn [data-part="state"]', `/${short}`);
    await untilText(page, '#history li.turn [data-part="usage"]', payload);
    await untilText(page, '#usage-models', payload);
    await untilText(page, '#lease-owner', payload.slice(0, 128));
    await untilText(page, '#queue', JSON.stringify(payload).slice(1, -1));
    await untilText(page, '#messages', payload);
    await untilText(page, '#overview', payload);
    await untilText(page, '#activity-status', short);
    await untilText(page, '#activity-detail', payload);
    await untilText(page, '#running-text', payload);
    await untilText(page, '#live-events', JSON.stringify(payload).slice(1, -1));
    // Every event opened: their data as trees.
    for (const summary of await page.locator('#history > li.event > details > summary').all()) await summary.click();
    await untilText(page, '#history li.event[data-type="note"] .event-body', JSON.stringify(payload));
    // Nothing ran and nothing was injected before the reload below (which would clear the evidence).
    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
    expect(await count(page, '#app img, #app script, #app svg, #app iframe')).toBe(0);
    // The list row's activity and first message as the list reads them.
    await page.reload();
    await untilText(page, '#list-connection', 'live');
    await untilText(page, 'tr[data-session="xss-view"] .activity', short);
    await untilText(page, 'tr[data-session="xss-view"] .first-message', payload);
    await untilText(page, 'tr[data-session="xss-view"] .meta-preview', `${payload.slice(0, 50)}`);
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

  it('asks for a token, keeps it for the tab only, works with a read-only grant, and says in words what a token may not do', async () => {
    const { page, problems } = await open(secured.baseUrl, '#/s/team-a:run-1');
    await page.locator('#token-form').waitFor();
    await untilText(page, '#token-form h2', 'This server needs a token');
    expect(await page.locator('#app').isHidden()).toBe(true);
    const readOnly = await mintToken(SECRET, { sessions: ['team-a:*'], read: true, ttlSeconds: 600 });
    await page.locator('#token-input').fill(readOnly);
    await page.locator('#token-form button[type=submit]').click();
    await untilText(page, '#list-connection', 'live');
    await untilText(page, '#session-connection', 'live');
    await page.locator('tr[data-session="team-a:run-1"]').waitFor();
    await untilText(page, '#state-tree', 'for team a');
    // Only what the token may read is listed.
    expect(await count(page, 'tr[data-session="team-b:run-1"]')).toBe(0);
    expect(await page.evaluate(() => ({ session: Object.values((globalThis as any).sessionStorage), local: (globalThis as any).localStorage.length }))).toEqual({ session: [readOnly], local: 0 });
    expect(problems).toEqual([]);

    // Another team's session, by its link: refused in words, the list untouched.
    await page.goto(`${secured.baseUrl}/inspect#/s/team-b:run-1`);
    await untilText(page, '#session-problem', 'The token does not allow reading session "team-b:run-1". (403 forbidden)');
    await untilText(page, '#list-connection', 'Sessions: live');

    // A token the server refuses brings the prompt back, saying why.
    await page.locator('#forget-token').click();
    await page.locator('#token-input').fill('not-a-jwt');
    await page.locator('#token-form button[type=submit]').click();
    await untilText(page, '#token-problem', 'The server refused the token: it is missing, has expired, or was not made for this server. (401 unauthorized)');
    expect(await page.locator('#token-form').isVisible()).toBe(true);
    // The only console noise is the browser reporting the refused requests themselves.
    expect(problems.filter((p) => !/status of 40[13]/.test(p))).toEqual([]);
    await page.close();
  });
});

describe('the inspector across a server restart', () => {
  it('says the server cannot be reached while it is down, and follows the session again, turns included, once it is back', async () => {
    const first = await createTestApp();
    const address = new URL(await first.listen());
    const baseUrl = address.origin;
    const id = 'restart-view';
    const writer = createClient({ baseUrl });
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { n: 1 } });
    const { page, problems } = await open(baseUrl, `#/s/${id}`);
    await untilText(page, '#session-connection', 'live');
    await untilText(page, '#list-connection', 'live');
    await untilText(page, '#state-tree', 'n: 1');

    await first.app.close();
    await untilText(page, '#session-connection', 'This session: reconnecting: the server cannot be reached (it may be down or restarting)');
    await untilText(page, '#list-connection', 'Sessions: reconnecting: the server cannot be reached');
    const second = await createTestApp({ databaseUrl: first.url });
    try {
      await second.app.listen({ host: address.hostname, port: Number(address.port) });
      await untilText(page, '#session-connection', 'This session: live');
      await untilText(page, '#list-connection', 'Sessions: live');
      await writer.pushDelta(id, { base_version: 1, merge_patch: { n: 2 } });
      await untilText(page, '#state-tree', 'n: 2');
      await untilText(page, '#history', 'state.delta');
      await writer.commitTurn(id, { turn_id: 'after-restart', base_version: 2, state: { merge_patch: { n: 3 } }, usage: [{ model: 'm', input_tokens: 7, output_tokens: 3, cost_usd: 0.5 }] });
      await page.locator('#history li.turn[data-turn-id="after-restart"]').waitFor();
      await untilText(page, '#usage-totals [data-field="cost"]', '$0.50');
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

describe('the screenshots in docs/guide.md', () => {
  // Made from sessions whose every time and id is fixed (copies through export and import), on a server of
  // their own, in a browser whose clock and time zone are fixed: the same pictures every run, so a PNG
  // changes in git only when the page does.
  let shots: TestApp;
  beforeAll(async () => {
    shots = await createTestApp();
    await shots.listen();
  });
  afterAll(() => shots?.close());

  it('are taken of each view, wide and on a phone', { timeout: 120_000 }, async () => {
    const client = createClient({ baseUrl: shots.baseUrl });
    const start = Date.parse('2026-12-03T09:00:00Z');
    await client.createSession({ id: 'draft-support', metadata: { customer: 'acme', channel: 'email' } });
    await client.appendMessages('draft-support', { messages: [{ role: 'user', content: 'Why is my invoice twice the quote?' }] });
    await frozenCopy(client, 'draft-support', 'support:ticket-1842', start);
    await client.createSession({ id: 'draft-rome', metadata: { project: 'trip', city: 'Rome' } });
    await client.appendMessages('draft-rome', { messages: [{ role: 'user', content: 'Three days in Rome in March, on foot' }] });
    await frozenCopy(client, 'draft-rome', 'trip:rome', start + 3_600_000);
    await withTurn(client, 'draft-paris');
    await client.commitTurn('draft-paris', {
      turn_id: 'plan-day-2',
      base_version: 2,
      state: { patch: [{ op: 'add', path: '/days/-', value: 'Montmartre' }, { op: 'replace', path: '/budget', value: 940 }] },
      events: [{ type: 'tool.call', data: { name: 'weather', args: { city: 'Paris', day: 2 } } }],
      messages: [{ role: 'user', content: 'plan day 2' }, { role: 'assistant', content: 'Day 2: Montmartre, then the Sacré-Cœur at sunset.' }],
      usage: [{ model: 'm-large', input_tokens: 1480, output_tokens: 96, cost_usd: 0.0051 }],
    });
    await frozenCopy(client, 'draft-paris', 'trip:paris', start + 7_200_000);
    await client.setActivity('trip:paris', { status: 'writing', detail: 'day 3 of 5' });

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC', locale: 'en-GB', deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    pages.push(page);
    await page.clock.setFixedTime(new Date(start + 10_800_000));
    await page.goto(`${shots.baseUrl}/inspect`);
    await page.locator('tr[data-session="trip:paris"] .first-message').waitFor();
    await untilText(page, 'tr[data-session="trip:paris"] .activity', 'writing');

    await page.locator('tr[data-session="trip:paris"] a').click();
    await page.locator('#history li.turn[data-turn-id="plan-day-2"]').waitFor();
    await untilText(page, '#usage-totals', 'turns2');
    await untilText(page, '#attachments-status', '1 attachment.');
    await untilText(page, '#session-connection', 'live');
    await client.setActivity('trip:paris', { status: 'writing', detail: 'day 3 of 5: routing' });
    await untilText(page, '#activity-log', 'routing');
    await client.publishLive('trip:paris', [{ type: 'token', data: { text: 'Day 3: the Louvre in the morning, ' } }, { type: 'token', data: { text: 'the Marais after lunch…' } }]);
    await untilText(page, '#running-text', 'Marais');
    await client.publishLive('trip:paris', { type: 'progress', data: { step: 'routing', pct: 40 } });
    await untilText(page, '#live-events', 'routing');
    // No hover effect in the pictures.
    await page.mouse.move(0, 0);
    // The record's updated time is the import's: the one time no copy can fix.
    const masks = [page.locator('#overview [data-field="updated"]')];
    await screenshot(page, 'session', { mask: masks });
    await screenshot(page, 'live', { element: '#panel-live' });
    // The newest turn folded: the picture shows it as one line, and the first turn, which has every part, open.
    await page.locator('#history li.turn[data-turn-id="plan-day-2"] summary.turn-summary').click();
    await screenshot(page, 'turn', { element: '#panel-history', mask: masks });
    await page.locator('#history [data-compare="1-2"]').click();
    await untilText(page, '#diff-note', 'From version 1');
    await screenshot(page, 'diff', { element: '#panel-diff' });
    await screenshot(page, 'usage', { element: '#panel-usage' });
    await screenshot(page, 'attachments', { element: '#panel-attachments' });

    await page.setViewportSize({ width: 360, height: 740 });
    await page.locator('a.back').click();
    await page.locator('#list').waitFor();
    await screenshot(page, 'phone-list');
    await page.locator('tr[data-session="trip:paris"] a').click();
    await untilText(page, '#session-connection', 'live');
    await page.locator('#panel-history').scrollIntoViewIfNeeded();
    await screenshot(page, 'phone-turn', { mask: masks });

    await page.goto(`${shots.baseUrl}/inspect#/s/no-such-session`);
    await page.locator('#session-problem').waitFor();
    await screenshot(page, 'phone-problem');
    await context.close();
    // The guide shows each picture once, and no picture this test does not make.
    expect((await shownInGuide()).sort()).toEqual([...written].sort());
  });
});
