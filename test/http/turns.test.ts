import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';
import { exportRecords, importCopy } from '../helpers/export-file.js';

let t: TestApp;
let counter = 0;
const queries: string[] = [];
/** What an operator reads of a failed turn. */
const errors = logSink('error');

beforeAll(async () => {
  t = await createTestApp({ logQuery: (query) => queries.push(query), log: errors });
});
afterAll(() => t.close());

const LONG_TTL = 600_000;

async function newSession(state: unknown = { todo: [] }): Promise<string> {
  const id = `turns-${++counter}`;
  expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
  if (state !== null) {
    expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: state })).statusCode).toBe(200);
  }
  return id;
}

const turn = (id: string, body: unknown, headers?: Record<string, string>) => call(t.app, 'POST', `/v1/sessions/${id}/turns`, body, headers);
const session = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}`)).json();
const history = async (id: string): Promise<any[]> => (await call(t.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events;
const state = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json();
const messages = async (id: string): Promise<any[]> => (await call(t.app, 'GET', `/v1/sessions/${id}/messages`)).json().messages;
const queue = async (id: string, status: string): Promise<any[]> =>
  (await call(t.app, 'GET', `/v1/sessions/${id}/queue?status=${status}`)).json().batches;

async function claimLease(id: string): Promise<string> {
  const res = await call(t.app, 'POST', `/v1/sessions/${id}/lease`, { owner: 'worker', ttl_ms: LONG_TTL });
  expect(res.statusCode).toBe(201);
  return res.json().token;
}

async function enqueueAndClaim(id: string, items: unknown[], token?: string): Promise<string> {
  expect((await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items })).statusCode).toBe(201);
  const claim = await call(t.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 10, ttl_ms: LONG_TTL }, token ? { 'lease-token': token } : {});
  expect(claim.statusCode).toBe(200);
  return claim.json().claim_id;
}

/** Everything a refused turn could have touched, to compare before and after. */
async function footprint(id: string) {
  const s = await session(id);
  return {
    version: s.version,
    last_seq: s.last_seq,
    usage: s.usage,
    lease: s.lease,
    message_count: s.message_count,
    state: (await state(id)).snapshot,
    messages: await messages(id),
    pending: (await queue(id, 'pending')).length,
    claimed: (await queue(id, 'claimed')).length,
  };
}

describe('POST /v1/sessions/{id}/turns', () => {
  it('commits every part in one go, in the contract order, with consecutive seqs and one turn.committed', async () => {
    const id = await newSession();
    const token = await claimLease(id);
    const claimId = await enqueueAndClaim(id, [{ text: 'add milk' }], token);
    const before = await session(id);

    const res = await turn(
      id,
      {
        turn_id: 'turn-1',
        base_version: 1,
        state: { patch: [{ op: 'add', path: '/todo/-', value: 'milk' }] },
        events: [{ type: 'tool.call', data: { name: 'add' } }],
        messages: [
          { role: 'user', content: 'add milk' },
          { role: 'assistant', content: 'added' },
        ],
        complete_claims: [claimId],
        usage: [
          { model: 'm-1', input_tokens: 100, output_tokens: 20, cost_usd: 0.5 },
          { model: 'm-2', input_tokens: 1, output_tokens: 2 },
        ],
        release_lease: true,
      },
      { 'lease-token': token },
    );
    expect(res.statusCode).toBe(201);
    const answer = res.json();
    expect(answer).toEqual({ turn_id: 'turn-1', version: 2, first_seq: before.last_seq + 1, last_seq: before.last_seq + 7 });

    const turnEvents = (await history(id)).filter((e) => e.seq >= answer.first_seq);
    expect(turnEvents.map((e) => [e.seq, e.type])).toEqual(
      ['state.delta', 'tool.call', 'message.appended', 'message.appended', 'queue.completed', 'lease.released', 'turn.committed'].map(
        (type, i) => [answer.first_seq + i, type],
      ),
    );
    expect(turnEvents[0].version).toBe(2);
    const committed = turnEvents.at(-1).data;
    expect(committed).toMatchObject({
      turn_id: 'turn-1',
      version: 2,
      first_seq: answer.first_seq,
      completed_claims: [claimId],
      lease_released: true,
      events: 1,
    });
    expect(committed.message_ids).toHaveLength(2);

    expect((await state(id)).snapshot).toEqual({ todo: ['milk'] });
    expect((await messages(id)).map((m) => m.content)).toEqual(['add milk', 'added']);
    expect(await queue(id, 'completed')).toHaveLength(1);
    const after = await session(id);
    expect(after.lease).toBeNull();
    expect(after.usage).toEqual({ input_tokens: 101, output_tokens: 22, cost_usd: 0.5, turns: 1 });
    expect(after.first_user_message).toBe('add milk');
    expect(after.message_count).toBe(2);
  });

  it('replays a retried turn (keys in any order) without doing it twice, even after it released the lease', async () => {
    const id = await newSession();
    const token = await claimLease(id);
    const body = {
      turn_id: 'retry-me',
      base_version: 1,
      state: { merge_patch: { done: true } },
      messages: [{ role: 'assistant', content: 'ok' }],
      usage: [{ model: 'm', input_tokens: 5, output_tokens: 5 }],
      release_lease: true,
    };
    const first = await turn(id, body, { 'lease-token': token });
    expect(first.statusCode).toBe(201);
    const settled = await footprint(id);

    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const again = await turn(id, reordered, { 'lease-token': token });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await footprint(id)).toEqual(settled);
  });

  it('the same turn_id with a different body is 409 turn_conflict and changes nothing', async () => {
    const id = await newSession();
    expect((await turn(id, { turn_id: 't', events: [{ type: 'a.b', data: 1 }] })).statusCode).toBe(201);
    const settled = await footprint(id);
    const problem = expectProblem(await turn(id, { turn_id: 't', events: [{ type: 'a.b', data: 2 }] }), 409, 'turn_conflict');
    expect(problem.turn_id).toBe('t');
    expect(await footprint(id)).toEqual(settled);
  });

  it('a turn without base_version or state commits its other parts; turns counts every turn', async () => {
    const id = await newSession(null);
    const res = await turn(id, { turn_id: 'plain', events: [{ type: 'note', data: {} }] });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ version: 0, last_seq: res.json().first_seq + 1 });
    expect((await session(id)).usage).toEqual({ input_tokens: 0, output_tokens: 0, cost_usd: 0, turns: 1 });
  });

  it('base_version without state only asserts the version: the state and its version stay, and turn.committed says state_changed false', async () => {
    const id = await newSession({ todo: ['kept'] });
    const res = await turn(id, { turn_id: 'asserted', base_version: 1, events: [{ type: 'note', data: {} }] });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ version: 1 });
    expect(await state(id)).toMatchObject({ version: 1, snapshot: { todo: ['kept'] } });
    const committed = (await history(id)).find((e) => e.type === 'turn.committed');
    expect(committed.data).toMatchObject({ turn_id: 'asserted', version: 1, state_changed: false });
  });

  it('a snapshot in state replaces the state and may raise schema_version, as PUT /state does', async () => {
    const id = await newSession({ todo: ['old'] });
    const res = await turn(id, {
      turn_id: 'compact',
      base_version: 1,
      state: { snapshot: { todo: ['fresh'] }, schema_version: 2 },
      messages: [{ role: 'assistant', content: 'migrated' }],
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ version: 2 });
    expect(await state(id)).toMatchObject({ version: 2, schema_version: 2, snapshot: { todo: ['fresh'] } });
    const turnEvents = (await history(id)).filter((e) => e.seq >= res.json().first_seq);
    expect(turnEvents.map((e) => e.type)).toEqual(['state.snapshot', 'message.appended', 'turn.committed']);
    expect(turnEvents[2].data).toMatchObject({ version: 2, state_changed: true });
  });

  describe('a refused part refuses the whole turn, naming the part and index', () => {
    // The delta each sends next to a snapshot: a null merge patch and an empty binary delta are deltas too, as on the state routes.
    const bothWith = { patch: { patch: [] }, merge_patch: { merge_patch: null }, delta_base64: { delta_base64: '' } };
    type RefusalCase = [string, (id: string, claimId: string) => unknown, number, string, Record<string, unknown>];
    const cases: RefusalCase[] = [
      ['a stale base_version', () => ({ base_version: 0, state: { merge_patch: { x: 1 } } }), 409, 'version_conflict', { part: 'state', expected_version: 0 }],
      ['a base_version ahead of the head, without state', () => ({ base_version: 7 }), 409, 'version_conflict', { part: 'state' }],
      ['a base_version behind the head, without state', () => ({ base_version: 0 }), 409, 'version_conflict', { part: 'state', expected_version: 0 }],
      ['a patch that does not apply', () => ({ base_version: 1, state: { patch: [{ op: 'remove', path: '/nope' }] } }), 422, 'patch_failed', { part: 'state', op_index: 0 }],
      [
        'state without base_version',
        () => ({ state: { merge_patch: {} } }),
        400,
        'invalid_request',
        { part: 'state', detail: expect.stringContaining('base_version'), errors: [{ in: 'body', field: '/base_version', message: expect.stringContaining('required') }] },
      ],
      [
        'a snapshot without schema_version',
        () => ({ base_version: 1, state: { snapshot: { todo: ['x'] } } }),
        400,
        'invalid_request',
        {
          part: 'state',
          detail: expect.stringContaining('schema_version'),
          errors: [{ in: 'body', field: '/state/schema_version', message: expect.stringContaining('required') }],
        },
      ],
      // A state change is one snapshot or one delta; the delta is not dropped silently.
      ...(['patch', 'merge_patch', 'delta_base64'] as const).map(
        (delta): RefusalCase => [
          `a snapshot with ${delta} too`,
          () => ({ base_version: 1, state: { snapshot: { todo: ['x'] }, schema_version: 1, ...bothWith[delta] } }),
          400,
          'invalid_request',
          {
            part: 'state',
            detail: expect.stringMatching(/snapshot or a delta/),
            errors: [{ in: 'body', field: `/state/${delta}`, message: expect.stringContaining('snapshot') }],
          },
        ],
      ),
      ['a reserved event type', () => ({ events: [{ type: 'ok', data: 1 }, { type: 'turn.committed', data: 1 }] }), 400, 'reserved_event_type', { part: 'events', index: 1 }],
      ['an unknown claim', (_, claimId) => ({ complete_claims: [claimId, '0000-unknown'] }), 404, 'claim_not_found', { part: 'complete_claims', index: 1 }],
      ['an unknown attachment', () => ({ attachments: ['0'.repeat(64)] }), 404, 'attachment_not_found', { part: 'attachments', index: 0 }],
    ];
    for (const [name, body, status, code, members] of cases) {
      it(`${name}: ${status} ${code}`, async () => {
        const id = await newSession();
        const claimId = await enqueueAndClaim(id, [1]);
        const before = await footprint(id);
        const problem = expectProblem(
          await turn(id, {
            turn_id: `refused-${name.replace(/ /g, "-")}`,
            messages: [{ role: 'user', content: 'not stored' }],
            usage: [{ model: 'm', input_tokens: 1, output_tokens: 1 }],
            ...(body(id, claimId) as object),
          }),
          status,
          code,
        );
        expect(problem).toMatchObject(members);
        expect(await footprint(id)).toEqual(before);
        // The turn_id stays free: a corrected turn commits under it.
        expect((await turn(id, { turn_id: `refused-${name.replace(/ /g, "-")}` })).statusCode).toBe(201);
      });
    }
  });

  it('is fenced like every write: no token under a lease is lease_held, a stale one lease_lost', async () => {
    const id = await newSession();
    const token = await claimLease(id);
    expectProblem(await turn(id, { turn_id: 'x', events: [{ type: 'a', data: 1 }] }), 409, 'lease_held');
    expect((await call(t.app, 'DELETE', `/v1/sessions/${id}/lease`, undefined, { 'lease-token': token })).statusCode).toBe(204);
    await claimLease(id);
    const before = await footprint(id);
    expectProblem(await turn(id, { turn_id: 'x', events: [{ type: 'a', data: 1 }] }, { 'lease-token': token }), 409, 'lease_lost');
    expect(await footprint(id)).toEqual(before);
  });

  it('release_lease without a Lease-Token is refused as that part', async () => {
    const id = await newSession();
    const before = await footprint(id);
    const problem = expectProblem(await turn(id, { turn_id: 'r', release_lease: true }), 400, 'invalid_request');
    expect(problem).toMatchObject({
      part: 'release_lease',
      detail: expect.stringContaining('Lease-Token'),
      errors: [{ in: 'headers', field: '/lease-token', message: expect.stringContaining('release_lease') }],
    });
    expect(await footprint(id)).toEqual(before);
  });

  it('two workers racing turns on one session: one wins, the other gets version_conflict and nothing of its turn is visible', async () => {
    const id = await newSession();
    const racer = (name: string) =>
      turn(id, {
        turn_id: name,
        base_version: 1,
        state: { merge_patch: { winner: name } },
        events: [{ type: 'racer.step', data: name }],
        messages: [{ role: 'assistant', content: name }],
        usage: [{ model: 'm', input_tokens: 1, output_tokens: 1 }],
      });
    const [a, b] = await Promise.all([racer('a'), racer('b')]);
    const statuses = [a.statusCode, b.statusCode].sort();
    expect(statuses).toEqual([201, 409]);
    const winner = a.statusCode === 201 ? 'a' : 'b';
    expectProblem(a.statusCode === 201 ? b : a, 409, 'version_conflict');
    expect((await state(id)).snapshot).toEqual({ todo: [], winner });
    expect((await messages(id)).map((m) => m.content)).toEqual([winner]);
    const stepData = (await history(id)).filter((e) => e.type === 'racer.step' || e.type === 'turn.committed').map((e) => e.data.turn_id ?? e.data);
    expect(stepData).toEqual([winner, winner]);
    expect((await session(id)).usage.turns).toBe(1);
  });
});

describe('the turn.committed event: what a reader of the history learns of a turn', () => {
  it('names every part exactly: the message ids as stored, the claims, attachments and usage as sent, the counts and flags', async () => {
    const id = await newSession();
    const claimId = await enqueueAndClaim(id, [{ text: 'job' }]);
    const upload = await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: 'notes', headers: { 'content-type': 'text/plain' } });
    expect(upload.statusCode, upload.body).toBe(201);
    const aid = upload.json().attachment_id as string;
    const usage = [
      { model: 'm-1', input_tokens: 3, output_tokens: 4, cost_usd: 0.25 },
      { model: 'm-2', input_tokens: 0, output_tokens: 1 },
    ];
    const before = await session(id);
    const res = await turn(id, {
      turn_id: 'summarised',
      events: [
        { type: 'tool.call', data: 1 },
        { type: 'tool.result', data: 2 },
      ],
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', kind: 'answer', content: 'a' },
      ],
      complete_claims: [claimId],
      attachments: [aid],
      usage,
    });
    expect(res.statusCode, res.body).toBe(201);
    const answer = res.json();
    // No state part: the head version is unchanged, and the answer says so.
    expect(answer).toEqual({ turn_id: 'summarised', version: 1, first_seq: before.last_seq + 1, last_seq: before.last_seq + 7 });
    const stored = await messages(id);
    expect(stored.map((m) => [m.role, m.kind, m.content])).toEqual([
      ['user', 'message', 'q'],
      ['assistant', 'answer', 'a'],
    ]);
    const turnEvents = (await history(id)).filter((e) => e.seq >= answer.first_seq);
    expect(turnEvents.map((e) => e.type)).toEqual([
      'tool.call',
      'tool.result',
      'message.appended',
      'message.appended',
      'queue.completed',
      'attachment.committed',
      'turn.committed',
    ]);
    expect(turnEvents.at(-1).seq).toBe(answer.last_seq);
    expect(turnEvents.at(-1).data).toEqual({
      turn_id: 'summarised',
      version: 1,
      first_seq: answer.first_seq,
      state_changed: false,
      events: 2,
      message_ids: stored.map((m) => m.id),
      completed_claims: [claimId],
      attachments: [aid],
      usage,
      lease_released: false,
    });
    expect((await session(id)).usage).toEqual({ input_tokens: 3, output_tokens: 5, cost_usd: 0.25, turns: 1 });
  });
});

describe('a turn and the conversation version', () => {
  const conversation = async (id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/messages/meta`)).json();

  it('a turn with messages is one append (the conversation moves by one); a turn without any leaves it where it was', async () => {
    const id = await newSession(null);
    expect((await turn(id, { turn_id: 'talks', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] })).statusCode).toBe(201);
    expect(await conversation(id)).toEqual({ version: 1, last_seq: 2, message_count: 2, archived_count: 0 });
    expect((await turn(id, { turn_id: 'silent', events: [{ type: 'note', data: 1 }], usage: [{ model: 'm', input_tokens: 1, output_tokens: 1 }] })).statusCode).toBe(201);
    expect(await conversation(id)).toEqual({ version: 1, last_seq: 2, message_count: 2, archived_count: 0 });
    // The append routes' expected_version still matches: the silent turn did not move it.
    expect((await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'c' }], expected_version: 1 })).statusCode).toBe(201);
  });
});

