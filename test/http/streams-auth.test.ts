import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.js';
import { createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { SseClient } from '../helpers/sse.js';

// The Durable Streams face takes the native grants: a stream path is checked as the session id it maps to.
const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: SECRET } });
});
afterAll(async () => {
  await t?.close();
});

const bearer = async (grants: { sessions: string[]; read?: boolean; write?: boolean; admin?: boolean }) => ({
  authorization: `Bearer ${await mintToken(SECRET, { ...grants, ttlSeconds: 600 })}`,
});

function ds(method: 'PUT' | 'POST' | 'GET' | 'HEAD' | 'DELETE', path: string, headers: Record<string, string>, body?: string) {
  return t.app.inject({ method, url: `/v1/stream/${path}`, headers: { 'content-type': 'text/plain', ...headers }, payload: body });
}

describe('grants on stream paths', () => {
  it('a writer of team-a:* creates, appends to and reads team-a/ streams, and nothing in team-b/', async () => {
    const writer = await bearer({ sessions: ['team-a:*'], read: true, write: true });
    expect((await ds('PUT', 'team-a/chat-1', writer, 'hi')).statusCode).toBe(201);
    expect((await ds('POST', 'team-a/chat-1', writer, ' there')).statusCode).toBe(204);
    expect((await ds('GET', 'team-a/chat-1?offset=-1', writer)).body).toBe('hi there');
    expectProblem(await ds('PUT', 'team-b/chat-1', writer), 403, 'forbidden');
  });

  it('a reader reads but does not append; DELETE takes admin, as the native DELETE', async () => {
    const admin = await bearer({ sessions: ['*'], admin: true, read: true, write: true });
    expect((await ds('PUT', 'team-c/log', admin, 'x')).statusCode).toBe(201);
    const reader = await bearer({ sessions: ['team-c:*'], read: true });
    expect((await ds('GET', 'team-c/log?offset=-1', reader)).body).toBe('x');
    expectProblem(await ds('POST', 'team-c/log', reader, 'y'), 403, 'forbidden');
    const writer = await bearer({ sessions: ['team-c:*'], read: true, write: true });
    expectProblem(await ds('DELETE', 'team-c/log', writer), 403, 'forbidden');
    expect((await ds('DELETE', 'team-c/log', admin)).statusCode).toBe(204);
  });

  it('a fork needs write on its own path and read on its source', async () => {
    const admin = await bearer({ sessions: ['*'], admin: true, read: true, write: true });
    expect((await ds('PUT', 'team-b/source', admin, 'secret')).statusCode).toBe(201);
    expect((await ds('PUT', 'team-a/source', admin, 'open')).statusCode).toBe(201);
    const writer = await bearer({ sessions: ['team-a:*'], read: true, write: true });
    const forkOf = (source: string) => ({ ...writer, 'stream-forked-from': `/v1/stream/${source}` });
    const refused = expectProblem(await ds('PUT', 'team-a/copy', forkOf('team-b/source')), 403, 'forbidden');
    // The source is what the token lacks, not the path it may write.
    expect(refused.detail).toBe('this token may not read session "team-b:source", the fork\'s source');
    expect((await ds('HEAD', 'team-a/copy', writer)).statusCode).toBe(404);
    expect((await ds('PUT', 'team-a/copy', forkOf('team-a/source'))).statusCode).toBe(201);
    expect((await ds('GET', 'team-a/copy?offset=-1', writer)).body).toBe('open');
  });

  it('an SSE read lives no longer than the token that opened it (well within the 60 s of PROTOCOL §10.2)', async () => {
    const admin = await bearer({ sessions: ['*'], admin: true, read: true, write: true });
    expect((await ds('PUT', 'team-a/short-token', admin, 'x')).statusCode).toBe(201);
    const base = await t.listen();
    const token = await mintToken(SECRET, { sessions: ['team-a:*'], read: true, ttlSeconds: 2 });
    const client = await SseClient.open(`${base}/v1/stream/team-a/short-token?live=sse&offset=-1`, { authorization: `Bearer ${token}` });
    try {
      expect(client.status).toBe(200);
      await client.waitFor(() => client.ofType('control').length >= 1, 'the first control');
      // The server ends it at the token's expiry (2 s at most), where the 60 s lifetime would outlast this wait.
      await client.waitForEnd(20_000);
      expect(client.error).toBeUndefined();
      // Not the end of the stream, which is open: the reader reconnects from its offset with a new token.
      expect(client.ofType('control').map((control) => control.json.streamClosed)).toEqual([undefined]);
    } finally {
      await client.close();
    }
  });

  it('no token is 401, with nosniff like every answer of the face', async () => {
    const res = await ds('GET', 'team-a/chat-1', {});
    expectProblem(res, 401, 'unauthorized');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
