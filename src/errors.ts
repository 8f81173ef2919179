import { HEADER, PROBLEM, type ProblemCode } from 'session-sync/client/protocol';

/**
 * Typed errors with a stable `code` (part of the API contract). Domain code
 * throws these; the one error handler turns them into problem+json.
 */
export abstract class ApiError extends Error {
  abstract readonly status: number;
  abstract readonly code: ProblemCode;
  abstract readonly title: string;
  /** Extra members of the problem document (RFC 9457 extensions). */
  readonly extra: Record<string, unknown>;
  /** Response headers the problem needs (e.g. Retry-After). */
  readonly headers: Record<string, string> = {};

  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super(detail);
    // An extension named like a standard member would be dropped from the answer
    // (standard members win), so a documented member would silently go missing.
    const clash = Object.keys(extra).find((key) => STANDARD_MEMBERS.has(key));
    if (clash) throw new Error(`problem extension "${clash}" clashes with a standard problem member`);
    this.extra = extra;
  }
}

const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance']);

export interface FieldError {
  /** Where the field is: body, querystring, params or headers. */
  in: string;
  /** JSON Pointer into that part of the request; '' for the part as a whole. */
  field: string;
  message: string;
}

export class InvalidRequest extends ApiError {
  readonly status = 400;
  readonly code = PROBLEM.invalidRequest;
  readonly title = 'Invalid request';
  constructor(detail: string, errors: FieldError[] = []) {
    super(detail, errors.length ? { errors } : {});
  }
}

/** Node's parser refused the request's headers as larger than its limit (`--max-http-header-size`, 16 KiB by default). */
export class HeadersTooLarge extends ApiError {
  readonly status = 431;
  readonly code = PROBLEM.invalidRequest;
  readonly title = 'Request header fields too large';
  constructor() {
    super("the request's headers are larger than this server takes (16 KiB by default); send shorter values");
  }
}

export class UnsupportedMediaType extends ApiError {
  readonly status = 415;
  readonly code = PROBLEM.unsupportedMediaType;
  readonly title = 'Unsupported media type';
}

export class PayloadTooLarge extends ApiError {
  readonly status = 413;
  readonly code = PROBLEM.payloadTooLarge;
  readonly title = 'Payload too large';
  constructor(detail: string, limit: { limit_bytes?: number; limit?: number; size?: number; line?: number }) {
    super(detail, limit);
  }
}

export class RouteNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.notFound;
  readonly title = 'Not found';
}

export class MethodNotAllowed extends ApiError {
  readonly status = 405;
  readonly code = PROBLEM.methodNotAllowed;
  readonly title = 'Method not allowed';
  constructor(method: string, path: string, allowed: string[]) {
    super(`${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { allowed });
    this.headers.allow = allowed.join(', ');
  }
}

export class SessionNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.sessionNotFound;
  readonly title = 'Session not found';
  constructor(id: string) {
    super(`session "${id}" does not exist`, { session_id: id });
  }
}

export class ParentNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.parentNotFound;
  readonly title = 'Parent session not found';
  constructor(parentId: string) {
    super(`parent session "${parentId}" does not exist`, { parent_id: parentId });
  }
}

export class SessionExists extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.sessionExists;
  readonly title = 'Session already exists';
  constructor(id: string) {
    super(`session "${id}" already exists`, { session_id: id });
  }
}

export class VersionConflict extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.versionConflict;
  readonly title = 'Version conflict';
  constructor(expected: number, actual: number, what = 'state') {
    super(`${what} is at version ${actual}, not ${expected}; re-sync and retry against version ${actual}`, {
      expected_version: expected,
      actual_version: actual,
    });
  }
}

export class VersionAhead extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.versionAhead;
  readonly title = 'Version ahead of the server';
  /** `field` is the request's own name for the version it sent, so the answer points at it. */
  constructor(field: 'have' | 'at_version', requested: number, head: number) {
    super(
      field === 'have'
        ? `have=${requested} is ahead of the stored state (version ${head}); discard local state and cold-start`
        : `at_version=${requested} is ahead of the stored state (version ${head}); ask for a version at or below the head`,
      { [field]: requested, version: head },
    );
  }
}

export class SchemaMismatch extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.schemaMismatch;
  readonly title = 'Schema version mismatch';
  constructor(detail: string, stored: number | null) {
    super(detail, { stored_schema_version: stored });
  }
}

export class EncodingMismatch extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.encodingMismatch;
  readonly title = 'Wrong state encoding';
  constructor(detail: string, encoding: string) {
    super(detail, { encoding });
  }
}

export class NoState extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.noState;
  readonly title = 'Session has no state yet';
  constructor(id: string) {
    super(`session "${id}" has no state to apply a delta to; PUT /v1/sessions/${id}/state first`);
  }
}

export class PatchFailed extends ApiError {
  readonly status = 422;
  readonly code = PROBLEM.patchFailed;
  readonly title = 'Patch does not apply';
  /** `opIndex` is omitted when the result as a whole is refused (a merge patch, or a state over its size limit). */
  constructor(opIndex: number | undefined, reason: string) {
    super(
      opIndex === undefined ? `the patch does not apply: ${reason}` : `operation ${opIndex} does not apply: ${reason}`,
      opIndex === undefined ? {} : { op_index: opIndex },
    );
  }
}

export class StateUnreadable extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.stateUnreadable;
  readonly title = 'Stored state cannot be rebuilt';
  constructor(sessionId: string, version: number, failedVersion: number, reason: string) {
    super(
      `the stored state of session "${sessionId}" cannot be rebuilt at version ${version}: version ${failedVersion} ${reason}; ` +
        `PUT /v1/sessions/${sessionId}/state with base_version ${version} to replace it`,
      { version, failed_version: failedVersion },
    );
  }
}

export class IdempotencyKeyReused extends ApiError {
  readonly status = 422;
  readonly code = PROBLEM.idempotencyKeyReused;
  readonly title = 'Idempotency key reused';
  constructor(key: string) {
    super(`Idempotency-Key "${key}" was already used for a different request; use a new key for a new request`);
  }
}

export class CursorAhead extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.cursorAhead;
  readonly title = 'Cursor ahead of the history';
  constructor(cursor: number, lastSeq: number) {
    super(`cursor ${cursor} is beyond the last event (seq ${lastSeq}); was the session deleted and re-created?`, {
      cursor,
      last_seq: lastSeq,
    });
  }
}

export class SeqConflict extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.seqConflict;
  readonly title = 'Sequence conflict';
  constructor(expected: number, actual: number) {
    super(`the session's last seq is ${actual}, not ${expected}; read what you missed and retry`, {
      expected_seq: expected,
      actual_seq: actual,
    });
  }
}

