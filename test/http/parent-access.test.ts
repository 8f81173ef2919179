import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// Issue 12, defect 8: naming a parent reads it, so it needs read access to it;
// a tenant must not learn whether another tenant's session exists.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
let t: TestApp;
let teamB: string;
let writeOnlyB: string;

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
  const admin = await mintToken(SECRET, { sessions: [], admin: true, ttlSeconds: 3600 });
  teamB = await mintToken(SECRET, { sessions: ['team-b:*'], read: true, write: true, ttlSeconds: 3600 });
  writeOnlyB = await mintToken(SECRET, { sessions: ['team-b:*'], write: true, ttlSeconds: 3600 });
  for (const id of ['team-a:exists', 'team-b:parent']) {
    expect((await call(t.app, 'POST', '/v1/sessions', { id }, bearer(admin))).statusCode).toBe(201);
  }
});
afterAll(() => t.close());

const create = (token: string, id: string, parent: string) =>
  call(t.app, 'POST', '/v1/sessions', { id, parent_id: parent }, bearer(token));

describe('parent_id on create', () => {
  it("another tenant's parent is 403 whether it exists or not, and the two answers are the same", async () => {
    const existing = expectProblem(await create(teamB, 'team-b:child-1', 'team-a:exists'), 403, 'forbidden');
    const missing = expectProblem(await create(teamB, 'team-b:child-1', 'team-a:missing'), 403, 'forbidden');
    expect(JSON.stringify(existing).replaceAll('team-a:exists', 'X')).toBe(JSON.stringify(missing).replaceAll('team-a:missing', 'X'));
    expect(existing.detail).toMatch(/may not read session "team-a:exists"/);
    // Nothing was created.
    expectProblem(await call(t.app, 'GET', '/v1/sessions/team-b:child-1', undefined, bearer(teamB)), 404, 'session_not_found');
  });

  it('a parent the token may read works as before: 201, or 404 parent_not_found', async () => {
    const child = await create(teamB, 'team-b:child-2', 'team-b:parent');
    expect(child.statusCode).toBe(201);
    expect(child.json().parent_id).toBe('team-b:parent');
    expectProblem(await create(teamB, 'team-b:child-3', 'team-b:missing'), 404, 'parent_not_found');
  });

  it('write access alone does not let a token probe parents', async () => {
    expectProblem(await create(writeOnlyB, 'team-b:child-4', 'team-b:parent'), 403, 'forbidden');
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'team-b:child-4' }, bearer(writeOnlyB))).statusCode).toBe(201);
  });
});
