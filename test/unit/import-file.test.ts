import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidImport, PayloadTooLarge } from '../../src/errors.js';
import { type ImportFileInput, type ImportRecord, readImportFile, stateProblem } from '../../src/history/import-file.js';

// Reading an export file, without a database: the checks docs/API.md lists for an import, each at its edge.
type Line = Record<string, any>;
const LIMITS = {
  maxBodyBytes: 1024,
  maxEventBytes: 100,
  maxBatchEvents: 3,
  maxMetadataBytes: 50,
  maxJsonDepth: 6,
  state: { maxDepth: 5, maxBytes: 200 },
};
const AT = '2026-01-01T00:00:00.000Z';
const header = (): Line => ({ record: 'header', format: 'session-sync.export', format_version: 1, exported_at: AT });
const session = (fields: Line = {}): Line => ({
  record: 'session',
  id: 's1',
  parent_id: null,
  metadata: {},
  encoding: 'json',
  schema_version: 1,
  version: 0,
  last_seq: 0,
  state_seq: 0,
  history_start: 0,
  base_version: 0,
  snapshot_version: 0,
  chain_deltas: 0,
  chain_bytes: 0,
  lease_fencing_token: 0,
  retention: null,
  ttl_ms: null,
  forked_from: null,
  message_seq: 0,
  message_version: 0,
  message_count: 0,
  archived_count: 0,
  first_user_message: null,
  usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0, turns: 0 },
  created_at: AT,
  updated_at: AT,
  ...fields,
});
const snapshot = (version: number, fields: Line = {}): Line => ({ record: 'snapshot', version, schema_version: 1, origin: 'put', created_at: AT, body: { v: version }, size: null, ...fields });
const event = (seq: number, fields: Line = {}): Line => ({ record: 'event', seq, type: 'note', data: {}, version: null, created_at: AT, ...fields });
const message = (seq: number, fields: Line = {}): Line => ({ record: 'message', seq, id: `m${seq}`, role: 'user', kind: 'text', content: 'hi', archived_at: null, created_at: AT, ...fields });
const batch = (id: string, fields: Line = {}): Line => ({ record: 'queue_batch', batch_id: id, status: 'pending', items: [1], created_at: AT, updated_at: AT, ...fields });
const turn = (id: string, answer: Line = {}, fields: Line = {}): Line => ({
  record: 'turn',
  turn_id: id,
  request_hash: 'a'.repeat(43),
  response: { turn_id: id, version: 0, first_seq: 1, last_seq: 1, ...answer },
  created_at: AT,
  ...fields,
});
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const attachment = (bytes: Buffer, fields: Line = {}): Line => ({ record: 'attachment', attachment_id: sha(bytes), size: bytes.length, content_type: 'text/plain', committed: true, created_at: AT, ...fields });
const chunk = (bytes: Buffer | string): Line => ({ record: 'chunk', data_base64: Buffer.from(bytes).toString('base64') });

const COUNTED: Record<string, string> = { snapshot: 'snapshots', event: 'events', message: 'messages', queue_batch: 'queue_batches', turn: 'turns', attachment: 'attachments' };
/** header, session, `records`, and an end record counting them (or `counts` as given). */
function file(sessionLine: Line, records: Line[] = [], counts?: Line): string {
  const counted: Record<string, number> = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, attachments: 0 };
  for (const line of records) if (COUNTED[line.record]) counted[COUNTED[line.record] as string]!++;
  const lines = [header(), sessionLine, ...records, { record: 'end', counts: { ...counted, ...counts } }];
  return lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
}

