import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines, type ExportLine as Line } from '../helpers/export-file.js';

// The import's contract (docs/API.md, "export" and "import"), from what a user relies on: every refusal is its
// status and code, names the line at fault, and leaves the database as it was; an export imports back as the
// same session. Each test imports under an id of its own, from a source session of its own.
let t: TestApp;
const MAX_EVENT_BYTES = 1024;
const MAX_ATTACHMENT_BYTES = 64;
const MAX_BODY_BYTES = 16 * 1024;
const TRANSFER_IDLE_TIMEOUT_MS = 500;

beforeAll(async () => {
  t = await createTestApp({
    env: {
      MAX_EVENT_BYTES: String(MAX_EVENT_BYTES),
      MAX_ATTACHMENT_BYTES: String(MAX_ATTACHMENT_BYTES),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      TRANSFER_IDLE_TIMEOUT_MS: String(TRANSFER_IDLE_TIMEOUT_MS),
      HISTORY_SWEEP_MS: '86400000',
      // One import at a time: a refusal that kept its slot would turn every later import into 503 too_many_transfers.
      MAX_TRANSFERS: '1',
    },
  });
});
afterAll(() => t.close());

let ids = 0;
const unique = (what: string) => `${what}-${++ids}`;

const ok = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
  const response = await call(t.app, method, path, body);
  expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
  return response.body ? response.json() : undefined;
};

async function upload(id: string, bytes: Buffer | string): Promise<string> {
  const response = await t.app.inject({
    method: 'POST',
    url: `/v1/sessions/${id}/attachments`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().attachment_id;
}

/** A session with every kind of record, two of each where the file may hold several: its export's lines. */
async function source(): Promise<{ id: string; lines: Line[] }> {
  const id = unique('source');
  await ok('POST', '/v1/sessions', { id, metadata: { name: id } });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { v: 1 } });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 1, schema_version: 1, snapshot: { v: 2 } });
  await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: 2, merge_patch: { v: 3 } });
  await ok('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: { n: 1 } }, { type: 'note', data: { n: 2 } }] });
  await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi' }] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: [{ say: 'one' }] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: ['two'] });
  const first = await upload(id, 'first attachment');
  await upload(id, 'second attachment');
  await ok('POST', `/v1/sessions/${id}/turns`, { turn_id: 'turn-1', base_version: 3, state: { merge_patch: { v: 4 } }, attachments: [first] });
  await ok('POST', `/v1/sessions/${id}/turns`, { turn_id: 'turn-2', events: [{ type: 'tool.called', data: {} }] });
  return { id, lines: await exportLines(t, id) };
}

const importText = (payload: string | PassThrough, id: string) =>
  t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': 'application/x-ndjson' }, payload });

/** Rows in every table an import writes: a refused import leaves each as it was. */
async function rows(): Promise<Record<string, number>> {
  const [row] = await t.database.db`
    select (select count(*)::int from sessions) as sessions, (select count(*)::int from events) as events,
      (select count(*)::int from messages) as messages, (select count(*)::int from queue_batches) as queue_batches,
      (select count(*)::int from turns) as turns, (select count(*)::int from attachments) as attachments,
      (select count(*)::int from state_snapshots) as snapshots`;
  return row as Record<string, number>;
}

/** Imports `payload` as a new id: `status` `code` naming `line` (1-based), and nothing created. */
async function expectRefused(payload: string, line: number, detail: RegExp, status = 400, code = 'invalid_import'): Promise<any> {
  const id = unique('copy');
  const before = await rows();
  const problem = expectProblem(await importText(payload, id), status, code);
  expect(problem.detail).toMatch(detail);
  expect(problem.line, problem.detail).toBe(line);
  expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
  expect(await rows()).toEqual(before);
  return problem;
}

async function expectImported(payload: string): Promise<string> {
  const id = unique('copy');
  const response = await importText(payload, id);
  expect(response.statusCode, response.body).toBe(201);
  expect(response.json().id).toBe(id);
  return id;
}

