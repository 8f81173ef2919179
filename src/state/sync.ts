import type { StateTuning } from '../config.js';
import type { Sql } from '../db/client.js';
import { SchemaMismatch, VersionAhead } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import { type Delta, materialise, readDeltas, type StoredDelta } from './chain.js';
import { readSnapshotAtOrBelow } from './statements.js';

/** Every answer carries `seq`: the seq of the state event that made `version` (0 for `new`). */
export type SyncAnswer = { seq: number } & (
  | { mode: 'new'; version: 0 }
  | { mode: 'resume'; version: number }
  | { mode: 'catch_up'; version: number; schema_version: number | null; deltas: DeltaItem[] }
  | {
      mode: 'snapshot';
      version: number;
      schema_version: number | null;
      snapshot_version: number;
      snapshot?: unknown;
      snapshot_base64?: string;
      deltas: DeltaItem[];
    }
);

export type DeltaItem = { version: number } & Delta;

export interface SyncQuery {
  have?: number;
  schemaVersion?: number;
}

function items(deltas: StoredDelta[]): DeltaItem[] {
  return deltas.map(({ version, delta }) => ({ version, ...delta }));
}

/** Validates the worker's claims against the session; throws the contract's 409s. */
export function checkSyncQuery(session: SessionRow, query: SyncQuery): void {
  if (query.schemaVersion !== undefined && session.schemaVersion !== null && query.schemaVersion !== session.schemaVersion) {
    throw new SchemaMismatch(
      `you hold schema_version ${query.schemaVersion} but the stored state has ${session.schemaVersion}; migrate or cold-start`,
      session.schemaVersion,
    );
  }
  if (query.have !== undefined && query.have > session.version) throw new VersionAhead('have', query.have, session.version);
}

/**
 * The one answer to "I hold version N, what am I missing?". Must run in a
 * read-only repeatable-read transaction (or under the session lock) so the
 * session row, snapshot and deltas are one consistent picture.
 */
export async function syncAnswer(db: Sql, tuning: StateTuning, session: SessionRow, query: SyncQuery): Promise<SyncAnswer> {
  const head = session.version;
  const { have } = query;
  const seq = session.stateSeq;
  if (head === 0) return { mode: 'new', version: 0, seq: 0 };
  if (have === head) return { mode: 'resume', version: head, seq };

  // Catch-up is possible when no replacing snapshot lies after `have` and every
  // delta in between is still kept.
  const behind = have === undefined ? Infinity : head - have;
  const catchUpAllowed =
    have !== undefined && have >= session.snapshotVersion && (session.encoding === 'binary' || behind <= tuning.catchUpMaxDeltas);
  if (catchUpAllowed) {
    const deltas = await readDeltas(db, session.sid, have, head);
    if (deltas.length === behind) {
      return { mode: 'catch_up', version: head, seq, schema_version: session.schemaVersion, deltas: items(deltas) };
    }
  }

  if (session.encoding === 'json') {
    const { document } = await materialise(db, session);
    return {
      mode: 'snapshot',
      version: head,
      seq,
      schema_version: session.schemaVersion,
      snapshot_version: head,
      snapshot: document,
      deltas: [],
    };
  }
  // Binary state is opaque to us: the last snapshot the worker put, and the chain after it.
  const [base, deltas] = await Promise.all([
    readSnapshotAtOrBelow(db, session.sid, session.snapshotVersion),
    readDeltas(db, session.sid, session.snapshotVersion, head),
  ]);
  if (!base?.bodyBytes) throw new Error(`session ${session.id}: binary snapshot ${session.snapshotVersion} is missing`);
  return {
    mode: 'snapshot',
    version: head,
    seq,
    schema_version: session.schemaVersion,
    snapshot_version: session.snapshotVersion,
    snapshot_base64: base.bodyBytes.toString('base64'),
    deltas: items(deltas),
  };
}
