import { type Sql } from '../db/client.js';
import { StateUnreadable, VersionAhead, VersionExpired } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import { readSnapshotAtOrBelow } from '../state/statements.js';
import { applyDelta, readDeltas, type StoredDelta, type StoredSnapshot } from '../state/chain.js';
import { NO_LIMITS } from '../state/json-patch.js';
import { findStateEventSeq } from './statements.js';

/** The state as of one version: what `?at_version=` answers and a fork starts from. */
export interface StateAtVersion {
  version: number;
  /** Seq of the state event that made `version`. */
  seq: number;
  schemaVersion: number;
  /** json: the document; binary: the snapshot bytes and the deltas after it. */
  document?: unknown;
  snapshotVersion: number;
  snapshotBytes?: Buffer;
  deltas: StoredDelta[];
}

/**
 * Rebuilds the state at `version` from the newest snapshot at or below it and
 * the deltas after it. A version is kept while its state event is (or it is
 * the head), and the snapshot and deltas it needs are: otherwise 410
 * `version_expired`. Undefined for version 0 (no state). Run it in one
 * snapshot of the database (repeatable read, or under the session lock).
 */
export async function stateAtVersion(db: Sql, session: SessionRow, version: number): Promise<StateAtVersion | undefined> {
  if (version > session.version) throw new VersionAhead('at_version', version, session.version);
  if (version === 0) return undefined;
  let seq = session.stateSeq;
  if (version !== session.version) {
    const event = await findStateEventSeq(db, session.sid, version, session.historyStart);
    if (event === undefined) throw new VersionExpired(version, session.historyStart);
    seq = event;
  }
  const base = await readSnapshotAtOrBelow(db, session.sid, version);
  if (!base) throw new VersionExpired(version, session.historyStart);
  const deltas = await readDeltas(db, session.sid, base.version, version);
  if (deltas.length !== version - base.version) throw new VersionExpired(version, session.historyStart);
  if (session.encoding === 'binary') {
    return { version, seq, schemaVersion: base.schemaVersion, snapshotVersion: base.version, snapshotBytes: base.bodyBytes ?? Buffer.alloc(0), deltas };
  }
  return { version, seq, schemaVersion: base.schemaVersion, document: replay(base, deltas), snapshotVersion: version, deltas: [] };
}

/** Stored deltas were accepted once: replayed under the RFC rules only. */
function replay(base: StoredSnapshot, deltas: StoredDelta[]): unknown {
  let current = { document: JSON.parse(base.body ?? 'null') as unknown, bytes: 0 };
  for (const stored of deltas) current = applyDelta(current, stored.delta, NO_LIMITS);
  return current.document;
}

/**
 * The json document at `version`, rebuilt from the newest snapshot at or
 * below it and the deltas after that, which the caller knows are all kept
 * (trimming checks before it removes them).
 */
export async function documentAt(db: Sql, session: SessionRow, version: number): Promise<unknown> {
  const base = await readSnapshotAtOrBelow(db, session.sid, version);
  const deltas = base ? await readDeltas(db, session.sid, base.version, version) : [];
  if (!base || base.body === null || deltas.length !== version - base.version) {
    throw new StateUnreadable(session.id, version, base?.version ?? 0, 'has no complete chain to rebuild from');
  }
  return replay(base, deltas);
}

/** The state at a version as a sync answer in `snapshot` mode. */
export function snapshotAnswer(state: StateAtVersion | undefined) {
  if (!state) return { mode: 'new' as const, version: 0 as const, seq: 0 };
  return {
    mode: 'snapshot' as const,
    version: state.version,
    seq: state.seq,
    schema_version: state.schemaVersion,
    snapshot_version: state.snapshotVersion,
    ...(state.snapshotBytes === undefined
      ? { snapshot: state.document }
      : { snapshot_base64: state.snapshotBytes.toString('base64') }),
    deltas: state.deltas.map(({ version, delta }) => ({ version, ...delta })),
  };
}
