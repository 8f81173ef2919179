import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { killListenBackends } from '../helpers/db.js';
import { SseClient } from '../helpers/sse.js';

// docs/API.md, "Per-session stream": the wakeup connection can drop, and after it is back every open stream
// re-reads from its cursor. docs/operations.md: when the database returns, everything recovers. The LISTEN
// connection retries with backoff while it cannot come back; once back, a later drop is retried promptly
// again, not after the longest wait the earlier outage reached.

let t: TestApp;
let admin: postgres.Sql;
let database: string;

beforeAll(async () => {
  // No head poll to find the commits a lost wakeup announced: only the LISTEN reconnect's re-read delivers them.
  t = await createTestApp({ env: { STREAM_HEAD_POLL_MS: '3600000' } });
  await t.listen();
  database = new URL(t.url).pathname.slice(1);
  // Connected to another database: it stays up while this one refuses new connections.
  admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await admin.unsafe(`alter database "${database}" allow_connections true`);
  await admin.end();
  await t.close();
});

const readiness = async () => (await call(t.app, 'GET', '/readyz')).statusCode;

describe('the LISTEN connection after a long outage', () => {
  it('a later short drop is retried at once: a commit made during it reaches an open stream within two seconds', async () => {
    await createSession(t, 'backoff');
    const client = await SseClient.open(`${t.baseUrl}/v1/sessions/backoff/stream`);
    try {
      await client.waitFor(() => client.ofType('session.activity').length === 1, 'the activity marker');

      // A long outage: for about 4 s every attempt to LISTEN again is refused, so the waits between them grow.
      await admin.unsafe(`alter database "${database}" allow_connections false`);
      try {
        expect(await killListenBackends(admin, database)).toBe(1);
        await expect.poll(readiness, { timeout: 5000 }).toBe(503);
        // Nothing a client sees tells how many attempts have failed: the outage itself is what lasts.
        await new Promise((resolve) => setTimeout(resolve, 4000));
      } finally {
        await admin.unsafe(`alter database "${database}" allow_connections true`);
      }
      await expect.poll(readiness, { timeout: 10_000, interval: 50 }).toBe(200);

      // A short drop now: the connection is allowed, and the next attempt succeeds.
      expect(await killListenBackends(admin, database)).toBe(1);
      const appended = await call(t.app, 'POST', '/v1/sessions/backoff/events', { events: [{ type: 'during_drop', data: 1 }] });
      expect(appended.statusCode, appended.body).toBe(201);
      await client.waitForDurable(1, 2000);
      expect(client.durable.map((m) => m.event)).toEqual(['during_drop']);
      expect(client.ended).toBe(false);
    } finally {
      await client.close();
    }
  });
});
