import { type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { uuidv7 } from 'uuidv7';
import type { AttachmentBytes } from '../attachments/bytes.js';
import { keptContentType } from '../attachments/serving.js';
import type { Limits } from '../config.js';
import { type Db, type Tx } from '../db/client.js';
import { ApiError, InvalidImport, PayloadTooLarge, SessionExists } from '../errors.js';
import { isReservedType, SERVER_EVENT_TYPES } from '../events/types.js';
import { countWithin, jsonWithin } from '../limits.js';
import { FIRST_USER_MESSAGE_CHARS } from '../messages/store.js';
import { findSessionRow } from '../sessions/statements.js';
import { measure, NotPlainJson, type StateLimits } from '../state/json-value.js';
import { notify } from '../wakeups/wakeups.js';
import {
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportCounts,
  RECORDS,
  HeaderRecord,
  type AttachmentLine,
  type EventLine,
  type MessageLine,
  type QueueBatchLine,
  type SessionLine,
  type SnapshotLine,
  type TurnLine,
} from './export-format.js';
import {
  createImportKeys,
  findUsedImportKey,
  insertImportedAttachment,
  insertImportedBatches,
  insertImportedEvents,
  insertImportedMessages,
  insertImportedSession,
  insertImportedSnapshot,
  insertImportedTurns,
  recordImportKeys,
} from './statements.js';
import { stateAtVersion } from './time-travel.js';
import { EVENT } from 'session-sync/client/protocol';

export interface ImportInput {
  /** The file's bytes as they arrive. */
  body: AsyncIterable<Buffer | string>;
  /** The id to create; default: the one in the file. */
  id?: string;
  /** Parses one line's JSON under the rules of any request body (throws on what cannot be stored). */
  parse: (line: Buffer) => unknown;
  /** The longest line accepted. */
  maxLineBytes: number;
  /** Where attachment bytes go, and the chunk size they are stored in. */
  bytes: AttachmentBytes & { readonly chunkBytes: number };
  /** The largest attachment taken (MAX_ATTACHMENT_BYTES). */
  maxAttachmentBytes: number;
  /** The limits of the live API, which every record passes as the request that wrote it did. */
  limits: ImportLimits;
}

export type ImportLimits = Pick<Limits, 'maxBodyBytes' | 'maxEventBytes' | 'maxBatchEvents' | 'maxMetadataBytes'> & {
  /** MAX_JSON_DEPTH: how deep a request body nests. */
  maxJsonDepth: number;
  /** What a json state may hold (`stateLimitsFor`). */
  state: StateLimits;
};

/** The records after the session record, in the order the export writes them. */
const RECORD_ORDER = ['snapshot', 'event', 'message', 'queue_batch', 'turn', 'attachment', 'end'] as const;
type OrderedRecord = (typeof RECORD_ORDER)[number];

/** Rows, or bytes of JSON text, gathered before one insert: what the import holds at most. */
const FLUSH_ROWS = 500;
const FLUSH_BYTES = 2 * 1024 * 1024;

const checks = Object.fromEntries(Object.entries(RECORDS).map(([name, schema]) => [name, TypeCompiler.Compile(schema)])) as {
  [K in keyof typeof RECORDS]: TypeCheck<(typeof RECORDS)[K]>;
};
const checkHeader = TypeCompiler.Compile(HeaderRecord);

/**
 * Recreates an exported session (see `export-format.ts`) in one transaction,
 * reading the file as it arrives and inserting in batches, so memory does not
 * grow with the file: anything wrong, a line cut short or the end record
 * missing or disagreeing with what came before, rolls it all back with 400
 * naming the line. The copy has the original's seqs, versions, history start
 * and counters; its lease is none (leases do not move), a batch a worker held
 * there is pending here, and message and batch ids this server already holds
 * (a copy beside its original) are given new ones. At commit, watchers of the
 * new id hear of it like of any created session. Returns the new id.
 */
export async function importSession(db: Db, input: ImportInput): Promise<string> {
  const reader = new LineReader(input.body, input.maxLineBytes);
  const parse = async <S extends TSchema>(check: TypeCheck<S>, expected: string): Promise<{ no: number; value: S['static'] }> => {
    const line = await reader.next();
    if (!line) throw new InvalidImport(reader.lineNo + 1, `the file ends before its ${expected}: it was cut short`);
    const value = parseLine(input.parse, line);
    if (!check.Check(value)) throw new InvalidImport(line.no, describe(check, value));
    return { no: line.no, value };
  };

  const header = await parse(checkHeader, 'header');
  if (header.value.format !== EXPORT_FORMAT || header.value.format_version !== EXPORT_FORMAT_VERSION) {
    throw new InvalidImport(
      header.no,
      `format "${header.value.format}" version ${header.value.format_version} is not one this server reads ` +
        `("${EXPORT_FORMAT}" version ${EXPORT_FORMAT_VERSION})`,
    );
  }
  const { value: session, no: sessionLine } = await parse(checks.session, 'session record');
  const id = input.id ?? session.id;
  checkSession(session, sessionLine, input.limits);

  return db.begin(async (tx) => {
    const sid = await insertSession(tx, session, id);
    const importer = new Importer(tx, sid, session, input);
    for (;;) {
      const line = await reader.next();
      if (!line) throw new InvalidImport(reader.lineNo + 1, 'the file ends before its end record: it was cut short');
      const value = parseLine(input.parse, line);
      const name = typeof value === 'object' && value !== null ? (value as { record?: unknown }).record : undefined;
      if (typeof name !== 'string' || !(name in checks) || name === 'session' || name === 'chunk') {
        throw new InvalidImport(line.no, `"record" ${JSON.stringify(name)} is not a record this format has here`);
      }
      const check = checks[name as keyof typeof checks] as TypeCheck<TSchema>;
      if (!check.Check(value)) throw new InvalidImport(line.no, describe(check, value));
      importer.order(name as OrderedRecord, line.no);
      if (name === 'end') {
        await importer.finish(line.no, (value as { counts: ExportCounts }).counts);
        await checkState(tx, id, line.no, input.limits.state);
        const after = await reader.next();
        if (after) throw new InvalidImport(after.no, 'nothing may follow the end record');
        break;
      }
      await importer.take(name, value, line.no, reader);
    }
    await notify(tx, { kind: 'created', session_id: id });
    await notify(tx, { kind: 'append', session_id: id, seq: session.last_seq });
    return id;
  });
}

/**
 * A copy must not be a session whose state cannot be read: the head is
 * rebuilt once from what was imported (the newest snapshot at or below it and
 * the deltas after that), as a read would. A json head must be a state the
 * live API would have let its deltas make: within the state's depth and size.
 */
async function checkState(tx: Tx, id: string, line: number, limits: StateLimits): Promise<void> {
  const row = await findSessionRow(tx, id);
  if (!row || row.version === 0) return;
  let document: unknown;
  try {
    document = (await stateAtVersion(tx, row, row.version))?.document;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new InvalidImport(line, `the state at version ${row.version} cannot be rebuilt from the file's snapshots and state events: ${why}`);
  }
  if (row.encoding === 'json') {
    const problem = stateProblem(document, limits);
    if (problem) throw new InvalidImport(line, `the state at version ${row.version}, rebuilt from the file's snapshots and state events, ${problem}`);
  }
}

/** Why a json state is not one the live API holds (see `measureSnapshot`), or undefined. */
function stateProblem(document: unknown, limits: StateLimits): string | undefined {
  const problem = nestingProblem(document, limits.maxDepth);
  if (typeof problem === 'string') return problem;
  if (problem > limits.maxBytes) return `measures ${problem} bytes; a json state may hold ${limits.maxBytes} (MAX_BODY_BYTES less room for the PUT envelope)`;
  return undefined;
}

/**
 * Why `value` nests deeper than `levels` (what the request body that carried
 * it allowed under MAX_JSON_DEPTH, from where it sat in that body), or its
 * measured size.
 */
function nestingProblem(value: unknown, levels: number): string | number {
  try {
    return measure(value, levels);
  } catch (error) {
    if (!(error instanceof NotPlainJson)) throw error;
    return error.tooDeep ? `nests deeper than ${levels} levels (as the request that wrote it could, under MAX_JSON_DEPTH)` : `holds ${error.message}`;
  }
}

/** Runs one of the live API's checks on a record: what it refuses is the line's refusal. */
function asRecord<T>(no: number, record: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ApiError) throw new InvalidImport(no, `${record} record: ${error.message}`);
    throw error;
  }
}

