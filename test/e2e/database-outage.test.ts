import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { runMigrations } from '../../src/db/migrate.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { startTestPostgres } from '../helpers/postgres.js';
import { SseClient } from '../helpers/sse.js';

// A database of its own: this test stops and restarts it under load, which the
// shared test database must never see.
let root: string;
let pg: EmbeddedPostgresHandle;
let t: TestApp;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-outage-'));
  await chmod(root, 0o755);
  pg = await startTestPostgres({ dataDir: path.join(root, 'pg'), database: 'outage' });
  await runMigrations(pg.url);
  t = await createTestApp({ databaseUrl: pg.url, env: { DB_CONNECT_TIMEOUT_S: '2' } });
  await t.listen();
}, 120_000);
afterAll(async () => {
  await t?.close();
  await pg?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('the database goes away under load and comes back', () => {
  it('fails fast with 503 database_unavailable, loses no acknowledged write, and recovers without a restart', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'load' })).statusCode).toBe(201);
    const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/load/stream`);
    await stream.waitFor(() => stream.ofType('session.activity').length === 1, 'the activity marker');

    const acknowledged = new Set<string>();
    const statuses = new Map<number, number>();
    const unavailable: { retryAfter: unknown; code: unknown }[] = [];
    let phase: 'before' | 'outage' | 'after' = 'before';
    let stop = false;
    async function writer(w: number): Promise<void> {
      for (let i = 0; !stop; i++) {
        const res = await call(t.app, 'POST', '/v1/sessions/load/events', { events: [{ type: 'load', data: { w, i, phase } }] });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 201) acknowledged.add(`${w}:${i}`);
        else if (res.statusCode === 503) unavailable.push({ retryAfter: res.headers['retry-after'], code: res.json().code });
        if (res.statusCode !== 201) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const writers = Promise.all([0, 1, 2, 3].map(writer));

    await expect.poll(() => acknowledged.size, { timeout: 10_000 }).toBeGreaterThan(40);
    phase = 'outage';
    await pg.stop();
    await expect.poll(async () => (await call(t.app, 'GET', '/readyz')).statusCode, { timeout: 10_000 }).toBe(503);
    await expect.poll(() => unavailable.length, { timeout: 10_000 }).toBeGreaterThan(5);
    await pg.start();
    phase = 'after';
    await expect.poll(async () => (await call(t.app, 'GET', '/readyz')).statusCode, { timeout: 20_000, interval: 200 }).toBe(200);
    const ackedAtRecovery = acknowledged.size;
    await expect.poll(() => acknowledged.size, { timeout: 20_000 }).toBeGreaterThan(ackedAtRecovery + 40);
    stop = true;
    await writers;

    // Failures were 503s that say what happened and when to retry; never a 500.
    expect([...statuses.keys()].sort()).toEqual([201, 503]);
    for (const problem of unavailable) expect(problem).toEqual({ retryAfter: '1', code: 'database_unavailable' });

    // Every acknowledged write is in the history, in order and gapless.
    const stored = new Set<string>();
    let after = 0;
    for (;;) {
      const page = (await call(t.app, 'GET', `/v1/sessions/load/events?after=${after}&limit=1000`)).json();
      for (const event of page.events) stored.add(`${event.data.w}:${event.data.i}`);
      after = page.last_seq;
      if (!page.has_more) break;
    }
    for (const key of acknowledged) expect(stored.has(key), `acknowledged write ${key} is missing`).toBe(true);

    // The stream stayed up (or ended cleanly and could resume): it has every committed event once.
    const head = after;
    if (!stream.ended) {
      await stream.waitForDurable(head, 20_000);
      expect(stream.durable.map((m) => Number(m.id))).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    }
    await stream.close();
  }, 120_000);
});
