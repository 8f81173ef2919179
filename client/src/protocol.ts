/**
 * The protocol's names, defined once: SSE event names and frame shapes,
 * header names, problem codes. The server imports this module
 * (`session-sync/client/protocol`), the client imports it directly and the
 * inspector and the examples through `@session-sync/client`, so a name
 * changed here changes on both sides of the wire at once, and a name written
 * as a literal anywhere else is a test failure (test/unit/wire-names.test.ts).
 *
 * Values only, no behaviour: this module is the one piece of code the server
 * and the client share at run time, and it holds nothing but the contract.
 */

/**
 * The `code` of every problem document the server answers with (docs/API.md
 * "Errors"). The OpenAPI document lists them as the `Problem.code` enum.
 */
export const PROBLEM = {
  invalidRequest: 'invalid_request',
  unsupportedMediaType: 'unsupported_media_type',
  payloadTooLarge: 'payload_too_large',
  notFound: 'not_found',
  methodNotAllowed: 'method_not_allowed',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  sessionNotFound: 'session_not_found',
  parentNotFound: 'parent_not_found',
  sessionExists: 'session_exists',
  versionConflict: 'version_conflict',
  versionAhead: 'version_ahead',
  schemaMismatch: 'schema_mismatch',
  encodingMismatch: 'encoding_mismatch',
  noState: 'no_state',
  patchFailed: 'patch_failed',
  stateUnreadable: 'state_unreadable',
  idempotencyKeyReused: 'idempotency_key_reused',
  cursorAhead: 'cursor_ahead',
  seqConflict: 'seq_conflict',
  cursorExpired: 'cursor_expired',
  versionExpired: 'version_expired',
  invalidImport: 'invalid_import',
  turnConflict: 'turn_conflict',
  usageOverflow: 'usage_overflow',
  reservedEventType: 'reserved_event_type',
  leaseHeld: 'lease_held',
  leaseLost: 'lease_lost',
  claimNotFound: 'claim_not_found',
  claimExpired: 'claim_expired',
  batchNotFound: 'batch_not_found',
  batchClaimed: 'batch_claimed',
  attachmentNotFound: 'attachment_not_found',
  rangeNotSatisfiable: 'range_not_satisfiable',
  databaseUnavailable: 'database_unavailable',
  tooManyStreams: 'too_many_streams',
  tooManyTransfers: 'too_many_transfers',
  requestTimeout: 'request_timeout',
  shuttingDown: 'shutting_down',
  internalError: 'internal_error',
  /** A Durable Streams path that maps to no session id (docs/API.md "Durable Streams"). */
  invalidStreamPath: 'invalid_stream_path',
  /** The session was closed (Durable Streams `Stream-Closed`): its history takes no more events. */
  sessionClosed: 'session_closed',
  /** A Durable Streams append whose Content-Type is not the stream's. */
  contentTypeMismatch: 'content_type_mismatch',
  /** A Durable Streams `Stream-Seq` not above the stream's last one. */
  streamSeqConflict: 'stream_seq_conflict',
  /** A Durable Streams producer (`Producer-Id`) writing with an epoch older than the one a newer instance of it claimed. */
  producerEpochStale: 'producer_epoch_stale',
  /** A Durable Streams producer's `Producer-Seq` past the next one expected: a request in between never arrived. */
  producerSeqGap: 'producer_seq_gap',
  /** A Durable Streams feature this server does not offer yet (producers, TTL, forks). */
  notImplemented: 'not_implemented',
  /** A Durable Streams stream deleted while forks of it live: 410 on reads and writes, 409 on PUT and fork. */
  sessionDeleted: 'session_deleted',
  /** A Durable Streams fork of a session with state or a conversation, which a copy of its events would not carry. */
  forkHasState: 'fork_has_state',
} as const;
export type ProblemCode = (typeof PROBLEM)[keyof typeof PROBLEM];
export const PROBLEM_CODES: readonly ProblemCode[] = Object.values(PROBLEM);

/**
 * Codes the client gives its own errors, for failures no server answer
 * describes. `http_<status>` is added for an answer that was no problem
 * document (a proxy's page).
 */
export const CLIENT_ERROR = {
  /** No answer: connection refused or cut, DNS, CORS. */
  networkError: 'network_error',
  /** An answer that should be JSON was not. */
  invalidResponse: 'invalid_response',
  /** The session's stream announced its deletion. */
  sessionDeleted: 'session_deleted',
  /** The store was closed before it was ready. */
  closed: 'closed',
  /** A binary delta reached a store that applies JSON deltas. */
  unsupportedDelta: 'unsupported_delta',
  /** A handler of the caller's threw. */
  clientError: 'client_error',
} as const;
export type ClientErrorCode = (typeof CLIENT_ERROR)[keyof typeof CLIENT_ERROR];
export type ErrorCode = ProblemCode | ClientErrorCode | `http_${number}`;

/** Request and response headers of the protocol (lowercase, as Node and fetch give them). */
export const HEADER = {
  /** Makes a write safe to retry (docs/API.md "Idempotency"). */
  idempotencyKey: 'idempotency-key',
  /** `true` on the stored answer to a retried write. */
  idempotentReplayed: 'idempotent-replayed',
  /** The fencing token of the lease a write is made under. */
  leaseToken: 'lease-token',
  /** A reconnecting EventSource's cursor. */
  lastEventId: 'last-event-id',
  /** Seconds to wait before trying again (429, 503). */
  retryAfter: 'retry-after',
} as const;