async function* pieces(text: string | Buffer, size = Infinity): AsyncGenerator<Buffer | string> {
  if (typeof text === 'string' && size === Infinity) {
    yield text;
    return;
  }
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

const input = (text: string | Buffer, options: Partial<ImportFileInput> & { piece?: number } = {}): ImportFileInput => ({
  body: pieces(text, options.piece),
  parse: (line) => JSON.parse(line.toString('utf8')),
  maxLineBytes: 2 * LIMITS.maxBodyBytes,
  maxAttachmentBytes: 16,
  limits: LIMITS,
  ...options,
});

/** Every record, an attachment's bytes read as the store reads them. */
async function read(text: string | Buffer, options: Partial<ImportFileInput> & { piece?: number } = {}): Promise<(ImportRecord & { got?: Buffer })[]> {
  const out: (ImportRecord & { got?: Buffer })[] = [];
  for await (const record of readImportFile(input(text, options))) {
    if (record.record === 'attachment') {
      const parts: Buffer[] = [];
      for await (const part of record.bytes) parts.push(part);
      out.push({ ...record, got: Buffer.concat(parts) });
    } else out.push(record);
  }
  return out;
}

async function refused(text: string | Buffer, line: number, detail: RegExp | string, options: Partial<ImportFileInput> & { piece?: number } = {}): Promise<void> {
  const error = await read(text, options).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, 'the file was taken').toBeInstanceOf(InvalidImport);
  const problem = error as InvalidImport;
  expect(problem.extra).toEqual({ line });
  expect(problem.message).toMatch(typeof detail === 'string' ? new RegExp(`^line ${line}: ${detail.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : detail);
}

describe('the header and the session record', () => {
  it('an empty session imports: its session record, then its end', async () => {
    const records = await read(file(session()));
    expect(records.map((r) => [r.record, r.no])).toEqual([['session', 2], ['end', 3]]);
    expect(records[0]).toMatchObject({ session: { id: 's1' } });
  });

  it('refuses another format or version on line 1, and a file cut short before each part', async () => {
    const [, ...rest] = file(session()).split('\n');
    await refused([JSON.stringify({ ...header(), format: 'x' }), ...rest].join('\n'), 1, 'format "x" version 1 is not one this server reads ("session-sync.export" version 1)');
    await refused([JSON.stringify({ ...header(), format_version: 2 }), ...rest].join('\n'), 1, /version 2 is not one/);
    await refused('', 1, 'the file ends before its header: it was cut short');
    await refused(`${JSON.stringify(header())}\n`, 2, 'the file ends before its session record: it was cut short');
    await refused(`${JSON.stringify(header())}\n${JSON.stringify(session())}\n`, 3, 'the file ends before its end record: it was cut short');
    await refused(`${JSON.stringify(header())}\n{"record":"session"}\n`, 2, /^line 2: session record: field /);
    await refused(`${JSON.stringify(header())}\nnot json\n`, 2, /^line 2: \S/);
    await refused('[1]\n', 1, 'Expected object');
    await refused('"header"\n', 1, 'Expected object');
    await refused(`${JSON.stringify(header())}\n{"record":"session"}\n`, 2, 'session record: field id Expected required property');
    await refused(file(session({ usage: { ...session().usage, cost_usd: -1 } })), 2, /^line 2: session record: field usage\.cost_usd /);
  });

  const counters: [name: string, fields: Line, detail: string][] = [
    ['history_start above last_seq', { history_start: 1 }, 'history_start is above last_seq'],
    ['state_seq above last_seq', { state_seq: 1 }, 'state_seq is above last_seq'],
    ['base_version above version', { base_version: 1 }, 'base_version and snapshot_version may not be above version'],
    ['snapshot_version above version', { snapshot_version: 1 }, 'base_version and snapshot_version may not be above version'],
    ['a json session with state and no schema_version', { version: 1, schema_version: null }, 'a session with state needs its schema_version'],
    ['metadata over MAX_METADATA_BYTES', { metadata: { t: `${'é'.repeat(21)}a` } }, 'session record: metadata is 51 bytes; it may hold 50 (MAX_METADATA_BYTES)'],
    ['metadata nested deeper than its body carries it', { metadata: { a: { b: { c: { d: { e: { f: 1 } } } } } } }, 'session record: metadata nests deeper than 5 levels (as the request that wrote it could, under MAX_JSON_DEPTH)'],
    ['a first_user_message of 201 characters', { first_user_message: '😀'.repeat(201) }, 'session record: first_user_message is longer than the 200 characters the server keeps of it'],
  ];
  for (const [name, fields, detail] of counters) {
    it(`refuses ${name} on line 2`, async () => {
      await refused(file(session(fields)), 2, detail);
    });
  }

  it('a json session without state needs no schema_version; a binary one never does', async () => {
    await expect(read(file(session({ schema_version: null })))).resolves.toHaveLength(2);
    await refused(file(session({ schema_version: null, version: 1, base_version: 1 }), [snapshot(1)]), 2, 'a session with state needs its schema_version');
  });

  it('takes each at its edge', async () => {
    const metadata = { t: 'é'.repeat(21) };
    expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(50);
    const edges = session({ metadata: { ...metadata }, first_user_message: '😀'.repeat(200), last_seq: 2, history_start: 2, state_seq: 2 });
    await expect(read(file(edges))).resolves.toHaveLength(2);
    await expect(read(file(session({ metadata: { a: { b: { c: { d: { e: 1 } } } } } })))).resolves.toHaveLength(2);
    await expect(read(file(session({ encoding: 'binary', version: 1, schema_version: null, base_version: 1, snapshot_version: 1 }), [snapshot(1, { body: null, size: 1, schema_version: 1 }), chunk('x')]))).resolves.toHaveLength(3);
    await expect(read(file(session({ version: 1, base_version: 1, snapshot_version: 1 }), [snapshot(1)]))).resolves.toHaveLength(3);
  });
});

describe('record order', () => {
  const all = [snapshot(1), event(1, { type: 'state.snapshot', version: 1 }), message(1), batch('b1'), turn('t1'), attachment(Buffer.from('ab')), chunk('ab')];
  const full = session({ version: 1, base_version: 1, snapshot_version: 1, last_seq: 1, state_seq: 1, message_seq: 1 });

  it('takes every kind in the export order', async () => {
    const records = await read(file(full, all));
    expect(records.map((r) => r.record)).toEqual(['session', 'snapshot', 'event', 'message', 'queue_batch', 'turn', 'attachment', 'end']);
    expect(records.map((r) => r.no)).toEqual([2, 3, 4, 5, 6, 7, 8, 10]);
  });

  const kinds = ['snapshot', 'event', 'message', 'queue_batch', 'turn', 'attachment'];
  for (let later = 1; later < kinds.length; later++) {
    for (let earlier = 0; earlier < later; earlier++) {
      it(`refuses a ${kinds[earlier]} after a ${kinds[later]}`, async () => {
        const records = all.filter((line) => line.record !== 'chunk');
        const order = records.map((line) => line.record);
        const moved = [...records];
        const [line] = moved.splice(order.indexOf(kinds[earlier] as string), 1);
        moved.splice(order.indexOf(kinds[later] as string), 0, line as Line);
        const lines = moved.flatMap((l) => (l.record === 'attachment' ? [l, chunk('ab')] : [l]));
        const at = lines.indexOf(line as Line) + 3;
        await refused(
          file(full, lines),
          at,
          `a "${kinds[earlier]}" record cannot come after the "${kinds[later]}" records: records come in the order header, session, snapshot, event, message, queue_batch, turn, producer, attachment, end`,
        );
      });
    }
  }

  it('refuses a record that does not stand after the session record, and anything after the end record', async () => {
    await refused(file(session(), [session()]), 3, '"record" "session" is not a record this format has here');
    await refused(file(session(), [chunk('a')]), 3, '"record" "chunk" is not a record this format has here');
    await refused(file(session(), [header()]), 3, '"record" "header" is not a record this format has here');
    await refused(file(session(), [{ record: 'nope' }]), 3, '"record" "nope" is not a record this format has here');
    await refused(file(session(), [{ no: 'record' }]), 3, '"record" undefined is not a record this format has here');
    await refused(`${JSON.stringify(header())}\n${JSON.stringify(session())}\n[]\n`, 3, '"record" undefined is not a record this format has here');
    await refused(`${JSON.stringify(header())}\n${JSON.stringify(session())}\nnull\n`, 3, '"record" undefined is not a record this format has here');
    await refused(`${file(session())}${JSON.stringify(event(1))}\n`, 4, 'nothing may follow the end record');
    await refused(file(session(), [{ record: 'event', seq: 1 }]), 3, /^line 3: event record: field /);
    await expect(read(`${file(session())}\n  \n\t\n`)).resolves.toHaveLength(2);
  });
});

describe('snapshots', () => {
  const s = (fields: Line = {}) => session({ version: 3, base_version: 3, snapshot_version: 3, ...fields });
  it('rise in version, up to the session version', async () => {
    await expect(read(file(s(), [snapshot(0), snapshot(3)]))).resolves.toHaveLength(4);
    await refused(file(s(), [snapshot(2), snapshot(2)]), 4, "snapshot version 2 is out of order or above the session's version");
    await refused(file(s(), [snapshot(2), snapshot(1)]), 4, "snapshot version 1 is out of order or above the session's version");
    await refused(file(s(), [snapshot(4)]), 3, "snapshot version 4 is out of order or above the session's version");
    await refused(file(s(), []), 3, 'a session with state needs a snapshot');
  });

  it('a json one carries its body, within what a state may hold; a binary one its size', async () => {
    const [, json] = await read(file(s(), [snapshot(3, { body: { a: [1] } })]));
    expect(json).toMatchObject({ record: 'snapshot', no: 3, json: '{"a":[1]}', bytes: null });
    await refused(file(s(), [snapshot(3, { size: 2 })]), 3, "a json session's snapshot carries its body");
    await refused(file(s(), [snapshot(3, { body: { a: { b: { c: { d: { e: {} } } } } } })]), 3, /^line 3: snapshot record: the state nests deeper than 5 levels/);
    await expect(read(file(s(), [snapshot(3, { body: { a: { b: { c: { d: {} } } } } })]))).resolves.toHaveLength(3);
    const big = 'x'.repeat(200 - 2);
    await expect(read(file(s(), [snapshot(3, { body: big })]))).resolves.toHaveLength(3);
    await refused(file(s(), [snapshot(3, { body: `${big}x` })]), 3, /^line 3: snapshot record: the state measures 201 bytes; a json state may hold 200/);
  });

  it("a binary one's bytes follow in chunks, at most MAX_BODY_BYTES", async () => {
    const b = s({ encoding: 'binary', schema_version: null });
    const [, binary] = await read(file(b, [snapshot(3, { body: null, size: 5 }), chunk('ab'), chunk('cde')]));
    expect(binary).toMatchObject({ record: 'snapshot', no: 3, json: null });
    expect((binary as { bytes: Buffer }).bytes.toString()).toBe('abcde');
    await refused(file(b, [snapshot(3, { body: null, size: null })]), 3, "a binary session's snapshot carries a size (its bytes follow)");
    await expect(read(file(b, [snapshot(3, { body: null, size: 1024 }), chunk(Buffer.alloc(1024))]))).resolves.toHaveLength(3);
    await refused(file(b, [snapshot(3, { body: null, size: 1025 }), chunk(Buffer.alloc(1025))]), 3, 'a snapshot of 1025 bytes is more than a request body carries (MAX_BODY_BYTES 1024)');
    await refused(file(b, [snapshot(3, { body: null, size: 2 }), chunk('abc')]), 4, 'more bytes than the 2 line 3 declares');
  });
});

describe('events', () => {
  const s = (fields: Line = {}) => session({ last_seq: 3, state_seq: 3, version: 2, base_version: 2, snapshot_version: 0, ...fields });
  const base = [snapshot(0)];

  it('run without a gap from history_start + 1 to last_seq', async () => {
    const records = await read(file(s(), [...base, event(1), event(2), event(3)]));
    expect(records.filter((r) => r.record === 'event').map((r) => [r.no, (r as { text: string }).text])).toEqual([[4, '{}'], [5, '{}'], [6, '{}']]);
    await expect(read(file(s({ history_start: 2 }), [...base, event(3)]))).resolves.toHaveLength(4);
    await refused(file(s(), [...base, event(2)]), 4, 'event seq 2 should be 1: kept events run without a gap from history_start + 1');
    await refused(file(s({ history_start: 1 }), [...base, event(1)]), 4, 'event seq 1 should be 2: kept events run without a gap from history_start + 1');
    await refused(file(s(), [...base, event(1), event(1)]), 5, 'event seq 1 should be 2: kept events run without a gap from history_start + 1');
    await refused(file(s(), [...base, event(1), event(3)]), 5, 'event seq 3 should be 2: kept events run without a gap from history_start + 1');
    await refused(file(s(), [...base, event(1), event(2), event(3), event(4)]), 7, "event seq 4 is above the session's last_seq");
    await refused(file(s(), [...base, event(1), event(2)]), 6, "events end at seq 2, the session's last_seq is 3");
  });

  it('only state events carry a version, rising up to the session version', async () => {
    const state = (seq: number, version: number | null, type = 'state.delta') => event(seq, { type, version, data: { merge_patch: {} } });
    await expect(read(file(s(), [...base, state(1, 1, 'state.snapshot'), state(2, 2), event(3)]))).resolves.toHaveLength(6);
    await refused(file(s(), [...base, state(1, 1), state(2, 1), event(3)]), 5, "event record: state event version 1 is out of order or above the session's version");
    await refused(file(s(), [...base, state(1, 2), state(2, 1), event(3)]), 5, "event record: state event version 1 is out of order or above the session's version");
    await refused(file(s(), [...base, state(1, 3)]), 4, "event record: state event version 3 is out of order or above the session's version");
    await refused(file(s(), [...base, state(1, null)]), 4, 'event record: a state.delta event carries the version it made');
    await refused(file(s(), [...base, state(1, null, 'state.snapshot')]), 4, 'event record: a state.snapshot event carries the version it made');
    await refused(file(s(), [...base, event(1, { version: 1 })]), 4, 'event record: only state events carry a version; a note event does not');
    await refused(file(s(), [...base, event(1, { type: 'message.appended', version: 1 })]), 4, /only state events carry a version; a message.appended event does not/);
  });

  it('a reserved type must be one the server stores', async () => {
    await refused(file(s(), [...base, event(1, { type: 'session.deleted' })]), 4, 'event record: type "session.deleted" has a prefix only the server writes, and the server stores no such event');
    await refused(file(s(), [...base, event(1, { type: 'lease.nothing' })]), 4, /lease\.nothing/);
    await refused(file(s(), [...base, event(1, { type: 'Note' })]), 4, /^line 4: event record: field type /);
    await expect(read(file(s({ last_seq: 1, state_seq: 1, version: 0, base_version: 0 }), [event(1, { type: 'session.updated' })]))).resolves.toHaveLength(3);
  });

  it("a client event's data within MAX_EVENT_BYTES and three levels less deep; a delta's within MAX_EVENT_BYTES; a server event's at the line limit", async () => {
    const one = (line: Line) => file(s({ last_seq: 1, state_seq: 1, version: 1, base_version: 1 }), [snapshot(0), line]);
    const atEdge = 'é'.repeat(49);
    expect(Buffer.byteLength(JSON.stringify(atEdge))).toBe(100);
    const [, , taken] = await read(one(event(1, { data: atEdge })));
    expect(taken).toMatchObject({ text: JSON.stringify(atEdge) });
    await refused(one(event(1, { data: `a${atEdge}` })), 4, 'event record: data is 101 bytes; it may hold 100 (MAX_EVENT_BYTES)');
    await expect(read(one(event(1, { data: { a: { b: { c: 1 } } } })))).resolves.toHaveLength(4);
    await refused(one(event(1, { data: { a: { b: { c: { d: 1 } } } } })), 4, 'event record: data nests deeper than 3 levels (as the request that wrote it could, under MAX_JSON_DEPTH)');
    await expect(read(one(event(1, { data: 'x'.repeat(1000) })))).rejects.toThrow(/MAX_EVENT_BYTES/);
    await expect(read(one(event(1, { type: 'state.delta', version: 1, data: atEdge })))).resolves.toHaveLength(4);
    await refused(one(event(1, { type: 'state.delta', version: 1, data: `a${atEdge}` })), 4, 'event record: the delta is 101 bytes; it may hold 100 (MAX_EVENT_BYTES)');
    const server = event(1, { type: 'session.updated', data: { deep: { a: { b: { c: { d: 1 } } } }, long: 'x'.repeat(500) } });
    const [, kept] = await read(file(s({ last_seq: 1, state_seq: 1, version: 0, base_version: 0 }), [server]));
    expect(kept).toMatchObject({ text: JSON.stringify(server.data) });
  });
});

describe('messages, queue batches, turns', () => {
  const s = (fields: Line = {}) => session({ message_seq: 3, last_seq: 2, state_seq: 2, version: 1, base_version: 1, ...fields });
  const pre = [snapshot(1), event(1), event(2)];

  it('messages rise in seq up to message_seq, content within MAX_EVENT_BYTES and one level less deep', async () => {
    const records = await read(file(s(), [...pre, message(1), message(3, { content: { a: 1 } })]));
    expect(records.filter((r) => r.record === 'message').map((r) => [r.no, (r as { text: string }).text])).toEqual([[6, '"hi"'], [7, '{"a":1}']]);
    await refused(file(s(), [...pre, message(2), message(2)]), 7, "message seq 2 is out of order or above the session's message_seq");
    await refused(file(s(), [...pre, message(2), message(1)]), 7, "message seq 1 is out of order or above the session's message_seq");
    await refused(file(s(), [...pre, message(4)]), 6, "message seq 4 is out of order or above the session's message_seq");
    await refused(file(s(), [...pre, message(0)]), 6, /^line 6: message record: field seq|message seq 0 is out of order/);
    await refused(file(s(), [...pre, message(1, { content: 'é'.repeat(50) })]), 6, 'message record: content is 102 bytes; it may hold 100 (MAX_EVENT_BYTES)');
    await expect(read(file(s(), [...pre, message(1, { content: { a: { b: { c: { d: { e: 1 } } } } } })]))).resolves.toHaveLength(6);
    await refused(file(s(), [...pre, message(1, { content: { a: { b: { c: { d: { e: { f: 1 } } } } } } })]), 6, 'message record: content nests deeper than 5 levels (as the request that wrote it could, under MAX_JSON_DEPTH)');
  });

  it('queue batches hold 1 to MAX_BATCH_EVENTS items within MAX_EVENT_BYTES, one level less deep', async () => {
    const [, , , , taken] = await read(file(s(), [...pre, batch('b1', { items: [1, 2, 3] })]));
    expect(taken).toMatchObject({ record: 'queue_batch', no: 6, text: '[1,2,3]' });
    await refused(file(s(), [...pre, batch('b1', { items: [1, 2, 3, 4] })]), 6, 'queue_batch record: a batch may hold 3 items (MAX_BATCH_EVENTS); this one has 4');
    await refused(file(s(), [...pre, batch('b1', { items: ['é'.repeat(49)] })]), 6, 'queue_batch record: items is 102 bytes; it may hold 100 (MAX_EVENT_BYTES)');
    await expect(read(file(s(), [...pre, batch('b1', { items: [{ a: { b: { c: { d: 1 } } } }] })]))).resolves.toHaveLength(6);
    await refused(file(s(), [...pre, batch('b1', { items: [{ a: { b: { c: { d: { e: 1 } } } } }] })]), 6, 'queue_batch record: items nests deeper than 5 levels (as the request that wrote it could, under MAX_JSON_DEPTH)');
  });

  it("a turn's answer is one this session gave it", async () => {
    const [, , , , taken] = await read(file(s(), [...pre, turn('t1', { first_seq: 2, last_seq: 2, version: 1 })]));
    expect(taken).toMatchObject({ record: 'turn', no: 6, text: JSON.stringify({ turn_id: 't1', version: 1, first_seq: 2, last_seq: 2 }) });
    const detail = 'turn record: field response is not an answer this session gave turn "t1"';
    await refused(file(s(), [...pre, turn('t1', { turn_id: 't2' })]), 6, detail);
    await refused(file(s(), [...pre, turn('t1', { first_seq: 2, last_seq: 1 })]), 6, detail);
    await refused(file(s(), [...pre, turn('t1', { last_seq: 3 })]), 6, detail);
    await refused(file(s(), [...pre, turn('t1', { version: 2 })]), 6, detail);
  });
});

describe('attachments', () => {
  const bytes = Buffer.from('sixteen bytes!!!');
  it('at most MAX_ATTACHMENT_BYTES, with a content type as an upload keeps it, its bytes in chunks', async () => {
    const records = await read(file(session(), [attachment(bytes), chunk(bytes.subarray(0, 10)), chunk(bytes.subarray(10))]));
    expect(records[1]).toMatchObject({ record: 'attachment', no: 3, got: bytes });
    expect(records[2]).toMatchObject({ record: 'end', no: 6 });
    const over = Buffer.concat([bytes, Buffer.from('x')]);
    await refused(file(session(), [attachment(over), chunk(over)]), 3, 'attachment of 17 bytes: this server takes 16 (MAX_ATTACHMENT_BYTES)');
    await refused(file(session(), [attachment(bytes, { content_type: 'Text/Plain' }), chunk(bytes)]), 3, 'attachment record: content_type "Text/Plain" is not a media type as an upload keeps it (type/subtype in lowercase, then parameters; at most 255 characters)');
    await expect(read(file(session(), [attachment(Buffer.alloc(0)), attachment(bytes), chunk(bytes)]))).resolves.toHaveLength(4);
  });

  it('its chunks: JSON, base64, no more bytes than declared, and there before the file ends', async () => {
    const text = (lines: string[]) => `${[header(), session()].map((l) => JSON.stringify(l)).join('\n')}\n${lines.join('\n')}\n`;
    await refused(text([JSON.stringify(attachment(bytes)), 'not json']), 4, 'the line is not JSON');
    await refused(text([JSON.stringify(attachment(bytes)), '{"record":"chunk","data_base64":"@@"}']), 4, /^line 4: line 3 has 16 more bytes to come in chunk records; chunk record: field data_base64 /);
    await refused(text([JSON.stringify(attachment(bytes)), JSON.stringify(chunk(bytes.subarray(0, 4))), JSON.stringify(event(1))]), 5, /^line 5: line 3 has 12 more bytes to come in chunk records; event record: /);
    await refused(text([JSON.stringify(attachment(bytes)), JSON.stringify(chunk(Buffer.concat([bytes, Buffer.from('x')])))]), 4, 'more bytes than the 16 line 3 declares');
    await refused(text([JSON.stringify(attachment(bytes))]), 4, 'the file ends inside the bytes of line 3: it was cut short');
  });
});

describe('the end record', () => {
  it('counts what the file holds', async () => {
    const records = [snapshot(1), event(1, { type: 'state.snapshot', version: 1 }), message(1), batch('b'), turn('t'), attachment(Buffer.from('a')), chunk('a')];
    const s = session({ version: 1, base_version: 1, snapshot_version: 1, last_seq: 1, state_seq: 1, message_seq: 1 });
    for (const key of ['snapshots', 'events', 'messages', 'queue_batches', 'turns', 'attachments']) {
      await refused(file(s, records, { [key]: 2 }), 10, `the file holds other counts than its end record: ${key} 1 (the end record says 2); lines are missing`);
    }
    await refused(file(s, records, { events: 0, turns: 3 }), 10, 'the file holds other counts than its end record: events 1 (the end record says 0), turns 1 (the end record says 3); lines are missing');
  });
});

describe('lines', () => {
  it('are read across pieces of any size, CRLF or LF, the last without its newline', async () => {
    await refused(file(session(), [event(1)]), 3, "event seq 1 is above the session's last_seq");
    const whole = await read(file(session({ last_seq: 1, state_seq: 1 }), [event(1)]).replace(/\n/g, '\r\n').trimEnd(), { piece: 3 });
    expect(whole.map((r) => [r.record, r.no])).toEqual([['session', 2], ['event', 3], ['end', 4]]);
  });

  it('a line of maxLineBytes is read; one byte more is 413 naming its line, whether it ended or not', async () => {
    const maxLineBytes = 600;
    const padded = (line: Line, bytes: number) => {
      const text = JSON.stringify(line);
      return text + ' '.repeat(bytes - Buffer.byteLength(text));
    };
    const lines = [JSON.stringify(header()), padded(session(), maxLineBytes), JSON.stringify({ record: 'end', counts: { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, attachments: 0 } })];
    await expect(read(`${lines.join('\n')}\n`, { maxLineBytes, piece: 7 })).resolves.toHaveLength(2);
    await expect(read(`${lines.join('\r\n')}\r\n`, { maxLineBytes, piece: 7 })).resolves.toHaveLength(2);
    lines[1] = padded(session(), maxLineBytes + 1);
    for (const [text, piece] of [[`${lines.join('\n')}\n`, 7], [`${lines.join('\n')}\n`, Infinity], [lines.slice(0, 2).join('\n'), 5]] as const) {
      const error = await read(text, { maxLineBytes, piece }).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(PayloadTooLarge);
      expect((error as PayloadTooLarge).extra).toEqual({ limit_bytes: maxLineBytes, line: 2 });
      expect((error as PayloadTooLarge).message).toBe(`line 2: the line is longer than ${maxLineBytes} bytes (twice MAX_BODY_BYTES)`);
    }
  });

  it('a line that never ends is refused once it passes maxLineBytes, without reading on (an endless upload holds no more than that)', async () => {
    const maxLineBytes = 600;
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from(`${JSON.stringify(header())}\n`);
      // Endless as far as the reader can tell (bounded so that a reader that does not stop fails here, not by memory).
      for (let piece = 0; piece < 10_000; piece++) {
        pulled++;
        yield Buffer.alloc(50, 0x20);
      }
    }
    const error = await (async () => {
      for await (const _ of readImportFile({ ...input(''), body: endless(), maxLineBytes })) void _;
    })().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PayloadTooLarge);
    expect((error as PayloadTooLarge).extra).toEqual({ limit_bytes: maxLineBytes, line: 2 });
    // 13 pieces of 50 bytes pass 600: refused at the first piece past the limit.
    expect(pulled).toBe(13);
  });

  it('a line the parser refuses is refused on its line, its message naming the line', async () => {
    const parse = (line: Buffer) => {
      const value = JSON.parse(line.toString());
      if (value.record === 'session') throw new Error('body nests too deep');
      return value;
    };
    await refused(file(session()), 2, 'the line nests too deep', { parse });
    const named = (line: Buffer) => {
      if (line.toString().includes('"session"')) throw new Error('the body of a body');
      return JSON.parse(line.toString());
    };
    await refused(file(session()), 2, 'the body of a body', { parse: named });
    await refused(file(session()), 2, 'nope', {
      parse: (line) => {
        if (line.toString().includes('"session"')) throw 'nope';
        return JSON.parse(line.toString());
      },
    });
  });
});

describe('stateProblem', () => {
  it('names a state too deep or too large, and nothing else', () => {
    const size = Number(/measures (\d+) bytes/.exec(stateProblem({ a: 'é' }, { maxDepth: 5, maxBytes: 0 }) ?? '')?.[1]);
    expect(size).toBeGreaterThan(0);
    expect(stateProblem({ a: 'é' }, { maxDepth: 5, maxBytes: size })).toBeUndefined();
    expect(stateProblem({ a: 'é' }, { maxDepth: 5, maxBytes: size - 1 })).toBe(`measures ${size} bytes; a json state may hold ${size - 1} (MAX_BODY_BYTES less room for the PUT envelope)`);
    expect(stateProblem({ a: { b: 1 } }, { maxDepth: 2, maxBytes: 100 })).toBeUndefined();
    expect(stateProblem({ a: { b: 1 } }, { maxDepth: 1, maxBytes: 100 })).toBe('nests deeper than 1 levels (as the request that wrote it could, under MAX_JSON_DEPTH)');
  });
});
