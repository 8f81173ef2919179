import { type Sql } from '../db/client.js';
import type { SessionRow } from '../sessions/store.js';
import { PatchFailed, StateUnreadable } from '../errors.js';
import { applyJsonPatch, NO_LIMITS, type PatchOperation } from './json-patch.js';
import { type Measured, measure, type StateLimits } from './json-value.js';
import { applyMergePatchToState } from './merge-patch.js';
import { readDeltaRows, readSnapshotAtOrBelow } from './statements.js';

export type { StoredSnapshot } from './statements.js';

/** A delta as posted (and as stored in its `state.delta` event). */
export type Delta = { patch: PatchOperation[] } | { merge_patch: unknown } | { delta_base64: string };

export interface StoredDelta {
  version: number;
  delta: Delta;
}

/** The kept deltas with version in (after, upTo], in order. */
export async function readDeltas(db: Sql, sid: number, after: number, upTo: number): Promise<StoredDelta[]> {
  const rows = await readDeltaRows(db, sid, after, upTo);
  return rows.map((row) => ({ version: row.version, delta: JSON.parse(row.data) as Delta }));
}

export function applyDelta(current: Measured, delta: Delta, limits: StateLimits): Measured {
  if ('patch' in delta) return applyJsonPatch(current, delta.patch, limits);
  if ('merge_patch' in delta) return applyMergePatchToState(current, delta.merge_patch, limits);
  throw new Error('binary deltas cannot be applied by the server');
}

/**
 * Deepest state a read rebuilds: what MAX_JSON_DEPTH can admit at most, and
 * well within what JSON.stringify survives (it overflows the stack a few
 * thousand levels down).
 */
export const READ_DEPTH = 1000;

/**
 * Rebuilds a json state at the session's head: the newest checkpoint plus the
 * deltas after it. Checkpoints keep that chain short, so this is bounded by
 * the state's size plus a bounded number of deltas.
 *
 * Stored deltas are replayed under the RFC rules only (they were accepted
 * once). Should the chain still not rebuild (data written by an older build),
 * the answer is `StateUnreadable`, naming the version that failed, and a PUT
 * snapshot (which never reads the chain) repairs the session.
 */
export async function materialise(db: Sql, session: SessionRow): Promise<Measured> {
  const [base, deltas] = await Promise.all([
    readSnapshotAtOrBelow(db, session.sid, session.version),
    readDeltas(db, session.sid, session.baseVersion, session.version),
  ]);
  if (!base || base.version !== session.baseVersion || base.body === null) {
    throw new StateUnreadable(session.id, session.version, session.baseVersion, 'has no stored json snapshot');
  }
  if (deltas.length !== session.version - session.baseVersion) {
    throw new StateUnreadable(session.id, session.version, session.baseVersion, 'is followed by an incomplete delta chain');
  }
  let version = base.version;
  try {
    let current: Measured = { document: JSON.parse(base.body), bytes: 0 };
    for (const stored of deltas) {
      version = stored.version;
      current = applyDelta(current, stored.delta, NO_LIMITS);
    }
    version = session.version;
    return { document: current.document, bytes: measure(current.document, READ_DEPTH) };
  } catch (error) {
    const reason = error instanceof PatchFailed ? `does not apply (${error.message})` : `cannot be read (${(error as Error).message})`;
    throw new StateUnreadable(session.id, session.version, version, reason);
  }
}
