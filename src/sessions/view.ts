import { type Static, Type } from '@sinclair/typebox';
import { Activity, type ActivityView, IDLE } from '../activity/view.js';
import { SchemaVersion, Seq, SessionId, StringEnum, Timestamp, Version } from '../shapes.js';
import { ENCODINGS } from '../values.js';
import { jsonWithin } from '../limits.js';
import { ExpiresAt, ForkedFrom, HistoryStart, RetentionPolicy, TtlMs } from '../history/view.js';
import { Lease } from '../leases/view.js';
import type { SessionRecord, SessionRow } from './store.js';

export const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form JSON object.' });

/** Metadata is returned by every read and listing of its session: bounded, after any merge. */
export function metadataWithin(metadata: Record<string, unknown>, limitBytes: number): Record<string, unknown> {
  jsonWithin(metadata, limitBytes, 'metadata', 'MAX_METADATA_BYTES', '; keep large data in the state or in events');
  return metadata;
}

export const Session = Type.Object({
  id: SessionId,
  parent_id: Type.Union([SessionId, Type.Null()]),
  metadata: Metadata,
  encoding: StringEnum(ENCODINGS),
  schema_version: Type.Union([SchemaVersion, Type.Null()]),
  version: Version,
  last_seq: Seq,
  history_start: HistoryStart,
  retention: RetentionPolicy,
  forked_from: ForkedFrom,
  ttl_ms: TtlMs,
  expires_at: ExpiresAt,
  created_at: Timestamp,
  updated_at: Timestamp,
  activity: Activity,
  lease: Type.Union([Lease, Type.Null()]),
  usage: Type.Object(
    {
      input_tokens: Type.Integer({ minimum: 0 }),
      output_tokens: Type.Integer({ minimum: 0 }),
      cost_usd: Type.Number({ minimum: 0 }),
      turns: Type.Integer({ minimum: 0, description: 'Turns committed (POST .../turns).' }),
    },
    { description: 'Totals of the usage the turns reported.' },
  ),
  first_user_message: Type.Union([Type.String(), Type.Null()], {
    description: 'The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters.',
  }),
  message_count: Type.Integer({ minimum: 0, description: 'Active (not archived) messages.' }),
});
export type SessionView = Static<typeof Session>;

/** The lease as anyone may see it: never the token. */
export function leaseView(row: SessionRow): Lease | null {
  if (!row.leaseActive || row.leaseOwner === null || row.leaseExpiresAt === null) return null;
  return { owner: row.leaseOwner, fencing_token: row.leaseFencingToken, expires_at: row.leaseExpiresAt.toISOString() };
}

/** When the session expires (`sessionExpiry` in db/clock.ts): the sooner of a stream's fixed expiry and the end of its idle window. */
function expiresAtOf(row: SessionRow): string | null {
  const lastTouch = Math.max(row.updatedAt.getTime(), row.readAt?.getTime() ?? 0);
  const times = [row.expiresAt?.getTime(), row.ttlMs === null ? undefined : lastTouch + row.ttlMs].filter((t) => t !== undefined);
  return times.length === 0 ? null : new Date(Math.min(...times)).toISOString();
}

export function toSessionView(row: SessionRecord, activity: ActivityView = IDLE): SessionView {
  return {
    id: row.id,
    parent_id: row.parentId,
    metadata: row.metadata,
    encoding: row.encoding,
    schema_version: row.schemaVersion,
    version: row.version,
    last_seq: row.lastSeq,
    history_start: row.historyStart,
    retention: row.retention,
    forked_from: row.forkedFrom,
    ttl_ms: row.ttlMs,
    expires_at: expiresAtOf(row),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    activity,
    lease: leaseView(row),
    usage: {
      input_tokens: row.usageInputTokens,
      output_tokens: row.usageOutputTokens,
      cost_usd: row.usageCostUsd,
      turns: row.usageTurns,
    },
    first_user_message: row.firstUserMessage,
    message_count: row.messageCount,
  };
}
