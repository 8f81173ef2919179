import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { exportFile, exportLines, type ExportLine as Line } from '../helpers/export-file.js';

// Issue 24, defects 6-8: an import file passes the checks the live API makes
// (a record it takes is one the API could have written), refusals name the
// line, and nothing is created.
let t: TestApp;
const MAX_EVENT_BYTES = 4096;
const MAX_METADATA_BYTES = 512;
/** The state may nest one level less (15), an event's data three less (13): where they sit in a request body. */
const MAX_JSON_DEPTH = 16;
const MAX_BATCH_EVENTS = 100;
const MAX_BODY_BYTES = 128 * 1024;

beforeAll(async () => {
  t = await createTestApp({
    env: {
      MAX_EVENT_BYTES: String(MAX_EVENT_BYTES),
      MAX_METADATA_BYTES: String(MAX_METADATA_BYTES),
      MAX_JSON_DEPTH: String(MAX_JSON_DEPTH),
      MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      HISTORY_SWEEP_MS: '86400000',
    },
  });
});
afterAll(() => t.close());

const ok = async (method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) => {
  const response = await call(t.app, method, path, body);
  expect(response.statusCode, `${method} ${path}: ${response.body}`).toBeLessThan(300);
  return response.body ? response.json() : undefined;
};

/** A session holding every kind of record: snapshots, state and client events, messages, batches, turns, an attachment. */
async function fullSession(id: string): Promise<void> {
  await ok('POST', '/v1/sessions', { id, metadata: { name: id } });
  await ok('PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { v: 1 } });
  await ok('POST', `/v1/sessions/${id}/deltas`, { base_version: 1, merge_patch: { v: 2 } });
  await ok('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: { n: 1 } }, { type: 'note', data: { n: 2 } }] });
  await ok('POST', `/v1/sessions/${id}/messages`, { messages: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi' }] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: [{ say: 'one' }] });
  await ok('POST', `/v1/sessions/${id}/queue`, { items: ['two'] });
  const upload = await t.app.inject({
    method: 'POST',
    url: `/v1/sessions/${id}/attachments`,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    payload: 'attached bytes',
  });
  expect(upload.statusCode, upload.body).toBe(201);
  await ok('POST', `/v1/sessions/${id}/turns`, {
    turn_id: 'turn-1',
    base_version: 2,
    state: { merge_patch: { v: 3 } },
    attachments: [upload.json().attachment_id],
    usage: [{ model: 'm', input_tokens: 10, output_tokens: 5, cost_usd: 0.5 }],
  });
  await ok('POST', `/v1/sessions/${id}/turns`, { turn_id: 'turn-2', events: [{ type: 'tool.called', data: {} }] });
}

function importFile(lines: Line[], id: string) {
  return t.app.inject({
    method: 'POST',
    url: `/v1/sessions/import?id=${id}`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: exportFile(lines),
  });
}

/** Imports `lines`: 400 invalid_import naming `line` (1-based), and no session afterwards. */
let refusals = 0;
async function expectRefused(lines: Line[], line: number, detail: RegExp, id = `refused-${++refusals}`): Promise<void> {
  const problem = expectProblem(await importFile(lines, id), 400, 'invalid_import');
  expect(problem.detail).toMatch(detail);
  expect(problem.line, problem.detail).toBe(line);
  expectProblem(await call(t.app, 'GET', `/v1/sessions/${id}`), 404, 'session_not_found');
  const [left] = await t.database.db`select count(*)::int as n from sessions where id = ${id}`;
  expect(left?.n).toBe(0);
}

const at = (lines: Line[], match: (line: Line) => boolean, nth = 0): number => {
  const found = lines.map((line, index) => (match(line) ? index : -1)).filter((index) => index >= 0)[nth];
  if (found === undefined) throw new Error('no such line in the export');
  return found;
};
const isEvent = (type: string) => (line: Line) => line.record === 'event' && line.type === type;
const is = (record: string) => (line: Line) => line.record === record;
const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });

let original: Line[];
beforeAll(async () => {
  await fullSession('source');
  original = await exportLines(t, 'source');
});

describe('an imported record passes the checks of the live API', () => {
  it('the unedited file imports', async () => {
    const imported = await importFile(original, 'unedited');
    expect(imported.statusCode, imported.body).toBe(201);
  });

  it('an event type edited to carry SSE fields is refused, so it can never reach a stream', async () => {
    const lines = structuredClone(original);
    const index = at(lines, isEvent('note'));
    lines[index] = { ...lines[index], type: 'note.added\nid: 999\nevent: session.deleted' };
    await expectRefused(lines, index + 1, /type/);
  });

  type Edit = [name: string, edit: (lines: Line[]) => number, detail: RegExp];
  const editLine = (match: (line: Line) => boolean, change: (line: Line) => Line, nth = 0) => (lines: Line[]) => {
    const index = at(lines, match, nth);
    lines[index] = change(lines[index] as Line);
    return index;
  };
  const edits: Edit[] = [
    ['an event type that is not a lowercase dotted name', editLine(isEvent('note'), (l) => ({ ...l, type: 'Note' })), /type/],
    ['an event type over 128 characters', editLine(isEvent('note'), (l) => ({ ...l, type: `n${'a'.repeat(128)}` })), /type/],
    ['a reserved event type the server never stores', editLine(isEvent('note'), (l) => ({ ...l, type: 'session.deleted' })), /session\.deleted/],
    ['client event data over MAX_EVENT_BYTES', editLine(isEvent('note'), (l) => ({ ...l, data: 'x'.repeat(MAX_EVENT_BYTES) })), /MAX_EVENT_BYTES/],
    ['client event data nested deeper than a request carries it', editLine(isEvent('note'), (l) => ({ ...l, data: nest(MAX_JSON_DEPTH - 2) })), /deep/],
    ['a state event without its version', editLine(isEvent('state.delta'), (l) => ({ ...l, version: null })), /version/],
    ['a client event with a version', editLine(isEvent('note'), (l) => ({ ...l, version: 2 })), /version/],
    ['state event versions going down', editLine(isEvent('state.delta'), (l) => ({ ...l, version: 1 })), /version/],
    ['a state delta over MAX_EVENT_BYTES', editLine(isEvent('state.delta'), (l) => ({ ...l, data: { merge_patch: { big: 'x'.repeat(MAX_EVENT_BYTES) } } })), /MAX_EVENT_BYTES/],
    ['a message kind the API refuses', editLine(is('message'), (l) => ({ ...l, kind: 'not a kind!' })), /kind/],
    ['a message id that is not an id the server makes', editLine(is('message'), (l) => ({ ...l, id: 'a b\r\nc' })), /id/],
    ['message content over MAX_EVENT_BYTES', editLine(is('message'), (l) => ({ ...l, content: 'x'.repeat(MAX_EVENT_BYTES) })), /MAX_EVENT_BYTES/],
    ['message content nested deeper than a request carries it', editLine(is('message'), (l) => ({ ...l, content: nest(MAX_JSON_DEPTH) })), /deep/],
    ['a queue batch id that is not an id the server makes', editLine(is('queue_batch'), (l) => ({ ...l, batch_id: 'x y' })), /batch_id/],
    ['an empty queue batch', editLine(is('queue_batch'), (l) => ({ ...l, items: [] })), /items/],
    ['a queue batch over MAX_BATCH_EVENTS items', editLine(is('queue_batch'), (l) => ({ ...l, items: Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => 1) })), /MAX_BATCH_EVENTS/],
    ['queue items over MAX_EVENT_BYTES', editLine(is('queue_batch'), (l) => ({ ...l, items: ['x'.repeat(MAX_EVENT_BYTES)] })), /MAX_EVENT_BYTES/],
    ['a turn id the turn route refuses', editLine(is('turn'), (l) => ({ ...l, turn_id: 'turn 1' })), /turn_id/],
    ['a turn request_hash that is no digest', editLine(is('turn'), (l) => ({ ...l, request_hash: 'x' })), /request_hash/],
    ['a turn answer for another turn', editLine(is('turn'), (l) => ({ ...l, response: { ...l.response, turn_id: 'other' } })), /response/],
    ['a turn answer that is not one', editLine(is('turn'), (l) => ({ ...l, response: '<script>' })), /response/],
    ['an attachment content type that breaks a header', editLine(is('attachment'), (l) => ({ ...l, content_type: 'text/plain\r\nset-cookie: a=b' })), /content_type/],
    ['an attachment content type not as an upload keeps it', editLine(is('attachment'), (l) => ({ ...l, content_type: 'TEXT/Plain' })), /content_type/],
    ['metadata over MAX_METADATA_BYTES', editLine(is('session'), (l) => ({ ...l, metadata: { t: 'x'.repeat(MAX_METADATA_BYTES) } })), /MAX_METADATA_BYTES/],
    ['metadata nested deeper than a request carries it', editLine(is('session'), (l) => ({ ...l, metadata: { a: nest(MAX_JSON_DEPTH - 1) } })), /deep/],
    ['a usage cost no series of turns could reach', editLine(is('session'), (l) => ({ ...l, usage: { ...l.usage, cost_usd: 1e300 } })), /cost_usd/],
    ['a first_user_message longer than the server keeps', editLine(is('session'), (l) => ({ ...l, first_user_message: 'x'.repeat(201) })), /first_user_message/],
    ['a forked_from naming no session id', editLine(is('session'), (l) => ({ ...l, forked_from: { session_id: 'a\nb', version: 1 } })), /forked_from/],
    ['a snapshot deeper than a state may be', editLine(is('snapshot'), (l) => ({ ...l, body: nest(MAX_JSON_DEPTH) })), /deep/],
    ['a snapshot larger than a state may be', editLine(is('snapshot'), (l) => ({ ...l, body: 'x'.repeat(MAX_BODY_BYTES) })), /bytes/],
  ];
  for (const [name, edit, detail] of edits) {
    it(`refuses ${name}, naming the line`, async () => {
      const lines = structuredClone(original);
      const index = edit(lines);
      await expectRefused(lines, index + 1, detail);
    });
  }

  it('refuses state events that rebuild a head the live API would have refused (deeper than a state may be)', async () => {
    const lines = structuredClone(original);
    const last = at(lines, isEvent('state.delta'), 1);
    lines[last] = { ...lines[last], data: { merge_patch: { deep: nest(MAX_JSON_DEPTH - 1) } } };
    await expectRefused(lines, lines.length, /deep/);
  });
});

describe('duplicates are 400 naming the line, never a 500', () => {
  /** Each edit gives a record the key of an earlier one (or repeats a line) and returns the index of the line to be refused. */
  const cases: [name: string, edit: (lines: Line[]) => number, detail: RegExp][] = [
    ['two messages with one id', (lines) => {
      const second = at(lines, is('message'), 1);
      lines[second] = { ...lines[second], id: lines[at(lines, is('message'))]?.id };
      return second;
    }, /id .* appears twice/],
    ['a repeated queue batch', (lines) => {
      const first = at(lines, is('queue_batch'));
      lines.splice(first + 1, 0, { ...lines[first] });
      return first + 1;
    }, /batch_id .* appears twice/],
    ['a repeated turn', (lines) => {
      const first = at(lines, is('turn'));
      lines.splice(first + 1, 0, { ...lines[first] });
      return first + 1;
    }, /turn_id .* appears twice/],
    ['a repeated event seq', (lines) => {
      const first = at(lines, is('event'));
      lines.splice(first + 1, 0, { ...lines[first] });
      return first + 1;
    }, /seq/],
    ['a repeated snapshot version', (lines) => {
      const first = at(lines, is('snapshot'));
      lines.splice(first + 1, 0, { ...lines[first] });
      return first + 1;
    }, /version/],
    ['a repeated attachment', (lines) => {
      const first = at(lines, is('attachment'));
      lines.splice(at(lines, is('end')), 0, ...lines.slice(first, first + 2).map((line) => ({ ...line })));
      return at(lines, is('attachment'), 1);
    }, /appears twice/],
  ];
  for (const [name, edit, detail] of cases) {
    it(`${name}, beside the original`, async () => {
      const lines = structuredClone(original);
      const index = edit(lines);
      await expectRefused(lines, index + 1, detail);
    });
  }

  it('one key for a message, a queue batch and a turn is no repeat: each kind has keys of its own', async () => {
    const lines = structuredClone(original);
    const shared = lines[at(lines, is('message'))]?.id;
    const batch = at(lines, is('queue_batch'));
    lines[batch] = { ...lines[batch], batch_id: shared };
    const turn = at(lines, is('turn'));
    lines[turn] = { ...lines[turn], turn_id: shared, response: { ...(lines[turn]?.response as object), turn_id: shared } };
    const imported = await importFile(lines, 'keys-per-kind');
    expect(imported.statusCode, imported.body).toBe(201);
  });

  it('the same, with the original gone (ids this server does not hold) and far apart in a long file', async () => {
    await ok('POST', '/v1/sessions', { id: 'long' });
    for (let i = 0; i < 6; i++) {
      await ok('POST', '/v1/sessions/long/messages', { messages: Array.from({ length: 100 }, (_, n) => ({ role: 'user', content: `m${i * 100 + n}` })) });
      await ok('POST', '/v1/sessions/long/queue', { items: [i] });
    }
    const lines = await exportLines(t, 'long');
    await ok('DELETE', '/v1/sessions/long');
    const messageAt = (nth: number) => at(lines, is('message'), nth);
    const twice = structuredClone(lines);
    twice[messageAt(550)] = { ...twice[messageAt(550)], id: twice[messageAt(3)]?.id };
    await expectRefused(twice, messageAt(550) + 1, new RegExp(`id ${lines[messageAt(3)]?.id} appears twice \\(first on line ${messageAt(3) + 1}\\)`));
    const batches = structuredClone(lines);
    const lastBatch = at(batches, is('queue_batch'), 5);
    batches[lastBatch] = { ...batches[lastBatch], batch_id: batches[at(batches, is('queue_batch'))]?.batch_id };
    await expectRefused(batches, lastBatch + 1, /batch_id .* appears twice/);
    const intact = await importFile(lines, 'long');
    expect(intact.statusCode, intact.body).toBe(201);
  });
});

describe('records come in the order the export writes them', () => {
  const moved = (record: string, before: string) => (lines: Line[]) => {
    const from = at(lines, is(record));
    const [line] = lines.splice(from, 1);
    const to = at(lines, is(before));
    lines.splice(to, 0, line as Line);
    return to;
  };
  const cases: [name: string, edit: (lines: Line[]) => number][] = [
    // The refusal names the first line that comes after a record of a later kind.
    ['a message before the events', (lines) => moved('message', 'event')(lines) + 1],
    ['a snapshot after the events', (lines) => {
      const [snapshot] = lines.splice(at(lines, is('snapshot')), 1);
      const to = at(lines, is('message'));
      lines.splice(to, 0, snapshot as Line);
      return to;
    }],
    ['a turn before the queue batches', (lines) => moved('turn', 'queue_batch')(lines) + 1],
    ['an attachment before the turns', (lines) => {
      const from = at(lines, is('attachment'));
      const attachment = lines.splice(from, 2);
      const to = at(lines, is('turn'));
      lines.splice(to, 0, ...attachment);
      return to + 2;
    }],
    ['events out of seq order', (lines) => {
      const first = at(lines, isEvent('note'));
      [lines[first], lines[first + 1]] = [lines[first + 1] as Line, lines[first] as Line];
      return first;
    }],
  ];
  for (const [name, edit] of cases) {
    it(`refuses ${name}, naming the line`, async () => {
      const lines = structuredClone(original);
      const index = edit(lines);
      await expectRefused(lines, index + 1, /order|seq|cannot/);
    });
  }
});
