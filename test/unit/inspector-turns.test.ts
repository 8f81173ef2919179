import { describe, expect, it } from 'vitest';
import type { DurableEvent } from '../../client/src/index.js';
import { isServerEvent, isToolEvent, preview, stateChange, Timeline, turnHeading, turnOf, turnParts } from '../../inspector/src/turns.js';

// The inspector's history (docs/guide.md, A turn, explained): newest first, the events of one turn shown
// together as that turn, part by part; events outside a turn one by one. Event shapes: docs/API.md, Turns.

const at = '2026-12-03T12:00:00.000Z';
const event = (seq: number, type: string, data: unknown, version?: number): DurableEvent => ({ seq, type, data, created_at: at, ...(version === undefined ? {} : { version }) });

const ATTACHMENT = '746fc6af8233d0c8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';

/**
 * A session as a worker builds it: a snapshot (seq 1), a lease and a queued batch claimed (2-4), then
 * one turn with every part (5-13: its state delta, a tool call and a note, two messages, the claim
 * completed, an attachment committed, the lease released, turn.committed), then an event of its own (14).
 */
function session(): DurableEvent[] {
  return [
    event(1, 'state.snapshot', { schema_version: 1 }, 1),
    event(2, 'lease.acquired', { owner: 'worker-7' }),
    event(3, 'queue.enqueued', { batch_id: 'b-1' }),
    event(4, 'queue.claimed', { claim_id: 'c-1', batch_ids: ['b-1'] }),
    event(5, 'state.delta', { patch: [{ op: 'add', path: '/days/-', value: 'old town' }, { op: 'replace', path: '/budget', value: 1080 }] }, 2),
    event(6, 'tool.call', { name: 'search', args: { q: 'old town walks' } }),
    event(7, 'note', { mood: 'keen' }),
    event(8, 'message.appended', { message_id: 'm-1', role: 'user', kind: 'message', content: 'plan day 1' }),
    event(9, 'message.appended', { message_id: 'm-2', role: 'assistant', kind: 'message', content: 'Day 1: the old town, on foot.' }),
    event(10, 'queue.completed', { claim_id: 'c-1', batch_ids: ['b-1'] }),
    event(11, 'attachment.committed', { attachment_id: ATTACHMENT, size: 20, content_type: 'text/plain', sha256: 'ab' }),
    event(12, 'lease.released', { owner: 'worker-7' }),
    event(13, 'turn.committed', {
      turn_id: 'plan-day-1',
      version: 2,
      first_seq: 5,
      state_changed: true,
      events: 2,
      message_ids: ['m-1', 'm-2'],
      completed_claims: ['c-1'],
      attachments: [ATTACHMENT],
      usage: [
        { model: 'm-large', input_tokens: 1200, output_tokens: 80, cost_usd: 0.0042 },
        { model: 'm-small', input_tokens: 300, output_tokens: 20, cost_usd: 0.0001 },
      ],
      lease_released: true,
    }),
    event(14, 'progress', { step: 2 }),
  ];
}

const summaryOf = (events: DurableEvent[], seq: number) => turnOf(events.find((e) => e.seq === seq)!)!;
/** The rows as a person reads them down the page: `#14`, `turn plan-day-1`, ... */
const read = (timeline: Timeline) => timeline.rows().map((row) => (row.kind === 'turn' ? `turn ${row.summary.turn_id}` : `#${row.seq}`));