const indexOf = (lines: Line[], record: string, nth = 0): number => {
  const found = lines.map((line, index) => (line.record === record ? index : -1)).filter((index) => index >= 0).at(nth);
  if (found === undefined) throw new Error(`no ${record} record number ${nth}`);
  return found;
};
/** A record and its chunk lines. */
const withChunks = (lines: Line[], index: number): number => {
  let end = index + 1;
  while (lines[end]?.record === 'chunk') end++;
  return end - index;
};
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('records out of the export order are refused on the first line out of place', () => {
  const pairs: [earlier: string, later: string][] = [
    ['snapshot', 'event'],
    ['event', 'message'],
    ['message', 'queue_batch'],
    ['queue_batch', 'turn'],
    ['turn', 'attachment'],
  ];
  for (const [earlier, later] of pairs) {
    it(`the last ${earlier} moved after the first ${later}`, async () => {
      const { lines } = await source();
      const from = indexOf(lines, earlier, -1);
      const moved = lines.splice(from, withChunks(lines, from));
      const to = indexOf(lines, later) + withChunks(lines, indexOf(lines, later));
      lines.splice(to, 0, ...moved);
      const problem = await expectRefused(exportFile(lines), to + 1, new RegExp(`"${earlier}" record cannot come after the "${later}" records`));
      expect(problem.detail).toContain('header, session, snapshot, event, message, queue_batch, turn, producer, attachment, end');
    });
  }

  it('an attachment after the end record', async () => {
    const { lines } = await source();
    const from = indexOf(lines, 'attachment', -1);
    const moved = lines.splice(from, withChunks(lines, from));
    const text = exportFile(lines) + moved.map((line) => JSON.stringify(line)).join('\n') + '\n';
    await expectRefused(text, lines.length + 1, /nothing may follow the end record/);
  });

  it('a second session record, a second header, a chunk on its own', async () => {
    const { lines } = await source();
    for (const stray of [lines[1], lines[0], { record: 'chunk', data_base64: 'AAAA' }]) {
      const edited = structuredClone(lines);
      const at = indexOf(edited, 'event');
      edited.splice(at, 0, stray as Line);
      await expectRefused(exportFile(edited), at + 1, /is not a record this format has here|cannot come after/);
    }
  });

  it('a header that is not first, or of another format or version, is refused on line 1', async () => {
    const { lines } = await source();
    await expectRefused(exportFile(lines.slice(1)), 1, /field format/);
    await expectRefused(exportFile([{ ...lines[0], format: 'other' }, ...lines.slice(1)]), 1, /format "other" version 1 is not one this server reads/);
    await expectRefused(exportFile([{ ...lines[0], format_version: 2 }, ...lines.slice(1)]), 1, /version 2 is not one this server reads/);
  });
});

