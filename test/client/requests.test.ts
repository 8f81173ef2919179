import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SessionSyncError } from '../../client/src/index.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { TcpProxy } from '../helpers/proxy.js';

// The client's request methods against the real server: typed answers,
// problem documents as errors, and writes that are safe to retry.
let t: TestApp;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestApp();
  const address = new URL(await t.listen());
  proxy = await new TcpProxy(Number(address.port)).listen();
});
afterAll(async () => {
  await proxy?.close();
  await t?.close();
});

const fast = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 };

describe('request methods', () => {
  it('one method per route, answers parsed', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const created = await client.createSession({ id: 'req-1', metadata: { title: 'first' } });
    expect(created).toMatchObject({ id: 'req-1', version: 0, last_seq: 0 });
    expect(await client.putSnapshot('req-1', { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).toEqual({ version: 1, seq: 1 });
    expect(await client.pushDelta('req-1', { base_version: 1, patch: [{ op: 'replace', path: '/n', value: 1 }] })).toEqual({
      version: 2,
      seq: 2,
    });
    expect(await client.sync('req-1', { have: 1 })).toMatchObject({ mode: 'catch_up', version: 2 });
    expect(await client.appendEvents('req-1', { events: [{ type: 'note', data: 'x' }] })).toEqual({ first_seq: 3, last_seq: 3 });
    const page = await client.listEvents('req-1', { after: 2 });
    expect(page.events.map((e) => e.type)).toEqual(['note']);
    expect((await client.setActivity('req-1', { status: 'thinking' })).status).toBe('thinking');
    expect(await client.publishLive('req-1', { type: 'token', data: 'a' })).toEqual({ accepted: 1, after_seq: 3 });
    expect(await client.publishLive('req-1', [{ type: 'token', data: 'b' }, { type: 'token', data: 'c' }])).toEqual({ accepted: 2, after_seq: 3 });
    async function* tokens() {
      for (const text of ['d', 'e', 'f']) yield { type: 'token', data: text };
    }
    expect(await client.publishLive('req-1', tokens())).toEqual({ accepted: 3, after_seq: 3 });
    const batch = await client.enqueue('req-1', { items: [{ text: 'hi' }] });
    expect((await client.listQueue('req-1')).batches.map((b) => b.batch_id)).toEqual([batch.batch_id]);
    const claim = await client.claimQueue('req-1', { max_batches: 1, ttl_ms: 10_000 });
    expect(claim?.batches.map((b) => b.items)).toEqual([[{ text: 'hi' }]]);
    await client.completeClaim('req-1', claim!.claim_id);
    expect(await client.claimQueue('req-1', { max_batches: 1, ttl_ms: 10_000 })).toBeNull();
    const appended = await client.appendMessages('req-1', { messages: [{ role: 'user', content: 'hello' }] });
    expect(appended.messages[0]).toMatchObject({ role: 'user', content: 'hello' });
    expect((await client.listMessages('req-1', { role: 'user' })).messages).toHaveLength(1);
    expect((await client.getMessagesMeta('req-1')).message_count).toBe(1);
    expect((await client.updateSession('req-1', { metadata: { title: 'renamed' } })).metadata).toEqual({ title: 'renamed' });
    expect((await client.listSessions()).sessions.map((s) => s.id)).toContain('req-1');
    await client.deleteSession('req-1');
    await expect(client.getSession('req-1')).rejects.toMatchObject({ status: 404, code: 'session_not_found' });
  });

  it('queue claims are completed, renewed and abandoned, and a pending batch cancelled, each with its effect', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'req-queue';
    await client.createSession({ id });
    const [done, renewed, cancelled] = [
      await client.enqueue(id, { items: ['done'] }),
      await client.enqueue(id, { items: ['renewed'] }),
      await client.enqueue(id, { items: ['cancelled'] }),
    ];
    const statuses = async () => Object.fromEntries((await client.listQueue(id)).batches.map((b) => [b.items[0], b.status]));

    const first = (await client.claimQueue(id, { max_batches: 1, ttl_ms: 10_000 }))!;
    expect(await client.completeClaim(id, first.claim_id)).toMatchObject({ claim_id: first.claim_id, status: 'completed', batch_ids: [done.batch_id] });

    const second = (await client.claimQueue(id, { max_batches: 1, ttl_ms: 1_000 }))!;
    const renewal = await client.renewClaim(id, second.claim_id, { ttl_ms: 60_000 });
    expect(renewal).toMatchObject({ claim_id: second.claim_id, status: 'active' });
    expect(Date.parse(renewal.expires_at!)).toBeGreaterThan(Date.parse(second.expires_at) + 30_000);
    expect(await client.abandonClaim(id, second.claim_id)).toMatchObject({ claim_id: second.claim_id, status: 'abandoned' });

    await client.cancelBatch(id, cancelled.batch_id);
    expect(await statuses()).toEqual({ done: 'completed', renewed: 'pending', cancelled: 'cancelled' });
    // The abandoned batch is pending again: the next claim gets it.
    expect((await client.claimQueue(id, { max_batches: 5, ttl_ms: 10_000 }))?.batches.map((b) => b.batch_id)).toEqual([renewed.batch_id]);
  });

  it('a message kind is replaced and older messages trimmed', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    const id = 'req-messages';
    await client.createSession({ id });
    await client.appendMessages(id, {
      messages: [
        { role: 'user', content: 'old question' },
        { role: 'system', kind: 'summary', content: 'first summary' },
      ],
    });
    const replaced = await client.replaceMessageKind(id, 'summary', { role: 'system', content: 'second summary' });
    expect(replaced).toMatchObject({ message: { role: 'system', kind: 'summary', content: 'second summary' }, version: 2 });
    // The replaced summary is archived already; the trim archives the question before the new summary.
    expect(await client.trimMessages(id, { before_seq: replaced.message.seq })).toEqual({ trimmed: 1, version: 3 });
    expect((await client.listMessages(id)).messages.map((m) => m.content)).toEqual(['second summary']);
  });

  it('publishLive streams an async iterable as NDJSON, in consecutive requests when it runs longer than maxRequestMs', async () => {
    const posts: string[] = [];
    const client = createClient({
      baseUrl: t.baseUrl,
      fetch: (input, init) => {
        if (init?.method === 'POST') posts.push(new Headers(init.headers).get('content-type') ?? '');
        return fetch(input, init);
      },
    });
    await client.createSession({ id: 'tokens' });
    await client.appendEvents('tokens', { events: [{ type: 'before', data: 0 }] });
    const seen: unknown[] = [];
    const sub = client.subscribe('tokens', { after: 'now' }, { onLive: (event) => seen.push(event.data) });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => sub.status === 'open' && (clearInterval(poll), resolve()), 10);
    });
    posts.length = 0;
    async function* tokens() {
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield { type: 'token', data: i };
      }
    }
    expect(await client.publishLive('tokens', tokens(), { maxRequestMs: 1 })).toEqual({ accepted: 6, after_seq: 1 });
    expect(posts.length).toBeGreaterThan(1);
    expect(new Set(posts)).toEqual(new Set(['application/x-ndjson']));
    await client.publishLive('tokens', { type: 'token', data: 'end' });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => seen.includes('end') && (clearInterval(poll), resolve()), 10);
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 'end']);
    sub.close();
    await sub.closed;
  });

  it('every operation of the OpenAPI document that exists on the server has a client method of its name', async () => {
    const document = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    const client = createClient({ baseUrl: t.baseUrl }) as unknown as Record<string, unknown>;
    // Operations a client has no business calling: the process probes, and the lease's parts (claimLease renews and releases).
    const elsewhere = new Set(['getHealth', 'getReadiness', 'getMetrics']);
    const missing: string[] = [];
    for (const item of Object.values<Record<string, { operationId: string }>>(document.paths)) {
      for (const { operationId } of Object.values(item)) {
        if (!elsewhere.has(operationId) && typeof client[operationId] !== 'function') missing.push(operationId);
      }
    }
    expect(missing).toEqual([]);
  });

  it('a failure is a SessionSyncError with status, code, detail and the problem document; no answer is status 0 network_error', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'req-err' });
    const error = await client.pushDelta('req-err', { base_version: 5, merge_patch: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionSyncError);
    expect(error).toMatchObject({ status: 409, code: 'version_conflict', problem: { expected_version: 5, actual_version: 0 } });
    expect((error as SessionSyncError).detail).toBeTruthy();

    const nobody = createClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    await expect(nobody.getSession('x')).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });

  it('a token function is asked on every request', async () => {
    const seen: string[] = [];
    let n = 0;
    const client = createClient({
      baseUrl: t.baseUrl,
      token: async () => `tok-${++n}`,
      fetch: (input, init) => {
        seen.push(new Headers(init?.headers).get('authorization') ?? '');
        return fetch(input, init);
      },
    });
    await client.listSessions();
    await client.listSessions();
    expect(seen).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });
});

