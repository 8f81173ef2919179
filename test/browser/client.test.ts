import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import chromium from '@sparticuz/chromium';
import { build } from 'esbuild';
import { type Browser, type Page, chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { seededRandom, TcpProxy } from '../helpers/proxy.js';

// The client inside a real browser (headless Chromium): the subscribe and
// watchState guarantees hold there too, through a proxy that cuts at random.
// The page is on another origin than the API, so CORS is exercised as well.
let t: TestApp;
let proxy: TcpProxy;
let pages: http.Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  // Bundling for the browser platform also proves the client needs no Node built-ins.
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('harness.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  pages = http.createServer((request, response) => {
    if (request.url === '/harness.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/harness.js"></script>');
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  t = await createTestApp({ env: { CORS_ORIGINS: pageOrigin } });
  proxy = await new TcpProxy(Number(new URL(await t.listen()).port)).listen();
  browser = await playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
  page = await browser.newPage();
  await page.goto(pageOrigin);
  await page.waitForFunction(() => 'harness' in globalThis);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await t?.close();
  await new Promise((resolve) => pages?.close(resolve));
});

// Shorter than the tests' own timeout (60 s), so a wait that never ends says what it last saw.
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 1000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type Harness = {
  subscribe(baseUrl: string, id: string): void;
  subscribed(): { seqs: number[]; lastSeq: number; reconnects: number };
  watch(baseUrl: string, id: string): Promise<string>;
  watched(): { status: string; version: number; state: any };
  close(): void;
};
declare const harness: Harness;

describe('the client in a browser', () => {
  it('subscribe: every durable event exactly once, in order, through a proxy cutting at random moments', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'browser-sub' });
    proxy.cutRandomly(11, 3000);
    await page.evaluate(([url, id]) => harness.subscribe(url, id), [proxy.url, 'browser-sub'] as const);
    const random = seededRandom(5);
    let total = 0;
    for (let round = 0; round < 30; round++) {
      const size = 1 + Math.floor(random() * 10);
      total = (await writer.appendEvents('browser-sub', { events: Array.from({ length: size }, (_, i) => ({ type: 'step', data: { i, pad: 'p'.repeat(200) } })) })).last_seq;
    }
    const result = await until(() => page.evaluate(() => harness.subscribed()), (r) => r.lastSeq === total, `${total} events in the page`);
    proxy.calm();
    expect(result.seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(result.reconnects).toBeGreaterThan(2);
  }, 60_000);

  it('watchState equals GET .../state after concurrent JSON Patch, merge patch and snapshot writers, through reconnects', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    const id = 'browser-state';
    await writer.createSession({ id });
    await writer.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { list: [], counts: { a: 0, b: 0 } } });
    proxy.cutRandomly(23, 6000);
    expect(await page.evaluate(([url, sid]) => harness.watch(url, sid), [proxy.url, id] as const)).toBe('live');
    const against = async (write: (version: number, state: any) => Promise<unknown>) => {
      for (;;) {
        const head = await writer.sync(id);
        try {
          return await write(head.version, head.snapshot);
        } catch (error) {
          if (!(error instanceof SessionSyncError && error.code === 'version_conflict')) throw error;
        }
      }
    };
    await Promise.all([
      (async () => {
        for (let i = 0; i < 20; i++) {
          await against((v, s) =>
            writer.pushDelta(id, { base_version: v, patch: [{ op: 'add', path: '/list/-', value: i }, { op: 'replace', path: '/counts/a', value: s.counts.a + 1 }] }),
          );
        }
      })(),
      (async () => {
        for (let i = 0; i < 20; i++) await against((v, s) => writer.pushDelta(id, { base_version: v, merge_patch: { counts: { b: s.counts.b + 1 }, [`k${i % 3}`]: i } }));
      })(),
      (async () => {
        for (let i = 0; i < 4; i++) await against((v, s) => writer.putSnapshot(id, { base_version: v, schema_version: 1, snapshot: { ...s, list: s.list.slice(-3) } }));
      })(),
    ]);
    const head = await writer.sync(id);
    const mirrored = await until(() => page.evaluate(() => harness.watched()), (w) => w.version === head.version, `version ${head.version}`);
    proxy.calm();
    expect(mirrored.state).toEqual(head.snapshot);
    expect(mirrored.state.counts).toEqual({ a: 20, b: 20 });
    await page.evaluate(() => harness.close());
  }, 60_000);
});
