import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase } from '../helpers/db.js';
import { SseClient } from '../helpers/sse.js';
import { memoryOf, resetPeak } from '../helpers/memory.js';

/**
 * The large-row attack from issue 12, against the server as users run it (a
 * process of its own, so its memory can be read from /proc and its heap
 * capped): a session of 500 events of 250 KB, 100 streams that read one frame
 * and then never read again, and GET .../events?limit=1000 pages, some read
 * and some never read.
 */
const EVENTS = 500;
const EVENT_BYTES = 250_000;
const IDLE_STREAMS = 100;
const PAGE_READERS = 5;
/** The heap the server gets: far less than one unbounded replay page (125 MB) per idle stream. */
const HEAP_MB = 256;
/** The stated bound: peak resident memory grows by less than this under the whole attack. */
const BOUND_MB = 250;

const MB = 1024 * 1024;

interface Running {
  child: ChildProcess;
  output: () => string;
}

/** Opens a raw HTTP request, reads until `until` has been seen, then stops reading for good. */
async function readThenStall(port: number, path: string, until: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n`);
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString('latin1')).slice(-(4096 + chunk.length));
      if (!seen.includes(until)) {
        seen = seen.slice(-4096);
        return;
      }
      socket.off('data', onData);
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed before "${until}": ${seen.slice(0, 300)}`)));
  });
  socket.removeAllListeners('close');
  socket.on('error', () => {});
  return socket;
}

describe('memory under the large-row attack', () => {
  let url: string;
  let port: number;
  let base: string;
  let server: Running;

  beforeAll(async () => {
    url = await createTestDatabase();
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, '--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', DATABASE_URL: url, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server = { child, output: () => output };
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${base}/readyz`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await fetch(`${base}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"big"}' })).status).toBe(201);
    // The history goes in through SQL, so the server's own memory starts clean.
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql`
        with s as (select sid from sessions where id = 'big')
        insert into events (session_sid, seq, type, data)
        select s.sid, g, 'bulk', json_build_object('i', g, 'blob', repeat('x', ${EVENT_BYTES}))
        from s, generate_series(1, ${EVENTS}) g`;
      await sql`update sessions set last_seq = ${EVENTS} where id = 'big'`;
    } finally {
      await sql.end();
    }
  }, 90_000);

  afterAll(async () => {
    server.child.kill('SIGKILL');
  });

  it(`500 events of 250 KB, ${IDLE_STREAMS} stalled streams and 1000-row pages: peak memory grows by less than ${BOUND_MB} MB`, async () => {
    const pid = server.child.pid as number;
    // A warm-up replay and page, so what is measured is the attack, not first-use costs.
    const warm = await SseClient.open(`${base}/v1/sessions/big/stream?live=false`);
    await warm.waitForEnd(60_000);
    await warm.close();
    await fetch(`${base}/v1/sessions/big/events?limit=1000`).then((r) => r.arrayBuffer());
    // Resets VmHWM (the peak resident set) to the current size.
    await resetPeak(pid);
    const before = await memoryOf(pid);

    const stalled: net.Socket[] = [];
    try {
      const opens = Array.from({ length: IDLE_STREAMS }, () => readThenStall(port, '/v1/sessions/big/stream', 'id: 1\n'));
      const stalledPages = Array.from({ length: PAGE_READERS }, () => readThenStall(port, '/v1/sessions/big/events?limit=1000', '"seq":1,'));
      const pages = Array.from({ length: PAGE_READERS }, async () => {
        const response = await fetch(`${base}/v1/sessions/big/events?limit=1000`);
        expect(response.status).toBe(200);
        const page = (await response.json()) as { events: { seq: number }[]; last_seq: number; has_more: boolean };
        // An honest page: it ends where it says, and says there is more.
        expect(page.events.length).toBeGreaterThan(0);
        expect(page.events.map((e) => e.seq)).toEqual(page.events.map((_, i) => i + 1));
        expect(page.last_seq).toBe(page.events.length);
        expect(page.has_more).toBe(page.events.length < EVENTS);
      });
      stalled.push(...(await Promise.all([...opens, ...stalledPages])));
      await Promise.all(pages);

      // While all of that is stalled, the process serves, and a reader that reads gets the whole history in order.
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const reader = await SseClient.open(`${base}/v1/sessions/big/stream?live=false`);
      await reader.waitForEnd(60_000);
      expect(reader.durable.map((m) => Number(m.id))).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
      await reader.close();

      const after = await memoryOf(pid);
      const growthMb = (after.peak - before.rss) / MB;
      console.log(`memory attack: RSS before ${(before.rss / MB).toFixed(0)} MB, peak during ${(after.peak / MB).toFixed(0)} MB, growth ${growthMb.toFixed(0)} MB`);
      expect(server.child.exitCode, server.output()).toBeNull();
      expect(growthMb).toBeLessThan(BOUND_MB);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  }, 180_000);
});