describe('safe retries', () => {
  it('a write whose answer is lost is retried with the same Idempotency-Key and applied exactly once', async () => {
    const direct = createClient({ baseUrl: t.baseUrl });
    const client = createClient({ baseUrl: proxy.url, retry: fast });
    await direct.createSession({ id: 'lost' });
    await direct.putSnapshot('lost', { base_version: 0, schema_version: 1, snapshot: { n: 0 } });

    proxy.loseNextAnswer();
    const lostBefore = proxy.lostAnswers;
    const delta = await client.pushDelta('lost', { base_version: 1, merge_patch: { n: 1 } });
    expect(proxy.lostAnswers).toBe(lostBefore + 1);
    // The retry got the first attempt's answer, not a version_conflict.
    expect(delta).toEqual({ version: 2, seq: 2 });

    proxy.loseNextAnswer();
    const appended = await client.appendEvents('lost', { events: [{ type: 'once', data: 1 }] });
    expect(proxy.lostAnswers).toBe(lostBefore + 2);
    expect(appended).toEqual({ first_seq: 3, last_seq: 3 });

    const history = await direct.listEvents('lost');
    expect(history.events.map((e) => e.type)).toEqual(['state.snapshot', 'state.delta', 'once']);
    expect(await direct.sync('lost')).toMatchObject({ version: 2, snapshot: { n: 1 } });
  });

  it('an answer cut off halfway through its body is read again (a read) or replayed (a write)', async () => {
    const direct = createClient({ baseUrl: t.baseUrl });
    const client = createClient({ baseUrl: proxy.url, retry: fast });
    await direct.createSession({ id: 'half' });
    const events = Array.from({ length: 50 }, (_, i) => ({ type: 'e', data: { i, pad: 'x'.repeat(100) } }));
    await direct.appendEvents('half', { events });
    const lostBefore = proxy.lostAnswers;
    proxy.loseNextAnswer(400);
    const page = await client.listEvents('half');
    expect(proxy.lostAnswers).toBe(lostBefore + 1);
    expect(page.events).toHaveLength(50);

    proxy.loseNextAnswer(250);
    const written = await client.appendMessages('half', { messages: [{ role: 'user', content: 'y'.repeat(2000) }] });
    expect(proxy.lostAnswers).toBe(lostBefore + 2);
    expect(written.messages).toHaveLength(1);
    expect((await direct.getMessagesMeta('half')).message_count).toBe(1);
  });

  it('never retries a refusal: a 409 is answered after one attempt', async () => {
    let attempts = 0;
    const client = createClient({
      baseUrl: t.baseUrl,
      retry: fast,
      fetch: (input, init) => {
        attempts += 1;
        return fetch(input, init);
      },
    });
    await client.createSession({ id: 'no-retry' });
    attempts = 0;
    await expect(client.createSession({ id: 'no-retry' })).rejects.toMatchObject({ status: 409, code: 'session_exists' });
    expect(attempts).toBe(1);
  });
});
