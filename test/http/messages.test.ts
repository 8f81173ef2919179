import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines, type ExportLine } from '../helpers/export-file.js';
import { uuidv7 } from 'uuidv7';

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { MAX_BATCH_EVENTS: '50', MAX_EVENT_BYTES: '2048' } });
});
afterAll(() => t.close());

async function session(): Promise<string> {
  return createSession(t, `conv-${++counter}`);
}

type Msg = { role: string; kind?: string; content: unknown };
const append = (id: string, messages: Msg[], extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
  call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages, ...extra }, headers);
const list = async (id: string, query = '') => (await call(t.app, 'GET', `/v1/sessions/${id}/messages${query}`)).json();
const meta = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json();
const seqsOf = (page: { messages: { seq: number }[] }) => page.messages.map((m) => m.seq);

/** Every page of a listing, following next_cursor. */
async function allPages(id: string, query: string): Promise<number[]> {
  const seen: number[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? '&' : '?';
    const page = await list(id, `${query}${cursor ? `${sep}cursor=${cursor}` : ''}`);
    seen.push(...seqsOf(page));
    cursor = page.next_cursor;
    // A cursor that does not move on would page forever.
    if (seen.length > 1000) throw new Error(`paging ${query} does not end: ${seen.slice(0, 20).join(',')}...`);
  } while (cursor);
  return seen;
}