/** A value a request carried: refused when it nests deeper than that request could carry it. */
function nestedWithin(no: number, what: string, value: unknown, levels: number): void {
  // A scalar nests nowhere (and measuring a long string would copy it for nothing).
  if (typeof value !== 'object' || value === null) return;
  const problem = nestingProblem(value, levels);
  if (typeof problem === 'string') throw new InvalidImport(no, `${what} ${problem}`);
}

function parseLine(parse: (line: Buffer) => unknown, line: Line): unknown {
  try {
    return parse(line.bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^body/, 'the line') : String(error);
    throw new InvalidImport(line.no, detail);
  }
}

function describe(check: TypeCheck<TSchema>, value: unknown): string {
  const first = check.Errors(value).First();
  const field = first?.path ? `field ${first.path.slice(1).replaceAll('/', '.')} ` : '';
  const record = (value as { record?: unknown } | null)?.record;
  return `${typeof record === 'string' ? `${record} record: ` : ''}${field}${first?.message ?? 'is invalid'}`;
}

/** What the counters of the session record promise about the rest of the file, and the live API's limits on its fields. */
function checkSession(session: SessionLine, line: number, limits: ImportLimits): void {
  const fail = (detail: string) => new InvalidImport(line, detail);
  asRecord(line, 'session', () => jsonWithin(session.metadata, limits.maxMetadataBytes, 'metadata', 'MAX_METADATA_BYTES'));
  // Metadata sits one level down in the body that sets it.
  nestedWithin(line, 'session record: metadata', session.metadata, limits.maxJsonDepth - 1);
  if (session.first_user_message !== null && Array.from(session.first_user_message).length > FIRST_USER_MESSAGE_CHARS) {
    throw fail(`session record: first_user_message is longer than the ${FIRST_USER_MESSAGE_CHARS} characters the server keeps of it`);
  }
  if (session.history_start > session.last_seq) throw fail('history_start is above last_seq');
  if (session.state_seq > session.last_seq) throw fail('state_seq is above last_seq');
  if (session.base_version > session.version || session.snapshot_version > session.version) {
    throw fail('base_version and snapshot_version may not be above version');
  }
  if (session.encoding === 'json' && session.version > 0 && session.schema_version === null) throw fail('a session with state needs its schema_version');
}