describe('snapshots', () => {
  it('the same snapshot twice is refused on the second', async () => {
    const { lines } = await source();
    const first = indexOf(lines, 'snapshot');
    lines.splice(first + 1, 0, { ...lines[first] });
    await expectRefused(exportFile(lines), first + 2, new RegExp(`snapshot version ${lines[first]?.version} is out of order`));
  });

  it('snapshots going down in version are refused', async () => {
    const { lines } = await source();
    const first = indexOf(lines, 'snapshot');
    const second = indexOf(lines, 'snapshot', 1);
    [lines[first], lines[second]] = [lines[second] as Line, lines[first] as Line];
    await expectRefused(exportFile(lines), second + 1, /snapshot version \d+ is out of order or above the session's version/);
  });

  it("a snapshot above the session's version is refused", async () => {
    const { lines } = await source();
    const last = indexOf(lines, 'snapshot', -1);
    const version = lines[indexOf(lines, 'session')]?.version as number;
    lines[last] = { ...lines[last], version: version + 1 };
    await expectRefused(exportFile(lines), last + 1, new RegExp(`snapshot version ${version + 1} is out of order`));
  });

  it('a session with state and no snapshot is refused on the end record', async () => {
    const { lines } = await source();
    const without = lines.filter((line) => line.record !== 'snapshot');
    await expectRefused(exportFile(without), without.length, /a session with state needs a snapshot/);
  });

  it('a snapshot at the session version is taken (the edge)', async () => {
    const { lines } = await source();
    const version = lines[indexOf(lines, 'session')]?.version as number;
    expect(lines[indexOf(lines, 'snapshot', -1)]?.version).toBeLessThan(version);
    await expectImported(exportFile(lines));
  });
});

describe('the end record', () => {
  it('a file without its end record is cut short: refused on the line after the last', async () => {
    const { lines } = await source();
    await expectRefused(exportFile(lines.slice(0, -1)), lines.length, /the file ends before its end record: it was cut short/);
  });

  it('a file that stops after its header or after its session record', async () => {
    const { lines } = await source();
    await expectRefused('', 1, /the file ends before its header/);
    await expectRefused(exportFile(lines.slice(0, 1)), 2, /the file ends before its session record/);
    await expectRefused(exportFile(lines.slice(0, 2)), 3, /the file ends before its end record/);
  });

  for (const key of ['snapshots', 'events', 'messages', 'queue_batches', 'turns', 'attachments']) {
    it(`counts that say one ${key} more than the file holds`, async () => {
      const { lines } = await source();
      const end = lines.at(-1) as Line;
      const held = end.counts[key] as number;
      lines[lines.length - 1] = { ...end, counts: { ...end.counts, [key]: held + 1 } };
      await expectRefused(exportFile(lines, true), lines.length, new RegExp(`other counts than its end record: ${key} ${held} \\(the end record says ${held + 1}\\); lines are missing`));
    });
  }

  it('a record of each kind dropped, the counts left as exported', async () => {
    const { lines } = await source();
    for (const record of ['message', 'queue_batch', 'turn']) {
      const edited = structuredClone(lines);
      edited.splice(indexOf(edited, record, -1), 1);
      await expectRefused(exportFile(edited, true), edited.length, /other counts than its end record/);
    }
  });
});

describe('events run without a gap from history_start + 1 to last_seq', () => {
  it('a seq skipped is refused on the event after the gap', async () => {
    const { lines } = await source();
    const first = indexOf(lines, 'event', 1);
    const seq = lines[first]?.seq as number;
    lines.splice(first, 1);
    await expectRefused(exportFile(lines), first + 1, new RegExp(`event seq ${seq + 1} should be ${seq}: kept events run without a gap`));
  });

  it('the first event not at history_start + 1', async () => {
    const { lines } = await source();
    const first = indexOf(lines, 'event');
    lines.splice(first, 1);
    await expectRefused(exportFile(lines), first + 1, /event seq 2 should be 1/);
  });

  it('the same seq twice', async () => {
    const { lines } = await source();
    const first = indexOf(lines, 'event');
    lines.splice(first + 1, 0, { ...lines[first] });
    await expectRefused(exportFile(lines), first + 2, /event seq 1 should be 2/);
  });

  it('events that stop before last_seq are refused on the end record', async () => {
    const { lines } = await source();
    const last = indexOf(lines, 'event', -1);
    const seq = lines[last]?.seq as number;
    lines.splice(last, 1);
    await expectRefused(exportFile(lines), lines.length, new RegExp(`events end at seq ${seq - 1}, the session's last_seq is ${seq}`));
  });

  it("an event past the session's last_seq", async () => {
    const { lines } = await source();
    const last = indexOf(lines, 'event', -1);
    lines.splice(last + 1, 0, { ...lines[last], seq: (lines[last]?.seq as number) + 1, type: 'note', version: null, data: 1 });
    await expectRefused(exportFile(lines), last + 2, /event seq \d+ is above the session's last_seq/);
  });
});

describe("messages rise by seq, up to the session's message_seq", () => {
  it("a message past the session's message_seq is refused on its line: the copy's next message would take a seq already used", async () => {
    const { lines } = await source();
    const last = indexOf(lines, 'message', -1);
    const messageSeq = lines[1]?.message_seq as number;
    expect(lines[last]?.seq).toBe(messageSeq);
    lines.splice(last + 1, 0, { ...lines[last], seq: messageSeq + 1, id: 'message-past-the-counter' });
    await expectRefused(exportFile(lines), last + 2, new RegExp(`message seq ${messageSeq + 1} is out of order or above the session's message_seq`));
  });
});

describe('state event versions rise, up to the session version', () => {
  const stateEvents = (lines: Line[]) => lines.map((line, index) => (line.record === 'event' && line.version !== null ? index : -1)).filter((i) => i >= 0);

  it('a state event at the version of the one before (stale) is refused', async () => {
    const { lines } = await source();
    const [first, second] = stateEvents(lines) as [number, number];
    lines[second] = { ...lines[second], version: lines[first]?.version };
    await expectRefused(exportFile(lines), second + 1, new RegExp(`state event version ${lines[first]?.version} is out of order`));
  });

  it("a state event above the session's version is refused", async () => {
    const { lines } = await source();
    const last = stateEvents(lines).at(-1) as number;
    const version = lines[indexOf(lines, 'session')]?.version as number;
    lines[last] = { ...lines[last], version: version + 1 };
    await expectRefused(exportFile(lines), last + 1, new RegExp(`state event version ${version + 1} is out of order or above the session's version`));
  });

  it('a state event without a version, and a client event with one', async () => {
    const { lines } = await source();
    const state = stateEvents(lines)[0] as number;
    const stripped = structuredClone(lines);
    stripped[state] = { ...stripped[state], version: null };
    await expectRefused(exportFile(stripped), state + 1, /event carries the version it made/);
    const note = lines.findIndex((line) => line.record === 'event' && line.type === 'note');
    const versioned = structuredClone(lines);
    versioned[note] = { ...versioned[note], version: 1 };
    await expectRefused(exportFile(versioned), note + 1, /only state events carry a version; a note event does not/);
  });

  it("a session record whose version is below its snapshot's", async () => {
    const { lines } = await source();
    const session = indexOf(lines, 'session');
    lines[session] = { ...lines[session], snapshot_version: (lines[session]?.version as number) + 1 };
    await expectRefused(exportFile(lines), session + 1, /base_version and snapshot_version may not be above version/);
  });
});

describe('event types', () => {
  const cases: [type: string, detail: RegExp][] = [
    ['session.deleted', /type "session\.deleted" has a prefix only the server writes, and the server stores no such event/],
    ['session.activity', /session\.activity/],
    ['state.bogus', /state\.bogus/],
    ['Note', /type/],
    ['note\nevent: session.deleted', /type/],
  ];
  for (const [type, detail] of cases) {
    it(`refuses an event of type ${JSON.stringify(type)}`, async () => {
      const { lines } = await source();
      const note = lines.findIndex((line) => line.record === 'event' && line.type === 'note');
      lines[note] = { ...lines[note], type };
      await expectRefused(exportFile(lines), note + 1, detail);
    });
  }

  it('takes every reserved type the server wrote into the file', async () => {
    const { lines } = await source();
    const types = new Set(lines.filter((line) => line.record === 'event').map((line) => line.type));
    expect([...types].filter((type) => type !== 'note').length).toBeGreaterThan(3);
    await expectImported(exportFile(lines));
  });
});

describe('sizes are measured in bytes, at the limit and one past it', () => {
  // JSON text of a string of n two-byte characters: n characters and 2n + 2 bytes.
  const atEdge = 'é'.repeat((MAX_EVENT_BYTES - 2) / 2);
  const pastEdge = `a${atEdge}`;
  expect(Buffer.byteLength(JSON.stringify(atEdge))).toBe(MAX_EVENT_BYTES);

  it('event data of MAX_EVENT_BYTES is taken, one byte more is refused', async () => {
    const { lines } = await source();
    const note = lines.findIndex((line) => line.record === 'event' && line.type === 'note');
    lines[note] = { ...lines[note], data: atEdge };
    await expectImported(exportFile(lines));
    lines[note] = { ...lines[note], data: pastEdge };
    const problem = await expectRefused(exportFile(lines), note + 1, new RegExp(`event record: data is ${MAX_EVENT_BYTES + 1} bytes; it may hold ${MAX_EVENT_BYTES} \\(MAX_EVENT_BYTES\\)`));
    expect(problem.limit_bytes).toBeUndefined();
  });

  it('message content of MAX_EVENT_BYTES is taken, one byte more is refused', async () => {
    const { lines } = await source();
    const message = indexOf(lines, 'message');
    lines[message] = { ...lines[message], content: atEdge };
    await expectImported(exportFile(lines));
    lines[message] = { ...lines[message], content: pastEdge };
    await expectRefused(exportFile(lines), message + 1, new RegExp(`message record: content is ${MAX_EVENT_BYTES + 1} bytes; it may hold ${MAX_EVENT_BYTES} \\(MAX_EVENT_BYTES\\)`));
  });

  it('queue items of MAX_EVENT_BYTES are taken, one byte more is refused', async () => {
    const { lines } = await source();
    const batch = indexOf(lines, 'queue_batch');
    // ["…"]: the array's two brackets around the string.
    const items = 'é'.repeat((MAX_EVENT_BYTES - 4) / 2);
    lines[batch] = { ...lines[batch], items: [items] };
    await expectImported(exportFile(lines));
    lines[batch] = { ...lines[batch], items: [`a${items}`] };
    await expectRefused(exportFile(lines), batch + 1, new RegExp(`queue_batch record: items is ${MAX_EVENT_BYTES + 1} bytes; it may hold ${MAX_EVENT_BYTES} \\(MAX_EVENT_BYTES\\)`));
  });

  it('a state delta of MAX_EVENT_BYTES is taken, one byte more is refused', async () => {
    const { lines } = await source();
    const delta = lines.findIndex((line) => line.record === 'event' && line.type === 'state.delta');
    const data = lines[delta]?.data;
    const room = MAX_EVENT_BYTES - Buffer.byteLength(JSON.stringify({ ...data, pad: '' }));
    lines[delta] = { ...lines[delta], data: { ...data, pad: 'é'.repeat(Math.floor(room / 2)) + 'a'.repeat(room % 2) } };
    expect(Buffer.byteLength(JSON.stringify(lines[delta]?.data))).toBe(MAX_EVENT_BYTES);
    await expectImported(exportFile(lines));
    lines[delta] = { ...lines[delta], data: { ...lines[delta]?.data, pad: `a${lines[delta]?.data.pad}` } };
    await expectRefused(exportFile(lines), delta + 1, new RegExp(`event record: the delta is ${MAX_EVENT_BYTES + 1} bytes; it may hold ${MAX_EVENT_BYTES} \\(MAX_EVENT_BYTES\\)`));
  });

  it('a line longer than twice MAX_BODY_BYTES is 413 payload_too_large naming the line and the limit', async () => {
    const { lines } = await source();
    const note = lines.findIndex((line) => line.record === 'event' && line.type === 'note');
    const text = exportFile(lines).split('\n');
    text[note] = `${text[note]}${' '.repeat(2 * MAX_BODY_BYTES)}`;
    const problem = await expectRefused(text.join('\n'), note + 1, /longer than/, 413, 'payload_too_large');
    expect(problem.limit_bytes).toBe(2 * MAX_BODY_BYTES);
  });

  it('a line of exactly twice MAX_BODY_BYTES is read (the edge)', async () => {
    const { lines } = await source();
    const note = lines.findIndex((line) => line.record === 'event' && line.type === 'note');
    const text = exportFile(lines).split('\n');
    text[note] = `${text[note]}${' '.repeat(2 * MAX_BODY_BYTES - Buffer.byteLength(text[note] as string))}`;
    await expectImported(text.join('\n'));
  });
});

describe('attachments', () => {
  it('an attachment of MAX_ATTACHMENT_BYTES imports (its bytes as uploaded); one byte more is refused on its line', async () => {
    const id = unique('source');
    await ok('POST', '/v1/sessions', { id });
    const bytes = Buffer.from('é'.repeat(MAX_ATTACHMENT_BYTES / 2));
    const attachmentId = await upload(id, bytes);
    const lines = await exportLines(t, id);
    const copy = await expectImported(exportFile(lines));
    const read = await t.app.inject({ method: 'GET', url: `/v1/sessions/${copy}/attachments/${attachmentId}` });
    expect(read.rawPayload.equals(bytes)).toBe(true);

    const over = Buffer.concat([bytes, Buffer.from('a')]);
    const at = indexOf(lines, 'attachment');
    lines[at] = { ...lines[at], attachment_id: sha256(over), size: over.length };
    lines.splice(at + 1, withChunks(lines, at) - 1, { record: 'chunk', data_base64: over.toString('base64') });
    await expectRefused(exportFile(lines), at + 1, /attachment of 65 bytes: this server takes 64 \(MAX_ATTACHMENT_BYTES\)/);
  });

  it('a chunk that is not base64 is refused on its line', async () => {
    const { lines } = await source();
    const at = indexOf(lines, 'attachment');
    lines[at + 1] = { record: 'chunk', data_base64: 'not base64!' };
    await expectRefused(exportFile(lines), at + 2, /line \d+ has \d+ more bytes to come in chunk records; chunk record: field data_base64/);
  });

  it('bytes that do not hash to their attachment_id are refused on the attachment line', async () => {
    const { lines } = await source();
    const at = indexOf(lines, 'attachment');
    const bytes = Buffer.from(lines[at + 1]?.data_base64, 'base64');
    bytes[0] = (bytes[0] as number) ^ 1;
    lines[at + 1] = { record: 'chunk', data_base64: bytes.toString('base64') };
    await expectRefused(exportFile(lines), at + 1, new RegExp(`attachment ${lines[at]?.attachment_id}: its bytes have SHA-256 ${sha256(bytes)}`));
  });

  it('more bytes than the attachment declares, or fewer before the next record', async () => {
    const { lines } = await source();
    const at = indexOf(lines, 'attachment');
    const more = structuredClone(lines);
    more[at + 1] = { record: 'chunk', data_base64: Buffer.concat([Buffer.from(more[at + 1]?.data_base64, 'base64'), Buffer.from('x')]).toString('base64') };
    await expectRefused(exportFile(more), at + 2, /more bytes than the \d+ line \d+ declares/);
    const fewer = structuredClone(lines);
    fewer.splice(at + 1, 1);
    await expectRefused(exportFile(fewer), at + 2, new RegExp(`line ${at + 1} has \\d+ more bytes to come in chunk records`));
  });

  it('the same attachment twice is refused on the second', async () => {
    const { lines } = await source();
    const at = indexOf(lines, 'attachment');
    const size = withChunks(lines, at);
    lines.splice(at + size, 0, ...structuredClone(lines.slice(at, at + size)));
    await expectRefused(exportFile(lines), at + size + 1, /attachment [0-9a-f]{64} appears twice/);
  });
});

describe('the id, the body and the transfer', () => {
  it('an id that is taken is 409 session_exists, and the session there is left as it was', async () => {
    const { id, lines } = await source();
    const before = await rows();
    const events = await ok('GET', `/v1/sessions/${id}/events`);
    const problem = expectProblem(await importText(exportFile(lines), id), 409, 'session_exists');
    expect(problem.detail).toContain(id);
    expect(await rows()).toEqual(before);
    expect(await ok('GET', `/v1/sessions/${id}/events`)).toEqual(events);
  });

  it('without ?id= the copy takes the id in the file, and that id taken is 409', async () => {
    const { id, lines } = await source();
    const response = await t.app.inject({ method: 'POST', url: '/v1/sessions/import', headers: { 'content-type': 'application/x-ndjson' }, payload: exportFile(lines) });
    expectProblem(response, 409, 'session_exists');
    await ok('DELETE', `/v1/sessions/${id}`);
    const again = await t.app.inject({ method: 'POST', url: '/v1/sessions/import', headers: { 'content-type': 'application/x-ndjson' }, payload: exportFile(lines) });
    expect(again.statusCode, again.body).toBe(201);
    expect(again.json().id).toBe(id);
  });

  it('a file whose line never ends, its body stalled, is 408 request_timeout after TRANSFER_IDLE_TIMEOUT_MS; nothing is kept', async () => {
    const { lines } = await source();
    const id = unique('copy');
    const before = await rows();
    const body = new PassThrough();
    const text = exportFile(lines).split('\n');
    body.write(`${text[0]}\n${text[1]}\n${text[2]}\n{"record":"ev`);
    const started = Date.now();
    const problem = expectProblem(await importText(body, id), 408, 'request_timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(TRANSFER_IDLE_TIMEOUT_MS - 50);
    expect(problem.limit_ms).toBe(TRANSFER_IDLE_TIMEOUT_MS);
    body.destroy();
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
    expect(await rows()).toEqual(before);
  });

  it('a body of another content type is 415, JSON included (an export file is NDJSON), and nothing is created', async () => {
    const { lines } = await source();
    // The last only starts like NDJSON.
    for (const contentType of ['text/plain', 'application/json', 'application/x-ndjsonx']) {
      const id = unique('copy');
      const payload = contentType === 'application/json' ? JSON.stringify(lines[0]) : exportFile(lines);
      const response = await t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': contentType }, payload });
      expect(expectProblem(response, 415, 'unsupported_media_type').detail, contentType).toBe('an import is an export file: send it as application/x-ndjson');
      expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
    }
  });

  it('the media type is matched in any case (RFC 9110): an export sent as Application/X-NDJSON imports, as the same session', async () => {
    const { id: sourceId, lines } = await source();
    const events = async (of: string) => (await ok('GET', `/v1/sessions/${of}/events`)).events.map((e: { seq: number; type: string }) => [e.seq, e.type]);
    for (const contentType of ['Application/X-NDJSON', 'APPLICATION/X-NDJSON']) {
      const id = unique('copy');
      const response = await t.app.inject({ method: 'POST', url: `/v1/sessions/import?id=${id}`, headers: { 'content-type': contentType }, payload: exportFile(lines) });
      expect(response.statusCode, `${contentType}: ${response.body}`).toBe(201);
      expect(response.json().id).toBe(id);
      expect(await events(id)).toEqual(await events(sourceId));
    }
  });

  it('a query parameter other than id is 400, and nothing is created', async () => {
    const { lines } = await source();
    const id = unique('copy');
    const response = await t.app.inject({ method: 'POST', url: `/v1/sessions/import?ids=${id}`, headers: { 'content-type': 'application/x-ndjson' }, payload: exportFile(lines) });
    expectProblem(response, 400, 'invalid_request');
    expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
  });

  it('CRLF line ends and blank lines are read as the lines they end', async () => {
    const { lines } = await source();
    const text = exportFile(lines).split('\n').join('\r\n\n  \n');
    await expectImported(text);
    // The line numbers count the blank lines too.
    const broken = exportFile(lines).replace('"record":"end"', '"record":"nope"').split('\n').join('\n\n');
    await expectRefused(broken, 2 * lines.length - 1, /"record" "nope" is not a record this format has here/);
  });
});

describe('round trip', () => {
  it('export then import yields the same session: record, state, events, messages, queue, turns, attachments', async () => {
    const { id, lines } = await source();
    const copy = await expectImported(exportFile(lines));
    const read = async (sid: string) => {
      const session = await ok('GET', `/v1/sessions/${sid}`);
      const { id: _id, updated_at: _updated, ...rest } = session;
      return {
        session: rest,
        state: await ok('GET', `/v1/sessions/${sid}/state`),
        v3: await ok('GET', `/v1/sessions/${sid}/state?at_version=3`),
        events: await ok('GET', `/v1/sessions/${sid}/events`),
        messages: (await ok('GET', `/v1/sessions/${sid}/messages`)).messages.map(({ id: _m, ...m }: Line) => m),
        queue: (await ok('GET', `/v1/sessions/${sid}/queue`)).batches.map(({ batch_id: _b, ...b }: Line) => b),
        attachments: await ok('GET', `/v1/sessions/${sid}/attachments`),
      };
    };
    const [original, copied] = await Promise.all([read(id), read(copy)]);
    expect(copied).toEqual(original);
    expect(copied.events.events.length).toBeGreaterThan(5);
    // The copy's export is the original's file, but for the ids the copy gave what this server held already.
    const again = await exportLines(t, copy);
    expect(again.length).toBe(lines.length);
    expect(again.map((line) => line.record)).toEqual(lines.map((line) => line.record));
    // A retried turn replays the answer the original gave.
    const replay = await call(t.app, 'POST', `/v1/sessions/${copy}/turns`, { turn_id: 'turn-2', events: [{ type: 'tool.called', data: {} }] });
    const first = lines.find((line) => line.record === 'turn' && line.turn_id === 'turn-2')?.response;
    expect(replay.json()).toEqual(first);
    for (const attachment of lines.filter((line) => line.record === 'attachment')) {
      const bytes = await t.app.inject({ method: 'GET', url: `/v1/sessions/${copy}/attachments/${attachment.attachment_id}` });
      expect(sha256(bytes.rawPayload)).toBe(attachment.attachment_id);
    }
  });
});
