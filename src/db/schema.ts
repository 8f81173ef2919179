import { sql } from 'drizzle-orm';
import { BATCH_STATUSES, CLAIM_STATUSES, ENCODINGS, MESSAGE_ROLES, SNAPSHOT_ORIGINS, sqlList } from '../values.js';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** `sessions.forked_from`: a native fork's or a Durable Streams fork's origin. */
export type ForkedFrom = { session_id: string; version: number } | { session_id: string; seq: number; sub_offset: number };

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

/**
 * One row per session. The row is also the session's lock: every write locks it
 * (`FOR UPDATE`) and bumps `version`/`last_seq` inside the same transaction, so
 * both counters are gapless and seq order is commit order.
 */
export const sessions = pgTable(
  'sessions',
  {
    // Internal key: child rows stay narrow and a deleted-then-recreated id is a new session.
    sid: bigint('sid', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    id: text('id').notNull().unique(),
    parentId: text('parent_id').references((): AnyPgColumn => sessions.id, { onDelete: 'set null' }),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    encoding: text('encoding', { enum: ENCODINGS }).notNull().default('json'),
    schemaVersion: integer('schema_version'),
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
    /** Version of the newest stored snapshot or checkpoint; deltas after it form the chain. */
    baseVersion: bigint('base_version', { mode: 'number' }).notNull().default(0),
    /** Version of the newest snapshot a client PUT; catch-up cannot cross it. */
    snapshotVersion: bigint('snapshot_version', { mode: 'number' }).notNull().default(0),
    chainDeltas: integer('chain_deltas').notNull().default(0),
    chainBytes: bigint('chain_bytes', { mode: 'number' }).notNull().default(0),
    // The execution lease lives on the row every write already locks, so
    // fencing a write costs nothing extra. Only a hash of the token is kept.
    leaseOwner: text('lease_owner'),
    leaseTokenHash: text('lease_token_hash'),
    /** The current lease's fencing token; never decreases, so every claim gets a larger one. */
    leaseFencingToken: bigint('lease_fencing_token', { mode: 'number' }).notNull().default(0),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true, mode: 'date' }),
    leaseTtlMs: integer('lease_ttl_ms'),
    /** False while a lease that has ended by expiry still awaits its lease.expired event. */
    leaseExpiryAnnounced: boolean('lease_expiry_announced').notNull().default(true),
    /** The conversation's own counters: last message seq, and version (+1 per append, replace or trim). */
    messageSeq: bigint('message_seq', { mode: 'number' }).notNull().default(0),
    messageVersion: bigint('message_version', { mode: 'number' }).notNull().default(0),
    /** Kept with every change so the metadata read is O(1) on long conversations. */
    messageCount: integer('message_count').notNull().default(0),
    archivedCount: integer('archived_count').notNull().default(0),
    /** Seq of the state event that made `version` (0 before any): sync answers carry it, and it outlives trimming. */
    stateSeq: bigint('state_seq', { mode: 'number' }).notNull().default(0),
    /** History is complete after this seq: events with seq <= it were trimmed. */
    historyStart: bigint('history_start', { mode: 'number' }).notNull().default(0),
    /** The session's own retention policy (`{}` keeps everything); null: the server default. */
    retention: jsonb('retention').$type<{ max_events?: number; max_age_ms?: number }>(),
    /** Deleted by the expiry sweep once no write came for this long (`updated_at` + ttl_ms). */
    ttlMs: bigint('ttl_ms', { mode: 'number' }),
    /**
     * Set on a fork: the source session and where it was forked. A native fork
     * (`POST /v1/sessions/:id/fork`) names the state version; a Durable Streams
     * fork (`Stream-Forked-From`) the seq its history was copied up to and the
     * sub-offset past it (`streams/fork-store.ts`).
     */
    forkedFrom: jsonb('forked_from').$type<ForkedFrom>(),
    /**
     * When the expiry sweep looks at the session next: never later than it
     * can expire (`updated_at` + ttl_ms). Writes leave it alone (so they stay
     * HOT updates); the sweep moves it on when a write moved the expiry.
     */
    expiryCheckAt: timestamp('expiry_check_at', { withTimezone: true, mode: 'date' }),
    /**
     * When the retention sweep looks at the session next. A write sets it to
     * now when it is later or unset (`startAppend`); the sweep sets it after
     * each look (an age bound's next due time, or unset until the next
     * write); 'infinity' parks a session no policy applies to.
     */
    trimDueAt: timestamp('trim_due_at', { withTimezone: true, mode: 'string' }),
    /** What a session picker shows, kept on the row so listing never reads messages (see `messages/store.ts`). */
    firstUserMessage: text('first_user_message'),
    /** Token usage totals, summed by every turn that reports usage. */
    usageInputTokens: bigint('usage_input_tokens', { mode: 'number' }).notNull().default(0),
    usageOutputTokens: bigint('usage_output_tokens', { mode: 'number' }).notNull().default(0),
    usageCostUsd: doublePrecision('usage_cost_usd').notNull().default(0),
    usageTurns: bigint('usage_turns', { mode: 'number' }).notNull().default(0),
    /** The Content-Type a Durable Streams PUT created the session with; null for a native session (it reads as JSON). */
    streamContentType: text('stream_content_type'),
    /** When the session was closed (Durable Streams `Stream-Closed`): no write appends to its history after it. */
    closedAt: timestamp('closed_at', { withTimezone: true, mode: 'date' }),
    /** The last Durable Streams `Stream-Seq` accepted; the next must be above it, byte by byte. */
    streamSeq: text('stream_seq'),
    /** The producer tuple whose append closed the stream: a retry of that append is acknowledged, any other refused. */
    closedBy: jsonb('closed_by').$type<{ producer_id: string; epoch: number; seq: number }>(),
    /** A Durable Streams `Stream-Expires-At`: an absolute expiry that no read or write moves. */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    /** The last Durable Streams read; a stream's TTL (`ttl_ms`) slides from its last write or read, whichever is later. */
    readAt: timestamp('read_at', { withTimezone: true, mode: 'date' }),
    /** A Durable Streams DELETE of a stream with live forks: gone for readers and writers, its row kept until its last fork goes. */
    deletedAt: timestamp('deleted_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('sessions_parent_idx').on(t.parentId, t.sid),
    // The sweeps take what is due from these, never by scanning the sessions table.
    index('sessions_expiry_check_idx').on(t.expiryCheckAt).where(sql`${t.expiryCheckAt} is not null`),
    index('sessions_trim_due_idx').on(t.trimDueAt).where(sql`${t.trimDueAt} is not null`),
    index('sessions_lease_expiry_idx').on(t.leaseExpiresAt).where(sql`not ${t.leaseExpiryAnnounced}`),
    check('sessions_encoding_check', sql`${t.encoding} in ${sql.raw(sqlList(ENCODINGS))}`),
  ],
);