describe('concurrent turns', () => {
  it('without base_version all commit, each over consecutive seqs of its own: no turn interleaves with another', async () => {
    const id = await newSession(null);
    const answers = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((name) =>
        turn(id, {
          turn_id: `racer-${name}`,
          events: [{ type: 'step', data: name }, { type: 'step', data: name }],
          messages: [{ role: 'assistant', content: name }],
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(5).fill(201));
    const events = await history(id);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const answer of answers.map((a) => a.json())) {
      const name = answer.turn_id.slice('racer-'.length);
      const span = events.filter((e) => e.seq >= answer.first_seq && e.seq <= answer.last_seq);
      expect(span.map((e) => [e.type, e.type === 'turn.committed' ? e.data.turn_id : e.type === 'message.appended' ? e.data.content : e.data])).toEqual([
        ['step', name],
        ['step', name],
        ['message.appended', name],
        ['turn.committed', answer.turn_id],
      ]);
    }
    expect((await session(id)).usage.turns).toBe(5);
  });
});

describe('turn_id: 1-255 visible ASCII characters', () => {
  const visible = '!~'.repeat(127) + 'x';
  it.each([
    ['255 of them, the extremes of the range included', visible, 201],
    ['a single one', 'x', 201],
    ['256 of them', `${visible}y`, 400],
    ['none', '', 400],
    ['a space', 'has space', 400],
    ['a non-ASCII letter', 'tour-\u00e9', 400],
    ['a control character', 'tab\tbed', 400],
  ])('%s', async (_what, turnId, status) => {
    const id = await newSession(null);
    const res = await turn(id, { turn_id: turnId, events: [{ type: 'note', data: 1 }] });
    expect(res.statusCode, res.body).toBe(status);
    if (status === 400) {
      expect(expectProblem(res, 400, 'invalid_request').errors[0].field).toBe('/turn_id');
      expect((await session(id)).last_seq).toBe(0);
    } else {
      expect(res.json().turn_id).toBe(turnId);
      // And it replays under the same id.
      expect((await turn(id, { turn_id: turnId, events: [{ type: 'note', data: 1 }] })).headers['idempotent-replayed']).toBe('true');
    }
  });
});

describe('a turn is bounded: its lists, and the turn.committed event that names them', () => {
  const MAX_BATCH_EVENTS = 6;
  const MAX_EVENT_BYTES = 1024;
  let small: TestApp;
  const smallQueries: string[] = [];
  beforeAll(async () => {
    small = await createTestApp({
      env: { MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS), MAX_EVENT_BYTES: String(MAX_EVENT_BYTES) },
      logQuery: (query) => smallQueries.push(query),
      // The expiry sweeps query every 500 ms; a refusal's "no query at all" is about the request's own.
      sweeps: false,
    });
  });
  afterAll(() => small.close());

  const sendTurn = (id: string, body: unknown) => call(small.app, 'POST', `/v1/sessions/${id}/turns`, body);
  const digest = (n: number) => n.toString(16).padStart(64, '0');
  const eventsOf = async (id: string): Promise<any[]> => (await call(small.app, 'GET', `/v1/sessions/${id}/events?limit=1000`)).json().events;
  async function smallSession(): Promise<string> {
    const id = `bounded-${++counter}`;
    expect((await call(small.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    return id;
  }
  /** Refused before the session is looked at, so before its lock: no query at all. */
  async function refusedUnread(id: string, body: unknown, status: number, code: string) {
    const before = await eventsOf(id);
    smallQueries.length = 0;
    const problem = expectProblem(await sendTurn(id, body), status, code);
    expect(smallQueries).toEqual([]);
    expect(await eventsOf(id)).toEqual(before);
    expect((await call(small.app, 'GET', `/v1/sessions/${id}`)).json().usage.turns).toBe(0);
    return problem;
  }

  it('its lists together hold at most MAX_BATCH_EVENTS items: one attachment named many times is 413 before the lock', async () => {
    const id = await smallSession();
    const aid = (
      await small.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: 'x', headers: { 'content-type': 'text/plain' } })
    ).json().attachment_id;
    const problem = await refusedUnread(id, { turn_id: 'many', attachments: Array(5000).fill(aid) }, 413, 'payload_too_large');
    expect(problem).toMatchObject({ limit: MAX_BATCH_EVENTS, size: 5000 });
    expect(problem.detail).toMatch(/MAX_BATCH_EVENTS/);
    const usage = { model: 'm', input_tokens: 1, output_tokens: 1 };
    const mixed = {
      turn_id: 'mixed',
      events: [{ type: 'a', data: 1 }],
      messages: [{ role: 'user', content: 'hi' }],
      complete_claims: ['c1', 'c2'],
      attachments: [digest(1), digest(2)],
      usage: [usage],
    };
    expect(await refusedUnread(id, mixed, 413, 'payload_too_large')).toMatchObject({ limit: MAX_BATCH_EVENTS, size: 7 });
    // At the bound the turn is taken.
    expect((await sendTurn(id, { turn_id: 'at-bound', attachments: [aid], usage: Array(MAX_BATCH_EVENTS - 1).fill(usage) })).statusCode).toBe(201);
  });

  it('an attachment or claim named twice is 400 naming the second, before the lock', async () => {
    const id = await smallSession();
    const twice = await refusedUnread(id, { turn_id: 'twice', attachments: [digest(1), digest(2), digest(1)] }, 400, 'invalid_request');
    expect(twice).toMatchObject({ part: 'attachments', index: 2, errors: [{ in: 'body', field: '/attachments/2', message: 'repeats attachments[0]' }] });
    expect(twice.detail).toMatch(/attachments\[2\] is attachments\[0\] again/);
    const claims = await refusedUnread(id, { turn_id: 'claims', complete_claims: ['a-1', 'a-1'] }, 400, 'invalid_request');
    expect(claims).toMatchObject({ part: 'complete_claims', index: 1, errors: [{ in: 'body', field: '/complete_claims/1' }] });
  });

  it('a turn whose turn.committed event would pass MAX_EVENT_BYTES is 413 before the lock; one that fits commits within it', async () => {
    const id = await smallSession();
    // Each entry is within its own bounds (a model name of 200 characters), together too much for one event.
    const usage = (model: string) => ({ model, input_tokens: Number.MAX_SAFE_INTEGER, output_tokens: 0, cost_usd: 0.1 });
    const tooBig = { turn_id: 'big', usage: Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => usage(`${i}`.padEnd(200, '\u0001'))) };
    const problem = await refusedUnread(id, tooBig, 413, 'payload_too_large');
    expect(problem).toMatchObject({ limit_bytes: MAX_EVENT_BYTES });
    expect(problem.size).toBeGreaterThan(MAX_EVENT_BYTES);
    expect(problem.detail).toMatch(/turn\.committed.*MAX_EVENT_BYTES/);

    const fits = { turn_id: 'fits', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], usage: [usage('m'.repeat(200))] };
    expect((await sendTurn(id, fits)).statusCode).toBe(201);
    const committed = (await eventsOf(id)).find((e) => e.type === 'turn.committed');
    expect(Buffer.byteLength(JSON.stringify(committed.data))).toBeLessThanOrEqual(MAX_EVENT_BYTES);
  });

  it('a claim that expired is 409 claim_expired as that part, and the refused turn stores nothing, not even the expiry', async () => {
    // This app runs no sweeps: the turn is the first to find the claim dead.
    const id = await smallSession();
    expect((await call(small.app, 'POST', `/v1/sessions/${id}/queue`, { items: ['work'] })).statusCode).toBe(201);
    const claimed = await call(small.app, 'POST', `/v1/sessions/${id}/queue/claim`, { max_batches: 1, ttl_ms: 100 });
    expect(claimed.statusCode, claimed.body).toBe(200);
    const claimId = claimed.json().claim_id as string;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = await eventsOf(id);
    const problem = expectProblem(
      await sendTurn(id, { turn_id: 'late', messages: [{ role: 'assistant', content: 'done' }], complete_claims: [claimId] }),
      409,
      'claim_expired',
    );
    expect(problem).toMatchObject({ part: 'complete_claims', index: 0, claim_id: claimId });
    expect(await eventsOf(id)).toEqual(before);
    expect((await call(small.app, 'GET', `/v1/sessions/${id}`)).json()).toMatchObject({ message_count: 0, usage: { turns: 0 } });
    // The turn_id is free: the same turn without the dead claim commits.
    expect((await sendTurn(id, { turn_id: 'late', messages: [{ role: 'assistant', content: 'done' }] })).statusCode).toBe(201);
  });

  it('the turn.committed bound is in bytes, at its widest: exactly MAX_EVENT_BYTES commits, one byte more is 413', async () => {
    // The widest event the turn could make: version and first_seq up to 2^53-1, each message id a UUID's 36 characters.
    const widest = (body: { turn_id: string; messages: unknown[]; usage: unknown[] }) =>
      Buffer.byteLength(
        JSON.stringify({
          turn_id: body.turn_id,
          version: Number.MAX_SAFE_INTEGER,
          first_seq: Number.MAX_SAFE_INTEGER,
          state_changed: false,
          events: 0,
          message_ids: body.messages.map(() => '0'.repeat(36)),
          completed_claims: [],
          attachments: [],
          usage: body.usage,
          lease_released: false,
        }),
      );
    /** A turn whose widest event is `bytes` long: model names of two-byte characters, so bytes and characters differ. */
    const turnOfBytes = (turnId: string, bytes: number) => {
      const body = {
        turn_id: turnId,
        messages: [{ role: 'user', content: 'hi' }],
        usage: [0, 1, 2].map(() => ({ model: 'a', input_tokens: 1, output_tokens: 1 })),
      };
      for (const item of body.usage) {
        while (item.model.length < 200 && bytes - widest(body) >= 2) item.model += 'é';
        if (item.model.length < 200 && bytes - widest(body) === 1) item.model += 'a';
      }
      expect(widest(body)).toBe(bytes);
      return body;
    };
    const id = await smallSession();
    const over = await refusedUnread(id, turnOfBytes('edge-over', MAX_EVENT_BYTES + 1), 413, 'payload_too_large');
    expect(over).toMatchObject({ limit_bytes: MAX_EVENT_BYTES, size: MAX_EVENT_BYTES + 1 });
    const res = await sendTurn(id, turnOfBytes('edge-at', MAX_EVENT_BYTES));
    expect(res.statusCode, res.body).toBe(201);
    const committed = (await eventsOf(id)).find((e) => e.type === 'turn.committed');
    expect(committed.data.message_ids[0]).toHaveLength(36);
    expect(Buffer.byteLength(JSON.stringify(committed.data))).toBeLessThan(MAX_EVENT_BYTES);
  });
});

