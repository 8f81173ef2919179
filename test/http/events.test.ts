import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, expectIso, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines } from '../helpers/export-file.js';
import { metric } from '../helpers/metrics.js';
import { until } from '../helpers/waits.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

async function putState(id: string, body: Record<string, unknown>): Promise<{ version: number; seq: number }> {
  const response = await call(t.app, 'PUT', `/v1/sessions/${id}/state`, body);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function postDelta(id: string, body: Record<string, unknown>): Promise<{ version: number; seq: number }> {
  const response = await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, body);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function events(id: string, query = ''): Promise<any> {
  const response = await call(t.app, 'GET', `/v1/sessions/${id}/events${query}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/** The deltas posted to the `history` session, in order; each produces the next version. */
const DELTAS: Record<string, unknown>[] = [
  { merge_patch: { count: 1 } },
  { merge_patch: { title: null, nested: { added: [1, 2] } } },
  { patch: [{ op: 'replace', path: '/count', value: 2 }] },
  { merge_patch: { count: 3, text: 'ünïcødé ✓' } },
  { patch: [{ op: 'add', path: '/nested/more', value: { deep: null } }] },
];

describe('GET /v1/sessions/{id}/events', () => {
  beforeAll(async () => {
    await createSession(t, 'history');
    expect(await putState('history', { base_version: 0, schema_version: 1, snapshot: { title: 'first', count: 0 } })).toEqual({
      version: 1,
      seq: 1,
    });
    for (const [i, delta] of DELTAS.entries()) {
      expect(await postDelta('history', { base_version: i + 1, ...delta })).toEqual({ version: i + 2, seq: i + 2 });
    }
  });

  it('answers {events, last_seq, has_more} with the whole history in seq order', async () => {
    const page = await events('history');
    expect(Object.keys(page).sort()).toEqual(['events', 'has_more', 'last_seq']);
    expect(page.has_more).toBe(false);
    expect(page.last_seq).toBe(DELTAS.length + 1);
    expect(page.events.map((e: any) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('is JSON in UTF-8, as its header says', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/sessions/history/events' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('records a snapshot as state.snapshot carrying only {schema_version}, with the version it produced', async () => {
    const [snapshot] = (await events('history')).events;
    expect(snapshot).toEqual({
      seq: 1,
      type: 'state.snapshot',
      data: { schema_version: 1 },
      version: 1,
      created_at: expect.any(String),
    });
    expectIso(snapshot.created_at);
  });

  it('records each delta as state.delta whose data is the delta exactly as posted', async () => {
    const deltas = (await events('history')).events.slice(1);
    expect(deltas).toHaveLength(DELTAS.length);
    deltas.forEach((event: any, i: number) => {
      expect(event).toEqual({
        seq: i + 2,
        type: 'state.delta',
        data: DELTAS[i],
        version: i + 2,
        created_at: expect.any(String),
      });
      expectIso(event.created_at);
    });
  });

  it('agrees with the session head', async () => {
    const session = (await call(t.app, 'GET', '/v1/sessions/history')).json();
    expect(session.last_seq).toBe(DELTAS.length + 1);
    expect(session.version).toBe(DELTAS.length + 1);
    expect((await events('history')).last_seq).toBe(session.last_seq);
  });

  it('pages with after and limit, visiting every event once, ending with has_more false at the head', async () => {
    const head = (await call(t.app, 'GET', '/v1/sessions/history')).json().last_seq;
    const seen: number[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = await events('history', `?after=${after}&limit=2`);
      pages++;
      expect(page.events.length).toBeLessThanOrEqual(2);
      for (const event of page.events) expect(event.seq).toBeGreaterThan(after);
      seen.push(...page.events.map((e: any) => e.seq));
      if (page.events.length) expect(page.last_seq).toBe(page.events[page.events.length - 1].seq);
      if (!page.has_more) {
        expect(page.last_seq).toBe(head);
        break;
      }
      expect(page.events).toHaveLength(2);
      after = page.last_seq;
      expect(pages).toBeLessThan(10);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pages).toBe(3);
  });

  it('answers an empty page at the head', async () => {
    expect(await events('history', '?after=6')).toEqual({ events: [], last_seq: 6, has_more: false });
  });

  it('starts after the given seq', async () => {
    const page = await events('history', '?after=4');
    expect(page.events.map((e: any) => e.seq)).toEqual([5, 6]);
    expect(page.has_more).toBe(false);
  });

  it('refuses a query parameter it does not know (a misspelt filter would list everything)', async () => {
    const res = await call(t.app, 'GET', '/v1/sessions/history/events?types=state.delta');
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe('invalid_request');
  });

  it('filters by type', async () => {
    const deltas = await events('history', '?type=state.delta');
    expect(deltas.events.map((e: any) => e.seq)).toEqual([2, 3, 4, 5, 6]);
    expect(deltas.events.every((e: any) => e.type === 'state.delta')).toBe(true);
    expect(deltas.has_more).toBe(false);
    expect(deltas.last_seq).toBe(6);

    const snapshots = await events('history', '?type=state.snapshot');
    expect(snapshots.events.map((e: any) => e.seq)).toEqual([1]);
    expect(snapshots.last_seq).toBe(6);

    const none = await events('history', '?type=nothing.here');
    expect(none).toEqual({ events: [], last_seq: 6, has_more: false });
  });

  it('filters by the exact type: a type that starts with the one asked for is not it', async () => {
    await createSession(t, 'type-exact');
    const types = ['tool', 'tool.call', 'tools', 'tool_x', 'tool.call.result', 'tool'];
    const appended = await call(t.app, 'POST', '/v1/sessions/type-exact/events', { events: types.map((type, n) => ({ type, data: n })) });
    expect(appended.statusCode, appended.body).toBe(201);
    expect(await events('type-exact', '?type=tool')).toMatchObject({ last_seq: 6, has_more: false });
    expect((await events('type-exact', '?type=tool')).events.map((e: any) => [e.seq, e.type])).toEqual([
      [1, 'tool'],
      [6, 'tool'],
    ]);
    expect((await events('type-exact', '?type=tool.call')).events.map((e: any) => e.seq)).toEqual([2]);
    expect((await events('type-exact', '?type=too')).events).toEqual([]);
  });

  it('pages a type filter without skipping or repeating events', async () => {
    const seen: number[] = [];
    let after = 0;
    for (let i = 0; i < 10; i++) {
      const page = await events('history', `?type=state.delta&after=${after}&limit=2`);
      expect(page.events.every((e: any) => e.type === 'state.delta')).toBe(true);
      seen.push(...page.events.map((e: any) => e.seq));
      after = page.last_seq;
      if (!page.has_more) break;
    }
    expect(seen).toEqual([2, 3, 4, 5, 6]);
    expect(after).toBe(6);
  });

  it('without limit answers 100 events, the documented default, and says more follow', async () => {
    await createSession(t, 'default-limit');
    const appended = await call(t.app, 'POST', '/v1/sessions/default-limit/events', {
      events: Array.from({ length: 101 }, (_, n) => ({ type: 'n', data: n + 1 })),
    });
    expect(appended.statusCode, appended.body).toBe(201);
    const first = await events('default-limit');
    expect(first.events.map((e: any) => e.seq)).toEqual(Array.from({ length: 100 }, (_, n) => n + 1));
    expect(first.has_more).toBe(true);
    expect(first.last_seq).toBe(100);
    const rest = await events('default-limit', `?after=${first.last_seq}`);
    expect(rest.events.map((e: any) => e.seq)).toEqual([101]);
    expect(rest).toMatchObject({ last_seq: 101, has_more: false });
  });

  it('answers an empty history for a session without events', async () => {
    await createSession(t, 'quiet');
    expect(await events('quiet')).toEqual({ events: [], last_seq: 0, has_more: false });
  });

  it('records a later snapshot as state.snapshot with its new schema_version', async () => {
    await createSession(t, 'resnapshot');
    await putState('resnapshot', { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    await postDelta('resnapshot', { base_version: 1, merge_patch: { a: 2 } });
    expect(await putState('resnapshot', { base_version: 2, schema_version: 3, snapshot: { b: 1 } })).toEqual({
      version: 3,
      seq: 3,
    });
    const page = await events('resnapshot');
    expect(page.events.map((e: any) => [e.seq, e.type, e.version, e.data])).toEqual([
      [1, 'state.snapshot', 1, { schema_version: 1 }],
      [2, 'state.delta', 2, { merge_patch: { a: 2 } }],
      [3, 'state.snapshot', 3, { schema_version: 3 }],
    ]);
  });

  it('appends nothing for a refused write', async () => {
    await createSession(t, 'refused');
    await putState('refused', { base_version: 0, schema_version: 1, snapshot: { a: 1 } });
    const stale = await call(t.app, 'POST', '/v1/sessions/refused/deltas', { base_version: 0, merge_patch: { a: 2 } });
    expectProblem(stale, 409, 'version_conflict');
    expect((await events('refused')).events.map((e: any) => e.seq)).toEqual([1]);
  });

  describe('errors', () => {
    it('answers 409 cursor_ahead for after beyond the head', async () => {
      const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/history/events?after=7'), 409, 'cursor_ahead');
      expect(problem.detail).toContain('7');
      expectProblem(await call(t.app, 'GET', '/v1/sessions/quiet/events?after=1'), 409, 'cursor_ahead');
    });

    it.each(['0', '1001', 'x', '-1', '2.5'])('rejects limit=%s with 400 invalid_request', async (limit) => {
      const problem = expectProblem(
        await call(t.app, 'GET', `/v1/sessions/history/events?limit=${limit}`),
        400,
        'invalid_request',
      );
      expect(problem.errors[0].field).toBe('/limit');
    });

    it.each(['-1', 'abc', '1.5'])('rejects after=%s with 400 invalid_request', async (after) => {
      expectProblem(await call(t.app, 'GET', `/v1/sessions/history/events?after=${after}`), 400, 'invalid_request');
    });

    it.each(['Bad Type', 'Upper.case', '1starts.with.digit', 'trailing.', 'a'.repeat(129)])(
      'rejects type=%s with 400 invalid_request',
      async (type) => {
        const response = await call(t.app, 'GET', `/v1/sessions/history/events?type=${encodeURIComponent(type)}`);
        const problem = expectProblem(response, 400, 'invalid_request');
        expect(problem.errors[0].field).toBe('/type');
      },
    );

    it('rejects an unknown query parameter', async () => {
      expectProblem(await call(t.app, 'GET', '/v1/sessions/history/events?colour=red'), 400, 'invalid_request');
    });

    it('answers 404 session_not_found for an unknown session', async () => {
      expectProblem(await call(t.app, 'GET', '/v1/sessions/nobody/events'), 404, 'session_not_found');
    });
  });
});

describe('a page cut by EVENTS_PAGE_BYTES', () => {
  it('says has_more and ends at its last event, so paging by last_seq reads every event once', async () => {
    const small = await createTestApp({ env: { EVENTS_PAGE_BYTES: String(16 * 1024) } });
    try {
      await createSession(small, 'page-bytes');
      const blob = 'x'.repeat(6 * 1024);
      const appended = await call(small.app, 'POST', '/v1/sessions/page-bytes/events', {
        events: Array.from({ length: 8 }, (_, n) => ({ type: 'big', data: { n, blob } })),
      });
      expect(appended.statusCode, appended.body).toBe(201);
      const seen: number[] = [];
      let after = 0;
      let cut = 0;
      for (let pages = 0; pages < 20; pages++) {
        const response = await call(small.app, 'GET', `/v1/sessions/page-bytes/events?after=${after}&limit=100`);
        expect(response.statusCode, response.body).toBe(200);
        const page = response.json();
        seen.push(...page.events.map((event: { seq: number }) => event.seq));
        if (!page.has_more) {
          expect(page.last_seq).toBe(8);
          break;
        }
        // Cut by bytes, not by the limit: fewer than asked, and last_seq is its last event, not the head.
        cut++;
        expect(page.events.length).toBeGreaterThan(0);
        expect(page.events.length).toBeLessThan(8);
        expect(page.last_seq).toBe(page.events.at(-1).seq);
        after = page.last_seq;
      }
      expect(cut).toBeGreaterThan(0);
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await small.close();
    }
  });
});

describe('what an event counts against EVENTS_PAGE_BYTES (docs/API.md): its data, its type, and 128 bytes', () => {
  const BUDGET = 16 * 1024;
  const counted = (event: { type: string; data: unknown }) =>
    Buffer.byteLength(JSON.stringify(event.data)) + Buffer.byteLength(event.type) + 128;
  let small: TestApp;
  beforeAll(async () => {
    small = await createTestApp({ env: { EVENTS_PAGE_BYTES: String(BUDGET) } });
  });
  afterAll(() => small.close());

  it('events that add up to the budget exactly come in one page; the next one starts the next page', async () => {
    await createSession(small, 'page-exact');
    // Four events of a quarter each (multibyte text: bytes, not characters), and a fifth.
    const data = 'é'.repeat((BUDGET / 4 - 128 - 2 - 2) / 2);
    const events = Array.from({ length: 5 }, () => ({ type: 'tt', data }));
    expect(counted(events[0]!) * 4).toBe(BUDGET);
    expect((await call(small.app, 'POST', '/v1/sessions/page-exact/events', { events })).statusCode).toBe(201);
    const page = (await call(small.app, 'GET', '/v1/sessions/page-exact/events?limit=100')).json();
    expect([page.events.length, page.has_more, page.last_seq]).toEqual([4, true, 4]);
  });

  it("an event's type counts: long types with little data fill a page sooner", async () => {
    await createSession(small, 'page-types');
    const events = Array.from({ length: 100 }, (_, n) => ({ type: `t${String(n).padStart(3, '0')}`.padEnd(128, 'x'), data: n }));
    expect((await call(small.app, 'POST', '/v1/sessions/page-types/events', { events })).statusCode).toBe(201);
    const page = (await call(small.app, 'GET', '/v1/sessions/page-types/events?limit=100')).json();
    const fits = Math.floor(BUDGET / counted(events[0]!));
    expect([page.events.length, page.has_more]).toEqual([fits, true]);
  });
});

describe('an event larger than EVENTS_PAGE_BYTES', () => {
  it('comes alone on its own page, so paging by last_seq moves past it and reads every event once', async () => {
    const small = await createTestApp({ env: { EVENTS_PAGE_BYTES: String(16 * 1024) } });
    try {
      await createSession(small, 'page-oversized');
      // Within MAX_EVENT_BYTES (256 KiB by default), but over a whole page on its own.
      const big = { blob: 'x'.repeat(20 * 1024) };
      const appended = await call(small.app, 'POST', '/v1/sessions/page-oversized/events', {
        events: [
          { type: 'small', data: 1 },
          { type: 'big', data: big },
          { type: 'small', data: 3 },
        ],
      });
      expect(appended.statusCode, appended.body).toBe(201);
      const pages: { seqs: number[]; last_seq: number; has_more: boolean }[] = [];
      let after = 0;
      for (let n = 0; n < 6; n++) {
        const response = await call(small.app, 'GET', `/v1/sessions/page-oversized/events?after=${after}&limit=100`);
        expect(response.statusCode, response.body).toBe(200);
        const page = response.json();
        pages.push({ seqs: page.events.map((event: { seq: number }) => event.seq), last_seq: page.last_seq, has_more: page.has_more });
        if (!page.has_more) break;
        after = page.last_seq;
      }
      expect(pages).toEqual([
        { seqs: [1], last_seq: 1, has_more: true },
        { seqs: [2], last_seq: 2, has_more: true },
        { seqs: [3], last_seq: 3, has_more: false },
      ]);
      const alone = await call(small.app, 'GET', '/v1/sessions/page-oversized/events?after=1&limit=100');
      expect(alone.json().events[0]).toMatchObject({ seq: 2, type: 'big', data: big });
    } finally {
      await small.close();
    }
  });
});

describe('reading after trimmed history', () => {
  it('after history_start reads what is kept; one before it is 410 cursor_expired, naming history_start', async () => {
    await createSession(t, 'events-trimmed');
    const appended = await call(t.app, 'POST', '/v1/sessions/events-trimmed/events', { events: [1, 2, 3, 4, 5].map((n) => ({ type: 'n', data: n })) });
    expect(appended.statusCode, appended.body).toBe(201);
    const compacted = await call(t.app, 'POST', '/v1/sessions/events-trimmed/compact', { before_seq: 4 });
    expect(compacted.statusCode, compacted.body).toBe(200);
    const start = compacted.json().history_start as number;
    expect(start).toBe(3);
    const kept = await events('events-trimmed', `?after=${start}`);
    expect(kept.events.map((event: { data: number }) => event.data)).toEqual([4, 5]);
    for (const after of [start - 1, 0]) {
      const problem = expectProblem(await call(t.app, 'GET', `/v1/sessions/events-trimmed/events?after=${after}`), 410, 'cursor_expired');
      expect(problem.history_start, `after=${after}`).toBe(start);
    }
  });
});

describe('every event after a cursor trimmed', () => {
  it('is 410 cursor_expired naming history_start, not an empty page that skips them', async () => {
    await createSession(t, 'events-all-trimmed');
    const appended = await call(t.app, 'POST', '/v1/sessions/events-all-trimmed/events', { events: [1, 2, 3].map((n) => ({ type: 'n', data: n })) });
    expect(appended.statusCode, appended.body).toBe(201);
    const compacted = await call(t.app, 'POST', '/v1/sessions/events-all-trimmed/compact', { before_seq: 4 });
    expect(compacted.statusCode, compacted.body).toBe(200);
    const start = compacted.json().history_start as number;
    expect(start).toBe(3);
    // Nothing is kept after the cursor: the page read finds no event at all.
    const problem = expectProblem(await call(t.app, 'GET', '/v1/sessions/events-all-trimmed/events?after=1'), 410, 'cursor_expired');
    expect(problem.history_start).toBe(start);
    expect((await events('events-all-trimmed', `?after=${start}`)).events).toEqual([]);
  });
});

describe('a refused read gives back the memory it reserved', () => {
  it('after 404, 409 and 410 answers, a budget with room for one page still serves the next read', async () => {
    // One page's reservation (twice EVENTS_PAGE_BYTES: the rows and the answer) fits in ROWS_MEMORY_BYTES; two do not.
    const tight = await createTestApp({ env: { ROWS_MEMORY_BYTES: String(1024 * 1024), EVENTS_PAGE_BYTES: String(384 * 1024) } });
    try {
      await createSession(tight, 'budget');
      expect((await call(tight.app, 'POST', '/v1/sessions/budget/events', { events: [1, 2, 3].map((n) => ({ type: 'n', data: n })) })).statusCode).toBe(201);
      expect((await call(tight.app, 'POST', '/v1/sessions/budget/compact', { before_seq: 2 })).statusCode).toBe(200);
      expectProblem(await call(tight.app, 'GET', '/v1/sessions/nobody/events'), 404, 'session_not_found');
      expectProblem(await call(tight.app, 'GET', '/v1/sessions/budget/events?after=9'), 409, 'cursor_ahead');
      expectProblem(await call(tight.app, 'GET', '/v1/sessions/budget/events?after=0'), 410, 'cursor_expired');
      const served = await Promise.race([
        call(tight.app, 'GET', '/v1/sessions/budget/events?after=1'),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the read waited for memory a refused read kept')), 5_000)),
      ]);
      expect(served.statusCode, served.body).toBe(200);
      expect(served.json().events.map((event: { data: number }) => event.data)).toEqual([2, 3]);
      const metrics = await call(tight.app, 'GET', '/metrics');
      expect(metrics.body).toMatch(/^session_sync_rows_memory_bytes 0$/m);
    } finally {
      await tight.close();
    }
  });
});

describe('pages a client has not taken count against ROWS_MEMORY_BYTES', () => {
  /**
   * A client that asks for the same page `times` times on one connection (pipelined) and reads none of it until
   * `read()`; `answers` counts the answers it has read, `closed` whether the server has ended the connection.
   */
  async function pausedReader(app: TestApp, path: string, times: number) {
    const socket = net.connect({ port: Number(new URL(app.baseUrl).port), host: '127.0.0.1' });
    socket.on('error', () => {});
    let closed = false;
    let text = '';
    socket.once('close', () => (closed = true));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`.repeat(times));
    return {
      socket,
      // A socket that reads nothing sees no end either: it comes after the data before it.
      read: () => socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1'))),
      answers: () => text.split('HTTP/1.1 200').length - 1,
      closed: () => closed,
    };
  }

  const rowsMemory = (app: TestApp) => metric(app.app, 'session_sync_rows_memory_bytes');

  /**
   * A page reserves what it can hold (EVENTS_PAGE_BYTES, or one larger event up to MAX_EVENT_BYTES alone) and its
   * answer: here more than half of ROWS_MEMORY_BYTES. So while the paused reader's answer waits unsent, a reader
   * that reads has to wait for room, and the paused one is cut off to make it (docs/operations.md,
   * ROWS_MEMORY_BYTES). Were a page's reservation smaller than what it holds, both would fit: the paused reader
   * would keep its pages, all 40, unnoticed.
   */
  for (const [what, env, eventBytes] of [
    ['pages of EVENTS_PAGE_BYTES', { EVENTS_PAGE_BYTES: String(384 * 1024), MAX_EVENT_BYTES: String(64 * 1024), ROWS_MEMORY_BYTES: String(1024 * 1024) }, 60_000],
    ['an event larger than EVENTS_PAGE_BYTES, alone on its page', { EVENTS_PAGE_BYTES: String(16 * 1024), MAX_EVENT_BYTES: String(512 * 1024), ROWS_MEMORY_BYTES: String(2 * 1024 * 1024) }, 520_000],
  ] as const) {
    it(`${what}: a reader that stops reading is cut off when another needs the room its page holds`, async () => {
      let pageReads = 0;
      const app = await createTestApp({ env: { DB_POOL_MAX: '4', ...env }, logQuery: (query) => void (/row_number\(\) over w/.test(query) && pageReads++) });
      let paused: Awaited<ReturnType<typeof pausedReader>> | undefined;
      try {
        await app.listen();
        await createSession(app, 'held-pages');
        const blob = 'x'.repeat(eventBytes);
        for (let i = 0; i < 16; i++) {
          const appended = await call(app.app, 'POST', '/v1/sessions/held-pages/events', { events: [{ type: 'blob', data: blob }] });
          expect(appended.statusCode, appended.body).toBe(201);
        }
        // Far more than the socket buffers between it and the server take (several MB on loopback): an answer waits unsent.
        paused = await pausedReader(app, '/v1/sessions/held-pages/events?limit=1000', 40);
        await expect.poll(() => rowsMemory(app), { timeout: 10_000 }).toBeGreaterThan(Number(env.ROWS_MEMORY_BYTES) / 2);
        const response = await fetch(`${app.baseUrl}/v1/sessions/held-pages/events?limit=1000`, { signal: AbortSignal.timeout(10_000) });
        expect(response.status).toBe(200);
        expect(((await response.json()) as { events: unknown[] }).events.length).toBeGreaterThan(0);
        paused.read();
        await expect.poll(() => paused!.closed(), { timeout: 10_000, message: 'the paused reader kept its pages while another waited' }).toBe(true);
        expect(paused.answers()).toBeLessThan(40);
        // Its requests still waiting for room read nothing once it was cut: only the pages it was sent (the last one
        // perhaps in part) and the other reader's were read.
        expect(pageReads).toBeLessThanOrEqual(paused.answers() + 2);
        await expect.poll(() => rowsMemory(app), { timeout: 5000 }).toBe(0);
      } finally {
        paused?.socket.destroy();
        await app.close();
      }
    }, 40_000);
  }
});