/** History below the cursor was trimmed (retention): never a silent gap. */
export class CursorExpired extends ApiError {
  readonly status = 410;
  readonly code = PROBLEM.cursorExpired;
  readonly title = 'History trimmed under the cursor';
  constructor(cursor: number, historyStart: number) {
    super(
      `events up to seq ${historyStart} are no longer kept (cursor ${cursor}): read the state (its seq says which state event it reflects), then follow the history after ${historyStart}`,
      { history_start: historyStart },
    );
  }
}

/** A version whose state is no longer kept (retention): `?at_version=` and fork. */
export class VersionExpired extends ApiError {
  readonly status = 410;
  readonly code = PROBLEM.versionExpired;
  readonly title = 'Version no longer kept';
  constructor(version: number, historyStart: number) {
    super(`the state at version ${version} is no longer kept: history starts after seq ${historyStart}`, {
      version,
      history_start: historyStart,
    });
  }
}

/** An import file refused: which line, and what is wrong with it (nothing was created). */
export class InvalidImport extends ApiError {
  readonly status = 400;
  readonly code = PROBLEM.invalidImport;
  readonly title = 'Invalid import file';
  constructor(line: number, detail: string) {
    super(`line ${line}: ${detail}`, { line });
  }
}

export class TurnConflict extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.turnConflict;
  readonly title = 'Turn id already used';
  constructor(turnId: string) {
    super(`turn "${turnId}" was already committed with a different body; a new turn needs a new turn_id`, { turn_id: turnId });
  }
}

/** A turn whose usage would take a session total past what the API accepts (and an export carries). */
export class UsageOverflow extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.usageOverflow;
  readonly title = 'Usage total would overflow';
  constructor(field: string, total: number, limit: number) {
    super(`the session's ${field} total is ${total}; this turn's usage would take it past ${limit}, the most a total may hold`, {
      field,
      total,
      limit,
    });
  }
}

export class ReservedEventType extends ApiError {
  readonly status = 400;
  readonly code = PROBLEM.reservedEventType;
  readonly title = 'Reserved event type';
  constructor(type: string, reserved: readonly string[], index?: number) {
    super(
      `event type "${type}" uses a prefix only the server writes (${reserved.join(', ')}); pick another name`,
      index === undefined ? { event_type: type } : { event_type: type, index },
    );
  }
}

export class LeaseHeld extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.leaseHeld;
  readonly title = 'Session is leased';
  constructor(owner: string, expiresAt: string, detail?: string) {
    super(detail ?? `"${owner}" holds the lease until ${expiresAt}; send its Lease-Token, or wait for it to expire`, {
      owner,
      expires_at: expiresAt,
    });
  }
}