async function insertSession(tx: Tx, s: SessionLine, id: string): Promise<number> {
  const sid = await insertImportedSession(tx, id, s);
  if (sid === undefined) throw new SessionExists(id);
  return sid;
}

type Pending<T> = { rows: T[]; bytes: number };
const pending = <T>(): Pending<T> => ({ rows: [], bytes: 0 });

/** Takes the records after the session record, in order, and inserts them in batches. */
class Importer {
  private readonly counts: ExportCounts = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, attachments: 0 };
  private readonly events = pending<EventLine & { text: string }>();
  private readonly messages = pending<MessageLine & { text: string; no: number }>();
  private readonly batches = pending<QueueBatchLine & { text: string; no: number }>();
  private readonly turns = pending<TurnLine & { text: string; no: number }>();
  private lastSeq: number;
  private lastMessageSeq = 0;
  private lastSnapshot = -1;
  private lastStateVersion = 0;
  private stage = 0;
  private keysTable = false;
  private readonly limits: ImportLimits;

  constructor(
    private readonly tx: Tx,
    private readonly sid: number,
    private readonly session: SessionLine,
    private readonly input: Pick<ImportInput, 'bytes' | 'maxAttachmentBytes' | 'maxLineBytes' | 'limits'>,
  ) {
    this.lastSeq = session.history_start;
    this.limits = input.limits;
  }

  /** Records come in the order the export writes them: a kind once left does not come back. */
  order(name: OrderedRecord, no: number): void {
    const stage = RECORD_ORDER.indexOf(name);
    if (stage < this.stage) {
      const order = ['header', 'session', ...RECORD_ORDER].join(', ');
      throw new InvalidImport(no, `a "${name}" record cannot come after the "${RECORD_ORDER[this.stage]}" records: records come in the order ${order}`);
    }
    this.stage = stage;
  }

  async take(name: string, value: unknown, no: number, reader: LineReader): Promise<void> {
    switch (name) {
      case 'snapshot':
        return this.snapshot(value as SnapshotLine, no, reader);
      case 'event': {
        const event = value as EventLine;
        if (event.seq !== this.lastSeq + 1) {
          throw new InvalidImport(no, `event seq ${event.seq} should be ${this.lastSeq + 1}: kept events run without a gap from history_start + 1`);
        }
        if (event.seq > this.session.last_seq) throw new InvalidImport(no, `event seq ${event.seq} is above the session's last_seq`);
        const text = this.eventData(event, no);
        this.lastSeq = event.seq;
        this.counts.events++;
        return this.add(this.events, { ...event, text }, () => this.flushEvents());
      }
      case 'message': {
        const message = value as MessageLine;
        if (message.seq <= this.lastMessageSeq || message.seq > this.session.message_seq) {
          throw new InvalidImport(no, `message seq ${message.seq} is out of order or above the session's message_seq`);
        }
        // As PUT .../messages/kinds/{kind} takes it (one level down; POST .../messages takes it three down).
        nestedWithin(no, 'message record: content', message.content, this.limits.maxJsonDepth - 1);
        const text = asRecord(no, 'message', () => jsonWithin(message.content, this.limits.maxEventBytes, 'content', 'MAX_EVENT_BYTES').json);
        this.lastMessageSeq = message.seq;
        this.counts.messages++;
        return this.add(this.messages, { ...message, text, no }, () => this.flushMessages());
      }
      case 'queue_batch': {
        const batch = value as QueueBatchLine;
        // As POST .../queue takes them.
        const text = asRecord(no, 'queue_batch', () => {
          countWithin(batch.items.length, this.limits.maxBatchEvents, 'items');
          return jsonWithin(batch.items, this.limits.maxEventBytes, 'items', 'MAX_EVENT_BYTES').json;
        });
        nestedWithin(no, 'queue_batch record: items', batch.items, this.limits.maxJsonDepth - 1);
        this.counts.queue_batches++;
        return this.add(this.batches, { ...batch, text, no }, () => this.flushBatches());
      }
      case 'turn': {
        const turn = value as TurnLine;
        const answer = turn.response;
        const answered = answer.turn_id === turn.turn_id && answer.first_seq <= answer.last_seq;
        if (!answered || answer.last_seq > this.session.last_seq || answer.version > this.session.version) {
          throw new InvalidImport(no, `turn record: field response is not an answer this session gave turn ${JSON.stringify(turn.turn_id)}`);
        }
        this.counts.turns++;
        return this.add(this.turns, { ...turn, text: JSON.stringify(answer), no }, () => this.flushTurns());
      }
      case 'attachment':
        return this.attachment(value as AttachmentLine, no, reader);
      default:
        throw new InvalidImport(no, `a ${name} record cannot stand here`);
    }
  }

  /**
   * An event's data as JSON text, after the checks of the route that wrote it.
   * A client's event is checked as POST .../events checks it. One the server
   * wrote (a reserved type) must be a type the server stores, and only state
   * events carry a version, rising, as the state writes made them; the state
   * they make is checked when the head is rebuilt. Their data is the server's
   * own (a message, a batch's items, a turn's summary) and is held to the line
   * limit, except a delta's, which is what the client sent.
   */
  private eventData(event: EventLine, no: number): string {
    const fail = (detail: string) => new InvalidImport(no, `event record: ${detail}`);
    const stateEvent = event.type === EVENT.stateSnapshot || event.type === EVENT.stateDelta;
    if (stateEvent !== (event.version !== null)) {
      throw fail(stateEvent ? `a ${event.type} event carries the version it made` : `only state events carry a version; a ${event.type} event does not`);
    }
    if (event.version !== null) {
      if (event.version <= this.lastStateVersion || event.version > this.session.version) {
        throw fail(`state event version ${event.version} is out of order or above the session's version`);
      }
      this.lastStateVersion = event.version;
    }
    if (!isReservedType(event.type)) {
      // Three levels down in the body that sent it: {events: [{data}]}.
      nestedWithin(no, 'event record: data', event.data, this.limits.maxJsonDepth - 3);
      return asRecord(no, 'event', () => jsonWithin(event.data, this.limits.maxEventBytes, 'data', 'MAX_EVENT_BYTES').json);
    }
    if (!SERVER_EVENT_TYPES.has(event.type)) throw fail(`type "${event.type}" has a prefix only the server writes, and the server stores no such event`);
    if (event.type === EVENT.stateDelta) {
      return asRecord(no, 'event', () => jsonWithin(event.data, this.limits.maxEventBytes, 'the delta', 'MAX_EVENT_BYTES').json);
    }
    return JSON.stringify(event.data);
  }

  private async add<T extends { text: string }>(into: Pending<T>, row: T, flush: () => Promise<void>): Promise<void> {
    into.rows.push(row);
    into.bytes += row.text.length;
    if (into.rows.length >= FLUSH_ROWS || into.bytes >= FLUSH_BYTES) await flush();
  }

  private async flushAll(): Promise<void> {
    await this.flushEvents();
    await this.flushMessages();
    await this.flushBatches();
    await this.flushTurns();
  }

  /**
   * Refuses a key (a message id, a batch id, a turn id) the file has already
   * used, naming both lines. The keys seen are kept in a table of the
   * transaction, not in memory: a file may hold any number of them.
   */
  private async once(kind: 'message' | 'queue_batch' | 'turn', field: string, rows: { key: string; no: number }[]): Promise<void> {
    const twice = (key: string, no: number, first: number) =>
      new InvalidImport(no, `${kind} record: ${field} ${key} appears twice (first on line ${first})`);
    const lines = new Map<string, number>();
    for (const { key, no } of rows) {
      const first = lines.get(key);
      if (first !== undefined) throw twice(key, no, first);
      lines.set(key, no);
    }
    if (!this.keysTable) {
      await createImportKeys(this.tx);
      this.keysTable = true;
    }
    const keys = [...lines.keys()];
    const earlier = await findUsedImportKey(this.tx, kind, keys);
    if (earlier) throw twice(earlier.key, lines.get(earlier.key) as number, earlier.line);
    await recordImportKeys(this.tx, kind, keys, [...lines.values()]);
  }

  private async flushEvents(): Promise<void> {
    const rows = this.events.rows.splice(0);
    this.events.bytes = 0;
    if (rows.length === 0) return;
    await insertImportedEvents(this.tx, this.sid, rows);
  }

  private async flushMessages(): Promise<void> {
    const rows = this.messages.rows.splice(0);
    this.messages.bytes = 0;
    if (rows.length === 0) return;
    await this.once('message', 'id', rows.map((r) => ({ key: r.id, no: r.no })));
    await insertImportedMessages(this.tx, this.sid, rows.map((row) => ({ ...row, fresh: uuidv7() })));
  }

  private async flushBatches(): Promise<void> {
    const rows = this.batches.rows.splice(0);
    this.batches.bytes = 0;
    if (rows.length === 0) return;
    await this.once('queue_batch', 'batch_id', rows.map((r) => ({ key: r.batch_id, no: r.no })));
    // The claim that held a batch is the source's worker's: here nobody holds it, so it is pending again.
    const batches = rows.map((row) => ({ ...row, status: row.status === 'claimed' ? ('pending' as const) : row.status, fresh: uuidv7() }));
    await insertImportedBatches(this.tx, this.sid, batches);
  }

  private async flushTurns(): Promise<void> {
    const rows = this.turns.rows.splice(0);
    this.turns.bytes = 0;
    if (rows.length === 0) return;
    await this.once('turn', 'turn_id', rows.map((r) => ({ key: r.turn_id, no: r.no })));
    await insertImportedTurns(this.tx, this.sid, rows);
  }

  private async snapshot(snapshot: SnapshotLine, no: number, reader: LineReader): Promise<void> {
    if (snapshot.version <= this.lastSnapshot || snapshot.version > this.session.version) {
      throw new InvalidImport(no, `snapshot version ${snapshot.version} is out of order or above the session's version`);
    }
    this.lastSnapshot = snapshot.version;
    const binary = this.session.encoding === 'binary';
    if (binary !== (snapshot.size !== null)) {
      throw new InvalidImport(no, `a ${this.session.encoding} session's snapshot carries ${binary ? 'a size (its bytes follow)' : 'its body'}`);
    }
    let bodyBytes: Buffer | null = null;
    // A binary snapshot came in one request body (as base64, smaller still).
    if (snapshot.size !== null && snapshot.size > this.limits.maxBodyBytes) {
      throw new InvalidImport(no, `a snapshot of ${snapshot.size} bytes is more than a request body carries (MAX_BODY_BYTES ${this.limits.maxBodyBytes})`);
    }
    if (!binary) {
      const problem = stateProblem(snapshot.body, this.limits.state);
      if (problem) throw new InvalidImport(no, `snapshot record: the state ${problem}`);
    }
    if (snapshot.size !== null) {
      // A stored snapshot is at most a request body: it is put together whole, as the server stores it.
      const parts: Buffer[] = [];
      for await (const part of chunks(reader, snapshot.size, no)) parts.push(part);
      bodyBytes = Buffer.concat(parts);
    }
    this.counts.snapshots++;
    await insertImportedSnapshot(this.tx, this.sid, snapshot, { json: binary ? null : JSON.stringify(snapshot.body), bytes: bodyBytes });
  }

  private async attachment(attachment: AttachmentLine, no: number, reader: LineReader): Promise<void> {
    if (attachment.size > this.input.maxAttachmentBytes) {
      throw new InvalidImport(no, `attachment of ${attachment.size} bytes: this server takes ${this.input.maxAttachmentBytes} (MAX_ATTACHMENT_BYTES)`);
    }
    // It is served back as the Content-Type header: only what an upload keeps.
    if (keptContentType(attachment.content_type) !== attachment.content_type) {
      throw new InvalidImport(
        no,
        `attachment record: content_type ${JSON.stringify(attachment.content_type)} is not a media type as an upload keeps it ` +
          '(type/subtype in lowercase, then parameters; at most 255 characters)',
      );
    }
    // The bytes go in through a COPY on this transaction's connection: nothing else may be in flight.
    await this.flushAll();
    const blobId = await insertImportedAttachment(this.tx, this.sid, attachment, this.input.bytes.chunkBytes);
    if (blobId === undefined) throw new InvalidImport(no, `attachment ${attachment.attachment_id} appears twice`);
    const stored = await this.input.bytes.write(this.tx, blobId, chunks(reader, attachment.size, no), attachment.size);
    if (stored.sha256 !== attachment.attachment_id) {
      throw new InvalidImport(no, `attachment ${attachment.attachment_id}: its bytes have SHA-256 ${stored.sha256}`);
    }
    this.counts.attachments++;
  }

  async finish(no: number, counts: ExportCounts): Promise<void> {
    const differ = (Object.keys(this.counts) as (keyof ExportCounts)[]).filter((key) => counts[key] !== this.counts[key]);
    if (differ.length) {
      const what = differ.map((key) => `${key} ${this.counts[key]} (the end record says ${counts[key]})`).join(', ');
      throw new InvalidImport(no, `the file holds other counts than its end record: ${what}; lines are missing`);
    }
    if (this.lastSeq !== this.session.last_seq) {
      throw new InvalidImport(no, `events end at seq ${this.lastSeq}, the session's last_seq is ${this.session.last_seq}`);
    }
    if (this.session.version > 0 && this.lastSnapshot < 0) throw new InvalidImport(no, 'a session with state needs a snapshot');
    await this.flushAll();
  }
}

