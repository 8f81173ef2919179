import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSession } from '../../src/writes/session-write.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { sessionWriterOn } from '../helpers/committer.js';

// Issue 12, defect 5: metadata is capped (MAX_METADATA_BYTES, its compact JSON
// text in UTF-8) and stays out of the lock every write takes.
const LIMIT = 1000;
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_METADATA_BYTES: String(LIMIT) } });
});
afterAll(() => t.close());

/** `{"t":"éé…"}` is 8 bytes plus 2 per "é"; `tail` adds bytes one by one. */
const sized = (bytes: number) => {
  const pairs = Math.floor((bytes - 8) / 2);
  return { t: 'é'.repeat(pairs) + 'a'.repeat(bytes - 8 - 2 * pairs) };
};

describe('MAX_METADATA_BYTES', () => {
  it('sizes are what they say', () => {
    for (const bytes of [LIMIT, LIMIT + 1]) expect(Buffer.byteLength(JSON.stringify(sized(bytes)))).toBe(bytes);
    expect(JSON.stringify(sized(LIMIT)).length).toBeLessThan(LIMIT / 2 + 10); // mostly two-byte characters
  });

  it('create: exactly at the limit is 201, one byte over is 413 and creates nothing', async () => {
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'at-limit', metadata: sized(LIMIT) })).statusCode).toBe(201);
    const over = expectProblem(await call(t.app, 'POST', '/v1/sessions', { id: 'over-limit', metadata: sized(LIMIT + 1) }), 413, 'payload_too_large');
    expect(over).toMatchObject({ limit_bytes: LIMIT, size: LIMIT + 1 });
    expect(over.detail).toBe('metadata is 1001 bytes; it may hold 1000 (MAX_METADATA_BYTES); keep large data in the state or in events');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/over-limit'), 404, 'session_not_found');
  });

  it('PATCH: the merged result is what counts; over it is 413 and the metadata is unchanged', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'patched', metadata: { keep: 1 } });
    // {"keep":1,"t":"…"}: 9 more bytes than {"t":"…"} alone.
    const atLimit = await call(t.app, 'PATCH', '/v1/sessions/patched', { metadata: sized(LIMIT - 9) });
    expect(atLimit.statusCode).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(atLimit.json().metadata))).toBe(LIMIT);
    expectProblem(await call(t.app, 'PATCH', '/v1/sessions/patched', { metadata: { x: 1 } }), 413, 'payload_too_large');
    expect((await call(t.app, 'GET', '/v1/sessions/patched')).json().metadata).toEqual(atLimit.json().metadata);
    // Shrinking is always allowed, and the merge still merges.
    const shrunk = await call(t.app, 'PATCH', '/v1/sessions/patched', { metadata: { t: null, x: 2 } });
    expect(shrunk.json().metadata).toEqual({ keep: 1, x: 2 });
  });

  it('fork: its metadata is held to the same bytes; one byte over is 413 and creates nothing', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'fork-source' });
    const over = expectProblem(
      await call(t.app, 'POST', '/v1/sessions/fork-source/fork', { id: 'fork-over', metadata: sized(LIMIT + 1) }),
      413,
      'payload_too_large',
    );
    expect(over).toMatchObject({ limit_bytes: LIMIT, size: LIMIT + 1 });
    expectProblem(await call(t.app, 'GET', '/v1/sessions/fork-over'), 404, 'session_not_found');
    const at = await call(t.app, 'POST', '/v1/sessions/fork-source/fork', { id: 'fork-at', metadata: sized(LIMIT) });
    expect(at.statusCode, at.body).toBe(201);
    expect(at.json().metadata).toEqual(sized(LIMIT));
  });

  it('the session lock every write takes does not read the metadata', async () => {
    await call(t.app, 'POST', '/v1/sessions', { id: 'locked', metadata: sized(LIMIT) });
    let seen: object | undefined;
    await writeSession(sessionWriterOn(t.database.db), { sessionId: 'locked', idempotencyTtlMs: 60_000 }, {}, async (_tx, session) => {
      seen = session;
      return { status: 200, body: null };
    });
    expect(seen).toMatchObject({ id: 'locked', version: 0 });
    expect(seen).not.toHaveProperty('metadata');
  });
});