export class LeaseLost extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.leaseLost;
  readonly title = 'Lease lost';
  constructor(detail = 'this Lease-Token is not the current lease: it expired, was released or was superseded; claim again') {
    super(detail);
  }
}

export class ClaimNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.claimNotFound;
  readonly title = 'Claim not found';
  constructor(claimId: string) {
    super(`no claim "${claimId}" on this session`, { claim_id: claimId });
  }
}

export class ClaimExpired extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.claimExpired;
  readonly title = 'Claim no longer active';
  constructor(claimId: string, state: string) {
    super(`claim "${claimId}" is ${state}; its batches were returned to the queue unless completed`, { claim_id: claimId, state });
  }
}

export class BatchNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.batchNotFound;
  readonly title = 'Batch not found';
  constructor(batchId: string) {
    super(`no queued batch "${batchId}" on this session`, { batch_id: batchId });
  }
}

export class BatchClaimed extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.batchClaimed;
  readonly title = 'Batch is no longer pending';
  constructor(batchId: string, state: string) {
    super(`batch "${batchId}" is ${state}; only a pending batch can be cancelled`, { batch_id: batchId, batch_status: state });
  }
}

export class AttachmentNotFound extends ApiError {
  readonly status = 404;
  readonly code = PROBLEM.attachmentNotFound;
  readonly title = 'Attachment not found';
  constructor(attachmentId: string) {
    super(`no attachment "${attachmentId}" on this session`, { attachment_id: attachmentId });
  }
}

export class RangeNotSatisfiable extends ApiError {
  readonly status = 416;
  readonly code = PROBLEM.rangeNotSatisfiable;
  readonly title = 'Range not satisfiable';
  constructor(size: number) {
    super(`the requested range lies outside the attachment's ${size} bytes`, { size });
    this.headers['content-range'] = `bytes */${size}`;
  }
}

export class DatabaseUnavailable extends ApiError {
  readonly status = 503;
  readonly code = PROBLEM.databaseUnavailable;
  readonly title = 'Database unavailable';
  constructor(retryAfterSeconds = 1) {
    super('the database cannot be reached right now; nothing was changed, retry shortly');
    this.headers[HEADER.retryAfter] = String(retryAfterSeconds);
  }
}

export class TooManyStreams extends ApiError {
  readonly status = 503;
  readonly code = PROBLEM.tooManyStreams;
  readonly title = 'Too many open streams';
  constructor(limit: number, retryAfterSeconds = 5) {
    super(`this instance already serves ${limit} streams (MAX_STREAMS); retry shortly or on another instance`, { limit });
    this.headers[HEADER.retryAfter] = String(retryAfterSeconds);
  }
}

export class TooManyTransfers extends ApiError {
  readonly status = 503;
  readonly code = PROBLEM.tooManyTransfers;
  readonly title = 'Too many transfers';
  /** A slot frees when an upload, import or export ends: within TRANSFER_IDLE_TIMEOUT_MS even of one whose client stalled. */
  constructor(limit: number, retryAfterSeconds = 1) {
    super(
      `this instance already runs ${limit} uploads, imports and exports (MAX_TRANSFERS); nothing was changed, retry shortly`,
      { limit },
    );
    this.headers[HEADER.retryAfter] = String(retryAfterSeconds);
  }
}

export class ShuttingDown extends ApiError {
  readonly status = 503;
  readonly code = PROBLEM.shuttingDown;
  readonly title = 'Shutting down';
  constructor(retryAfterSeconds = 1) {
    super('this instance is shutting down; retry, and you will reach another one or this one restarted');
    this.headers[HEADER.retryAfter] = String(retryAfterSeconds);
    this.headers.connection = 'close';
  }
}

export class RequestTimeout extends ApiError {
  readonly status = 408;
  readonly code = PROBLEM.requestTimeout;
  readonly title = 'Request timeout';
  /** `idle`: no byte of the body came for `limitMs` (TRANSFER_IDLE_TIMEOUT_MS), rather than the whole body not within it. */
  constructor(limitMs: number, idle = false) {
    super(
      idle
        ? `no byte of the request body arrived for ${limitMs} ms (TRANSFER_IDLE_TIMEOUT_MS); nothing was changed`
        : `the request body did not arrive within ${limitMs} ms (REQUEST_TIMEOUT_MS); nothing was changed`,
      { limit_ms: limitMs },
    );
    this.headers.connection = 'close';
  }
}

export class InternalError extends ApiError {
  readonly status = 500;
  readonly code = PROBLEM.internalError;
  readonly title = 'Internal server error';
}

