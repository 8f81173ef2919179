import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { BATCH_STATUSES, ENCODINGS, MESSAGE_ROLES, SNAPSHOT_ORIGINS } from '../values.js';
import { Base64, SchemaVersion, Seq, ServerId, SessionId, Version } from '../shapes.js';
import { AttachmentId } from '../attachments/view.js';
import { EventType } from '../events/types.js';
import { Kind } from '../messages/view.js';
import { Metadata } from '../sessions/view.js';
import { MAX_USAGE_TOTAL } from '../turns/commit.js';
import { TurnAnswer, TurnId } from '../turns/view.js';
import { RetentionPolicy, TtlMs } from './view.js';
import { MAX_PRODUCER_ID_LENGTH } from '../streams/producers.js';

/**
 * The export file: NDJSON, one record a line, told apart by `record`. Its
 * first line names the format and its version, so a later format can be told
 * from this one; its last line counts what came before it, so a file cut
 * short anywhere is refused rather than imported in part.
 *
 *   header, session, snapshot (+ chunk lines when binary)*, event*, message*,
 *   queue_batch*, turn*, producer*, attachment (+ chunk lines)*, end
 *
 * The state travels as what the server stores: every kept snapshot and
 * checkpoint plus the kept state events (the deltas), so every version a
 * reader could ask for (`?at_version=`, catch-up) rebuilds on the copy
 * exactly as on the original. Bytes travel in `chunk` lines right after their
 * owner, `EXPORT_CHUNK_BYTES` at most each.
 *
 * A record is something the live API could have written: its fields use the
 * schemas of the routes that write them (event types, kinds, ids, turn
 * answers, ...); the limits that depend on the configuration (sizes, depths,
 * counts) are checked by the import, as the routes check them.
 */
export const EXPORT_FORMAT = 'session-sync.export';
export const EXPORT_FORMAT_VERSION = 1;
export const EXPORT_CHUNK_BYTES = 48 * 1024;

const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** As Postgres writes a timestamptz in JSON (microseconds, an offset), or as JavaScript does. */
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}(:?\\d{2})?)$' });
const Json = Type.Unknown();
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/**
 * A header value as Node hands it to a route: Latin-1 characters a header may
 * carry (no control character but tab), without the blanks the parser strips
 * from either end. What the Durable Streams face stores from a header
 * (Stream-Seq, a Producer-Id) is one, and is served back in one.
 */
const HEADER_VALUE = '^(?:[\\x21-\\x7e\\x80-\\xff](?:[\\t\\x20-\\x7e\\x80-\\xff]*[\\x21-\\x7e\\x80-\\xff])?)?$';
const HeaderValue = Type.String({ pattern: HEADER_VALUE });
/** Producer-Id, Producer-Epoch, Producer-Seq as `parseProducerHeaders` takes them. */
const ProducerId = Type.String({ pattern: HEADER_VALUE, minLength: 1, maxLength: MAX_PRODUCER_ID_LENGTH });
const SafeCount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A value list the TypeBox compiler checks (StringEnum is for the route schemas, which Ajv checks). */
const OneOf = <const T extends readonly string[]>(values: T) => Type.Union(values.map((value) => Type.Literal(value))) as unknown as TSchema & { static: T[number] };
const record = <const R extends string, P extends Record<string, TSchema>>(name: R, properties: P) =>
  Type.Object({ record: Type.Literal(name), ...properties }, { additionalProperties: false });

export const HeaderRecord = record('header', {
  format: Type.String(),
  format_version: Type.Integer(),
  exported_at: Type.Optional(Instant),
});