describe('the session list', () => {
  it('shows first_user_message and message_count without reading any message', async () => {
    const id = await newSession(null);
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'system', content: 'be brief' }] });
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, {
      messages: [
        { role: 'user', content: 'x'.repeat(500) },
        { role: 'user', content: 'second' },
      ],
    });
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: { text: 'later' } }] });
    const other = await newSession(null);
    await call(t.app, 'POST', `/v1/sessions/${other}/messages`, { messages: [{ role: 'user', content: { text: 'hi' } }] });

    queries.length = 0;
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions;
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.filter((q) => /\bmessages\b/.test(q))).toEqual([]);
    const byId = new Map(listed.map((s: any) => [s.id, s]));
    expect(byId.get(id)).toMatchObject({ first_user_message: 'x'.repeat(200), message_count: 4 });
    expect(byId.get(other)).toMatchObject({ first_user_message: '{"text":"hi"}', message_count: 1 });
  });

  it('cuts first_user_message at 200 characters, not UTF-16 units: no emoji is halved', async () => {
    const id = await newSession(null);
    // Each emoji is two UTF-16 units: a cut in units would keep 100 of them, or end in half of one.
    const emoji = '\u{1F600}';
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: `a${emoji.repeat(300)}` }] });
    const listed = (await call(t.app, 'GET', '/v1/sessions?limit=1000')).json().sessions;
    const shown = listed.find((s: { id: string }) => s.id === id).first_user_message as string;
    expect(shown).toBe(`a${emoji.repeat(199)}`);
    expect(Array.from(shown)).toHaveLength(200);
  });
});

