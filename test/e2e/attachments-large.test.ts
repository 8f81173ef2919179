import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase } from '../helpers/db.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { memoryOf, resetPeak as resetPeakOf } from '../helpers/memory.js';

// 100 MiB through a real server process: its memory stays flat (bytes are
// streamed into and out of Postgres a chunk at a time), and a client that
// goes away halfway leaves nothing behind.

const MiB = 1024 * 1024;
const SIZE = 100 * MiB;
/**
 * What the server process may grow by (peak RSS) while 100 MiB pass through
 * it: less than the file (a server that holds the whole upload grew by 150
 * MiB; with the heap capped below, 177 MiB on Node 24). Measured: 33 MiB up
 * and 14 MiB down on Node 20; 40-51 up and 0-3 down on Node 24 with the cap
 * (91 up once without it, in CI); the rest is garbage the collector has not
 * freed yet.
 */
const MAX_GROWTH = 85 * MiB;
/**
 * The server's JavaScript heap, capped as in the export test: the bytes pass
 * through Buffers, and an uncapped heap on Node 24 leaves enough of them
 * uncollected to brush the bound (91 MiB once in CI) without holding any.
 * A server that kept the upload would still grow by the file's size: Buffers
 * live outside this heap.
 */
const HEAP_MIB = 96;

let server: ServerProcess;
let databaseUrl: string;
let admin: postgres.Sql;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  server = await startServerProcess({
    port: await freePort(),
    databaseUrl,
    env: { MAX_ATTACHMENT_BYTES: String(128 * MiB), REQUEST_TIMEOUT_MS: '600000', NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` },
  });
  admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await fetch(`${server.url}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"big"}' });
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await server?.kill();
});

const peakRss = async () => (await memoryOf(server.child.pid as number)).peak;
const currentRss = async () => (await memoryOf(server.child.pid as number)).rss;
const resetPeak = () => resetPeakOf(server.child.pid as number);

/** `total` random bytes, 1 MiB at a time, hashed as they go; `stopAfter` ends the stream with an error there. */
function source(total: number, hash: ReturnType<typeof createHash>, stopAfter?: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (stopAfter !== undefined && sent >= stopAfter) {
        this.destroy(new Error('client went away'));
        return;
      }
      if (sent >= total) return void this.push(null);
      const piece = randomBytes(Math.min(MiB, total - sent));
      sent += piece.length;
      hash.update(piece);
      this.push(piece);
    },
  });
}

function upload(body: Readable, length: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/v1/sessions/big/attachments`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': length },
    });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', reject);
    body.on('error', () => request.destroy());
    body.pipe(request);
  });
}

async function chunkCount(): Promise<number> {
  const [row] = await admin`select count(*)::int as n from attachment_chunks`;
  return row?.n as number;
}

describe('a 100 MiB attachment', () => {
  it('uploads and downloads with the server memory flat, byte for byte', { timeout: 300_000 }, async () => {
    // Warm up (JIT, pools, the first chunk buffers), then measure from here.
    expect((await upload(source(MiB, createHash('sha256')), MiB)).status).toBe(201);
    const before = await currentRss();
    await resetPeak();

    const sent = createHash('sha256');
    const res = await upload(source(SIZE, sent), SIZE);
    expect(res.status, res.body).toBe(201);
    const digest = sent.digest('hex');
    const view = JSON.parse(res.body) as { attachment_id: string; size: number };
    expect(view).toMatchObject({ attachment_id: digest, size: SIZE });
    const uploadGrowth = (await peakRss()) - before;

    await resetPeak();
    const beforeDownload = await currentRss();
    const download = await fetch(`${server.url}/v1/sessions/big/attachments/${digest}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-length')).toBe(String(SIZE));
    const received = createHash('sha256');
    let size = 0;
    for await (const piece of download.body as unknown as AsyncIterable<Uint8Array>) {
      received.update(piece);
      size += piece.length;
    }
    expect(size).toBe(SIZE);
    expect(received.digest('hex')).toBe(digest);
    const downloadGrowth = (await peakRss()) - beforeDownload;

    console.log(
      `100 MiB: server peak RSS grew by ${(uploadGrowth / MiB).toFixed(1)} MiB on upload, ` +
        `${(downloadGrowth / MiB).toFixed(1)} MiB on download (from ${(before / MiB).toFixed(0)} and ${(beforeDownload / MiB).toFixed(0)} MiB)`,
    );
    expect(uploadGrowth).toBeLessThan(MAX_GROWTH);
    expect(downloadGrowth).toBeLessThan(MAX_GROWTH);
  });

  it('a client that disconnects halfway leaves nothing committed, and the server lets go of its transaction', { timeout: 300_000 }, async () => {
    const listed = async () =>
      ((await (await fetch(`${server.url}/v1/sessions/big/attachments`)).json()) as { attachments: unknown[] }).attachments.length;
    const attachmentsBefore = await listed();
    const chunksBefore = await chunkCount();

    const sent = createHash('sha256');
    await expect(upload(source(SIZE, sent, 50 * MiB), SIZE)).rejects.toThrow();
    // The server notices the broken body and rolls the upload back: no transaction of it stays open.
    await expect
      .poll(
        async () =>
          (await admin`select count(*)::int as n from pg_stat_activity
                       where datname = current_database() and pid <> pg_backend_pid()
                         and state in ('active', 'idle in transaction', 'idle in transaction (aborted)')
                         and query ilike '%attachment%'`)[0]?.n,
        { timeout: 60_000, interval: 100 },
      )
      .toBe(0);
    expect(await listed()).toBe(attachmentsBefore);
    expect(await chunkCount()).toBe(chunksBefore);
    const [rows] = await admin`select count(*)::int as n from attachments where attachment_id like 'upload:%'`;
    expect(rows?.n).toBe(0);
  });
});