describe('POST /v1/sessions/{id}/messages', () => {
  it('appends a batch atomically with gapless seqs, default kind, and the new version', async () => {
    const id = await session();
    const res = await append(id, [
      { role: 'system', kind: 'system_prompt', content: 'You are terse.' },
      { role: 'user', content: { text: 'hi' } },
      { role: 'assistant', content: [{ type: 'text', text: 'hello' }] },
    ]);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.version).toBe(1);
    expect(body.messages.map((m: { seq: number; kind: string; role: string }) => [m.seq, m.role, m.kind])).toEqual([
      [1, 'system', 'system_prompt'],
      [2, 'user', 'message'],
      [3, 'assistant', 'message'],
    ]);
    expect(body.messages[1].content).toEqual({ text: 'hi' });
    expect(body.messages[0].id).toMatch(/^[0-9a-f-]{36}$/);
    const second = (await append(id, [{ role: 'tool', content: null }])).json();
    expect(second).toMatchObject({ version: 2, messages: [{ seq: 4, role: 'tool', content: null }] });
    // What each append answered (created_at included) is what was stored.
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/messages`)).json().messages).toEqual([...body.messages, ...second.messages]);
  });

  it('compare-and-set on expected_version: of concurrent appenders exactly one wins per version', async () => {
    const id = await session();
    await append(id, [{ role: 'user', content: 'start' }]);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => append(id, [{ role: 'assistant', content: `reply ${i}` }], { expected_version: 1 })),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(1);
    for (const loser of answers.filter((a) => a.statusCode !== 201)) {
      expect(expectProblem(loser, 409, 'version_conflict')).toMatchObject({ expected_version: 1, actual_version: 2 });
    }
    expect(await meta(id)).toMatchObject({ version: 2, last_seq: 2, message_count: 2 });
  });

  it('refuses bad batches with 400 or 413 and stores nothing', async () => {
    const id = await session();
    expectProblem(await append(id, [{ role: 'robot', content: 'x' }]), 400, 'invalid_request');
    expectProblem(await append(id, []), 400, 'invalid_request');
    expectProblem(await append(id, [{ role: 'user' } as Msg]), 400, 'invalid_request');
    expectProblem(await append(id, [{ role: 'user', kind: 'has space', content: 1 }]), 400, 'invalid_request');
    expectProblem(await append(id, [{ role: 'user', content: 1 }], { expected_version: '0' }), 400, 'invalid_request');
    const tooMany = expectProblem(await append(id, Array.from({ length: 51 }, () => ({ role: 'user', content: 1 }))), 413, 'payload_too_large');
    expect(tooMany.limit).toBe(50);
    expectProblem(await append(id, [{ role: 'user', content: 1 }, { role: 'user', content: 'x'.repeat(3000) }]), 413, 'payload_too_large');
    expect(await meta(id)).toEqual({ version: 0, last_seq: 0, message_count: 0, archived_count: 0 });
  });

  it('each appended message is a message.appended event carrying the message', async () => {
    const id = await session();
    const [message] = (await append(id, [{ role: 'user', content: { text: 'hi' } }])).json().messages;
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'message.appended', data: message });
  });

  it('a retry with the same Idempotency-Key stores the batch once', async () => {
    const id = await session();
    const first = await append(id, [{ role: 'user', content: 'once' }], {}, { 'idempotency-key': 'turn-1' });
    const retry = await append(id, [{ role: 'user', content: 'once' }], {}, { 'idempotency-key': 'turn-1' });
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect((await meta(id)).message_count).toBe(1);
  });

  it('is fenced by the lease like every worker write', async () => {
    const id = await session();
    const lease = (await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 60_000 })).json();
    expectProblem(await append(id, [{ role: 'user', content: 1 }]), 409, 'lease_held');
    expect((await append(id, [{ role: 'user', content: 1 }], {}, { 'lease-token': lease.token })).statusCode).toBe(201);
  });
});

describe('GET /v1/sessions/{id}/messages', () => {
  let id: string;
  beforeAll(async () => {
    id = await session();
    const batch: Msg[] = [];
    for (let i = 1; i <= 30; i++) batch.push({ role: i % 3 === 0 ? 'assistant' : 'user', kind: i % 5 === 0 ? 'note' : undefined, content: i });
    await append(id, batch);
  });

  it('filters by role, kind and seq range, ascending by default', async () => {
    expect(seqsOf(await list(id, '?role=assistant&limit=1000'))).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    expect(seqsOf(await list(id, '?kind=note'))).toEqual([5, 10, 15, 20, 25, 30]);
    expect(seqsOf(await list(id, '?role=assistant&kind=note'))).toEqual([15, 30]);
    expect(seqsOf(await list(id, '?after_seq=10&before_seq=14'))).toEqual([11, 12, 13]);
  });

  it('descends with order=desc', async () => {
    expect(seqsOf(await list(id, '?order=desc&limit=3'))).toEqual([30, 29, 28]);
  });

  it('pages with an opaque cursor, in both orders, each message exactly once', async () => {
    expect(await allPages(id, '?limit=7')).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await allPages(id, '?limit=4&order=desc&role=user')).toEqual(
      Array.from({ length: 30 }, (_, i) => 30 - i).filter((s) => s % 3 !== 0),
    );
  });

  it('refuses an invalid cursor, or one from the other order, with 400', async () => {
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?cursor=garbage`), 400, 'invalid_request');
    const ascCursor = (await list(id, '?limit=2')).next_cursor;
    const wrong = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?order=desc&cursor=${ascCursor}`), 400, 'invalid_request');
    expect(wrong.errors[0].field).toBe('/cursor');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?role=robot`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?limit=0`), 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', '/v1/sessions/nobody/messages'), 404, 'session_not_found');
  });

  it('refuses an unknown query parameter, naming it, rather than listing as if it were not there', async () => {
    // A misspelt filter would otherwise answer every message, archived ones hidden.
    const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?archived=true`), 400, 'invalid_request');
    expect(problem.errors).toEqual([expect.objectContaining({ in: 'querystring', field: '/archived' })]);
  });

  it('pages never repeat or skip while other writers append', async () => {
    const busy = await session();
    await append(busy, Array.from({ length: 40 }, (_, i) => ({ role: 'user' as const, content: i })));
    let stop = false;
    const writer = (async () => {
      while (!stop) await append(busy, [{ role: 'assistant', content: 'more' }]);
    })();
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 200; pages++) {
      const page = await list(busy, `?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...seqsOf(page));
      cursor = page.next_cursor;
      if (!cursor) break;
      if (seen.length >= 60) stop = true;
    }
    stop = true;
    await writer;
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
    expect(seen.length).toBeGreaterThanOrEqual(40);
  });
});

describe('replace by kind, trim, and metadata', () => {
  it('replacing a kind archives the earlier active one and appends the new one', async () => {
    const id = await session();
    await append(id, [
      { role: 'system', kind: 'summary', content: 'v1' },
      { role: 'user', content: 'q' },
    ]);
    const put = (content: string) => call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'system', content });
    const res = await put('v2');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ message: { seq: 3, kind: 'summary', content: 'v2' }, archived_seqs: [1], version: 2 });
    expect((await put('v3')).json()).toMatchObject({ archived_seqs: [3], version: 3 });
    expect((await list(id, '?kind=summary')).messages.map((m: { content: string }) => m.content)).toEqual(['v3']);
    const withArchived = (await list(id, '?kind=summary&include_archived=true')).messages;
    expect(withArchived.map((m: { content: string; archived_at?: string }) => [m.content, m.archived_at !== undefined])).toEqual([
      ['v1', true],
      ['v2', true],
      ['v3', false],
    ]);
    expect(await meta(id)).toEqual({ version: 3, last_seq: 4, message_count: 2, archived_count: 2 });
    const types = (await call(t.app, 'GET', `/v1/sessions/${id}/events`)).json().events.map((e: { type: string }) => e.type);
    expect(types).toEqual(['message.appended', 'message.appended', 'message.archived', 'message.appended', 'message.archived', 'message.appended']);
    // A subscriber follows the conversation from the stream: each message.archived names what it archived.
    const archived = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.archived`)).json().events;
    expect(archived.map((e: { data: unknown }) => e.data)).toEqual([
      { kind: 'summary', seqs: [1] },
      { kind: 'summary', seqs: [3] },
    ]);
  });

  it('replacing with a stale expected_version is a version_conflict of the conversation and changes nothing', async () => {
    const id = await session();
    await append(id, [{ role: 'system', kind: 'summary', content: 'v1' }]);
    const problem = expectProblem(
      await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'system', content: 'v2', expected_version: 0 }),
      409,
      'version_conflict',
    );
    expect(problem).toMatchObject({ expected_version: 0, actual_version: 1 });
    // The session has two versions (state and conversation): the detail says which one moved.
    expect(problem.detail).toMatch(/^the conversation is at version 1, not 0;/);
    expect((await list(id, '?kind=summary')).messages[0].content).toBe('v1');
  });

  it('trimming with a stale expected_version is a version_conflict of the conversation and archives nothing; the current one trims', async () => {
    const id = await session();
    await append(id, [{ role: 'user', content: 'a' }]);
    await append(id, [{ role: 'assistant', content: 'b' }]);
    const trim = (expected: number) => call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 3, expected_version: expected });
    // A trimmer that read the conversation at version 1 would archive a message it never saw.
    const problem = expectProblem(await trim(1), 409, 'version_conflict');
    expect(problem).toMatchObject({ expected_version: 1, actual_version: 2 });
    expect(problem.detail).toMatch(/^the conversation is at version 2, not 1;/);
    expect(seqsOf(await list(id))).toEqual([1, 2]);
    expect(await meta(id)).toEqual({ version: 2, last_seq: 2, message_count: 2, archived_count: 0 });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.trimmed`)).json().events).toEqual([]);

    const taken = await trim(2);
    expect(taken.statusCode, taken.body).toBe(200);
    expect(taken.json()).toEqual({ trimmed: 2, version: 3 });
  });

  it('trim archives active messages before a seq, except protected kinds', async () => {
    const id = await session();
    await append(id, [
      { role: 'system', kind: 'system_prompt', content: 'rules' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'system', kind: 'summary', content: 's' },
      { role: 'user', content: 'c' },
    ]);
    const res = await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 5, protected_kinds: ['system_prompt', 'summary'] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ trimmed: 2, version: 2 });
    expect(seqsOf(await list(id))).toEqual([1, 4, 5]);
    // Trimming again archives nothing new, but is still a change of the conversation.
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 5, protected_kinds: ['system_prompt', 'summary'] })).json()).toEqual({
      trimmed: 0,
      version: 3,
    });
    expect(await meta(id)).toEqual({ version: 3, last_seq: 5, message_count: 3, archived_count: 2 });
    const trimmed = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.trimmed`)).json().events;
    expect(trimmed[0].data).toEqual({ before_seq: 5, protected_kinds: ['system_prompt', 'summary'], seqs: [2, 3] });
  });

  it('trim and replace interplay: a replaced summary stays archived once, a trimmed summary can be replaced', async () => {
    const id = await session();
    await append(id, [
      { role: 'system', kind: 'summary', content: 's1' },
      { role: 'user', content: 'q1' },
    ]);
    await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 3 });
    expect((await meta(id))).toMatchObject({ message_count: 0, archived_count: 2 });
    // Without protected_kinds, none is protected, and the event says so.
    const trimmed = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.trimmed`)).json().events;
    expect(trimmed.map((e: { data: unknown }) => e.data)).toEqual([{ before_seq: 3, protected_kinds: [], seqs: [1, 2] }]);
    const replaced = (await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'system', content: 's2' })).json();
    // s1 was already archived by the trim: nothing more to archive, and no message.archived says otherwise.
    expect(replaced.archived_seqs).toEqual([]);
    const last = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.trimmed`)).json().events.at(-1).seq;
    const after = (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=${last}`)).json().events;
    expect(after.map((e: { type: string }) => e.type)).toEqual(['message.appended']);
    expect(await meta(id)).toEqual({ version: 3, last_seq: 3, message_count: 1, archived_count: 2 });
  });

  it('validates trim and replace bodies', async () => {
    const id = await session();
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, {}), 400, 'invalid_request');
    expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 'x' }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'ghost', content: 1 }), 400, 'invalid_request');
    expectProblem(await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/bad%20kind`, { role: 'user', content: 1 }), 400, 'invalid_request');
    expect(await meta(id)).toEqual({ version: 0, last_seq: 0, message_count: 0, archived_count: 0 });
  });
});

