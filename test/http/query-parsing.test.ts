import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// Issue 12, defect 12: integer query parameters are plain decimal digits, and
// a refusal says in words what the parameter takes.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await call(t.app, 'POST', '/v1/sessions', { id: 'q' });
  await call(t.app, 'POST', '/v1/sessions/q/events', { events: Array.from({ length: 12 }, () => ({ type: 'x', data: {} })) });
  await call(t.app, 'PUT', '/v1/sessions/q/state', { base_version: 0, schema_version: 1, snapshot: {} });
});
afterAll(() => t.close());

const ROUTES: [string, string][] = [
  ['/v1/sessions/q/events', 'after'],
  ['/v1/sessions/q/events', 'limit'],
  ['/v1/sessions/q/stream', 'after'],
  ['/v1/sessions/q/state', 'have'],
  ['/v1/sessions/q/state', 'schema_version'],
  ['/v1/sessions/q/messages', 'after_seq'],
  ['/v1/sessions/q/messages', 'before_seq'],
  ['/v1/sessions/q/messages', 'limit'],
  ['/v1/sessions/q/queue', 'limit'],
  ['/v1/sessions', 'limit'],
];

describe('integer query parameters', () => {
  for (const [path, name] of ROUTES) {
    for (const raw of ['0x5', '1e1', '%205', '5%20', '+5', '5.0', '0b1', '', 'Infinity']) {
      it(`${path}?${name}=${raw} is 400 invalid_request naming the parameter`, async () => {
        const problem = expectProblem(await call(t.app, 'GET', `${path}?${name}=${raw}`), 400, 'invalid_request');
        expect(problem.errors).toEqual([
          { in: 'querystring', field: `/${name}`, message: expect.stringMatching(/^must be .*whole number from \d+ to \d+, in decimal digits$/) },
        ]);
      });
    }
  }

  it('after=-1 answers in words, not with the branch of a union that failed first', async () => {
    for (const path of ['/v1/sessions/q/events', '/v1/sessions/q/stream']) {
      const problem = expectProblem(await call(t.app, 'GET', `${path}?after=-1`), 400, 'invalid_request');
      expect(problem.detail).not.toMatch(/constant/);
      expect(problem.detail).toMatch(/after .*whole number from 0 to 9007199254740991/);
    }
    const stream = expectProblem(await call(t.app, 'GET', '/v1/sessions/q/stream?after=-1'), 400, 'invalid_request');
    expect(stream.detail).toBe('querystring field after must be "now", or a whole number from 0 to 9007199254740991, in decimal digits');
  });

  it('limit over its maximum is refused with the range', async () => {
    const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/q/events?limit=1001'), 400, 'invalid_request');
    expect(problem.detail).toBe('querystring field limit must be a whole number from 1 to 1000, in decimal digits');
  });

  it('plain digits still work (leading zeros read as decimal), and so does after=now', async () => {
    const page = await call(t.app, 'GET', '/v1/sessions/q/events?after=010&limit=05');
    expect(page.statusCode).toBe(200);
    expect(page.json().events.map((e: { seq: number }) => e.seq)).toEqual([11, 12, 13]);
    expect((await call(t.app, 'GET', '/v1/sessions/q/stream?after=now&live=false')).statusCode).toBe(200);
    expect((await call(t.app, 'GET', '/v1/sessions/q/state?have=1')).statusCode).toBe(200);
  });
});
