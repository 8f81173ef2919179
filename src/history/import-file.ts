import { type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { keptContentType } from '../attachments/serving.js';
import type { Limits } from '../config.js';
import { ApiError, InvalidImport, PayloadTooLarge } from '../errors.js';
import { isReservedType, SERVER_EVENT_TYPES } from '../events/types.js';
import { countWithin, jsonWithin } from '../limits.js';
import { FIRST_USER_MESSAGE_CHARS } from '../messages/store.js';
import { measure, NotPlainJson, type StateLimits } from '../state/json-value.js';
import { contentTypeKey, isJsonStream, NATIVE_CONTENT_TYPE } from '../streams/messages.js';
import {
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportCounts,
  RECORDS,
  HeaderRecord,
  type AttachmentLine,
  type EventLine,
  type MessageLine,
  type ProducerLine,
  type QueueBatchLine,
  type SessionLine,
  type SnapshotLine,
  type TurnLine,
} from './export-format.js';
import { EVENT } from 'session-sync/client/protocol';

/*
 * Reading an export file (see `export-format.ts`): its lines, their order and
 * each record's checks against the limits and rules of the live API. Nothing
 * here touches the database: what needs it (a session id already taken, a key
 * used twice across the whole file, attachment bytes against their hash, the
 * state rebuilt from what was stored) is the store's, in `import.ts`.
 */

export interface ImportFileInput {
  /** The file's bytes as they arrive. */
  body: AsyncIterable<Buffer | string>;
  /** Parses one line's JSON under the rules of any request body (throws on what cannot be stored). */
  parse: (line: Buffer) => unknown;
  /** The longest line accepted. */
  maxLineBytes: number;
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

/**
 * A record that passed its checks, `no` its line. JSON the store keeps as
 * text is given as text (`text`, `json`). An attachment's `bytes` must be read
 * to their end before the next record is asked for: they are the lines after it.
 */
export type ImportRecord =
  | { record: 'session'; no: number; session: SessionLine }
  | { record: 'snapshot'; no: number; snapshot: SnapshotLine; json: string | null; bytes: Buffer | null }
  | { record: 'event'; no: number; event: EventLine; text: string }
  | { record: 'message'; no: number; message: MessageLine; text: string }
  | { record: 'queue_batch'; no: number; batch: QueueBatchLine; text: string }
  | { record: 'turn'; no: number; turn: TurnLine; text: string }
  | { record: 'producer'; no: number; producer: ProducerLine }
  | { record: 'attachment'; no: number; attachment: AttachmentLine; bytes: AsyncIterable<Buffer> }
  | { record: 'end'; no: number };

/** The records after the session record, in the order the export writes them. */
const RECORD_ORDER = ['snapshot', 'event', 'message', 'queue_batch', 'turn', 'producer', 'attachment', 'end'] as const;
type OrderedRecord = (typeof RECORD_ORDER)[number];

const checks = Object.fromEntries(Object.entries(RECORDS).map(([name, schema]) => [name, TypeCompiler.Compile(schema)])) as {
  [K in keyof typeof RECORDS]: TypeCheck<(typeof RECORDS)[K]>;
};
const checkHeader = TypeCompiler.Compile(HeaderRecord);

/**
 * The records of an export file, each checked as it arrives: the header, the
 * session record, then the rest in order, the end record last. Anything wrong
 * (a line cut short, a record out of order or past a limit, the end record
 * missing or disagreeing with what came before) throws `InvalidImport` naming
 * the line, or `PayloadTooLarge` for a line past `maxLineBytes`. A line after
 * the end record is refused when the record after `end` is asked for.
 */
export async function* readImportFile(input: ImportFileInput): AsyncGenerator<ImportRecord, void, undefined> {
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
  checkSession(session, sessionLine, input.limits);
  yield { record: 'session', no: sessionLine, session };

  const file = new FileChecks(session, input);
  for (;;) {
    const line = await reader.next();
    if (!line) throw new InvalidImport(reader.lineNo + 1, 'the file ends before its end record: it was cut short');
    const value = parseLine(input.parse, line);
    // Stryker disable next-line ConditionalExpression: a number, string or boolean has no "record" either (the result is the same undefined)
    const name = typeof value === 'object' && value !== null ? (value as { record?: unknown }).record : undefined;
    if (typeof name !== 'string' || !(name in checks) || name === 'session' || name === 'chunk') {
      throw new InvalidImport(line.no, `"record" ${JSON.stringify(name)} is not a record this format has here`);
    }
    const check = checks[name as keyof typeof checks] as TypeCheck<TSchema>;
    if (!check.Check(value)) throw new InvalidImport(line.no, describe(check, value));
    file.order(name as OrderedRecord, line.no);
    if (name === 'end') {
      file.finish(line.no, (value as { counts: Partial<ExportCounts> }).counts);
      yield { record: 'end', no: line.no };
      const after = await reader.next();
      if (after) throw new InvalidImport(after.no, 'nothing may follow the end record');
      return;
    }
    yield* file.take(name, value, line.no, reader);
  }
}

/** Why a json state is not one the live API holds (see `measureSnapshot`), or undefined. */
export function stateProblem(document: unknown, limits: StateLimits): string | undefined {
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
  // Stryker disable next-line ConditionalExpression,LogicalOperator: measuring a scalar finds no depth either; the skip only saves the copy
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
  // Stryker disable next-line LogicalOperator,StringLiteral: a value Check refused has a first error; the fallback is never read
  const message = first?.message ?? 'is invalid';
  return `${typeof record === 'string' ? `${record} record: ` : ''}${field}${message}`;
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
  // The Durable Streams face keeps a Content-Type as it compares it, and a producer closes only what it closed.
  const contentType = session.stream_content_type;
  if (contentType != null && contentTypeKey(contentType) !== contentType) {
    throw fail(
      `session record: stream_content_type ${JSON.stringify(contentType)} is not a Content-Type as the Durable Streams face keeps it ` +
        '(type/subtype in lowercase, without parameters or surrounding blanks)',
    );
  }
  // Only a PUT that makes a stream (or a fork) sets Stream-Expires-At.
  if (session.expires_at != null && session.stream_content_type == null) throw fail('session record: expires_at is a stream\'s, and stream_content_type is null');
  if (session.closed_by != null && session.closed_at == null) throw fail('session record: closed_by names the request that closed the stream, and closed_at is null');
}

/** What the Durable Streams face stores for a session its columns say nothing of: a native session reads as a JSON stream. */
const streamContentType = (session: SessionLine) => session.stream_content_type ?? NATIVE_CONTENT_TYPE;

/** The checks of the records after the session record, which depend on what came before them: order, seqs, versions, counts. */
class FileChecks {
  private readonly counts: ExportCounts = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, producers: 0, attachments: 0 };
  /** Whether the producer that closed the stream (closed_by) has come, with the state its closing request left. */
  private closerSeen = false;
  private lastSeq: number;
  private lastMessageSeq = 0;
  private lastSnapshot = -1;
  private lastStateVersion = 0;
  private stage = 0;
  private readonly limits: ImportLimits;

  constructor(
    private readonly session: SessionLine,
    private readonly input: Pick<ImportFileInput, 'maxAttachmentBytes' | 'limits'>,
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

  async *take(name: string, value: unknown, no: number, reader: LineReader): AsyncGenerator<ImportRecord, void, undefined> {
    switch (name) {
      case 'snapshot':
        yield await this.snapshot(value as SnapshotLine, no, reader);
        return;
      case 'event': {
        const event = value as EventLine;
        if (event.seq !== this.lastSeq + 1) {
          throw new InvalidImport(no, `event seq ${event.seq} should be ${this.lastSeq + 1}: kept events run without a gap from history_start + 1`);
        }
        if (event.seq > this.session.last_seq) throw new InvalidImport(no, `event seq ${event.seq} is above the session's last_seq`);
        const text = this.eventData(event, no);
        this.lastSeq = event.seq;
        this.counts.events++;
        yield { record: 'event', no, event, text };
        return;
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
        yield { record: 'message', no, message, text };
        return;
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
        yield { record: 'queue_batch', no, batch, text };
        return;
      }
      case 'turn': {
        const turn = value as TurnLine;
        const answer = turn.response;
        const answered = answer.turn_id === turn.turn_id && answer.first_seq <= answer.last_seq;
        if (!answered || answer.last_seq > this.session.last_seq || answer.version > this.session.version) {
          throw new InvalidImport(no, `turn record: field response is not an answer this session gave turn ${JSON.stringify(turn.turn_id)}`);
        }
        this.counts.turns++;
        yield { record: 'turn', no, turn, text: JSON.stringify(answer) };
        return;
      }
      case 'producer': {
        const producer = value as ProducerLine;
        const by = this.session.closed_by;
        if (by != null && by.producer_id === producer.producer_id) {
          // Nothing is accepted after the close: the closing request's epoch and seq stay the producer's state.
          if (by.epoch !== producer.epoch || by.seq !== producer.seq) {
            throw new InvalidImport(
              no,
              `producer record: ${JSON.stringify(producer.producer_id)} closed the stream with epoch ${by.epoch} seq ${by.seq} ` +
                `(the session's closed_by), so that is its state; the record says epoch ${producer.epoch} seq ${producer.seq}`,
            );
          }
          this.closerSeen = true;
        }
        this.counts.producers++;
        yield { record: 'producer', no, producer };
        return;
      }
      case 'attachment':
        yield this.attachment(value as AttachmentLine, no, reader);
        // Counted once its bytes were read and stored.
        this.counts.attachments++;
        return;
      // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable, order() refuses every other record name first (a header is not in RECORD_ORDER); kept for the switch
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
    if (event.type === EVENT.streamMessage || event.type === EVENT.streamBytes) return this.streamData(event, no);
    if (event.type === EVENT.stateDelta) {
      return asRecord(no, 'event', () => jsonWithin(event.data, this.limits.maxEventBytes, 'the delta', 'MAX_EVENT_BYTES').json);
    }
    return JSON.stringify(event.data);
  }

  /**
   * A Durable Streams message, as the face's append made it (`eventsOf`): a
   * `stream.message` only in a JSON stream, its data one message of a body
   * (the body itself, or an item of a body that is an array, one level down),
   * within MAX_EVENT_BYTES; a `stream.bytes` only in a stream of another
   * content type, its data `{"base64": ...}` of one non-empty body, the base64
   * as Node writes it, within MAX_EVENT_BYTES.
   */
  private streamData(event: EventLine, no: number): string {
    const fail = (detail: string) => new InvalidImport(no, `event record: ${detail}`);
    const contentType = streamContentType(this.session);
    const json = isJsonStream(contentType);
    if (event.type === EVENT.streamMessage) {
      if (!json) throw fail(`a stream.message event in a stream of Content-Type ${contentType}: its appends are stream.bytes events`);
      // A message that is an array came inside an array body (a bare array is a batch of messages).
      nestedWithin(no, 'event record: data', event.data, this.limits.maxJsonDepth - (Array.isArray(event.data) ? 1 : 0));
      return asRecord(no, 'event', () => jsonWithin(event.data, this.limits.maxEventBytes, 'the message', 'MAX_EVENT_BYTES').json);
    }
    if (json) throw fail(`a stream.bytes event in a JSON stream (Content-Type ${contentType}): its appends are stream.message events`);
    const data = event.data as { base64?: unknown } | null;
    const base64 = typeof data === 'object' && data !== null && !Array.isArray(data) && Object.keys(data).length === 1 ? data.base64 : undefined;
    if (typeof base64 !== 'string' || base64 === '' || Buffer.from(base64, 'base64').toString('base64') !== base64) {
      throw fail('a stream.bytes event\'s data is {"base64": ...}, the non-empty bytes of one append in standard padded base64, and nothing else');
    }
    return asRecord(no, 'event', () => jsonWithin(event.data, this.limits.maxEventBytes, 'the body (as base64)', 'MAX_EVENT_BYTES').json);
  }

  private async snapshot(snapshot: SnapshotLine, no: number, reader: LineReader): Promise<ImportRecord> {
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
    return { record: 'snapshot', no, snapshot, json: binary ? null : JSON.stringify(snapshot.body), bytes: bodyBytes };
  }

  private attachment(attachment: AttachmentLine, no: number, reader: LineReader): ImportRecord {
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
    return { record: 'attachment', no, attachment, bytes: chunks(reader, attachment.size, no) };
  }

  /** The end record: what came before it must be all the file holds. */
  finish(no: number, stated: Partial<ExportCounts>): void {
    // A file written before producers were exported counts none, and holds none.
    const counts = { ...stated, producers: stated.producers ?? 0 } as ExportCounts;
    const differ = (Object.keys(this.counts) as (keyof ExportCounts)[]).filter((key) => counts[key] !== this.counts[key]);
    if (differ.length) {
      const what = differ.map((key) => `${key} ${this.counts[key]} (the end record says ${counts[key]})`).join(', ');
      throw new InvalidImport(no, `the file holds other counts than its end record: ${what}; lines are missing`);
    }
    if (this.lastSeq !== this.session.last_seq) {
      throw new InvalidImport(no, `events end at seq ${this.lastSeq}, the session's last_seq is ${this.session.last_seq}`);
    }
    if (this.session.version > 0 && this.lastSnapshot < 0) throw new InvalidImport(no, 'a session with state needs a snapshot');
    const by = this.session.closed_by;
    if (by != null && !this.closerSeen) {
      throw new InvalidImport(no, `the session's closed_by names producer ${JSON.stringify(by.producer_id)}, and no producer record holds its state`);
    }
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
