import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import chromium from '@sparticuz/chromium';
import { build } from 'esbuild';
import { type Browser, type Page, chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type SessionSyncClient } from '../../client/src/index.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// The React bindings (@session-sync/client/react) in a real browser (headless Chromium), React's
// development build, the page on another origin than the API. What each hook showed is read from
// the page's log of committed renders (page.tsx); the server's open streams from its /metrics.
let t: TestApp;
let env: Record<string, string>;
let writer: SessionSyncClient;
let pages: http.Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('page.tsx', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // React's development build: StrictMode's double mount happens only there.
    define: { 'process.env.NODE_ENV': '"development"' },
    write: false,
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  pages = http.createServer((request, response) => {
    if (request.url === '/page.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><div id="root"></div><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  env = { CORS_ORIGINS: pageOrigin };
  t = await createTestApp({ env });
  await t.listen();
  writer = createClient({ baseUrl: t.baseUrl });
  browser = await playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
  page = await browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(pageOrigin);
  await page.waitForFunction(() => 'harness' in globalThis);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await new Promise((resolve) => pages?.close(resolve));
});

/** Uncaught errors and console errors of the page (React reports its warnings there). */
const pageErrors: string[] = [];

interface Shown {
  hook: 'state' | 'session' | 'sessions';
  id: string | null;
  status: string;
  from: (string | null)[];
  value: any;
}
interface Ids {
  state?: string;
  session?: string;
  sessions?: boolean;
}
declare const harness: {
  mount(baseUrl: string, ids: Ids, strict: boolean): void;
  show(ids: Ids): void;
  unmount(): void;
  take(): { log: Shown[]; effects: { mounts: number; unmounts: number } };
};

/** Every committed render since the scene was mounted, and the latest of each hook. */
class Seen {
  all: Shown[] = [];
  effects = { mounts: 0, unmounts: 0 };
  async read(): Promise<this> {
    const taken = await page.evaluate(() => harness.take());
    this.all.push(...taken.log);
    this.effects = taken.effects;
    return this;
  }
  latest(hook: Shown['hook']): Shown | undefined {
    return this.all.findLast((entry) => entry.hook === hook);
  }
  statuses(hook: Shown['hook']): string[] {
    return this.all.filter((entry) => entry.hook === hook).map((entry) => entry.status).filter((status, i, list) => i === 0 || list[i - 1] !== status);
  }
}

async function mount(ids: Ids, strict = false): Promise<Seen> {
  await page.evaluate(([url, which, strictMode]) => harness.mount(url, which, strictMode), [t.baseUrl, ids, strict] as const);
  return new Seen();
}

// Shorter than the tests' timeout, so a wait that never ends says what it last saw.
async function until(seen: Seen, done: (seen: Seen) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await seen.read();
    if (done(seen)) return;
    if (Date.now() > deadline) {
      const latest = (['state', 'session', 'sessions'] as const).map((hook) => seen.latest(hook));
      throw new Error(`timed out waiting for ${what}; latest: ${JSON.stringify(latest).slice(0, 3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const live = (seen: Seen, ...hooks: Shown['hook'][]) => hooks.every((hook) => seen.latest(hook)?.status === 'live');

/** Open SSE streams on the server (session streams and changes feeds): `session_sync_open_streams`. */
async function openStreams(): Promise<number> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  return Number(text.split('\n').find((line) => line.startsWith('session_sync_open_streams '))?.split(' ')[1]);
}

async function untilStreams(count: number, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = await openStreams();
  while (last !== count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} open streams (${what}): ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = await openStreams();
  }
}

/** A session with a JSON state `{name, count}` and one event, both saying whose they are. */
async function seed(id: string): Promise<void> {
  await writer.createSession({ id });
  await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { name: id, count: 0 } });
  await writer.appendEvents(id, { events: [{ type: 'note', data: { session: id, n: 0 } }] });
}

async function unmountAll(): Promise<void> {
  await page.evaluate(() => harness.unmount());
  // Every stream of the page goes back: the next test counts its own from zero.
  await untilStreams(0, 'after unmount');
}

describe('React bindings in a browser', () => {
  it('follow a session (state, events, running text, activity, lease) and the session list live, and close every stream on unmount', async () => {
    const id = 'react-live';
    await seed(id);
    const seen = await mount({ state: id, session: id, sessions: true });
    await until(seen, (s) => live(s, 'state', 'session', 'sessions'), 'all three hooks live');
    expect(seen.latest('state')!.value).toMatchObject({ version: 1, state: { name: id, count: 0 } });
    expect(seen.latest('session')!.value).toMatchObject({ session: { id }, lease: null, activity: { status: 'idle' } });
    expect(seen.latest('session')!.value.events.map((e: any) => e.type)).toEqual(['state.snapshot', 'note']);
    expect(seen.latest('sessions')!.value.ids).toContain(id);
    await untilStreams(3, 'one per hook');

    // A worker's turn: lease, activity, tokens live, then the turn stored.
    const lease = await writer.claimLease(id, { owner: 'react-worker', ttlMs: 30_000 });
    await until(seen, (s) => s.latest('session')!.value.lease?.owner === 'react-worker', 'the lease');
    expect(seen.latest('session')!.value.lease).toMatchObject({ owner: 'react-worker', fencing_token: lease.fencingToken });
    await lease.session.setActivity({ status: 'thinking', ttl_ms: 30_000 });
    await lease.session.publishLive([{ type: 'token', data: { text: 'Hel' } }, { type: 'token', data: 'lo' }, { type: 'progress', data: { step: 1 } }]);
    await until(seen, (s) => s.latest('session')!.value.liveText === 'Hello', 'the tokens joined');
    const during = seen.latest('session')!.value;
    expect(during.activity).toMatchObject({ status: 'thinking' });
    expect(during.liveEvents).toEqual([{ type: 'progress', data: { step: 1 } }]);
    await until(seen, (s) => s.latest('sessions')!.value.sessions.find((x: any) => x.id === id)?.activity?.status === 'thinking', 'the activity in the list');

    await lease.session.commitTurn({
      turn_id: 'react-turn-1',
      base_version: 1,
      state: { patch: [{ op: 'replace', path: '/count', value: 1 }] },
      events: [{ type: 'reply', data: { session: id, text: 'Hello' } }],
      messages: [{ role: 'assistant', content: 'Hello' }],
      release_lease: true,
    });
    // The turn gave the lease back: this stops its renewals (the release finds it gone).
    await lease.release();
    await until(seen, (s) => s.latest('state')!.value.version === 2 && s.latest('session')!.value.lease === null, 'the turn');
    const after = seen.latest('session')!.value;
    // The reply is durable now: the running text ended with it, in the same render that shows its events.
    expect(after.liveText).toBe('');
    const types = after.events.map((e: any) => e.type);
    expect(types.slice(-4)).toEqual(['reply', 'message.appended', 'lease.released', 'turn.committed']);
    // At most keepEvents (5), the newest.
    expect(types).toHaveLength(5);
    for (const entry of seen.all.filter((e) => e.hook === 'session')) {
      if (entry.value.events.some((e: any) => e.type === 'turn.committed')) expect(entry.value.liveText).toBe('');
    }
    expect(seen.latest('state')!.value.state).toEqual({ name: id, count: 1 });
    await until(seen, (s) => s.latest('sessions')!.value.sessions.find((x: any) => x.id === id)?.message_count === 1, 'the list reading the record again');

    // A session created and another deleted show in the list.
    await writer.createSession({ id: 'react-new' });
    await until(seen, (s) => s.latest('sessions')!.value.ids[0] === 'react-new', 'a new session first in the list');
    await writer.deleteSession('react-new');
    await until(seen, (s) => !s.latest('sessions')!.value.ids.includes('react-new'), 'a deleted session gone');

    await unmountAll();
    expect(seen.statuses('session')).toEqual(['loading', 'live']);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('under StrictMode: mounted twice, yet one stream per hook, and each hook stays live', async () => {
    const id = 'react-strict';
    await seed(id);
    const seen = await mount({ state: id, session: id, sessions: true }, true);
    await until(seen, (s) => live(s, 'state', 'session', 'sessions'), 'all three hooks live');
    // The double mount did happen: each of the three components ran its effects twice and cleaned up once.
    expect(seen.effects).toEqual({ mounts: 6, unmounts: 3 });
    await untilStreams(3, 'one per hook');
    // A write made now shows: what each hook shows is the stream it kept, not a store closed under it.
    await writer.pushDelta(id, { base_version: 1, merge_patch: { count: 5 } });
    await writer.appendEvents(id, { events: [{ type: 'note', data: { session: id, n: 1 } }] });
    await until(seen, (s) => s.latest('state')!.value.version === 2 && s.latest('session')!.value.events.at(-1)?.data.n === 1, 'the writes');
    await writer.createSession({ id: 'react-strict-2' });
    await until(seen, (s) => s.latest('sessions')!.value.ids.includes('react-strict-2'), 'a new session in the list');
    expect(await openStreams()).toBe(3);
    for (const hook of ['state', 'session', 'sessions'] as const) {
      expect(seen.statuses(hook), hook).toEqual(['loading', 'live']);
    }
    await unmountAll();
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('a new id switches streams and never shows the previous session under it', async () => {
    const [a, b, c] = ['react-a', 'react-b', 'react-c'];
    for (const id of [a, b, c]) await seed(id);
    const seen = await mount({ state: a, session: a }, true);
    await until(seen, (s) => live(s, 'state', 'session') && s.latest('state')!.id === a, 'a live');
    // Switched, then switched again before the second could load, then back.
    for (const id of [b, c, b]) await page.evaluate((next) => harness.show({ state: next, session: next }), id);
    await until(seen, (s) => live(s, 'state', 'session') && s.latest('state')!.id === b && s.latest('session')!.value.events.length === 2, 'b live');
    await untilStreams(2, 'only the shown session');
    // Writes to the one shown arrive; a write to the one left does not show.
    await writer.appendEvents(a, { events: [{ type: 'note', data: { session: a, n: 1 } }] });
    await writer.pushDelta(b, { base_version: 1, merge_patch: { count: 7 } });
    await until(seen, (s) => s.latest('state')!.value.state?.count === 7, 'b written');
    for (const entry of seen.all) {
      for (const from of entry.from) if (from !== null) expect(from, `${entry.hook} rendered for ${entry.id}`).toBe(entry.id);
    }
    // Each id starts from the initial snapshot, never from the previous one's data.
    const firstOfB = seen.all.find((entry) => entry.hook === 'state' && entry.id === b)!;
    expect(firstOfB).toMatchObject({ status: 'loading', value: { version: 0, state: null } });
    await unmountAll();
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('resume across a server restart (the same port and database): writes made while it was down and after it show', async () => {
    const id = 'react-restart';
    await seed(id);
    const seen = await mount({ state: id, session: id, sessions: true });
    await until(seen, (s) => live(s, 'state', 'session', 'sessions'), 'all three hooks live');
    await writer.publishLive(id, { type: 'token', data: 'before ' });
    await until(seen, (s) => s.latest('session')!.value.liveText === 'before ', 'a token before the restart');

    const port = Number(new URL(t.baseUrl).port);
    await t.close();
    await until(seen, (s) => ['state', 'session', 'sessions'].every((hook) => s.latest(hook as Shown['hook'])!.status === 'reconnecting'), 'every hook reconnecting');
    // While the port is closed, another instance on the same database writes: these come by the streams' resume and the list's sweep.
    const other = await createTestApp({ databaseUrl: t.url, env });
    try {
      expect((await call(other.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { count: 1 } })).statusCode).toBe(200);
      expect((await call(other.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: { session: id, n: 'down' } }] })).statusCode).toBe(201);
      expect((await call(other.app, 'POST', '/v1/sessions', { id: 'react-made-while-down' })).statusCode).toBe(201);
    } finally {
      await other.close();
    }
    t = await createTestApp({ databaseUrl: t.url, env });
    await t.listen(port);
    writer = createClient({ baseUrl: t.baseUrl });
    await until(seen, (s) => live(s, 'state', 'session', 'sessions'), 'every hook live again');
    await untilStreams(3, 'one per hook on the new server');

    await writer.pushDelta(id, { base_version: 2, merge_patch: { count: 2 } });
    await writer.appendEvents(id, { events: [{ type: 'note', data: { session: id, n: 'after' } }] });
    await writer.publishLive(id, { type: 'token', data: 'after' });
    await writer.createSession({ id: 'react-made-after' });
    await until(
      seen,
      (s) =>
        s.latest('state')!.value.version === 3 &&
        s.latest('session')!.value.events.at(-1)?.data.n === 'after' &&
        s.latest('session')!.value.liveText.endsWith('after') &&
        s.latest('sessions')!.value.ids.includes('react-made-after'),
      'the writes after the restart',
    );
    expect(seen.latest('state')!.value.state).toEqual({ name: id, count: 2 });
    const notes = seen.latest('session')!.value.events.filter((e: any) => e.type === 'note').map((e: any) => e.data.n);
    expect(notes).toEqual([0, 'down', 'after']);
    // Each durable event once, in order, across the restart.
    const seqs = seen.latest('session')!.value.events.map((e: any) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seen.latest('sessions')!.value.ids).toContain('react-made-while-down');
    for (const hook of ['state', 'session', 'sessions'] as const) expect(seen.statuses(hook), hook).toEqual(['loading', 'live', 'reconnecting', 'live']);
    await unmountAll();
  }, 120_000);
});