/** The bytes of the `chunk` lines after line `owner`, exactly `size` of them. */
async function* chunks(reader: LineReader, size: number, owner: number): AsyncGenerator<Buffer> {
  let got = 0;
  while (got < size) {
    const line = await reader.next();
    if (!line) throw new InvalidImport(reader.lineNo + 1, `the file ends inside the bytes of line ${owner}: it was cut short`);
    let value: unknown;
    try {
      value = JSON.parse(line.bytes.toString('utf8'));
    } catch {
      throw new InvalidImport(line.no, 'the line is not JSON');
    }
    if (!checks.chunk.Check(value)) {
      throw new InvalidImport(line.no, `line ${owner} has ${size - got} more bytes to come in chunk records; ${describe(checks.chunk, value)}`);
    }
    const bytes = Buffer.from(value.data_base64, 'base64');
    got += bytes.length;
    if (got > size) throw new InvalidImport(line.no, `more bytes than the ${size} line ${owner} declares`);
    yield bytes;
  }
}

interface Line {
  no: number;
  bytes: Buffer;
}

/** A line past the limit is a body past its limit: 413, as for live NDJSON ingest, naming the line. */
function lineTooLong(line: number, maxBytes: number): PayloadTooLarge {
  return new PayloadTooLarge(`line ${line}: the line is longer than ${maxBytes} bytes (twice MAX_BODY_BYTES)`, { limit_bytes: maxBytes, line });
}

