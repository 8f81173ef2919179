import { and, asc, desc, eq, gt, lte, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { events, stateSnapshots } from '../db/schema.js';
import type { SessionRow } from '../sessions/repository.js';
import { applyJsonPatch, type PatchOperation } from './json-patch.js';
import { applyMergePatch } from './merge-patch.js';

/** A delta as posted (and as stored in its `state.delta` event). */
export type Delta = { patch: PatchOperation[] } | { merge_patch: unknown } | { delta_base64: string };

export interface StoredDelta {
  version: number;
  delta: Delta;
}

export interface StoredSnapshot {
  version: number;
  schemaVersion: number;
  /** json: the document as JSON text. */
  body: string | null;
  /** binary: the opaque bytes. */
  bodyBytes: Buffer | null;
}

/** The newest stored snapshot or checkpoint at or below `version`. */
export async function readBaseSnapshot(db: DbOrTx, sid: number, version: number): Promise<StoredSnapshot | undefined> {
  const [row] = await db
    .select({
      version: stateSnapshots.version,
      schemaVersion: stateSnapshots.schemaVersion,
      body: sql<string | null>`${stateSnapshots.body}::text`,
      bodyBytes: stateSnapshots.bodyBytes,
    })
    .from(stateSnapshots)
    .where(and(eq(stateSnapshots.sessionSid, sid), lte(stateSnapshots.version, version)))
    .orderBy(desc(stateSnapshots.version))
    .limit(1);
  return row;
}

/** The kept deltas with version in (after, upTo], in order. */
export async function readDeltas(db: DbOrTx, sid: number, after: number, upTo: number): Promise<StoredDelta[]> {
  const rows = await db
    .select({ version: events.version, data: sql<string>`${events.data}::text` })
    .from(events)
    .where(
      and(
        eq(events.sessionSid, sid),
        gt(events.version, after),
        lte(events.version, upTo),
        eq(events.type, 'state.delta'),
      ),
    )
    .orderBy(asc(events.version));
  return rows.map((row) => ({ version: row.version as number, delta: JSON.parse(row.data) as Delta }));
}

export function applyDelta(document: unknown, delta: Delta): unknown {
  if ('patch' in delta) return applyJsonPatch(document, delta.patch);
  if ('merge_patch' in delta) return applyMergePatch(document, delta.merge_patch);
  throw new Error('binary deltas cannot be applied by the server');
}

export interface Materialised {
  document: unknown;
  /** Approximate size in bytes, for the cache budget. */
  bytes: number;
}

/**
 * Rebuilds a json state at the session's head: the newest checkpoint plus the
 * deltas after it. Checkpoints keep that chain short, so this is bounded by
 * the state's size plus a bounded number of deltas.
 */
export async function materialise(db: DbOrTx, session: SessionRow): Promise<Materialised> {
  const [base, deltas] = await Promise.all([
    readBaseSnapshot(db, session.sid, session.version),
    readDeltas(db, session.sid, session.baseVersion, session.version),
  ]);
  if (!base || base.version !== session.baseVersion || base.body === null) {
    throw new Error(`session ${session.id}: no json snapshot at base version ${session.baseVersion}`);
  }
  if (deltas.length !== session.version - session.baseVersion) {
    throw new Error(`session ${session.id}: delta chain after ${session.baseVersion} is incomplete`);
  }
  let document: unknown = JSON.parse(base.body);
  let bytes = base.body.length;
  for (const { delta } of deltas) {
    document = applyDelta(document, delta);
    bytes += JSON.stringify(delta).length;
  }
  return { document, bytes };
}