describe('the bounds a caller meets', () => {
  const kindOf = (n: number) => `k${'x'.repeat(n - 1)}`;

  it('a kind is 1-64 characters of the tag alphabet: 64 is taken on append, replace and list; 65 is 400 and stores nothing', async () => {
    const id = await session();
    const at = kindOf(64);
    const appended = await append(id, [{ role: 'system', kind: at, content: 'a' }]);
    expect(appended.statusCode, appended.body).toBe(201);
    expect(appended.json().messages[0].kind).toBe(at);
    const replaced = await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/${at}`, { role: 'system', content: 'b' });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(replaced.json()).toMatchObject({ message: { kind: at, content: 'b' }, archived_seqs: [1] });
    expect((await list(id, `?kind=${at}`)).messages.map((m: { content: string }) => m.content)).toEqual(['b']);

    const over = kindOf(65);
    for (const refused of [
      await append(id, [{ role: 'system', kind: over, content: 'c' }]),
      await append(id, [{ role: 'system', kind: '.dot-first', content: 'c' }]),
      await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/${over}`, { role: 'system', content: 'c' }),
      await call(t.app, 'GET', `/v1/sessions/${id}/messages?kind=${over}`),
    ]) {
      expectProblem(refused, 400, 'invalid_request');
    }
    expect(await meta(id)).toEqual({ version: 2, last_seq: 2, message_count: 1, archived_count: 1 });
  });

  it('a message content is held to MAX_EVENT_BYTES in UTF-8 bytes of its JSON, not in characters', async () => {
    const id = await session();
    // 600 emoji: 1,200 UTF-16 units, 2,402 bytes of JSON with its quotes, over the 2,048 of this app.
    const over = expectProblem(await append(id, [{ role: 'user', content: '😀'.repeat(600) }]), 413, 'payload_too_large');
    expect(over).toMatchObject({ limit_bytes: 2048, size: 2402 });
    expect(await meta(id)).toEqual({ version: 0, last_seq: 0, message_count: 0, archived_count: 0 });
    // 1,023 two-byte characters and the quotes: exactly 2,048 bytes, taken.
    const exact = 'é'.repeat(1023);
    expect((await append(id, [{ role: 'user', content: exact }])).statusCode).toBe(201);
    expect((await list(id)).messages.map((m: { content: unknown }) => m.content)).toEqual([exact]);
  });

  it('trim takes up to 100 protected kinds; 101 is 400 and archives nothing', async () => {
    const id = await session();
    await append(id, [
      { role: 'user', content: 'old' },
      { role: 'system', kind: 'k99', content: 'kept' },
      { role: 'user', content: 'new' },
    ]);
    const kinds = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);
    const refused = expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 3, protected_kinds: kinds(101) }), 400, 'invalid_request');
    expect(refused.errors[0].field).toBe('/protected_kinds');
    expect(await meta(id)).toEqual({ version: 1, last_seq: 3, message_count: 3, archived_count: 0 });
    const taken = await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 3, protected_kinds: kinds(100) });
    expect(taken.json()).toEqual({ trimmed: 1, version: 2 });
    expect(seqsOf(await list(id))).toEqual([2, 3]);
  });

  it('limit is 1-1000: 1000 is taken, 1001 is 400', async () => {
    const id = await session();
    await append(id, [{ role: 'user', content: 1 }]);
    expect(seqsOf(await list(id, '?limit=1000'))).toEqual([1]);
    expect(expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}/messages?limit=1001`), 400, 'invalid_request').errors[0].field).toBe('/limit');
  });

  it('a page exactly as long as what is left has no next_cursor; one message more gives one', async () => {
    const id = await session();
    await append(id, [1, 2, 3].map((n) => ({ role: 'user', content: n })));
    expect(await list(id, '?limit=3')).toMatchObject({ next_cursor: null });
    expect((await list(id, '?limit=3&order=desc')).next_cursor).toBeNull();
    const short = await list(id, '?limit=2');
    expect(seqsOf(short)).toEqual([1, 2]);
    expect(short.next_cursor).toEqual(expect.any(String));
    const rest = await list(id, `?limit=2&cursor=${short.next_cursor}`);
    expect(rest).toMatchObject({ next_cursor: null });
    expect(seqsOf(rest)).toEqual([3]);
  });
});

describe('paging inside a seq window', () => {
  it('after_seq and before_seq are exclusive and hold on every page, in both orders', async () => {
    const id = await session();
    await append(id, Array.from({ length: 20 }, (_, i) => ({ role: 'user' as const, content: i + 1 })));
    const window = [6, 7, 8, 9, 10, 11, 12, 13, 14];
    expect(await allPages(id, '?after_seq=5&before_seq=15&limit=2')).toEqual(window);
    expect(await allPages(id, '?after_seq=5&before_seq=15&limit=2&order=desc')).toEqual([...window].reverse());
    // A window on one side only pages to the session's end on the other.
    expect(await allPages(id, '?after_seq=16&limit=3')).toEqual([17, 18, 19, 20]);
    expect(await allPages(id, '?before_seq=5&limit=3&order=desc')).toEqual([4, 3, 2, 1]);
    expect(await allPages(id, '?before_seq=5&limit=3')).toEqual([1, 2, 3, 4]);
    expect(await allPages(id, '?after_seq=16&limit=3&order=desc')).toEqual([20, 19, 18, 17]);
    // An empty window is an empty page.
    expect(await list(id, '?after_seq=5&before_seq=6')).toEqual({ messages: [], next_cursor: null });
  });
});

describe('replace by kind when several are active', () => {
  it('names the archived seqs ascending as numbers, past 9 too, in the answer and in message.archived', async () => {
    const id = await session();
    await append(id, Array.from({ length: 11 }, (_, n) => ({ role: 'system', kind: 'note', content: `n${n + 1}` })));
    const res = await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/note`, { role: 'assistant', content: 'only' });
    expect(res.statusCode, res.body).toBe(200);
    const seqs = Array.from({ length: 11 }, (_, n) => n + 1);
    expect(res.json().archived_seqs).toEqual(seqs);
    const archived = (await call(t.app, 'GET', `/v1/sessions/${id}/events?type=message.archived`)).json().events;
    expect(archived.map((e: { data: unknown }) => e.data)).toEqual([{ kind: 'note', seqs }]);
  });

  it('archives every active message of the kind, names their seqs ascending, and counts them out', async () => {
    const id = await session();
    await append(id, [
      { role: 'system', kind: 'note', content: 'n1' },
      { role: 'user', content: 'q' },
      { role: 'system', kind: 'note', content: 'n2' },
    ]);
    await append(id, [{ role: 'system', kind: 'note', content: 'n3' }]);
    const res = await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/note`, { role: 'assistant', content: 'only' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ message: { seq: 5, role: 'assistant', kind: 'note', content: 'only' }, archived_seqs: [1, 3, 4], version: 3 });
    expect(await meta(id)).toEqual({ version: 3, last_seq: 5, message_count: 2, archived_count: 3 });
    expect((await call(t.app, 'GET', `/v1/sessions/${id}`)).json().message_count).toBe(2);
    const events = (await call(t.app, 'GET', `/v1/sessions/${id}/events?after=4`)).json().events;
    expect(events.map((e: { type: string; data: unknown }) => [e.type, e.type === 'message.archived' ? e.data : (e.data as { seq: number }).seq])).toEqual([
      ['message.archived', { kind: 'note', seqs: [1, 3, 4] }],
      ['message.appended', 5],
    ]);
    const archived = (await list(id, '?include_archived=true&kind=note')).messages;
    expect(archived.map((m: { seq: number; archived_at?: string }) => [m.seq, typeof m.archived_at])).toEqual([
      [1, 'string'],
      [3, 'string'],
      [4, 'string'],
      [5, 'undefined'],
    ]);
  });
});


describe('first_user_message', () => {
  const shown = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json().first_user_message;

  it('is the first user message of the first batch that has one, and never moves after', async () => {
    const id = await session();
    await append(id, [{ role: 'system', content: 'rules' }, { role: 'assistant', content: 'hello' }]);
    expect(await shown(id)).toBeNull();
    await append(id, [{ role: 'assistant', content: 'ask me' }, { role: 'user', content: 'first' }, { role: 'user', content: 'second' }]);
    expect(await shown(id)).toBe('first');
    await append(id, [{ role: 'user', content: 'third' }]);
    // Archiving it does not move it either: a picker names the session by how it began.
    await call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 100 });
    await call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/message`, { role: 'user', content: 'replaced' });
    expect(await shown(id)).toBe('first');
  });

  it('exactly 200 characters are shown whole; JSON content shows as its JSON text, cut alike', async () => {
    const whole = await session();
    const text = 'é'.repeat(200);
    await append(whole, [{ role: 'user', content: text }]);
    expect(await shown(whole)).toBe(text);
    const json = await session();
    const content = { text: 'ü'.repeat(300) };
    await append(json, [{ role: 'user', content }]);
    expect(await shown(json)).toBe(JSON.stringify(content).slice(0, 200));
  });

  it('characters are code points: an emoji counts once and is never split into half a surrogate pair', async () => {
    const emoji = await session();
    await append(emoji, [{ role: 'user', content: '😀'.repeat(250) }]);
    const cut = (await shown(emoji)) as string;
    expect(Array.from(cut)).toHaveLength(200);
    expect(cut).toBe('😀'.repeat(200));
    // The 200th character straddles UTF-16 unit 200: it is kept whole, not cut to a lone surrogate.
    const straddling = await session();
    await append(straddling, [{ role: 'user', content: `${'a'.repeat(199)}😀tail` }]);
    expect(await shown(straddling)).toBe(`${'a'.repeat(199)}😀`);
  });
});

