import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

/** Query parameters and headers these routes read, to the character: what they take, and the exact refusal otherwise. */

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await createSession(t, 'rq');
  expect((await call(t.app, 'POST', '/v1/sessions/rq/events', { events: [1, 2, 3].map((n) => ({ type: 'n', data: { n } })) })).statusCode).toBe(201);
});
afterAll(() => t.close());

const cursor = (text: string) => Buffer.from(text).toString('base64url');

describe('unknown query parameters', () => {
  it('are 400 invalid_request on the stream, the queue and message listings and the state handshake', async () => {
    // Built here: a route's query schema is read when the route is registered.
    const own = await createTestApp();
    try {
      await createSession(own, 'uq');
      for (const path of ['/v1/sessions/uq/stream?live=false', '/v1/sessions/uq/queue?limit=5', '/v1/sessions/uq/messages?limit=5', '/v1/sessions/uq/state?have=0']) {
        const problem = expectProblem(await call(own.app, 'GET', `${path}&aftr=1`), 400, 'invalid_request');
        expect({ path, errors: problem.errors }).toEqual({ path, errors: [expect.objectContaining({ in: 'querystring' })] });
        expect(JSON.stringify(problem.errors)).toContain('aftr');
      }
    } finally {
      await own.close();
    }
  });
});

describe('the queue listing cursor', () => {
  it('is exactly q:<digits> as next_cursor gave it; anything around the digits is refused', async () => {
    for (const text of ['q:x5', 'q:5x', 'q:12345678901234567', 'q: 5', 'q:']) {
      const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/rq/queue?cursor=${cursor(text)}`), 400, 'invalid_request');
      expect({ text, detail: problem.detail, errors: problem.errors }).toEqual({
        text,
        detail: 'cursor is not one this listing gave out; pass next_cursor unchanged, with the same filters and order',
        errors: [{ in: 'querystring', field: '/cursor', message: 'is not a valid cursor' }],
      });
    }
    expect((await call(t.app, 'GET', `/v1/sessions/rq/queue?cursor=${cursor('q:1234567890123456')}`)).json()).toEqual({ batches: [], next_cursor: null });
  });
});

describe('Last-Event-ID', () => {
  const seqs = async (lastEventId: string) => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/sessions/rq/stream?live=false', headers: { 'last-event-id': lastEventId } });
    expect(res.statusCode, res.body).toBe(200);
    return [...res.body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  };

  it('is the seq of an event, surrounding whitespace allowed', async () => {
    expect(await seqs('1')).toEqual([2, 3]);
    expect(await seqs(' 2\t')).toEqual([3]);
  });

  it('anything else is 400 naming the header', async () => {
    for (const value of ['2x', 'x2', '-1', '1e1', '1.0', '1234567890123456', ' ']) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/sessions/rq/stream?live=false', headers: { 'last-event-id': value } });
      const problem = expectProblem(res, 400, 'invalid_request');
      expect({ value, detail: problem.detail, errors: problem.errors }).toEqual({
        value,
        detail: 'Last-Event-ID must be the seq of an event this stream sent',
        errors: [{ in: 'headers', field: '/last-event-id', message: 'must be a non-negative integer' }],
      });
    }
  });
});

describe('schema_version on the state handshake', () => {
  it('a session with no stored schema version takes any; a different stored one is 409 saying both', async () => {
    const id = await createSession(t, 'rq-schema');
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/state?schema_version=7`)).statusCode).toBe(200);
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 4, snapshot: {} })).statusCode).toBe(200);
    const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/state?schema_version=3`), 409, 'schema_mismatch');
    expect({ detail: problem.detail, stored: problem.stored_schema_version }).toEqual({
      detail: 'you hold schema_version 3 but the stored state has 4; migrate or cold-start',
      stored: 4,
    });
  });
});
