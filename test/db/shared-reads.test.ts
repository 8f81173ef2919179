import { afterAll, beforeAll, expect, it } from 'vitest';
import { SharedReads } from '../../src/streams/shared-reads.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// SharedReads (src/streams/shared-reads.ts) on a real database: readers of different streams asking in the same
// turn each get their own stream, never a neighbour's (a long-poll handed another stream's session would wait on
// the wrong tail, or answer 404 for a stream that exists).
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

async function put(path: string, body: string): Promise<void> {
  const res = await t.app.inject({ method: 'PUT', url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain' }, payload: body });
  expect(res.statusCode, res.body).toBe(201);
}

it('session lookups of different streams in one turn answer each its own stream, and a missing one 404 alone', async () => {
  await put('shared-reads-a', 'one');
  await put('shared-reads-b', '');
  const reads = new SharedReads(t.database.db);
  const [a, b, missing] = await Promise.allSettled([
    reads.session('shared-reads-a'),
    reads.session('shared-reads-b'),
    reads.session('shared-reads-missing'),
  ]);
  expect(a.status === 'fulfilled' && [a.value.id, a.value.lastSeq]).toEqual(['shared-reads-a', 1]);
  expect(b.status === 'fulfilled' && [b.value.id, b.value.lastSeq]).toEqual(['shared-reads-b', 0]);
  expect(missing.status).toBe('rejected');
});
