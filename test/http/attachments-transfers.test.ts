import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { copyingUpload, stalledUpload } from '../helpers/uploads.js';
import { until } from '../helpers/waits.js';

// An upload is a transfer (docs/API.md "Transfers"): it holds one of MAX_TRANSFERS slots while its body comes,
// a body that pauses for TRANSFER_IDLE_TIMEOUT_MS is 408, and whatever ends it leaves nothing stored.

const CHUNK = 1024;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function nothingLeftOver(t: TestApp): Promise<void> {
  // The broken upload's transaction is over (no other backend of this test's database in one), and it left no chunk behind.
  await until(async () => {
    const [row] = await t.database.db`
      select (select count(*)::int from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle') as busy,
             (select count(*)::int from attachment_chunks c where not exists (select 1 from attachments a where a.id = c.blob_id)) as orphans`;
    return row?.busy === 0 && row?.orphans === 0;
  }, 'the broken upload rolled back');
}

describe('MAX_TRANSFERS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ATTACHMENT_CHUNK_BYTES: String(CHUNK), MAX_TRANSFERS: '1' } });
    await t.listen();
  });
  afterAll(() => t.close());

  const post = (id: string, body: Buffer) =>
    t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: body, headers: { 'content-type': 'application/octet-stream' } });
  const listed = async (id: string) =>
    (await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments.map((a: { attachment_id: string }) => a.attachment_id);

  it('past it an upload is 503 too_many_transfers with Retry-After and stores nothing; a download is no transfer and is served', async () => {
    const id = 'transfers-busy';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const stored = randomBytes(3 * CHUNK);
    expect((await post(id, stored)).statusCode).toBe(201);

    const first = await copyingUpload(t, id, randomBytes(CHUNK + 10));
    const busy = await post(id, randomBytes(100));
    expect(expectProblem(busy, 503, 'too_many_transfers')).toMatchObject({ limit: 1 });
    expect(busy.headers['retry-after']).toBe('1');
    // A download holds no slot: it is served while the upload holds the only one.
    const got = await t.app.inject({ method: 'GET', url: `/v1/sessions/${id}/attachments/${sha(stored)}` });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(stored)).toBe(true);

    first.send(randomBytes(10));
    first.abandon();
    await nothingLeftOver(t);
    expect(await listed(id)).toEqual([sha(stored)]);
  });

  it('a client that goes away halfway leaves nothing stored, and its slot serves the next upload', async () => {
    const id = 'transfers-gone';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const gone = await copyingUpload(t, id, randomBytes(2 * CHUNK + 10));
    gone.abandon();
    await nothingLeftOver(t);
    expect(await listed(id)).toEqual([]);
    const next = randomBytes(100);
    // The slot comes back once the abandoned upload has finished unwinding: until then a try is 503 and stores nothing.
    await expect.poll(async () => (await post(id, next)).statusCode, { timeout: 10_000 }).toBe(201);
    expect(await listed(id)).toEqual([sha(next)]);
  });
});

describe('TRANSFER_IDLE_TIMEOUT_MS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ATTACHMENT_CHUNK_BYTES: String(CHUNK), TRANSFER_IDLE_TIMEOUT_MS: '300' } });
    await t.listen();
  });
  afterAll(() => t.close());

  it('an upload whose body pauses that long is 408 request_timeout {limit_ms} and stores nothing', async () => {
    const id = 'transfers-idle';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const idle = stalledUpload(t, id);
    idle.send(randomBytes(CHUNK + 10));
    // Nothing more is sent, and the body is never ended.
    const answer = await idle.response;
    expect(answer.status).toBe(408);
    expect(await answer.json()).toMatchObject({ code: 'request_timeout', limit_ms: 300 });
    await nothingLeftOver(t);
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/attachments`)).json().attachments).toEqual([]);
  });
});