describe('the history grouped by turn', () => {
  it('shows a turn as one row where it was committed, newest first, with the events outside it one by one', () => {
    const timeline = new Timeline();
    timeline.add(session());
    expect(read(timeline)).toEqual(['#14', 'turn plan-day-1', '#4', '#3', '#2', '#1']);
    const turn = timeline.rows()[1]!;
    expect(turn).toMatchObject({ kind: 'turn', seq: 13, summary: { turn_id: 'plan-day-1', first_seq: 5 } });
    expect(turn.event.seq).toBe(13);
    expect(timeline.members(13).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(timeline.members(14)).toEqual([]);
    expect(timeline.get(7)?.type).toBe('note');
    expect(timeline.get(99)).toBeUndefined();
  });

  it('orders events that arrive from both ends: the stream on top, "Load older" below', () => {
    const all = session();
    const timeline = new Timeline();
    // The newest page first (seq 9 on), then the live stream, then the older page.
    timeline.add(all.slice(8, 13));
    timeline.add([all[13]!]);
    timeline.add(all.slice(0, 8));
    expect(read(timeline)).toEqual(['#14', 'turn plan-day-1', '#4', '#3', '#2', '#1']);
    expect(timeline.members(13).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    // Pages arriving in no particular order still read in seq order.
    const shuffled = new Timeline();
    for (const seq of [7, 2, 14, 5, 1, 13, 10, 3, 12, 4, 9, 6, 11, 8]) shuffled.add([all[seq - 1]!]);
    expect(read(shuffled)).toEqual(read(timeline));
    expect(shuffled.members(13).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('keeps an event it already has as it was when it comes again (a page overlapping the stream)', () => {
    const all = session();
    const timeline = new Timeline();
    expect(timeline.add(all.slice(0, 10)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const again = event(7, 'note', { mood: 'changed' });
    expect(timeline.add([again, ...all.slice(10)]).map((e) => e.seq)).toEqual([11, 12, 13, 14]);
    expect(timeline.get(7)?.data).toEqual({ mood: 'keen' });
    expect(timeline.rows()).toHaveLength(6);
  });

  it('shows a turn whose first events are not loaded yet, and fills it in as older pages come', () => {
    const all = session();
    const timeline = new Timeline();
    timeline.add(all.slice(8)); // seq 9 on: the turn's 5-8 are older than the page
    expect(read(timeline)).toEqual(['#14', 'turn plan-day-1']);
    const summary = summaryOf(all, 13);
    const partial = turnParts(summary, 13, timeline.members(13), true);
    expect(partial.partial).toBe(`4 of this turn's 8 events are older than the history loaded: "Load older" reads them.`);
    expect(partial.raw).toBe('All 5 events of this turn');
    expect(partial.state).toMatchObject({ title: 'State: v1 → v2', change: undefined, note: 'Its state event is not loaded yet.' });
    // The messages part counts both, shows the one loaded.
    expect(partial.messages?.title).toBe('Messages (2)');
    expect(partial.messages?.lines.map((line) => line.content)).toEqual(['Day 1: the old town, on foot.']);

    timeline.add(all.slice(4, 8));
    const whole = turnParts(summary, 13, timeline.members(13), true);
    expect(whole.partial).toBeUndefined();
    expect(whole.raw).toBe('All 9 events of this turn');
    expect(whole.state.change).toMatchObject({ kind: 'patch' });
    expect(whole.state.note).toBeUndefined();
  });

  it('shows a turn\'s events one by one until its turn.committed arrives, then inside the turn', () => {
    const all = session();
    const timeline = new Timeline();
    timeline.add(all.slice(0, 12));
    expect(read(timeline)).toEqual(['#12', '#11', '#10', '#9', '#8', '#7', '#6', '#5', '#4', '#3', '#2', '#1']);
    expect(timeline.turns()).toEqual([]);
    timeline.add([all[12]!]);
    expect(read(timeline)).toEqual(['turn plan-day-1', '#4', '#3', '#2', '#1']);
  });

  it('lists two turns newest first, with the events between them on their own', () => {
    const all = session();
    const next = [
      event(15, 'message.appended', { message_id: 'm-3', role: 'user', content: 'and day 2?' }),
      event(16, 'turn.committed', { turn_id: 'plan-day-2', version: 2, first_seq: 15, state_changed: false, events: 0, message_ids: ['m-3'], completed_claims: [], attachments: [], usage: [], lease_released: false }),
      event(17, 'progress', { step: 3 }),
    ];
    const timeline = new Timeline();
    timeline.add([...all, ...next]);
    expect(read(timeline)).toEqual(['#17', 'turn plan-day-2', '#14', 'turn plan-day-1', '#4', '#3', '#2', '#1']);
    expect(timeline.turns().map((turn) => turn.turn_id)).toEqual(['plan-day-2', 'plan-day-1']);
    expect(timeline.members(16).map((e) => e.seq)).toEqual([15]);
  });

  it('shows a turn.committed it cannot read as an event like any other', () => {
    const timeline = new Timeline();
    timeline.add([event(1, 'note', {}), event(2, 'turn.committed', { turn_id: 't' })]);
    expect(read(timeline)).toEqual(['#2', '#1']);
    expect(timeline.turns()).toEqual([]);
    expect(timeline.members(2)).toEqual([]);
  });
});

describe('a turn.committed event read defensively', () => {
  it('reads every field of the summary', () => {
    expect(summaryOf(session(), 13)).toEqual({
      turn_id: 'plan-day-1',
      version: 2,
      first_seq: 5,
      state_changed: true,
      events: 2,
      message_ids: ['m-1', 'm-2'],
      completed_claims: ['c-1'],
      attachments: [ATTACHMENT],
      usage: [
        { model: 'm-large', input_tokens: 1200, output_tokens: 80, cost_usd: 0.0042 },
        { model: 'm-small', input_tokens: 300, output_tokens: 20, cost_usd: 0.0001 },
      ],
      lease_released: true,
    });
  });

  it('is no turn unless its type is turn.committed and it names the turn and its first seq', () => {
    const data = { turn_id: 't', first_seq: 1 };
    expect(turnOf(event(2, 'turn.committed', data))).toBeDefined();
    expect(turnOf(event(2, 'turn.committed.x', data))).toBeUndefined();
    expect(turnOf(event(2, 'note', data))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', { first_seq: 1 }))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', { turn_id: 7, first_seq: 1 }))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', { turn_id: 't' }))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', { turn_id: 't', first_seq: '1' }))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', null))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', [data]))).toBeUndefined();
    expect(turnOf(event(2, 'turn.committed', 'turn'))).toBeUndefined();
  });

  it('takes what it can from a summary of another shape, and nothing it cannot', () => {
    expect(
      turnOf(
        event(9, 'turn.committed', {
          turn_id: 't',
          first_seq: 3,
          version: '4',
          state_changed: 'yes',
          events: '2',
          message_ids: ['m-1', 2, null, 'm-2'],
          completed_claims: 'c-1',
          attachments: [{ id: 'a' }],
          usage: [{ input_tokens: '10' }, 'm-large', null, { model: 'm', cost_usd: '0.1', output_tokens: 5 }],
          lease_released: 1,
        }),
      ),
    ).toEqual({
      turn_id: 't',
      version: 0,
      first_seq: 3,
      state_changed: false,
      events: 0,
      message_ids: ['m-1', 'm-2'],
      completed_claims: [],
      attachments: [],
      usage: [
        { model: '?', input_tokens: 10, output_tokens: 0 },
        { model: 'm', input_tokens: 0, output_tokens: 5 },
      ],
      lease_released: false,
    });
    expect(turnOf(event(9, 'turn.committed', { turn_id: 't', first_seq: 3, usage: { model: 'm' } }))?.usage).toEqual([]);
    // A cost of 0 is a cost reported.
    expect(turnOf(event(9, 'turn.committed', { turn_id: 't', first_seq: 3, usage: [{ model: 'm', cost_usd: 0 }] }))?.usage).toEqual([{ model: 'm', input_tokens: 0, output_tokens: 0, cost_usd: 0 }]);
  });
});

describe('a turn explained part by part', () => {
  const all = session();
  const members = all.slice(4, 12);
  // Read in each test, not while the file is collected: mutation testing switches its bug on for tests only.
  const turn = () => summaryOf(all, 13);
  const explained = () => turnParts(turn(), 13, members, true);

  it('heads the turn with its version, its seqs and its usage in a line', () => {
    expect(turnHeading(turn(), 13)).toEqual({ detail: ' · v2 · seq 5–13 · ', usage: ' · 1,500 in · 100 out tokens · $0.0043' });
    expect(turnHeading({ ...turn(), usage: [] }, 13).usage).toBeUndefined();
  });

  it('shows the state change as posted, with a button to compare the two versions', () => {
    expect(explained().state).toEqual({
      title: 'State: v1 → v2',
      change: {
        kind: 'patch',
        ops: [
          { op: 'add', path: '/days/-', from: undefined, value: '"old town"' },
          { op: 'replace', path: '/budget', from: undefined, value: '1080' },
        ],
      },
      note: undefined,
      compare: { from: 1, to: 2, label: 'Compare v1 → v2' },
    });
    // A binary state has no diff to compare.
    expect(turnParts(turn(), 13, members, false).state.compare).toBeUndefined();
    // Version 1 is the first state there is: nothing before it to compare with.
    expect(turnParts({ ...turn(), version: 1 }, 13, members, true).state).toMatchObject({ title: 'State: v0 → v1', compare: undefined });
    expect(turnParts({ ...turn(), version: 7 }, 13, members, true).state.compare).toEqual({ from: 6, to: 7, label: 'Compare v6 → v7' });
  });

  it('says a state left as it was is unchanged, at its version', () => {
    expect(turnParts({ ...turn(), state_changed: false }, 13, members, true).state).toEqual({ title: 'State', change: undefined, note: 'Unchanged (v2).', compare: undefined });
  });

  it('takes a snapshot in the turn for its state change', () => {
    const snapshot = [event(5, 'state.snapshot', { schema_version: 3 }, 2)];
    expect(turnParts(turn(), 13, snapshot, true).state.change).toEqual({ kind: 'words', text: 'Replaced by a new snapshot (schema version 3).' });
  });

  it('lists the turn\'s messages by role, a kind other than a plain message named', () => {
    const messages = [
      event(8, 'message.appended', { role: 'user', content: 'plan day 1' }),
      event(9, 'message.appended', { role: 'assistant', kind: 'summary', content: { days: 1 } }),
      event(10, 'message.appended', { kind: 'message', content: 'no role' }),
      event(11, 'message.appended', 'not an object'),
    ];
    expect(turnParts({ ...turn(), message_ids: ['a', 'b', 'c', 'd'] }, 13, messages, true).messages).toEqual({
      title: 'Messages (4)',
      lines: [
        { role: 'user', kind: '', content: 'plan day 1' },
        { role: 'assistant', kind: ' (summary)', content: '{\n  "days": 1\n}' },
        { role: '', kind: '', content: 'no role' },
        { role: '', kind: '', content: '' },
      ],
    });
    expect(explained().messages?.lines.map((line) => `${line.role}: ${line.content}`)).toEqual(['user: plan day 1', 'assistant: Day 1: the old town, on foot.']);
    // A turn that posted no messages has no messages part, whatever else it holds.
    expect(turnParts({ ...turn(), message_ids: [] }, 13, members, true).messages).toBeUndefined();
  });

  it('shows tool calls apart from the worker\'s other events, and leaves out what the server wrote', () => {
    expect(explained().tools).toEqual({ title: 'Tool calls (1)', events: [all[5]] });
    expect(explained().events).toEqual({ title: 'Events (1)', events: [all[6]] });
    const own = ['tool.call', 'tools.search', 'tool_use', 'tools_result', 'toolbox.open', 'a.tool.call', 'tool', 'state.delta', 'lease.released'].map((type, i) => event(5 + i, type, {}));
    const split = turnParts(turn(), 13, own, true);
    expect(split.tools?.events.map((e) => e.type)).toEqual(['tool.call', 'tools.search', 'tool_use', 'tools_result']);
    expect(split.tools?.title).toBe('Tool calls (4)');
    expect(split.events?.events.map((e) => e.type)).toEqual(['toolbox.open', 'a.tool.call', 'tool']);
    expect(split.events?.title).toBe('Events (3)');
    const none = turnParts(turn(), 13, [all[4]!], true);
    expect(none.tools).toBeUndefined();
    expect(none.events).toBeUndefined();
  });

  it('lists the claims it completed, with their batches once their queue.completed is loaded', () => {
    expect(explained().claims).toEqual({ title: 'Queued input completed (1 claim)', lines: [{ claim: 'c-1', batches: { label: ' · batch ', ids: 'b-1' } }] });
    const two = turnParts({ ...turn(), completed_claims: ['c-1', 'c-2'] }, 13, [event(10, 'queue.completed', { claim_id: 'c-2', batch_ids: ['b-2', 'b-3'] }), event(11, 'queue.completed', { claim_id: 9, batch_ids: ['x'] }), event(12, 'queue.abandoned', { claim_id: 'c-1', batch_ids: ['b-1'] })], true);
    expect(two.claims).toEqual({
      title: 'Queued input completed (2 claims)',
      lines: [
        { claim: 'c-1', batches: undefined },
        { claim: 'c-2', batches: { label: ' · batches ', ids: 'b-2, b-3' } },
      ],
    });
    expect(turnParts({ ...turn(), completed_claims: [] }, 13, members, true).claims).toBeUndefined();
  });

  it('lists the attachments it committed with type and size, or says an earlier write committed one', () => {
    expect(explained().attachments).toEqual({ title: 'Attachments (1)', lines: [{ id: ATTACHMENT, short: '746fc6af8233…', type: 'text/plain', size: ' · 20 B' }] });
    const other = turnParts(
      { ...turn(), attachments: ['earlier', 'untyped', 'odd'] },
      13,
      [event(11, 'attachment.committed', { attachment_id: 'untyped', size: 2048 }), event(12, 'attachment.committed', { attachment_id: 'odd', size: '3', content_type: 4 }), event(12, 'note', { attachment_id: 'earlier', size: 1 })],
      true,
    );
    expect(other.attachments?.lines).toEqual([
      { id: 'earlier', short: 'earlier…', type: undefined, size: ' · committed by an earlier write' },
      { id: 'untyped', short: 'untyped…', type: undefined, size: ' · 2.0 KiB' },
      { id: 'odd', short: 'odd…', type: undefined, size: '' },
    ]);
    expect(turnParts({ ...turn(), attachments: [] }, 13, members, true).attachments).toBeUndefined();
  });

  it('lists its usage per model, a cost not reported said so', () => {
    expect(explained().usage).toEqual([
      { model: 'm-large', input: '1,200', output: '80', cost: '$0.0042' },
      { model: 'm-small', input: '300', output: '20', cost: '$0.0001' },
    ]);
    expect(turnParts({ ...turn(), usage: [{ model: 'm', input_tokens: 5, output_tokens: 1 }] }, 13, members, true).usage).toEqual([{ model: 'm', input: '5', output: '1', cost: 'not reported' }]);
    expect(turnParts({ ...turn(), usage: [] }, 13, members, true).usage).toBeUndefined();
  });

  it('says when the turn released the lease', () => {
    expect(explained().lease).toBe('The turn released the lease.');
    expect(turnParts({ ...turn(), lease_released: false }, 13, members, true).lease).toBeUndefined();
    expect(explained().partial).toBeUndefined();
    expect(explained().raw).toBe('All 9 events of this turn');
  });
});

describe('a state change as it was posted', () => {
  it('lists a JSON Patch operation by operation, with from and value where it has them', () => {
    const patch = [{ op: 'move', from: '/a', path: '/b' }, { op: 'remove', path: '/c' }, { op: 'add', path: '/d', value: { e: null } }, 'not an op', { value: false }];
    expect(stateChange(event(5, 'state.delta', { patch }))).toEqual({
      kind: 'patch',
      ops: [
        { op: 'move', path: '/b', from: '/a', value: undefined },
        { op: 'remove', path: '/c', from: undefined, value: undefined },
        { op: 'add', path: '/d', from: undefined, value: '{"e":null}' },
        { op: '?', path: '', from: undefined, value: 'false' },
      ],
    });
  });

  it('shows a merge patch as a value, even a null one', () => {
    expect(stateChange(event(5, 'state.delta', { merge_patch: { budget: 900, note: null } }))).toEqual({ kind: 'merge', patch: { budget: 900, note: null } });
    expect(stateChange(event(5, 'state.delta', { merge_patch: null }))).toEqual({ kind: 'merge', patch: null });
  });

  it('says what a snapshot or a binary delta is, without its bytes', () => {
    expect(stateChange(event(5, 'state.snapshot', { schema_version: 2 }))).toEqual({ kind: 'words', text: 'Replaced by a new snapshot (schema version 2).' });
    expect(stateChange(event(5, 'state.snapshot', {}))).toEqual({ kind: 'words', text: 'Replaced by a new snapshot.' });
    expect(stateChange(event(5, 'state.snapshot', null))).toEqual({ kind: 'words', text: 'Replaced by a new snapshot.' });
    expect(stateChange(event(5, 'state.delta', { delta_base64: 'IHdvcmxk' }))).toEqual({ kind: 'words', text: "A binary delta of 6 B in the worker's own format." });
    // Its size is the bytes it holds, padding taken off: 'hello' is 5 bytes.
    expect(stateChange(event(5, 'state.delta', { delta_base64: 'aGVsbG8=' }))).toEqual({ kind: 'words', text: "A binary delta of 5 B in the worker's own format." });
  });

  it('shows anything else as its JSON text', () => {
    expect(stateChange(event(5, 'state.delta', { patch: 'oops' }))).toEqual({ kind: 'json', text: '{\n  "patch": "oops"\n}' });
    expect(stateChange(event(5, 'state.delta', [1]))).toEqual({ kind: 'json', text: '{}' });
  });
});

describe('an event in one line', () => {
  it('shows a message as its role and text, anything else as the start of its data', () => {
    expect(preview(event(8, 'message.appended', { role: 'user', content: 'plan day 1' }))).toBe('user: plan day 1');
    expect(preview(event(8, 'message.appended', { role: 'tool', content: { rows: 2 } }))).toBe('tool: {"rows":2}');
    expect(preview(event(8, 'message.appended', { content: 'x' }))).toBe(': x');
    expect(preview(event(6, 'tool.call', { name: 'search' }))).toBe('{"name":"search"}');
    expect(preview(event(8, 'message.appended', 'text'))).toBe('"text"');
  });

  it('cuts a long line at 200 characters', () => {
    expect(preview(event(8, 'message.appended', { role: 'user', content: 'y'.repeat(300) }))).toBe(`user: ${'y'.repeat(200)}`);
    expect(preview(event(6, 'note', 'z'.repeat(300)))).toBe(`"${'z'.repeat(199)}… (102 more characters)`);
    expect(preview(event(8, 'message.appended', { role: 'user', content: ['w'.repeat(300)] }))).toBe(`user: ["${'w'.repeat(198)}`);
  });
});

describe('whose events', () => {
  it('takes every reserved prefix for the server\'s, and nothing else', () => {
    for (const type of ['session.forked', 'state.delta', 'message.appended', 'queue.completed', 'lease.released', 'turn.committed', 'attachment.committed', 'stream.message']) expect(isServerEvent(type), type).toBe(true);
    for (const type of ['tool.call', 'sessions.x', 'my.state.delta', 'note', 'turn']) expect(isServerEvent(type), type).toBe(false);
  });

  it('takes tool. and tools. (or _) for tool calls', () => {
    expect(['tool.call', 'tool_use', 'tools.search', 'tools_x'].map(isToolEvent)).toEqual([true, true, true, true]);
    expect(['tool', 'toolbox.open', 'tooling', 'x.tool.call', 'Tool.call'].map(isToolEvent)).toEqual([false, false, false, false, false]);
  });
});
