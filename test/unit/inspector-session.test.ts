import { describe, expect, it } from 'vitest';
import { type DurableEvent, type Session, SessionSyncError } from '../../client/src/index.js';
import {
  Activities,
  binaryState,
  historyStatus,
  leaseWords,
  liveText,
  NO_LEASE,
  oldestAfterFirstPage,
  readRange,
  recordFields,
  RUNNING_TEXT_CHARS,
  runningText,
  stateLine,
} from '../../inspector/src/session-text.js';

// The inspector's session view (docs/guide.md, Inspector): its record, lease, state, history paging back
// to the start, live text and the activity changes since the page opened.

const session = (fields: Partial<Session>): Session =>
  ({
    id: 'trip:paris',
    parent_id: null,
    encoding: 'json',
    schema_version: null,
    version: 0,
    last_seq: 0,
    message_count: 0,
    first_user_message: null,
    created_at: '2026-12-03T12:00:00.000Z',
    updated_at: '2026-12-03T12:05:00.000Z',
    expires_at: null,
    ...fields,
  }) as Session;

describe('the session\'s record', () => {
  it('lists its fields in order, a parent as a link and dates as times', () => {
    expect(
      recordFields(
        session({ parent_id: 'trip', schema_version: 2, version: 7, last_seq: 40, message_count: 3, first_user_message: 'plan day 1', expires_at: '2027-01-01T00:00:00.000Z' }),
      ),
    ).toEqual([
      ['parent', { session: 'trip' }],
      ['encoding', { text: 'json' }],
      ['schema version', { text: 2 }],
      ['version', { text: 7 }],
      ['last seq', { text: 40 }],
      ['messages', { text: 3 }],
      ['first user message', { text: 'plan day 1' }],
      ['created', { time: '2026-12-03T12:00:00.000Z' }],
      ['updated', { time: '2026-12-03T12:05:00.000Z' }],
      ['expires', { time: '2027-01-01T00:00:00.000Z' }],
    ]);
  });

  it('marks what a new session has none of, and an expiry it does not have as never', () => {
    const fields = new Map(recordFields(session({})));
    expect(fields.get('parent')).toEqual({ text: '—' });
    expect(fields.get('schema version')).toEqual({ text: '—' });
    expect(fields.get('first user message')).toEqual({ text: '—' });
    expect(fields.get('expires')).toEqual({ text: 'never' });
    expect(fields.get('version')).toEqual({ text: 0 });
  });

  it('says who holds the lease, its fencing token and when it expires', () => {
    const now = Date.parse('2026-12-03T12:00:00.000Z');
    expect(leaseWords({ owner: 'worker-7', fencing_token: 3, expires_at: '2026-12-03T12:00:12.000Z' }, now)).toEqual({ token: ' (fencing token 3), expires ', expiry: ' (in 12 s)' });
    expect(leaseWords({ owner: 'worker-7', fencing_token: 4, expires_at: '2026-12-03T11:59:57.000Z' }, now).expiry).toBe(' (3 s ago)');
    expect(NO_LEASE).toBe('No lease: any writer may write.');
  });
});

/** A history of `n` events read through pages of at most `perPage` (the server's byte bound ending them early). */
function pages(n: number, perPage: number) {
  const calls: [number, number][] = [];
  const page = async (after: number, limit: number) => {
    calls.push([after, limit]);
    const events: DurableEvent[] = [];
    for (let seq = after + 1; seq <= Math.min(n, after + Math.min(limit, perPage)); seq++) events.push({ seq, type: 'note', data: {}, created_at: '' });
    return { events, last_seq: events.at(-1)?.seq ?? after };
  };
  return { page, calls };
}