/** A Durable Streams path that cannot name a session (`streams/paths.ts` says the rule). */
export class InvalidStreamPath extends ApiError {
  readonly status = 400;
  readonly code = PROBLEM.invalidStreamPath;
  readonly title = 'Invalid stream path';
  constructor(path: string, rule: string) {
    super(`stream path ${JSON.stringify(path)} ${rule}`, { path });
  }
}

/**
 * The session was closed (a Durable Streams `Stream-Closed: true`): its history
 * takes no more events, through either face. `headers` carries what the
 * Durable Streams face adds (`Stream-Closed`, `Stream-Next-Offset`).
 */
export class SessionClosed extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.sessionClosed;
  readonly title = 'Session closed';
  constructor(id: string, headers: Record<string, string> = {}) {
    super(`session "${id}" is closed: its history takes no more events`, { session_id: id });
    Object.assign(this.headers, headers);
  }
}

export class ContentTypeMismatch extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.contentTypeMismatch;
  readonly title = 'Content-Type mismatch';
  constructor(sent: string | undefined, stream: string) {
    super(`the stream's Content-Type is ${stream}, not ${sent ?? '(none)'}`, { content_type: stream });
  }
}

export class StreamSeqConflict extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.streamSeqConflict;
  readonly title = 'Stream-Seq not increasing';
  constructor(sent: string, last: string) {
    super(`Stream-Seq ${JSON.stringify(sent)} is not above the last one, ${JSON.stringify(last)} (compared byte by byte)`, {
      last_stream_seq: last,
    });
  }
}

/** 403: a newer instance of this Durable Streams producer claimed a higher epoch (zombie fencing, PROTOCOL §5.2.1). */
export class ProducerEpochStale extends ApiError {
  readonly status = 403;
  readonly code = PROBLEM.producerEpochStale;
  readonly title = 'Producer epoch stale';
  constructor(producerId: string, sent: number, current: number, headers: Record<string, string>) {
    super(
      `producer ${JSON.stringify(producerId)} writes with Producer-Epoch ${sent}, but epoch ${current} has taken over: ` +
        'this instance was replaced and must stop (or claim a higher epoch, starting at Producer-Seq 0)',
      { producer_id: producerId, current_epoch: current },
    );
    Object.assign(this.headers, headers);
  }
}

/** 409: a Durable Streams producer skipped a `Producer-Seq` (a request in between never arrived). */
export class ProducerSeqGap extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.producerSeqGap;
  readonly title = 'Producer sequence gap';
  constructor(producerId: string, expected: number, received: number, headers: Record<string, string>) {
    super(
      `producer ${JSON.stringify(producerId)} sent Producer-Seq ${received}, but the next one expected is ${expected}: ` +
        `resend from ${expected}`,
      { producer_id: producerId, expected_seq: expected, received_seq: received },
    );
    Object.assign(this.headers, headers);
  }
}

export class NotImplemented extends ApiError {
  readonly status = 501;
  readonly code = PROBLEM.notImplemented;
  readonly title = 'Not implemented';
}

/** A Durable Streams PUT for a stream that exists with another configuration (Content-Type, closed or not). */
export class StreamExists extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.sessionExists;
  readonly title = 'Stream exists with another configuration';
  constructor(id: string, difference: string) {
    super(`stream of session "${id}" already exists, ${difference}`, { session_id: id });
  }
}

/**
 * A Durable Streams DELETE of a stream with live forks keeps it as a soft
 * delete until its last fork goes (PROTOCOL §4.2): gone (410) for reads,
 * appends and DELETE; 409 for a PUT of its path or a fork of it, which would
 * bring it back.
 */
export class SessionDeleted extends ApiError {
  readonly status: 409 | 410;
  readonly code = PROBLEM.sessionDeleted;
  readonly title = 'Session deleted';
  constructor(id: string, status: 409 | 410 = 410) {
    super(
      status === 410
        ? `session "${id}" was deleted; forks of it still live, so its id stays taken until they are deleted`
        : `session "${id}" was deleted and forks of it still live: it cannot be created again or forked until they are deleted`,
      { session_id: id },
    );
    this.status = status;
  }
}

/** A Durable Streams fork copies events; a session with state or messages holds more than its events say. */
export class ForkHasState extends ApiError {
  readonly status = 409;
  readonly code = PROBLEM.forkHasState;
  readonly title = 'Fork source has state';
  constructor(id: string) {
    super(
      `session "${id}" has state or a conversation, which a Durable Streams fork (a copy of its events) would not carry: ` +
        'fork it with POST /v1/sessions/{id}/fork instead',
      { session_id: id },
    );
  }
}