/**
 * Stored state bodies: the snapshot a client PUT (`origin = 'put'`) and, for json
 * state, checkpoints the server materialised so reads never replay a long chain.
 */
export const stateSnapshots = pgTable(
  'state_snapshots',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    version: bigint('version', { mode: 'number' }).notNull(),
    schemaVersion: integer('schema_version').notNull(),
    origin: text('origin', { enum: SNAPSHOT_ORIGINS }).notNull(),
    /** json encoding: the document as compact JSON text (`json`, not `jsonb`: kept verbatim, cheap to store). */
    body: json('body'),
    /** binary encoding: the opaque snapshot. */
    bodyBytes: bytea('body_bytes'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.sessionSid, t.version] })],
);

/**
 * The durable history. `seq` is per session and gapless; state events carry the
 * `version` they produced, and a `state.delta` event's `data` is the delta as
 * posted, so this table is also the delta chain.
 */
export const events = pgTable(
  'events',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    data: json('data').notNull(),
    /**
     * octet_length(data), so a page can be cut at a byte budget by a window
     * sum over this column without reading (detoasting) any data past the
     * cut. Generated, so every way a row arrives (appends, imports, SQL by
     * hand) has it.
     */
    dataBytes: integer('data_bytes')
      .notNull()
      .generatedAlwaysAs(sql`octet_length(data::text)`),
    version: bigint('version', { mode: 'number' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.sessionSid, t.seq] }),
    index('events_state_version_idx').on(t.sessionSid, t.version).where(sql`${t.version} is not null`),
  ],
);

/**
 * Stored responses of writes sent with an Idempotency-Key. `scope` names the
 * caller (token subject, lease token digest) and what the write was to (see
 * `writes/session-write.ts`). Rows outlive a deleted session so a retried DELETE still
 * replays its 204. `response` never holds a secret: a lease claim is stored
 * without its token.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    statusCode: integer('status_code').notNull(),
    response: json('response'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
);

/**
 * What each session's agent is doing now: one current value, not history, so
 * every instance reports the same. `expired_sent` lets exactly one sweeper (of
 * however many instances) announce a TTL expiry.
 */