describe('a turn answered once, and only once it is stored', () => {
  it('its first answer is not marked replayed; its retry is', async () => {
    const id = await newSession();
    const first = await turn(id, { turn_id: 'once', events: [{ type: 'note', data: 1 }] });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await turn(id, { turn_id: 'once', events: [{ type: 'note', data: 1 }] });
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('a turn without messages names none in its turn.committed event', async () => {
    const id = await newSession();
    expect((await turn(id, { turn_id: 'quiet', events: [{ type: 'note', data: 1 }] })).statusCode).toBe(201);
    const committed = (await history(id)).at(-1);
    expect(committed.type).toBe('turn.committed');
    expect(committed.data.message_ids ?? []).toEqual([]);
  });

  /**
   * A part the database refuses while the turn's statements are in flight (a trigger stands for a constraint,
   * a full disk, a killed backend): the turn is a 500 and nothing of it is stored, so the worker retries it,
   * and the log names the database's own error, not only the ROLLBACK that Postgres answered the COMMIT with
   * (or the statements after it refused as in a failed transaction).
   */
  for (const [part, table, event, body] of [
    ['its state change', 'state_snapshots', 'insert', { base_version: 1, state: { snapshot: { todo: ['x'] }, schema_version: 1 } }],
    ['its messages', 'messages', 'insert', { messages: [{ role: 'user', content: 'hello' }] }],
    ['its lease release', 'sessions', 'update', { release_lease: true }],
    ['its record', 'turns', 'insert', { events: [{ type: 'note', data: 1 }] }],
  ] as const) {
    it(`${part} refused by the database: 500, and nothing of the turn is stored`, async () => {
      const id = await newSession();
      const token = await claimLease(id);
      const before = await footprint(id);
      const fn = `refuse_turn_${table}`;
      const { sid } = (await t.database.db`select sid from sessions where id = ${id}`)[0] as { sid: string };
      const when = table === 'sessions' ? `(new.sid = ${sid} and new.lease_owner is null and old.lease_owner is not null)` : `(new.session_sid = ${sid})`;
      await t.database.db.unsafe(`
        create function ${fn}() returns trigger language plpgsql as
          $$ begin raise exception 'the test refuses this write'; end $$;
        create trigger ${fn} before ${event} on ${table} for each row when ${when} execute function ${fn}();
      `);
      try {
        errors.lines.length = 0;
        expectProblem(await turn(id, { turn_id: `refused-${table}`, ...body }, { 'lease-token': token }), 500, 'internal_error');
        expect(errors.entries().map((entry) => entry.err?.message)).toEqual(['the test refuses this write']);
        expect(await footprint(id)).toEqual(before);
      } finally {
        await t.database.db.unsafe(`drop trigger ${fn} on ${table}; drop function ${fn}()`);
      }
      const retried = await turn(id, { turn_id: `refused-${table}`, ...body }, { 'lease-token': token });
      expect(retried.statusCode, retried.body).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
    });
  }
});

describe('a turn on a binary session', () => {
  it('replaces the state with snapshot_base64, as PUT state does; without schema_version it is refused', async () => {
    const id = `turns-binary-${++counter}`;
    expect((await call(t.app, 'POST', '/v1/sessions', { id, encoding: 'binary' })).statusCode).toBe(201);
    const snapshot = Buffer.from([1, 2, 3]).toString('base64');
    const res = await turn(id, { turn_id: 'bin-1', base_version: 0, state: { snapshot_base64: snapshot, schema_version: 2 } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().version).toBe(1);
    expect(await state(id)).toMatchObject({ mode: 'snapshot', version: 1, schema_version: 2, snapshot_base64: snapshot });
    const first = (await history(id)).find((event) => event.seq === res.json().first_seq);
    expect(first.type).toBe('state.snapshot');
    // Without schema_version it is refused as a snapshot is, naming the member.
    const refused = expectProblem(await turn(id, { turn_id: 'bin-2', base_version: 1, state: { snapshot_base64: snapshot } }), 400, 'invalid_request');
    expect(JSON.stringify(refused)).toContain('/state/schema_version');
  });
});

describe('a turn that changes the state', () => {
  it('needs base_version: 400 naming it, not a version conflict, and nothing stored', async () => {
    const id = await newSession();
    const before = await footprint(id);
    const refused = expectProblem(await turn(id, { turn_id: 'no-base', state: { merge_patch: { a: 1 } } }), 400, 'invalid_request');
    expect(JSON.stringify(refused)).toContain('/base_version');
    expect(await footprint(id)).toEqual(before);
  });
});

describe('a turn refused for its size names what is too large', () => {
  it('an event\'s data, a message\'s content, and the count of items across its lists', async () => {
    const small = await createTestApp({ env: { MAX_EVENT_BYTES: '1024', MAX_BATCH_EVENTS: '4' } });
    try {
      const create = await call(small.app, 'POST', '/v1/sessions', { id: 'turn-sizes' });
      expect(create.statusCode).toBe(201);
      const post = (body: unknown) => call(small.app, 'POST', '/v1/sessions/turn-sizes/turns', body);
      const big = 'x'.repeat(2000);
      const data = expectProblem(await post({ turn_id: 'a', events: [{ type: 'ok', data: 1 }, { type: 'big', data: big }] }), 413, 'payload_too_large');
      expect(data.detail).toContain('events[1].data');
      const content = expectProblem(await post({ turn_id: 'b', messages: [{ role: 'user', content: big }] }), 413, 'payload_too_large');
      expect(content.detail).toContain('messages[0].content');
      const items = expectProblem(
        await post({ turn_id: 'c', events: [1, 2, 3].map((n) => ({ type: 'n', data: n })), messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }),
        413,
        'payload_too_large',
      );
      expect(items.detail).toContain('items across events, messages, complete_claims, attachments and usage');
      expect((await call(small.app, 'GET', '/v1/sessions/turn-sizes')).json().last_seq).toBe(0);
    } finally {
      await small.close();
    }
  });
});

describe('a turn_id, across sessions and copies', () => {
  it('adds each usage total to what the turns before it reported: tokens in and out apart, cost_usd too', async () => {
    const id = await newSession(null);
    const usage = (input_tokens: number, output_tokens: number, cost_usd: number) => [{ model: 'm', input_tokens, output_tokens, cost_usd }];
    expect((await turn(id, { turn_id: 'u1', usage: usage(3, 50, 0.25) })).statusCode).toBe(201);
    expect((await turn(id, { turn_id: 'u2', usage: usage(7, 100, 0.5) })).statusCode).toBe(201);
    expect((await session(id)).usage).toEqual({ input_tokens: 10, output_tokens: 150, cost_usd: 0.75, turns: 2 });
  });

  it('belongs to its session: the same turn_id on another session commits there, neither a replay nor a conflict', async () => {
    const a = await newSession(null);
    const b = await newSession(null);
    const first = await turn(a, { turn_id: 'shared-id', events: [{ type: 'note', data: 'a' }] });
    expect(first.statusCode, first.body).toBe(201);
    const same = await turn(b, { turn_id: 'shared-id', events: [{ type: 'note', data: 'a' }] });
    expect(same.statusCode, same.body).toBe(201);
    expect(same.headers['idempotent-replayed']).toBeUndefined();
    const other = await turn(b, { turn_id: 'shared-id-2', events: [{ type: 'note', data: 'b' }] });
    expect(other.statusCode, other.body).toBe(201);
    expect((await session(b)).usage.turns).toBe(2);
    expect((await history(b)).filter((event) => event.type === 'turn.committed')).toHaveLength(2);
  });

  it('keeps its created_at in an imported copy: the copy exports the turn as the original did', async () => {
    const id = await newSession(null);
    expect((await turn(id, { turn_id: 'kept', events: [{ type: 'note', data: {} }] })).statusCode).toBe(201);
    // Committed an hour before the export, so a copy stamping its import time differs.
    await t.database.db`update turns set created_at = now() - interval '1 hour' where session_sid = (select sid from sessions where id = ${id})`;
    await importCopy(t, id);
    const original = await exportRecords(t, id, 'turn');
    expect(original).toHaveLength(1);
    expect(await exportRecords(t, `${id}-copy`, 'turn')).toEqual(original);
    // And a retry of it on the copy replays the original's answer.
    const again = await turn(`${id}-copy`, { turn_id: 'kept', events: [{ type: 'note', data: {} }] });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });
});

describe('release_lease: only true releases the lease', () => {
  it('a turn sending release_lease: false commits under the lease and keeps it: no lease.released, and its token still writes', async () => {
    const id = await newSession();
    const token = await claimLease(id);
    const held = (await session(id)).lease;
    const res = await turn(id, { turn_id: 'keeps-lease', events: [{ type: 'note', data: 1 }], release_lease: false }, { 'lease-token': token });
    expect(res.statusCode, res.body).toBe(201);
    const turnEvents = (await history(id)).filter((e) => e.seq >= res.json().first_seq);
    expect(turnEvents.map((e) => e.type)).toEqual(['note', 'turn.committed']);
    expect(turnEvents[1].data).toMatchObject({ turn_id: 'keeps-lease', lease_released: false });
    expect((await session(id)).lease).toEqual(held);
    // Still held: a write without the token is refused, the holder's goes on.
    expectProblem(await turn(id, { turn_id: 'no-token', events: [{ type: 'note', data: 2 }] }), 409, 'lease_held');
    expect((await turn(id, { turn_id: 'next', events: [{ type: 'note', data: 3 }] }, { 'lease-token': token })).statusCode).toBe(201);
  });
});
