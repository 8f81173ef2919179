import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';
import { EVENT } from 'session-sync/client/protocol';

/* Every statement of the state feature: snapshots stored and read, and the delta chain read from the events. */

export interface SnapshotStatement {
  sid: number;
  version: number;
  schemaVersion: number;
  /** A snapshot a client PUT, or a checkpoint the server wrote to keep the delta chain short. */
  origin: 'put' | 'checkpoint';
  /** json: the document as compact JSON text, stored verbatim. */
  body: string | null;
  /** binary: the opaque bytes. */
  bodyBytes: Buffer | null;
}

/** Sends, without waiting for its answer, the insert of a snapshot (it rides with the write's COMMIT, see db/pipeline.ts). */
export function sendSnapshotInsert(pg: Sql, s: SnapshotStatement): Promise<unknown> {
  return startQuery(pg`
    insert into state_snapshots (session_sid, version, schema_version, origin, body, body_bytes)
    values (${s.sid}, ${s.version}, ${s.schemaVersion}, ${s.origin}, ${s.body}::json, ${s.bodyBytes})`);
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
export async function readSnapshotAtOrBelow(pg: Sql, sid: number, version: number): Promise<StoredSnapshot | undefined> {
  const [row] = await pg<StoredSnapshot[]>`
    select version, schema_version, body::text as body, body_bytes from state_snapshots
    where session_sid = ${sid} and version <= ${version}
    order by version desc
    limit 1`;
  return row;
}

/** The kept `state.delta` events with version in (after, upTo], in order, their data as JSON text. */
export function readDeltaRows(pg: Sql, sid: number, after: number, upTo: number): Promise<{ version: number; data: string }[]> {
  return pg<{ version: number; data: string }[]>`
    select version, data::text as data from events
    where session_sid = ${sid} and version > ${after} and version <= ${upTo} and type = ${EVENT.stateDelta}
    order by version`;
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** A stored snapshot as an export file carries it (history/export-format.ts). */
export interface ImportedSnapshot {
  version: number;
  schema_version: number;
  origin: string;
  created_at: string;
}

/** A stored snapshot: a json body as JSON text, or binary bytes. */
export async function insertImportedSnapshot(
  pg: Sql,
  sid: number,
  snapshot: ImportedSnapshot,
  body: { json: string | null; bytes: Buffer | null },
): Promise<void> {
  await pg`
    insert into state_snapshots (session_sid, version, schema_version, origin, body, body_bytes, created_at)
    values (${sid}, ${snapshot.version}, ${snapshot.schema_version}, ${snapshot.origin},
      ${body.json}::json, ${body.bytes}, ${snapshot.created_at}::timestamptz)`;
}