describe('the history read back page by page', () => {
  it('reads on until the seq asked for when pages end early', async () => {
    const { page, calls } = pages(100, 3);
    const events = await readRange(40, 50, page);
    expect(events?.map((e) => e.seq)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
    expect(calls).toEqual([
      [40, 10],
      [43, 7],
      [46, 4],
      [49, 1],
    ]);
  });

  it('reads nothing for an empty range', async () => {
    const { page, calls } = pages(100, 3);
    expect(await readRange(50, 50, page)).toEqual([]);
    expect(await readRange(50, 10, page)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('stops at an empty page (fewer events than asked for)', async () => {
    const { page, calls } = pages(44, 3);
    expect((await readRange(40, 50, page))?.map((e) => e.seq)).toEqual([41, 42, 43, 44]);
    expect(calls).toEqual([
      [40, 10],
      [43, 7],
      [44, 6],
    ]);
  });

  it('goes on from the page\'s last_seq, and keeps nothing past the seq asked for', async () => {
    const calls: number[] = [];
    const page = async (after: number) => {
      calls.push(after);
      // A page whose events stop short of its last_seq, then one past the range (events committed since).
      if (after === 0) return { events: [{ seq: 1, type: 'a', data: {}, created_at: '' }], last_seq: 3 };
      return { events: [4, 5, 6, 7].map((seq) => ({ seq, type: 'b', data: {}, created_at: '' })), last_seq: 7 };
    };
    expect((await readRange(0, 5, page))?.map((e) => e.seq)).toEqual([1, 4, 5]);
    expect(calls).toEqual([0, 3]);
  });

  it('gives up on a view closed meanwhile, and lets a failed read fail', async () => {
    let closed = false;
    const { page } = pages(100, 3);
    const closing = async (after: number, limit: number) => {
      const answer = await page(after, limit);
      closed = true;
      return answer;
    };
    expect(await readRange(40, 50, closing, () => closed)).toBeUndefined();
    const refused = new SessionSyncError({ status: 403, code: 'forbidden', detail: 'no' });
    await expect(readRange(0, 5, () => Promise.reject(refused))).rejects.toBe(refused);
  });

  it('starts the shown history at the first page\'s oldest event', () => {
    const page = [41, 42, 50].map((seq) => ({ seq, type: 'note', data: {}, created_at: '' }));
    expect(oldestAfterFirstPage(page, 50)).toBe(41);
    // An empty session's history is all there.
    expect(oldestAfterFirstPage([], 0)).toBe(1);
    // Nothing readable up to the head: "Load older" reads below it.
    expect(oldestAfterFirstPage([], 7)).toBe(8);
  });

  it('says whether every event is shown, else where the history shown starts', () => {
    expect(historyStatus(41)).toEqual({ text: 'Showing from seq 41.', atStart: false });
    expect(historyStatus(2)).toEqual({ text: 'Showing from seq 2.', atStart: false });
    expect(historyStatus(1)).toEqual({ text: 'Start of the history: every event is shown.', atStart: true });
    expect(historyStatus(undefined)).toEqual({ text: 'Start of the history: every event is shown.', atStart: true });
  });
});

describe('the state panel', () => {
  it('says what a binary state holds, by size and deltas', () => {
    expect(binaryState({ mode: 'new' })).toBe('No state yet (version 0).');
    expect(binaryState({ mode: 'snapshot', snapshot_base64: 'aGVsbG8=', deltas: [{}, {}] })).toBe(
      "Binary state: a snapshot of 5 bytes and 2 delta(s) after it, in the worker's own format (shown by version only; it follows state events).",
    );
    expect(binaryState({ mode: 'snapshot', snapshot_base64: 'IHdvcmxk', deltas: null })).toMatch(/^Binary state: a snapshot of 6 bytes and 0 delta\(s\) after it/);
    expect(binaryState({ mode: 'snapshot' })).toMatch(/^Binary state: a snapshot of 0 bytes and 0 delta\(s\) after it/);
  });

  it('says the state is loading, and why not yet when it failed to', () => {
    expect(stateLine({ status: 'loading', version: 0, state: null })).toEqual({ loading: 'loading…' });
    expect(stateLine({ status: 'loading', version: 0, state: null, error: SessionSyncError.network(new Error('refused')) }, 'trip:paris')).toEqual({
      loading: 'cannot load the state: The server cannot be reached: it may be down or restarting. (network_error)',
    });
  });

  it('shows the mirror\'s status, with its problem in words, and the problem instead of a state that never loaded', () => {
    expect(stateLine({ status: 'live', version: 3, state: {} })).toEqual({ status: 'live', problem: undefined });
    const gone = new SessionSyncError({ status: 404, code: 'session_deleted', detail: 'deleted' });
    expect(stateLine({ status: 'closed', version: 3, state: { a: 1 }, error: gone }, 'trip:paris')).toEqual({
      status: 'closed: Session "trip:paris" was deleted. (404 session_deleted)',
      problem: undefined,
    });
    expect(stateLine({ status: 'closed', version: 0, state: null, error: gone }, 'trip:paris')).toEqual({
      status: 'closed: Session "trip:paris" was deleted. (404 session_deleted)',
      problem: 'Session "trip:paris" was deleted. (404 session_deleted)',
    });
    expect(stateLine({ status: 'closed', version: 0, state: {}, error: gone })).toMatchObject({ problem: undefined });
    // A state of null past version 0 is a state (a snapshot of null); no state yet without an error is no problem.
    expect(stateLine({ status: 'reconnecting', version: 3, state: null, error: gone })).toEqual({ status: 'reconnecting: This session was deleted. (404 session_deleted)', problem: undefined });
    expect(stateLine({ status: 'live', version: 0, state: null })).toEqual({ status: 'live', problem: undefined });
  });
});

describe('live text', () => {
  it('takes a string or data.text for a fragment, and anything else for a live event', () => {
    expect(liveText('Day 1')).toBe('Day 1');
    expect(liveText('')).toBe('');
    expect(liveText({ text: ': the old town' })).toBe(': the old town');
    for (const other of [{ text: 5 }, { progress: 0.5 }, null, undefined, 7, ['a']]) expect(liveText(other), JSON.stringify(other)).toBeUndefined();
  });

  it('runs fragments together and keeps the tail', () => {
    expect(runningText('Day 1', ': the old town')).toBe('Day 1: the old town');
    const full = 'x'.repeat(RUNNING_TEXT_CHARS);
    expect(runningText(full.slice(1), 'y')).toBe(`${'x'.repeat(RUNNING_TEXT_CHARS - 1)}y`);
    expect(runningText(full, 'yz')).toBe(`${'x'.repeat(RUNNING_TEXT_CHARS - 2)}yz`);
  });
});

describe('activity changes since the page opened', () => {
  it('does not log the activity found on opening, and logs each one after it', () => {
    const activities = new Activities();
    expect(activities.see({ status: 'idle', cursor: 10 })).toEqual({ status: 'idle', detail: '', expired: false, change: false, newStatus: false });
    expect(activities.see({ status: 'thinking', detail: 'step 1' })).toEqual({ status: 'thinking', detail: 'step 1', expired: false, change: true, newStatus: true });
    expect(activities.see({ status: 'thinking', detail: { step: 2 } })).toEqual({ status: 'thinking', detail: '{"step":2}', expired: false, change: true, newStatus: false });
  });

  it('logs a reconnect\'s first activity only when it differs from the last one seen', () => {
    const activities = new Activities();
    activities.see({ status: 'thinking', detail: 'step 1', cursor: 10 });
    expect(activities.see({ status: 'thinking', detail: 'step 1', cursor: 12 }).change).toBe(false);
    expect(activities.see({ status: 'thinking', detail: 'step 2', cursor: 14 }).change).toBe(true);
    expect(activities.see({ status: 'thinking', detail: 'step 2', expired: true, cursor: 15 })).toMatchObject({ change: true, expired: true });
    expect(activities.see({ status: 'idle', detail: 'step 2', expired: true, cursor: 16 })).toMatchObject({ change: true, newStatus: true });
    expect(activities.see({ status: 'idle', detail: 'step 2', expired: true, cursor: 17 })).toMatchObject({ change: false, newStatus: false });
  });

  it('takes an activity without a status for idle', () => {
    const activities = new Activities();
    expect(activities.see({ cursor: 1 })).toEqual({ status: 'idle', detail: '', expired: false, change: false, newStatus: false });
    expect(activities.see({ status: 'idle' })).toMatchObject({ change: true, newStatus: false });
    expect(activities.see({ detail: 'x' }).detail).toBe('x');
  });
});