/** The event types the server writes into a session's history (durable, replayed after a cursor). */
export const EVENT = {
  sessionForked: 'session.forked',
  sessionUpdated: 'session.updated',
  stateSnapshot: 'state.snapshot',
  stateDelta: 'state.delta',
  messageAppended: 'message.appended',
  messageArchived: 'message.archived',
  messageTrimmed: 'message.trimmed',
  queueEnqueued: 'queue.enqueued',
  queueClaimed: 'queue.claimed',
  queueRenewed: 'queue.renewed',
  queueCompleted: 'queue.completed',
  queueAbandoned: 'queue.abandoned',
  queueExpired: 'queue.expired',
  queueCancelled: 'queue.cancelled',
  leaseAcquired: 'lease.acquired',
  leaseRenewed: 'lease.renewed',
  leaseReleased: 'lease.released',
  leaseExpired: 'lease.expired',
  turnCommitted: 'turn.committed',
  attachmentCommitted: 'attachment.committed',
  /** One message of a JSON Durable Stream; its data is the message. */
  streamMessage: 'stream.message',
  /** One append to a Durable Stream of any other content type; data `{"base64": ...}`, the exact bytes. */
  streamBytes: 'stream.bytes',
} as const;
export type ServerEventType = (typeof EVENT)[keyof typeof EVENT];
export const SERVER_EVENT_TYPES: readonly ServerEventType[] = Object.values(EVENT);

/** Event type prefixes only the server writes; a client's event under one is refused (`reserved_event_type`). */
export const RESERVED_PREFIXES = ['session.', 'state.', 'message.', 'queue.', 'lease.', 'turn.', 'attachment.', 'stream.'] as const;

/**
 * Frames without an `id` on a session's stream and on the changes feed:
 * live-only, never stored, never replayed.
 */
export const LIVE_EVENT = {
  /** Who is working on the session, and, once per connection, the cursor the replay caught up to. */
  activity: 'session.activity',
  /** The session was deleted; the stream ends. */
  deleted: 'session.deleted',
  /** History this stream had not sent was trimmed; the stream ends and the reconnect answers 410. */
  cursorExpired: 'session.cursor_expired',
  /** The token that opened the stream reached its `exp`; the stream ends. */
  tokenExpired: 'session.token_expired',
} as const;

/** Frames of the changes feed (`GET /v1/changes`). */
export const CHANGE_EVENT = {
  /** Hints may have been missed (every connection opens with it): re-list what you show. */
  sweepRequired: 'sweep_required',
  /** A session's head moved (coalesced). */
  changed: 'session.changed',
  created: 'session.created',
  deleted: LIVE_EVENT.deleted,
  activity: LIVE_EVENT.activity,
  tokenExpired: LIVE_EVENT.tokenExpired,
} as const;

/** `data` of each live frame the server sends. */
export interface LiveFrames {
  [LIVE_EVENT.activity]: { [field: string]: unknown; cursor?: number };
  [LIVE_EVENT.deleted]: { session_id: string; reason?: string };
  [LIVE_EVENT.cursorExpired]: { cursor: number; history_start: number };
  [LIVE_EVENT.tokenExpired]: { expired_at: string };
  [CHANGE_EVENT.sweepRequired]: Record<string, never>;
  [CHANGE_EVENT.changed]: { session_id: string; last_seq: number; version: number };
  [CHANGE_EVENT.created]: { session_id: string };
}
export type LiveFrameName = keyof LiveFrames;

/**
 * The Durable Streams face (`/v1/stream/<path>`, PROTOCOL.md of
 * durable-streams/durable-streams): its header names, lowercase.
 */
export const DS_HEADER = {
  nextOffset: 'stream-next-offset',
  upToDate: 'stream-up-to-date',
  closed: 'stream-closed',
  cursor: 'stream-cursor',
  seq: 'stream-seq',
  ttl: 'stream-ttl',
  expiresAt: 'stream-expires-at',
  forkedFrom: 'stream-forked-from',
  forkOffset: 'stream-fork-offset',
  forkSubOffset: 'stream-fork-sub-offset',
  sseDataEncoding: 'stream-sse-data-encoding',
  producerId: 'producer-id',
  producerEpoch: 'producer-epoch',
  producerSeq: 'producer-seq',
  producerExpectedSeq: 'producer-expected-seq',
  producerReceivedSeq: 'producer-received-seq',
} as const;

/** Query parameters of the Durable Streams face. */
export const DS_PARAM = {
  offset: 'offset',
  live: 'live',
  cursor: 'cursor',
} as const;

/** Values of `live`: how a read waits at the tail (PROTOCOL §5.7, §5.8). */
export const DS_LIVE = {
  longPoll: 'long-poll',
  sse: 'sse',
} as const;

/** SSE event names of a Durable Streams read (§5.8): a batch of data, then a control event. */
export const DS_SSE_EVENT = {
  data: 'data',
  control: 'control',
} as const;

/** Members of a control event's JSON (§5.8). */
export const DS_SSE_CONTROL = {
  nextOffset: 'streamNextOffset',
  cursor: 'streamCursor',
  upToDate: 'upToDate',
  closed: 'streamClosed',
} as const;

/** The value of `stream-sse-data-encoding` when data events are base64 (binary streams). */
export const DS_SSE_BASE64 = 'base64';

/** Special `offset` values: the start of the stream and its tail. */
export const DS_OFFSET = {
  start: '-1',
  now: 'now',
} as const;
