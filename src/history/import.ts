import { uuidv7 } from 'uuidv7';
import type { AttachmentBytes } from '../attachments/bytes.js';
import { insertImportedAttachment } from '../attachments/statements.js';
import { type Tx } from '../db/client.js';
import { InvalidImport, SessionExists } from '../errors.js';
import { insertImportedEvents } from '../events/statements.js';
import { insertImportedMessages } from '../messages/statements.js';
import { insertImportedBatches } from '../queue/statements.js';
import { findSessionRow, insertImportedSession } from '../sessions/statements.js';
import type { StateLimits } from '../state/json-value.js';
import { insertImportedSnapshot } from '../state/statements.js';
import { insertImportedProducers } from '../streams/statements.js';
import { insertImportedTurns } from '../turns/statements.js';
import { notify } from '../wakeups/wakeups.js';
import { beginAndWake, type Committer, wakeAfterCommit } from '../wakeups/publisher.js';
import type { EventLine, MessageLine, ProducerLine, QueueBatchLine, TurnLine } from './export-format.js';
import { type ImportFileInput, type ImportRecord, readImportFile, stateProblem } from './import-file.js';
import { createImportKeys, findUsedImportKey, recordImportKeys } from './statements.js';
import { stateAtVersion } from './time-travel.js';

export type { ImportLimits } from './import-file.js';

export interface ImportInput extends ImportFileInput {
  /** The id to create; default: the one in the file. */
  id?: string;
  /** Where attachment bytes go, and the chunk size they are stored in. */
  bytes: AttachmentBytes & { readonly chunkBytes: number };
}

/** Rows, or bytes of JSON text, gathered before one insert: what the import holds at most. */
const FLUSH_ROWS = 500;
const FLUSH_BYTES = 2 * 1024 * 1024;

/**
 * Recreates an exported session (see `export-format.ts`) in one transaction,
 * reading the file as it arrives (`import-file.ts` reads and checks it) and
 * inserting in batches, so memory does not grow with the file: anything
 * wrong, a line cut short or the end record missing or disagreeing with what
 * came before, rolls it all back with 400 naming the line. The copy has the
 * original's seqs, versions, history start and counters, and as a Durable
 * Stream its Content-Type, closure, Stream-Seq, expiry and producers' state;
 * its lease is none
 * (leases do not move), a batch a worker held there is pending here, and
 * message and batch ids this server already holds (a copy beside its
 * original) are given new ones. At commit, watchers of the new id hear of it
 * like of any created session. Returns the new id.
 */
export async function importSession(committer: Committer, input: ImportInput): Promise<string> {
  const records = readImportFile(input);
  // The header and the session record are read and checked before a connection is taken.
  const first = await records.next();
  // Stryker disable next-line ConditionalExpression,LogicalOperator,StringLiteral: unreachable, readImportFile yields the session record first or throws (tested there); kept for the type
  if (first.done || first.value.record !== 'session') throw new Error('an import file starts with its session record');
  const session = first.value.session;
  const id = input.id ?? session.id;

  return beginAndWake(committer, async (tx) => {
    const sid = await insertImportedSession(tx, id, session);
    if (sid === undefined) throw new SessionExists(id);
    // A stream whose expiry passed since the export reads as absent: a copy nobody could read is refused, not made.
    if (session.stream_content_type != null && (session.expires_at != null || session.ttl_ms !== null) && (await findSessionRow(tx, id))?.streamExpired) {
      throw new InvalidImport(first.value.no, 'session record: the stream is past its expiry (expires_at, or ttl_ms from now): it would read as absent');
    }
    const store = new Store(tx, sid, input.bytes);
    for await (const record of records) {
      await store.take(record);
      if (record.record === 'end') await checkState(tx, id, record.no, input.limits.state);
    }
    await notify(tx, { kind: 'created', session_id: id });
    wakeAfterCommit(tx, { kind: 'append', session_id: id, seq: session.last_seq });
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

type Pending<T> = { rows: T[]; bytes: number };
const pending = <T>(): Pending<T> => ({ rows: [], bytes: 0 });

/** Stores the checked records after the session record, in batches. */
class Store {
  private readonly events = pending<EventLine & { text: string }>();
  private readonly messages = pending<MessageLine & { text: string; no: number }>();
  private readonly batches = pending<QueueBatchLine & { text: string; no: number }>();
  private readonly turns = pending<TurnLine & { text: string; no: number }>();
  private readonly producers = pending<ProducerLine & { text: string; no: number }>();
  private keysTable = false;

  constructor(
    private readonly tx: Tx,
    private readonly sid: number,
    private readonly bytes: ImportInput['bytes'],
  ) {}

  async take(record: ImportRecord): Promise<void> {
    switch (record.record) {
      case 'snapshot':
        return insertImportedSnapshot(this.tx, this.sid, record.snapshot, { json: record.json, bytes: record.bytes });
      case 'event':
        return this.add(this.events, { ...record.event, text: record.text }, () => this.flushEvents());
      case 'message':
        return this.add(this.messages, { ...record.message, text: record.text, no: record.no }, () => this.flushMessages());
      case 'queue_batch':
        return this.add(this.batches, { ...record.batch, text: record.text, no: record.no }, () => this.flushBatches());
      case 'turn':
        return this.add(this.turns, { ...record.turn, text: record.text, no: record.no }, () => this.flushTurns());
      case 'producer':
        // `text` only sizes the batch: the id is most of a producer's row.
        return this.add(this.producers, { ...record.producer, text: record.producer.producer_id, no: record.no }, () => this.flushProducers());
      case 'attachment':
        return this.attachment(record);
      case 'end':
        return this.flushAll();
      // Stryker disable next-line ConditionalExpression,StringLiteral: unreachable, readImportFile yields one session record (tested there); kept for the switch's exhaustiveness
      case 'session':
        throw new Error('an import file has one session record');
    }
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
    await this.flushProducers();
  }

  /**
   * Refuses a key (a message id, a batch id, a turn id) the file has already
   * used, naming both lines. The keys seen are kept in a table of the
   * transaction, not in memory: a file may hold any number of them.
   */
  private async once(kind: 'message' | 'queue_batch' | 'turn' | 'producer', field: string, rows: { key: string; no: number }[]): Promise<void> {
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

  private async flushProducers(): Promise<void> {
    const rows = this.producers.rows.splice(0);
    this.producers.bytes = 0;
    if (rows.length === 0) return;
    await this.once('producer', 'producer_id', rows.map((r) => ({ key: r.producer_id, no: r.no })));
    await insertImportedProducers(this.tx, this.sid, rows);
  }

  private async attachment({ attachment, no, bytes }: Extract<ImportRecord, { record: 'attachment' }>): Promise<void> {
    // The bytes go in through a COPY on this transaction's connection: nothing else may be in flight.
    await this.flushAll();
    const blobId = await insertImportedAttachment(this.tx, this.sid, attachment, this.bytes.chunkBytes);
    if (blobId === undefined) throw new InvalidImport(no, `attachment ${attachment.attachment_id} appears twice`);
    const stored = await this.bytes.write(this.tx, blobId, bytes, attachment.size);
    if (stored.sha256 !== attachment.attachment_id) {
      throw new InvalidImport(no, `attachment ${attachment.attachment_id}: its bytes have SHA-256 ${stored.sha256}`);
    }
  }
}
