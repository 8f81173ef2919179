import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// Idempotent producers on the Durable Streams face (issue 28, slice 3; PROTOCOL §5.2.1): what the
// conformance suite does not pin: races between producers and instances, the native view of a
// producer's writes, and a producer's state living and dying with its stream.
let t: TestApp;
let other: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  // A second instance on the same database: only the session row lock orders the two.
  other = await createTestApp({ databaseUrl: t.url });
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const producer = (id: string, epoch: number, seq: number) => ({ 'producer-id': id, 'producer-epoch': String(epoch), 'producer-seq': String(seq) });

function ds(app: TestApp, method: 'PUT' | 'POST' | 'GET' | 'DELETE', path: string, body?: string, headers: Record<string, string> = {}) {
  return app.app.inject({ method, url: `/v1/stream/${path}`, headers, ...(body === undefined ? {} : { payload: body }) });
}
const put = (path: string) => ds(t, 'PUT', path, undefined, JSON_TYPE);
const append = (path: string, body: unknown, id: string, epoch: number, seq: number, app = t, extra: Record<string, string> = {}) =>
  ds(app, 'POST', path, JSON.stringify(body), { ...JSON_TYPE, ...producer(id, epoch, seq), ...extra });

async function nativeEvents(sessionId: string): Promise<{ seq: number; type: string; data: unknown }[]> {
  const res = await call(t.app, 'GET', `/v1/sessions/${sessionId}/events`);
  expect(res.statusCode).toBe(200);
  return res.json().events;
}

describe('producers appending at once', () => {
  it('two producers on two instances: every request accepted once, seqs gapless, each producer in its own order', async () => {
    await put('race-1');
    const N = 12;
    // Each producer sends its requests one after another (as a producer does); the two run side by side.
    const run = async (id: string, app: TestApp) => {
      const statuses: number[] = [];
      for (let seq = 0; seq < N; seq++) statuses.push((await append('race-1', { id, seq }, id, 0, seq, app)).statusCode);
      return statuses;
    };
    const [a, b] = await Promise.all([run('a', t), run('b', other)]);
    expect(a).toEqual(Array(N).fill(200));
    expect(b).toEqual(Array(N).fill(200));
    const events = await nativeEvents('race-1');
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    for (const id of ['a', 'b']) {
      const mine = events.map((e) => e.data as { id: string; seq: number }).filter((d) => d.id === id);
      expect(mine.map((d) => d.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
    }
    // Each kept its own high-water mark: the next of each is accepted, a repeat is a duplicate.
    expect((await append('race-1', 'x', 'a', 0, N - 1)).headers['producer-seq']).toBe(String(N - 1));
    expect((await append('race-1', 'x', 'b', 0, N, other)).statusCode).toBe(200);
  });

  it('one request sent to both instances at once (a retry racing its original): one 200, one 204, one event', async () => {
    await put('race-2');
    const [first, second] = await Promise.all([append('race-2', { n: 1 }, 'w', 0, 0, t), append('race-2', { n: 1 }, 'w', 0, 0, other)]);
    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 204]);
    for (const res of [first, second]) {
      expect(res.headers['producer-epoch']).toBe('0');
      expect(res.headers['producer-seq']).toBe('0');
      expect(res.headers['stream-next-offset']).toBe('0000000000000000_0000000000000001');
    }
    expect((await nativeEvents('race-2')).map((e) => e.data)).toEqual([{ n: 1 }]);
  });
});