describe('an imported copy of a session (POST /v1/sessions/import)', () => {
  const importCopy = (lines: ExportLine[], id: string) =>
    t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': 'application/x-ndjson' }, payload: exportFile(lines) });
  const everything = async (id: string) => (await list(id, '?include_archived=true')).messages;

  it('keeps the messages as they were, archived ones archived; ids the server holds get fresh ones, others are kept', async () => {
    const source = await session();
    expect((await append(source, [{ role: 'user', content: 'hi' }])).statusCode).toBe(201);
    for (const content of ['v1', 'v2']) {
      expect((await call(t.app, 'PUT', `/v1/sessions/${source}/messages/kinds/summary`, { role: 'system', content })).statusCode).toBe(200);
    }
    const original = await everything(source);
    expect(original.map((m: any) => m.archived_at !== undefined)).toEqual([false, true, false]);
    const lines = await exportLines(t, source);
    const strip = (m: any) => ({ ...m, id: undefined });

    // Beside the original: every id is held already, so each copy gets its own; all else is as it was.
    const beside = `conv-import-${++counter}`;
    expect((await importCopy(lines, beside)).statusCode).toBe(201);
    const copied = await everything(beside);
    expect(copied.map(strip)).toEqual(original.map(strip));
    for (const message of copied) expect(original.map((m: any) => m.id)).not.toContain(message.id);
    expect(await everything(source)).toEqual(original);

    // Ids the server holds nowhere are kept as the file has them.
    const unheld = original.map(() => uuidv7());
    let n = 0;
    const renamed = lines.map((line) => (line.record === 'message' ? { ...line, id: unheld[n++] } : line));
    const kept = `conv-import-${++counter}`;
    expect((await importCopy(renamed, kept)).statusCode).toBe(201);
    expect((await everything(kept)).map((m: any) => m.id)).toEqual(unheld);
  });
});