export const sessionActivity = pgTable(
  'session_activity',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .primaryKey()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    status: text('status').notNull(),
    detail: json('detail'),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    expiredSent: boolean('expired_sent').notNull().default(false),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('session_activity_expiry_idx').on(t.expiresAt).where(sql`not ${t.expiredSent}`)],
);

/** Input waiting for the worker, in enqueue order (`id`). */
export const queueBatches = pgTable(
  'queue_batches',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    batchId: text('batch_id').notNull().unique(),
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    status: text('status', { enum: BATCH_STATUSES }).notNull().default('pending'),
    items: json('items').notNull(),
    claimId: text('claim_id'),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('queue_batches_session_idx').on(t.sessionSid, t.status, t.id),
    check('queue_batches_status_check', sql`${t.status} in ${sql.raw(sqlList(BATCH_STATUSES))}`),
  ],
);

/**
 * A worker's hold on some batches. It ends when completed, abandoned, past
 * `expires_at`, or, if made under a lease, when that lease generation
 * (`fencing_token`) is no longer current.
 */
export const queueClaims = pgTable(
  'queue_claims',
  {
    claimId: text('claim_id').primaryKey(),
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    status: text('status', { enum: CLAIM_STATUSES }).notNull().default('active'),
    fencingToken: bigint('fencing_token', { mode: 'number' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('queue_claims_active_idx').on(t.expiresAt).where(sql`${t.status} = 'active'`),
    check('queue_claims_status_check', sql`${t.status} in ${sql.raw(sqlList(CLAIM_STATUSES))}`),
  ],
);

/**
 * The conversation a stateless LLM loop keeps: messages in `seq` order per
 * session. Archived messages (replaced or trimmed) stay, marked, so nothing is
 * lost. Indexes serve the list filters: by kind, by role, and plain order.
 */
export const messages = pgTable(
  'messages',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    id: text('id').notNull().unique(),
    role: text('role', { enum: MESSAGE_ROLES }).notNull(),
    kind: text('kind').notNull().default('message'),
    content: json('content').notNull(),
    archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.sessionSid, t.seq] }),
    index('messages_kind_idx').on(t.sessionSid, t.kind, t.seq),
    index('messages_role_idx').on(t.sessionSid, t.role, t.seq),
    check('messages_role_check', sql`${t.role} in ${sql.raw(sqlList(MESSAGE_ROLES))}`),
  ],
);

/**
 * Committed turns, by the worker's `turn_id`: a retried turn finds its answer
 * here (same body) or is refused (another body), however long after. Kept
 * with the session, so exactly-once holds across any restart of the worker.
 */
export const turns = pgTable(
  'turns',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    turnId: text('turn_id').notNull(),
    requestHash: text('request_hash').notNull(),
    response: json('response').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.sessionSid, t.turnId] })],
);

/**
 * Files of a session. A row exists once its bytes are all stored (an upload
 * runs in one transaction, so a broken one leaves nothing); `attachment_id`
 * is the content's SHA-256, so the same bytes on one session are one row.
 * Uncommitted rows are intents: the sweep deletes them ATTACHMENT_INTENT_TTL_MS
 * after `intent_at`, which an upload of the same bytes moves; `created_at`
 * stays that of the first upload.
 */
export const attachments = pgTable(
  'attachments',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    attachmentId: text('attachment_id').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    contentType: text('content_type').notNull(),
    chunkBytes: integer('chunk_bytes').notNull(),
    committed: boolean('committed').notNull().default(false),
    createdAt: createdAt(),
    intentAt: timestamp('intent_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('attachments_session_idx').on(t.sessionSid, t.attachmentId),
    index('attachments_intent_idx').on(t.intentAt).where(sql`not ${t.committed}`),
  ],
);

/** An attachment's bytes, `chunk_bytes` per row (the last one shorter), in order of `n`. */
export const attachmentChunks = pgTable(
  'attachment_chunks',
  {
    blobId: bigint('blob_id', { mode: 'number' })
      .notNull()
      .references(() => attachments.id, { onDelete: 'cascade' }),
    n: integer('n').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.blobId, t.n] })],
);

/**
 * Durable Streams idempotent producers: per (session, producer) the epoch that
 * fences it and the highest seq accepted, read and written under the session
 * row lock with the append they guard.
 */
export const streamProducers = pgTable(
  'stream_producers',
  {
    sessionSid: bigint('session_sid', { mode: 'number' })
      .notNull()
      .references(() => sessions.sid, { onDelete: 'cascade' }),
    producerId: text('producer_id').notNull(),
    epoch: bigint('epoch', { mode: 'number' }).notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.sessionSid, t.producerId] })],
);