describe('retries', () => {
  it('a retry after a lost answer appends once: 204 with the highest seq, and native readers see one event', async () => {
    await put('retry-1');
    const first = await append('retry-1', [{ n: 1 }, { n: 2 }], 'w', 3, 0);
    expect(first.statusCode).toBe(200);
    expect(first.headers['producer-epoch']).toBe('3');
    expect(first.headers['producer-seq']).toBe('0');
    // The same request again, then an older one: duplicates, answered with the highest seq accepted.
    expect((await append('retry-1', { n: 3 }, 'w', 3, 1)).statusCode).toBe(200);
    for (const seq of [0, 1]) {
      const again = await append('retry-1', [{ n: 1 }, { n: 2 }], 'w', 3, seq);
      expect(again.statusCode).toBe(204);
      expect(again.body).toBe('');
      expect(again.headers['producer-epoch']).toBe('3');
      expect(again.headers['producer-seq']).toBe('1');
      expect(again.headers['stream-next-offset']).toBe('0000000000000000_0000000000000003');
    }
    const events = await nativeEvents('retry-1');
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['stream.message', { n: 1 }],
      ['stream.message', { n: 2 }],
      ['stream.message', { n: 3 }],
    ]);
    expect((await ds(t, 'GET', 'retry-1?offset=-1')).json()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('a refused request leaves no state: a bad body at the next seq can be sent again, fixed, at that seq', async () => {
    await put('retry-2');
    expect((await append('retry-2', 1, 'w', 0, 0)).statusCode).toBe(200);
    const bad = await ds(t, 'POST', 'retry-2', '{not json', { ...JSON_TYPE, ...producer('w', 0, 1) });
    expect(bad.statusCode).toBe(400);
    expect((await append('retry-2', 2, 'w', 0, 1)).statusCode).toBe(200);
    expect((await nativeEvents('retry-2')).map((e) => e.data)).toEqual([1, 2]);
  });

  it('a gap is 409 producer_seq_gap naming the expected and received seq; nothing is appended', async () => {
    await put('gap-1');
    expect((await append('gap-1', 1, 'w', 0, 0)).statusCode).toBe(200);
    const gap = await append('gap-1', 3, 'w', 0, 2);
    const problem = expectProblem(gap, 409, 'producer_seq_gap');
    expect(gap.headers['producer-expected-seq']).toBe('1');
    expect(gap.headers['producer-received-seq']).toBe('2');
    expect(problem.detail).toContain('resend from 1');
    expect((await nativeEvents('gap-1')).length).toBe(1);
  });

  it('headers all or none, integers only, and a new epoch starting at 0: 400 invalid_request', async () => {
    await put('bad-1');
    // errors[] points at the header at fault, as every other refusal of a request's field does.
    const partial = expectProblem(await ds(t, 'POST', 'bad-1', '1', { ...JSON_TYPE, 'producer-id': 'w', 'producer-epoch': '0' }), 400, 'invalid_request');
    expect(partial.detail).toBe('Producer-Id, Producer-Epoch and Producer-Seq go together (all three or none); missing: Producer-Seq');
    expect(partial.errors).toEqual([{ in: 'headers', field: '/producer-seq', message: 'is required with the other producer headers' }]);
    const hex = expectProblem(await ds(t, 'POST', 'bad-1', '1', { ...JSON_TYPE, ...producer('w', 0, 0), 'producer-seq': '0x1' }), 400, 'invalid_request');
    expect(hex.detail).toBe(
      'Producer-Seq must be a non-negative integer in decimal digits, at most 9007199254740991 (no sign, point, exponent or hex); got "0x1"',
    );
    expect(hex.errors).toEqual([{ in: 'headers', field: '/producer-seq', message: 'is not a non-negative integer of at most 9007199254740991' }]);
    const empty = expectProblem(await ds(t, 'POST', 'bad-1', '1', { ...JSON_TYPE, ...producer('', 0, 0) }), 400, 'invalid_request');
    expect(empty.errors).toEqual([{ in: 'headers', field: '/producer-id', message: 'is empty' }]);
    expect((await append('bad-1', 1, 'w', 0, 0)).statusCode).toBe(200);
    const newEpoch = expectProblem(await append('bad-1', 2, 'w', 1, 1), 400, 'invalid_request');
    expect(newEpoch.detail).toBe('Producer-Epoch 1 is a new epoch, which starts at Producer-Seq 0; got 1');
    expect(newEpoch.errors).toEqual([{ in: 'headers', field: '/producer-seq', message: 'is not 0' }]);
    expect((await nativeEvents('bad-1')).length).toBe(1);
  });
});

describe('fencing', () => {
  it('a zombie is fenced once a new epoch took over: 403 producer_epoch_stale with the current epoch, nothing appended', async () => {
    await put('fence-1');
    expect((await append('fence-1', 'old-0', 'w', 0, 0)).statusCode).toBe(200);
    expect((await append('fence-1', 'new-0', 'w', 1, 0, other)).statusCode).toBe(200);
    // The old instance does not know yet, and carries on with its next seq.
    const zombie = await append('fence-1', 'old-1', 'w', 0, 1);
    const problem = expectProblem(zombie, 403, 'producer_epoch_stale');
    expect(zombie.headers['producer-epoch']).toBe('1');
    expect(problem.current_epoch).toBe(1);
    // Its retry of what it had sent before is fenced too, not acknowledged.
    expect((await append('fence-1', 'old-0', 'w', 0, 0)).statusCode).toBe(403);
    expect((await append('fence-1', 'new-1', 'w', 1, 1)).statusCode).toBe(200);
    expect((await nativeEvents('fence-1')).map((e) => e.data)).toEqual(['old-0', 'new-0', 'new-1']);
  });
});

describe('closing by a producer', () => {
  it('the closing request retried is acknowledged with Stream-Closed; any other write is 409 session_closed', async () => {
    await put('close-1');
    expect((await append('close-1', 1, 'w', 0, 0)).statusCode).toBe(200);
    const closed = await append('close-1', 'last', 'w', 0, 1, t, { 'stream-closed': 'true' });
    expect(closed.statusCode).toBe(200);
    expect(closed.headers['stream-closed']).toBe('true');
    // Its answer was lost: the retry (through the other instance, with another body even) is told it closed the stream.
    const retry = await append('close-1', 'other', 'w', 0, 1, other, { 'stream-closed': 'true' });
    expect(retry.statusCode).toBe(204);
    expect(retry.headers['stream-closed']).toBe('true');
    expect(retry.headers['producer-seq']).toBe('1');
    for (const refused of [
      await append('close-1', 2, 'w', 0, 2),
      await append('close-1', 1, 'v', 0, 0, t, { 'stream-closed': 'true' }),
      await ds(t, 'POST', 'close-1', '3', JSON_TYPE),
    ]) {
      expectProblem(refused, 409, 'session_closed');
      expect(refused.headers['stream-closed']).toBe('true');
      expect(refused.headers['stream-next-offset']).toBe('0000000000000000_0000000000000002');
    }
    expectProblem(await call(t.app, 'POST', '/v1/sessions/close-1/events', { events: [{ type: 'x.y', data: 1 }] }), 409, 'session_closed');
    // A plain close of a closed stream stays the no-op it is without producers.
    expect((await ds(t, 'POST', 'close-1', undefined, { 'stream-closed': 'true' })).statusCode).toBe(204);
    expect((await nativeEvents('close-1')).map((e) => e.data)).toEqual([1, 'last']);
  });

  it('a close-only request is 204 and is the closing one; a stream closed without producer headers acknowledges no producer', async () => {
    await put('close-2');
    const closeOnly = await ds(t, 'POST', 'close-2', undefined, { 'stream-closed': 'true', ...producer('w', 0, 0) });
    expect(closeOnly.statusCode).toBe(204);
    expect(closeOnly.headers['producer-seq']).toBe('0');
    expect((await ds(t, 'POST', 'close-2', undefined, { 'stream-closed': 'true', ...producer('w', 0, 0) })).statusCode).toBe(204);
    await put('close-3');
    expect((await ds(t, 'POST', 'close-3', undefined, { 'stream-closed': 'true' })).statusCode).toBe(204);
    expectProblem(await ds(t, 'POST', 'close-3', undefined, { 'stream-closed': 'true', ...producer('w', 0, 0) }), 409, 'session_closed');
  });
});

describe('a producer\'s state lives and dies with its stream', () => {
  it('DELETE takes it; a stream re-created under the same path starts with no producers', async () => {
    await put('life-1');
    expect((await append('life-1', 1, 'w', 5, 0)).statusCode).toBe(200);
    expect((await append('life-1', 2, 'w', 5, 1)).statusCode).toBe(200);
    expect((await ds(t, 'DELETE', 'life-1')).statusCode).toBe(204);
    const orphans = await t.database.db<{ count: number }[]>`
      select count(*)::int as count from stream_producers p where not exists (select 1 from sessions s where s.sid = p.session_sid)`;
    expect(orphans[0]?.count).toBe(0);
    await put('life-1');
    // Were the old state carried over, seq 2 would be accepted and epoch 0 fenced.
    const carried = await append('life-1', 3, 'w', 5, 2);
    expectProblem(carried, 409, 'producer_seq_gap');
    expect(carried.headers['producer-expected-seq']).toBe('0');
    expect((await append('life-1', 'fresh', 'w', 0, 0)).statusCode).toBe(200);
    expect((await nativeEvents('life-1')).map((e) => e.data)).toEqual(['fresh']);
  });

  it('Stream-Seq goes with producer headers: checked on an append, skipped on a duplicate', async () => {
    await put('seq-1');
    expect((await append('seq-1', 1, 'w', 0, 0, t, { 'stream-seq': 'b' })).statusCode).toBe(200);
    // The duplicate carries the same Stream-Seq, which would now be a regression: it is acknowledged first.
    expect((await append('seq-1', 1, 'w', 0, 0, t, { 'stream-seq': 'b' })).statusCode).toBe(204);
    expectProblem(await append('seq-1', 2, 'w', 0, 1, t, { 'stream-seq': 'a' }), 409, 'stream_seq_conflict');
    // The refused append stored no producer state: seq 1 is still the next.
    expect((await append('seq-1', 2, 'w', 0, 1, t, { 'stream-seq': 'c' })).statusCode).toBe(200);
  });
});
