import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';

// Issue 12, hardening: logs never carry user data or secrets, read from the
// logger's real output at its most verbose level.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';

async function loggingApp(env: Record<string, string>) {
  const log = logSink('trace');
  const t = await createTestApp({ env, log });
  return { t, app: t.app, log: () => log.lines.join('') };
}

describe('with authentication on', () => {
  let app: FastifyInstance;
  let t: TestApp;
  let log: () => string;
  beforeAll(async () => {
    ({ t, app, log } = await loggingApp({ AUTH_SECRET: SECRET }));
    const admin = await mintToken(SECRET, { sessions: [], admin: true, ttlSeconds: 3600 });
    await app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${admin}` }, payload: { id: 'team-a:1' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('a token in the query string of a refused request (401, 403) never reaches the logs, however the name is spelled', async () => {
    const other = await mintToken(SECRET, { sessions: ['team-b:*'], read: true, ttlSeconds: 3600 });
    const forged = `${other.slice(0, -4)}AAAA`;
    const expired = await mintToken(SECRET, { sessions: ['team-a:*'], read: true, ttlSeconds: -10 });
    const requests: [string, number][] = [
      [`/v1/sessions/team-a:1/stream?live=false&access_token=${other}`, 403],
      [`/v1/sessions/team-a:1/stream?access_token=${forged}&live=false`, 401],
      [`/v1/sessions/team-a:1/stream?live=false&access%5Ftoken=${expired}`, 401],
      [`/v1/sessions/team-a:1/stream?live=false&%61ccess_token=${forged}`, 401],
      [`/v1/sessions/team-a:1?access_token=${other}`, 401],
      [`/v1/changes?access_token=${forged}`, 401],
    ];
    for (const [url, status] of requests) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(status);
    }
    const text = log();
    expect(text).toContain('[redacted]');
    for (const token of [other, forged, expired]) {
      for (const part of token.split('.')) expect(text).not.toContain(part);
    }
  });
});

describe('a refused request', () => {
  let app: FastifyInstance;
  let t: TestApp;
  let log: () => string;
  beforeAll(async () => {
    ({ t, app, log } = await loggingApp({}));
  });
  afterAll(async () => {
    await t.close();
  });

  it('is logged with its status and code, never with a detail that quotes the request', async () => {
    const marker = 'user-text-51c0e2';
    await app.inject({ method: 'POST', url: '/v1/sessions', payload: { id: marker } });
    const res = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { id: marker } });
    expect(res.statusCode).toBe(409);
    expect(res.json().detail).toContain(marker); // the client is told what was wrong...
    const text = log();
    expect(text).toContain('"code":"session_exists"');
    expect(text).not.toContain(marker); // ...the log is not
  });
});

describe('a request that fails with a 500', () => {
  let app: FastifyInstance;
  let t: TestApp;
  let log: () => string;
  beforeAll(async () => {
    ({ t, app, log } = await loggingApp({}));
    await app.inject({ method: 'POST', url: '/v1/sessions', payload: { id: 'doomed' } });
    // An unexpected database fault on the activity write, whose query carries the user's detail.
    await t.database.db.unsafe(`
      create function refuse_activity() returns trigger language plpgsql as
        $$ begin raise exception 'activity refused for "%"', new.detail using errcode = 'XX000'; end $$;
      create trigger refuse_activity before insert on session_activity for each row execute function refuse_activity();
    `);
  });
  afterAll(async () => {
    await t.close();
  });

  it('is logged with its SQL, code and stack, without the query parameters or values', async () => {
    const marker = 'user-secret-7f3a9c';
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/sessions/doomed/activity',
      payload: { status: `thinking ${marker}`, detail: { note: marker } },
    });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain(marker);
    const text = log();
    const failure = text.split('\n').find((line) => line.includes('request failed'));
    expect(failure).toBeDefined();
    const entry = JSON.parse(failure ?? '{}');
    expect(entry.err).toMatchObject({ code: 'XX000', message: 'activity refused for "…' });
    expect(entry.err.query).toMatch(/insert into session_activity/);
    expect(entry.err.stack).toMatch(/\n\s+at /);
    expect(text).not.toContain(marker);
    expect(text).not.toContain('parameters');
  });
});