/** The lines of a byte stream, one at a time, none longer than `maxBytes` (blank lines are skipped). */
class LineReader {
  lineNo = 0;
  private readonly source: AsyncIterator<Buffer | string>;
  private parts: Buffer[] = [];
  private held = 0;
  private buffer: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(body: AsyncIterable<Buffer | string>, private readonly maxBytes: number) {
    this.source = body[Symbol.asyncIterator]();
  }

  async next(): Promise<Line | undefined> {
    for (;;) {
      const end = this.buffer.indexOf(0x0a);
      if (end >= 0) {
        this.parts.push(this.buffer.subarray(0, end));
        this.buffer = this.buffer.subarray(end + 1);
        const line = this.take();
        if (line) return line;
        continue;
      }
      if (this.buffer.length) {
        this.parts.push(this.buffer);
        this.held += this.buffer.length;
        this.buffer = Buffer.alloc(0);
      }
      if (this.held > this.maxBytes) throw lineTooLong(this.lineNo + 1, this.maxBytes);
      if (this.done) return this.parts.length ? this.take() : undefined;
      const next = await this.source.next();
      if (next.done) this.done = true;
      else this.buffer = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    }
  }

  private take(): Line | undefined {
    let bytes = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    this.held = 0;
    this.lineNo++;
    if (bytes.length && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, -1);
    if (bytes.length > this.maxBytes) throw lineTooLong(this.lineNo, this.maxBytes);
    if (bytes.every((byte) => byte === 0x20 || byte === 0x09)) return undefined;
    return { no: this.lineNo, bytes };
  }
}