describe('replace and trim are worker writes: fenced by the lease', () => {
  it('without the Lease-Token under a lease each is 409 lease_held, with a stale one lease_lost, and nothing changes; the holder\'s go through', async () => {
    const id = await session();
    await append(id, [
      { role: 'system', kind: 'summary', content: 's1' },
      { role: 'user', content: 'q' },
    ]);
    const lease = (await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'w', ttl_ms: 60_000 })).json();
    const replace = (headers?: Record<string, string>) =>
      call(t.app, 'PUT', `/v1/sessions/${id}/messages/kinds/summary`, { role: 'system', content: 's2' }, headers);
    const trim = (headers?: Record<string, string>) => call(t.app, 'POST', `/v1/sessions/${id}/messages/trim`, { before_seq: 3 }, headers);
    const settled = { meta: await meta(id), messages: (await list(id, '?include_archived=true')).messages };
    const unchanged = async () => expect({ meta: await meta(id), messages: (await list(id, '?include_archived=true')).messages }).toEqual(settled);

    expectProblem(await replace(), 409, 'lease_held');
    expectProblem(await trim(), 409, 'lease_held');
    await unchanged();
    const stale = { 'lease-token': `${lease.token}x` };
    expectProblem(await replace(stale), 409, 'lease_lost');
    expectProblem(await trim(stale), 409, 'lease_lost');
    await unchanged();

    const holder = { 'lease-token': lease.token };
    expect((await replace(holder)).statusCode).toBe(200);
    expect((await trim(holder)).json()).toMatchObject({ trimmed: 1 });
  });
});