describe('the events of an imported copy (docs/API.md: the copy keeps the seqs, versions and timestamps)', () => {
  it('read back as the original reads them: the same seqs, types, data, versions and created_at', async () => {
    const original = 'events-import-original';
    await createSession(t, original);
    await putState(original, { base_version: 0, schema_version: 1, snapshot: { n: 0 } });
    const appended = await call(t.app, 'POST', `/v1/sessions/${original}/events`, {
      events: [
        { type: 'tool.call', data: { name: 'grep', args: ['-r', 'x'] } },
        { type: 'note', data: 'ünïcode ✓' },
      ],
    });
    expect(appended.statusCode, appended.body).toBe(201);
    await postDelta(original, { base_version: 1, merge_patch: { n: 1 } });
    const before = await events(original);
    expect(before.events).toHaveLength(4);
    // The copy is made later than every event: a created_at taken at the import could not pass for the original's.
    const newest = Math.max(...before.events.map((e: any) => Date.parse(e.created_at)));
    await until(() => Date.now() > newest + 5, 'the clock past the newest event');

    const copy = 'events-import-copy';
    const imported = await t.app.inject({
      method: 'POST',
      url: `/v1/sessions/import?id=${copy}`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: exportFile(await exportLines(t, original)),
    });
    expect(imported.statusCode, imported.body).toBe(201);
    const after = await events(copy);
    expect(after).toEqual(before);
  });
});
