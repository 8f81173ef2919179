import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import chromium from '@sparticuz/chromium';
import { type Browser, chromium as playwright, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { AGENT } from '../../examples/chat/agent.js';
import { CSP, type Dashboard, serveDashboard } from '../../examples/chat/serve.js';
import { freePort } from '../../src/db/embedded.js';
import { type CheckoutCopy, copyCheckout } from '../helpers/checkout-copy.js';
import { collected, type SpawnedServer } from '../helpers/server-process.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// The chat example (examples/chat) in headless Chromium: its page (React, served by its development
// server with the CSP it ships), its worker as its own process, and a server. First its parts against a
// test server, then `npm run example` itself, as a person starts it from a fresh clone (a copy of the
// checkout without its build outputs, test/helpers/checkout-copy.ts).
const root = fileURLToPath(new URL('../../', import.meta.url));
/** Node 22 or later first on PATH, for npm's scripts (the machine's `node` may be older). */
const PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;

let browser: Browser;
beforeAll(async () => {
  const args = chromium.args.filter((arg) => arg !== '--disable-web-security' && arg !== '--single-process');
  browser = await playwright.launch({ executablePath: await chromium.executablePath(), args, headless: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

const pages: Page[] = [];
afterEach(async () => {
  for (const page of pages.splice(0)) await page.close().catch(() => {});
});

/** A page on the chat that records every console error (a CSP refusal, a React warning) and uncaught exception. */
async function open(url: string, viewport = { width: 1400, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  pages.push(page);
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const response = await page.goto(url);
  expect(response?.headers()['content-security-policy']).toBe(CSP);
  return { page, problems };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)?.slice(0, 1000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
const untilText = (page: Page, selector: string, wanted: string) =>
  until(() => texts(page, selector), (all) => all.some((text) => text.includes(wanted)), `${selector} to show "${wanted}"`);

/** What the page shows of the chat: the transcript (role and text), the streaming reply, the activity. */
async function transcript(page: Page): Promise<{ role: string; text: string }[]> {
  return page.locator('.transcript .message:not(.waiting):not(.streaming)').evaluateAll((items) =>
    items.map((item) => ({ role: item.classList.contains('user') ? 'user' : 'assistant', text: item.textContent ?? '' })),
  );
}

/** The reply the example's scripted model gives (examples/chat/model.ts). */
function replyTo(text: string, turn: number): string {
  const words = text.split(/\s+/).filter(Boolean).length;
  return (
    `You said: "${text}". That is ${words} word${words === 1 ? '' : 's'}, counted by the word_count tool, ` +
    `and this is turn ${turn} of our chat. I am a scripted stand-in for a model (examples/chat/model.ts): put a real one there.`
  );
}

/** Starts a chat from the page's "New chat" button; resolves with its id once it is live. */
async function newChat(page: Page): Promise<string> {
  await untilText(page, '.chats .connection', 'live');
  await page.getByRole('button', { name: 'New chat' }).click();
  await until(() => page.evaluate(() => (globalThis as any).location.hash as string), (hash) => hash.length > 1, 'the new chat in the address');
  await untilText(page, '.chat .connection', 'live');
  return decodeURIComponent((await page.evaluate(() => (globalThis as any).location.hash as string)).slice(1));
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  // Queued: the input box empties once the server has it.
  await until(() => page.getByLabel('Message').inputValue(), (value) => value === '', 'the input queued');
}

/**
 * Records what the page showed after each DOM change: the streaming reply, the replies in the
 * transcript, the activity line. Read with `shown(page)`. The fake model's pace (600 ms to think,
 * 400 ms of tool, 30 ms a token) keeps each step on screen far longer than a render takes.
 */
async function record(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as any;
    const doc = w.document;
    w.shown = [];
    const read = () =>
      w.shown.push({
        streaming: doc.querySelector('.message.streaming')?.textContent ?? null,
        replies: [...doc.querySelectorAll('.message.assistant:not(.streaming)')].map((item: any) => item.textContent),
        activity: doc.querySelector('.activity')?.textContent ?? '',
      });
    // What shows now, then after each change: a page that does not change before the worker's
    // first step would otherwise record nothing of its state before it.
    read();
    new w.MutationObserver(read).observe(doc.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}
interface Shown {
  streaming: string | null;
  replies: string[];
  activity: string;
}
const shown = (page: Page): Promise<Shown[]> => page.evaluate(() => (globalThis as any).shown);

/** Consecutive repeats left out. */
const changes = <T>(values: T[]) => values.filter((value, i) => i === 0 || value !== values[i - 1]);

describe('the chat example, its parts: page and worker on a test server', () => {
  let t: TestApp;
  let dashboard: Dashboard;
  let worker: SpawnedServer | undefined;

  /** The example's worker, as its own process, on the client's source (examples/tsconfig.json maps the package to it). */
  function startWorker(): SpawnedServer {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/chat/worker.ts'], {
      cwd: root,
      env: { PATH, SESSION_SYNC_URL: t.baseUrl, TSX_TSCONFIG_PATH: 'examples/tsconfig.json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return (worker = collected(child));
  }

  beforeAll(async () => {
    t = await createTestApp();
    await t.listen();
    dashboard = await serveDashboard({ api: t.baseUrl, port: 0 });
  }, 60_000);
  afterEach(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    worker = undefined;
  });
  afterAll(async () => {
    await dashboard?.close();
    await t?.close();
  });

  it('a message waits in the queue until a worker takes it; the reply streams in token by token, then lands in the transcript; activity, state and usage follow', async () => {
    const { page, problems } = await open(dashboard.url);
    const id = await newChat(page);
    // Markup in a message is text: it shows as typed and makes no element.
    const first = 'hello <b>world</b>';
    await send(page, first);
    // No worker runs yet: the input is kept, and the page says it waits.
    await untilText(page, '.message.waiting', 'queued: waiting for a worker');
    expect(await page.locator('.message.waiting').first().textContent()).toContain(first);

    await untilText(page, '.activity', 'idle');
    await record(page);
    startWorker();
    await until(() => transcript(page), (messages) => messages.length === 2, 'the turn in the transcript');
    expect(await transcript(page)).toEqual([
      { role: 'user', text: first },
      { role: 'assistant', text: replyTo(first, 1) },
    ]);
    expect(await page.locator('.transcript b').count()).toBe(0);
    expect(await page.locator('.message.waiting').count()).toBe(0);

    // The worker says it is idle once the turn is stored.
    await untilText(page, '.activity', 'idle');
    // The tokens showed as they came: a part of the reply before the whole of it, each part a start of it.
    const seen = await shown(page);
    const streamed = changes(seen.map((s) => s.streaming).filter((text): text is string => text !== null));
    for (const part of streamed) expect(replyTo(first, 1).startsWith(part), part).toBe(true);
    expect(streamed.some((part) => part.length < replyTo(first, 1).length)).toBe(true);
    // Once it started, the reply never left the screen: streaming, then in the transcript; never neither, never both.
    for (const s of seen.slice(seen.findIndex((s) => s.streaming !== null))) expect(s.streaming !== null, JSON.stringify(s)).not.toBe(s.replies.length === 1);
    // The agent's activity as it went: idle before the worker came, then thinking, its tool, writing, idle again.
    expect(changes(seen.map((s) => s.activity))).toEqual(['idle', 'thinking…', 'using a tool: word_count', 'writing…', 'idle']);

    // The state the turn committed, and the usage it reported (this model's tokens are words).
    const tokens = replyTo(first, 1).match(/\s*\S+\s*/g)!.length;
    await untilText(page, '.details .state', '"turns": 1');
    expect(JSON.parse((await page.locator('.details .state').textContent())!)).toEqual({
      turns: 1,
      words_heard: 2,
      last_tool: { name: 'word_count', input: first, output: 2 },
    });
    await untilText(page, '.details .version', 'version 1');
    await until(() => texts(page, '.usage dd'), (dd) => dd[0] === '1', 'the usage');
    expect(await texts(page, '.usage dd')).toEqual(['1', '2', String(tokens), '$0.0000']);
    // The list names the chat by its first message.
    await untilText(page, '.chats li[aria-current] a', first);
    await untilText(page, '.chats li[aria-current] small', '2 messages');

    // A second turn, with the worker now running: the model sees the conversation, the state moves on.
    await send(page, 'and again');
    await until(() => transcript(page), (messages) => messages.length === 4, 'the second turn');
    expect((await transcript(page)).at(-1)).toEqual({ role: 'assistant', text: replyTo('and again', 2) });
    await untilText(page, '.details .state', '"turns": 2');
    await untilText(page, '.details .version', 'version 2');
    await untilText(page, '.activity', 'idle');

    // Opened again (a reload, a shared link): the whole conversation, read back from the server.
    await page.reload();
    await untilText(page, '.chat .connection', 'live');
    await until(() => transcript(page), (messages) => messages.length === 4, 'the conversation after a reload');
    expect((await transcript(page)).map((m) => m.text)).toEqual([first, replyTo(first, 1), 'and again', replyTo('and again', 2)]);
    expect(await page.evaluate(() => (globalThis as any).location.hash)).toBe(`#${encodeURIComponent(id)}`);
    expect(problems).toEqual([]);
  }, 120_000);

  it('says when the API is gone and when it is back; the worker comes back too and answers', async () => {
    startWorker();
    const { page, problems } = await open(dashboard.url);
    await newChat(page);
    await send(page, 'before');
    await until(() => transcript(page), (messages) => messages.length === 2, 'a turn before the restart');

    const port = Number(new URL(t.baseUrl).port);
    await t.close();
    await untilText(page, '.chats .connection', 'reconnecting');
    await untilText(page, '.chat .connection', 'reconnecting');
    t = await createTestApp({ databaseUrl: t.url });
    await t.listen(port);
    await untilText(page, '.chats .connection', 'live');
    await untilText(page, '.chat .connection', 'live');

    await send(page, 'after');
    await until(() => transcript(page), (messages) => messages.length === 4, 'a turn after the restart');
    expect((await transcript(page)).at(-1)).toEqual({ role: 'assistant', text: replyTo('after', 2) });
    // What the browser logs of the requests the outage failed (the server's 503 while it shut down, refused connections) is no fault of the page.
    expect(problems.filter((problem) => !problem.includes('Failed to load resource'))).toEqual([]);
  }, 120_000);

  it('shows a conversation older than the events the stream replays, read back from its messages', async () => {
    const api = createClient({ baseUrl: t.baseUrl });
    const { id } = await api.createSession({ metadata: { agent: AGENT } });
    await api.appendMessages(id, { messages: [{ role: 'user', content: 'long ago' }, { role: 'assistant', content: 'so it was' }] });
    // More events after them than the page's stream replays (its newest 200).
    for (let i = 0; i < 3; i++) await api.appendEvents(id, { events: Array.from({ length: 100 }, (_, n) => ({ type: 'note', data: { n } })) });
    const { page, problems } = await open(`${dashboard.url}#${encodeURIComponent(id)}`);
    await untilText(page, '.chat .connection', 'live');
    await until(() => transcript(page), (messages) => messages.length === 2, 'the old messages');
    expect(await transcript(page)).toEqual([
      { role: 'user', text: 'long ago' },
      { role: 'assistant', text: 'so it was' },
    ]);
    expect(problems).toEqual([]);
  }, 90_000);

  it('fits a phone: one column, nothing wider than the screen, the input in reach', async () => {
    startWorker();
    const width = 390;
    const { page, problems } = await open(dashboard.url, { width, height: 844 });
    await newChat(page);
    await send(page, 'a-very-long-word-with-no-space-to-break-it-'.repeat(4));
    await until(() => transcript(page), (messages) => messages.length === 2, 'the turn');
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    // One column: the list, the chat and its details one under the other, each the screen's width (less a scroll bar).
    const column = await Promise.all(['.chats', '.chat', '.details'].map(async (selector) => (await page.locator(selector).boundingBox())!));
    for (const box of column) expect([box.x, box.width]).toEqual([0, expect.closeTo(width, -1.5)]);
    expect(column[0]!.y).toBeLessThan(column[1]!.y);
    expect(column[1]!.y).toBeLessThan(column[2]!.y);
    for (const selector of ['.chats', '.chat', '.details', '.composer input', '.composer button', '.message.user', '.message.assistant']) {
      const box = (await page.locator(selector).first().boundingBox())!;
      expect(box.x, selector).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, selector).toBeLessThanOrEqual(width);
    }
    expect(problems).toEqual([]);
  }, 120_000);
});

describe('npm run example', () => {
  let dataDir: string;
  let clone: CheckoutCopy;
  let example: SpawnedServer | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'chat-example-'));
    clone = await copyCheckout();
  }, 60_000);
  afterAll(async () => {
    try {
      // A failed test leaves it running: Ctrl-C as a person would, then kill what is left.
      if (example && example.child.exitCode === null && example.child.signalCode === null) {
        process.kill(-example.child.pid!, 'SIGINT');
        const stopped = await Promise.race([example.exited.then(() => true), new Promise((resolve) => setTimeout(resolve, 30_000, false))]);
        if (!stopped) process.kill(-example.child.pid!, 'SIGKILL');
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await clone?.remove();
    }
  });

  it('builds, starts server, worker and page, prints the address; a chat round trip works there; Ctrl-C stops it all', async () => {
    const port = await freePort();
    // Nothing built yet: the example builds the client, the server and the inspector, then starts on them.
    expect(existsSync(path.join(clone.dir, 'dist')) || existsSync(path.join(clone.dir, 'client', 'dist'))).toBe(false);
    const child: ChildProcess = spawn('npm', ['run', 'example'], {
      cwd: clone.dir,
      env: { PATH, HOME: process.env.HOME ?? os.homedir(), DATA_DIR: dataDir, EXAMPLE_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the test can press Ctrl-C on it: a SIGINT to the group.
      detached: true,
    });
    example = collected(child);
    const line = await until(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm run example exited: ${example!.output()}`);
        return /chat example serving: open (\S+) +\(the API is (\S+),/.exec(example!.output());
      },
      (match) => match !== null,
      'the address to open',
      240_000,
    );
    const [, url, api] = line!;
    expect(url).toBe(`http://127.0.0.1:${port}/`);
    for (const built of ['client/dist/index.js', 'dist/main.js', 'dist/inspect/inspector.js']) expect(existsSync(path.join(clone.dir, built)), built).toBe(true);

    const { page, problems } = await open(url!);
    await newChat(page);
    await send(page, 'hi from a fresh clone');
    await until(() => transcript(page), (messages) => messages.length === 2, 'the turn');
    expect((await transcript(page)).at(-1)).toEqual({ role: 'assistant', text: replyTo('hi from a fresh clone', 1) });
    expect(problems).toEqual([]);
    await page.close();

    process.kill(-child.pid!, 'SIGINT');
    await example.exited;
    // Everything it started has stopped: the API answers no more, and the embedded PostgreSQL left no lock.
    expect(await fetch(`${api}/readyz`).then(() => 'answered', () => 'refused')).toBe('refused');
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(example.output()).toContain('chat example stopped');
    // No part stopped before it was told to, and none logged an error.
    expect(example.output()).not.toMatch(/\] exited \(|ERROR/);
  }, 300_000);
});