export const SessionRecordLine = record('session', {
  id: SessionId,
  parent_id: Type.Union([SessionId, Type.Null()]),
  metadata: Metadata,
  encoding: OneOf(ENCODINGS),
  schema_version: Type.Union([SchemaVersion, Type.Null()]),
  version: Version,
  last_seq: Seq,
  state_seq: Seq,
  history_start: Seq,
  base_version: Version,
  snapshot_version: Version,
  chain_deltas: Count,
  chain_bytes: Count,
  lease_fencing_token: Count,
  retention: RetentionPolicy,
  ttl_ms: TtlMs,
  /** Only a fork sets it, naming its source. */
  forked_from: Type.Union([
    Type.Object({ session_id: SessionId, version: Version }, { additionalProperties: false }),
    Type.Object({ session_id: SessionId, seq: Seq, sub_offset: Count }, { additionalProperties: false }),
    Type.Null(),
  ]),
  message_seq: Seq,
  message_version: Version,
  message_count: Count,
  archived_count: Count,
  first_user_message: Type.Union([Type.String(), Type.Null()]),
  usage: Type.Object(
    { input_tokens: Count, output_tokens: Count, cost_usd: Type.Number({ minimum: 0, maximum: MAX_USAGE_TOTAL }), turns: Count },
    { additionalProperties: false },
  ),
  created_at: Instant,
  updated_at: Instant,
  /*
   * The Durable Streams face's columns (src/streams/), each written only
   * when set: a native session's record is as it was before they travelled
   * (older servers read it), and a file without them imports as a session
   * the face never touched. `read_at` does not travel: the idle window
   * restarts at the import, as `updated_at` does.
   */
  /** A stream's Content-Type as the face keeps it (`contentTypeKey`); null: a native session (JSON). */
  stream_content_type: Type.Optional(Nullable(HeaderValue)),
  /** When the stream was closed (`Stream-Closed`): the copy is closed too. */
  closed_at: Type.Optional(Nullable(Instant)),
  /** The last `Stream-Seq` accepted. */
  stream_seq: Type.Optional(Nullable(HeaderValue)),
  /** The producer request that closed the stream: its retry is acknowledged on the copy. */
  closed_by: Type.Optional(
    Nullable(Type.Object({ producer_id: ProducerId, epoch: SafeCount, seq: SafeCount }, { additionalProperties: false })),
  ),
  /** `Stream-Expires-At`. */
  expires_at: Type.Optional(Nullable(Instant)),
});

export const SnapshotRecord = record('snapshot', {
  version: Version,
  schema_version: SchemaVersion,
  origin: OneOf(SNAPSHOT_ORIGINS),
  created_at: Instant,
  /** json: the document. */
  body: Json,
  /** binary: how many bytes the chunk lines after this one carry. */
  size: Type.Union([Count, Type.Null()]),
});

export const ChunkRecord = record('chunk', { data_base64: Base64 });

export const EventRecord = record('event', {
  seq: Seq,
  type: EventType,
  data: Json,
  version: Type.Union([Version, Type.Null()]),
  created_at: Instant,
});

export const MessageRecord = record('message', {
  seq: Seq,
  id: ServerId,
  role: OneOf(MESSAGE_ROLES),
  kind: Kind,
  content: Json,
  archived_at: Type.Union([Instant, Type.Null()]),
  created_at: Instant,
});

export const QueueBatchRecord = record('queue_batch', {
  batch_id: ServerId,
  status: OneOf(BATCH_STATUSES),
  items: Type.Array(Json, { minItems: 1 }),
  created_at: Instant,
  updated_at: Instant,
});

export const TurnRecord = record('turn', {
  turn_id: TurnId,
  /** `turnHash` of the body: a SHA-256 in base64url. */
  request_hash: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  /** What a retry of the turn is answered. */
  response: TurnAnswer,
  created_at: Instant,
});

/** An idempotent producer's state on the stream (PROTOCOL §5.2.1): its epoch and the highest seq accepted in it. */
export const ProducerRecord = record('producer', {
  producer_id: ProducerId,
  epoch: SafeCount,
  seq: SafeCount,
});

export const AttachmentRecord = record('attachment', {
  attachment_id: AttachmentId,
  size: Count,
  content_type: Type.String({ minLength: 1 }),
  committed: Type.Boolean(),
  created_at: Instant,
});

export const EXPORT_COUNTED = ['snapshots', 'events', 'messages', 'queue_batches', 'turns', 'producers', 'attachments'] as const;
export type ExportCounts = Record<(typeof EXPORT_COUNTED)[number], number>;

export const EndRecord = record('end', {
  counts: Type.Object(
    {
      snapshots: Count,
      events: Count,
      messages: Count,
      queue_batches: Count,
      turns: Count,
      /** Written only when there are some: absent, the file holds none (as one written before they travelled). */
      producers: Type.Optional(Count),
      attachments: Count,
    },
    { additionalProperties: false },
  ),
});

export type SessionLine = Static<typeof SessionRecordLine>;
export type SnapshotLine = Static<typeof SnapshotRecord>;
export type EventLine = Static<typeof EventRecord>;
export type MessageLine = Static<typeof MessageRecord>;
export type QueueBatchLine = Static<typeof QueueBatchRecord>;
export type TurnLine = Static<typeof TurnRecord>;
export type ProducerLine = Static<typeof ProducerRecord>;
export type AttachmentLine = Static<typeof AttachmentRecord>;
export type EndLine = Static<typeof EndRecord>;

/** Every record but the header, by name. */
export const RECORDS = {
  session: SessionRecordLine,
  snapshot: SnapshotRecord,
  chunk: ChunkRecord,
  event: EventRecord,
  message: MessageRecord,
  queue_batch: QueueBatchRecord,
  turn: TurnRecord,
  producer: ProducerRecord,
  attachment: AttachmentRecord,
  end: EndRecord,
} as const;
