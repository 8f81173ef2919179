import type { Limits, StateTuning } from '../config.js';
import { type Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { startAppend } from '../events/append.js';
import {
  EncodingMismatch,
  InvalidRequest,
  NoState,
  PayloadTooLarge,
  SchemaMismatch,
  VersionConflict,
} from '../errors.js';
import { jsonWithin } from '../limits.js';
import type { SessionRow } from '../sessions/store.js';
import type { StateCache } from './cache.js';
import { applyDelta, type Delta, materialise } from './chain.js';
import { measure, NotPlainJson, type StateLimits, tooDeep } from './json-value.js';
import { sendSnapshotInsert } from './statements.js';
import type { DeltaInput, SnapshotInput, WriteAck } from './view.js';
import { EVENT } from 'session-sync/client/protocol';

export interface StateContext {
  cache: StateCache;
  tuning: StateTuning;
  limits: Limits;
  /** What the document itself may be, after every write. */
  stateLimits: StateLimits;
}

/** Room a PUT body needs around its snapshot: `{"base_version":…,"schema_version":…,"snapshot":…}`. */
const SNAPSHOT_ENVELOPE_BYTES = 128;

/** A state must always fit back into a PUT body, where it sits one level down. */
export function stateLimitsFor(maxJsonDepth: number, maxBodyBytes: number): StateLimits {
  return { maxDepth: maxJsonDepth - 1, maxBytes: maxBodyBytes - SNAPSHOT_ENVELOPE_BYTES };
}


/** A state write whose statements are on the wire, to ride with the COMMIT (`WriteResult.pending`). */
export interface StartedStateWrite {
  ack: WriteAck;
  pending: Promise<unknown>;
}

function checkBaseVersion(session: SessionRow, baseVersion: number): void {
  if (baseVersion !== session.version) throw new VersionConflict(baseVersion, session.version);
}

/**
 * Replaces the state (new session, new schema, or compaction by the worker).
 * Runs inside the route's transaction with the session row locked.
 */
export function putSnapshot(tx: Tx, ctx: StateContext, session: SessionRow, input: SnapshotInput): StartedStateWrite {
  checkBaseVersion(session, input.base_version);
  if (session.schemaVersion !== null && input.schema_version < session.schemaVersion) {
    throw new SchemaMismatch(
      `schema_version ${input.schema_version} is lower than the stored ${session.schemaVersion}; a snapshot may keep or raise it`,
      session.schemaVersion,
    );
  }
  let body: string | null = null;
  let bodyBytes: Buffer | null = null;
  let bytes = 0;
  if (session.encoding === 'json') {
    if (input.snapshot_base64 !== undefined) {
      throw new EncodingMismatch(`session "${session.id}" holds json state: send "snapshot" (any JSON value), not "snapshot_base64"`, 'json');
    }
    if (!('snapshot' in input)) throw missingField('/snapshot', 'is required for a json session (any JSON value)');
    bytes = measureSnapshot(input.snapshot, ctx.stateLimits);
    body = JSON.stringify(input.snapshot);
  } else {
    if ('snapshot' in input) {
      throw new EncodingMismatch(`session "${session.id}" holds binary state: send "snapshot_base64", not "snapshot"`, 'binary');
    }
    if (input.snapshot_base64 === undefined) throw missingField('/snapshot_base64', 'is required for a binary session');
    bodyBytes = Buffer.from(input.snapshot_base64, 'base64');
  }
  const version = session.version + 1;
  const seq = session.lastSeq + 1;
  // Earlier snapshots stay: `?at_version=` and fork rebuild older versions from
  // them. Trimming history (history/trim.ts) removes those nothing needs.
  const pending = inFlight([
    sendSnapshotInsert(tx, { sid: session.sid, version, schemaVersion: input.schema_version, origin: 'put', body, bodyBytes }),
    startAppend(
      tx,
      session,
      [{ type: EVENT.stateSnapshot, dataJson: JSON.stringify({ schema_version: input.schema_version }), version }],
      { version, schema_version: input.schema_version, base_version: version, snapshot_version: version, chain_deltas: 0, chain_bytes: 0, state_seq: seq },
    ).pending,
  ]);
  // Cached before the commit: a failed write evicts it (`StateCache.write`).
  if (body !== null) {
    ctx.cache.set(session.id, { sid: session.sid, version, document: input.snapshot, bytes });
  }
  return { ack: { version, seq }, pending };
}

/** A snapshot is a body, so it is plain JSON within depth already; its size is the state's own limit. */
function measureSnapshot(snapshot: unknown, limits: StateLimits): number {
  let bytes: number;
  try {
    bytes = measure(snapshot, limits.maxDepth);
  } catch (error) {
    // Stryker disable all: unreachable defensive branch: every caller passes a snapshot from a parsed JSON body (plain JSON), at least one level down in a body of at most MAX_JSON_DEPTH levels, so within limits.maxDepth
    if (error instanceof NotPlainJson) {
      const message = error.tooDeep ? tooDeep(limits, 'it') : `holds ${error.message}`;
      throw new InvalidRequest(`body field snapshot: ${message}`, [{ in: 'body', field: '/snapshot', message }]);
    }
    // Stryker restore all
    throw error;
  }
  if (bytes > limits.maxBytes) {
    throw new PayloadTooLarge(
      `the snapshot measures ${bytes} bytes; a json state may hold ${limits.maxBytes} (MAX_BODY_BYTES less room for the PUT envelope)`,
      { limit_bytes: limits.maxBytes, size: bytes },
    );
  }
  return bytes;
}

function missingField(field: string, message: string): InvalidRequest {
  return new InvalidRequest(`body field ${field.slice(1)} ${message}`, [{ in: 'body', field, message }]);
}

const DELTA_FIELDS = { json: ['patch', 'merge_patch'], binary: ['delta_base64'] } as const;

function deltaOf(session: SessionRow, input: DeltaInput): Delta {
  const own: readonly string[] = DELTA_FIELDS[session.encoding];
  const foreign = (['patch', 'merge_patch', 'delta_base64'] as const).find((k) => input[k] !== undefined && !own.includes(k));
  if (foreign) {
    throw new EncodingMismatch(
      `session "${session.id}" holds ${session.encoding} state: send ${own.map((f) => `"${f}"`).join(' or ')}, not "${foreign}"`,
      session.encoding,
    );
  }
  const given = own.filter((k) => input[k as keyof DeltaInput] !== undefined);
  if (given.length !== 1) {
    const message = given.length ? `must not be sent together with /${given[0]}` : 'is required (exactly one delta)';
    const fields = given.length ? given.slice(1) : own;
    throw new InvalidRequest(
      `send exactly one of ${own.map((f) => `"${f}"`).join(' or ')}`,
      fields.map((f) => ({ in: 'body', field: `/${f}`, message })),
    );
  }
  if (input.patch !== undefined) return { patch: input.patch };
  if (input.merge_patch !== undefined) return { merge_patch: input.merge_patch };
  return { delta_base64: input.delta_base64 as string };
}

/**
 * Appends one delta. For json state the delta is applied to the cached
 * document (loaded once per cold cache), so a JSON Patch that does not apply
 * is refused with nothing stored, and the cost stays that of the delta; a
 * checkpoint of the whole document is written only every so many deltas.
 */
export async function appendDelta(tx: Tx, ctx: StateContext, session: SessionRow, input: DeltaInput): Promise<StartedStateWrite> {
  checkBaseVersion(session, input.base_version);
  if (session.version === 0) throw new NoState(session.id);
  if (input.schema_version !== undefined && input.schema_version !== session.schemaVersion) {
    throw new SchemaMismatch(
      `schema_version ${input.schema_version} differs from the stored ${session.schemaVersion}; only a snapshot may change it`,
      session.schemaVersion,
    );
  }
  const delta = deltaOf(session, input);
  const { json: dataJson, bytes: size } = jsonWithin(delta, ctx.limits.maxEventBytes, 'the delta', 'MAX_EVENT_BYTES', ': PUT a snapshot instead');
  const version = session.version + 1;
  const seq = session.lastSeq + 1;
  const checkpointDue =
    session.encoding === 'json' &&
    (session.chainDeltas + 1 >= ctx.tuning.checkpointEveryDeltas ||
      session.chainBytes + size >= ctx.tuning.checkpointEveryBytes);

  let checkpoint: string | undefined;
  if (session.encoding === 'json') {
    // Every json delta is applied here, so its result is checked against the
    // state's limits before anything is stored. A cold cache costs one
    // materialisation; after that the cost is the delta's.
    const current = ctx.cache.get(session.id, session.sid, session.version) ?? (await materialise(tx, session));
    // From here the document is being changed in place: it leaves the cache
    // and comes back only whole, at the new version.
    ctx.cache.evict(session.id);
    const result = applyDelta(current, delta, ctx.stateLimits);
    if (checkpointDue) checkpoint = JSON.stringify(result.document);
    ctx.cache.set(session.id, { sid: session.sid, version, document: result.document, bytes: result.bytes });
  }

  const chain = checkpoint
    ? { baseVersion: version, chainDeltas: 0, chainBytes: 0 }
    : { baseVersion: session.baseVersion, chainDeltas: session.chainDeltas + 1, chainBytes: session.chainBytes + size };
  const pending = inFlight([
    startAppend(tx, session, [{ type: EVENT.stateDelta, dataJson, version }], {
      version,
      state_seq: seq,
      base_version: chain.baseVersion,
      chain_deltas: chain.chainDeltas,
      chain_bytes: chain.chainBytes,
    }).pending,
    ...(checkpoint === undefined
      ? []
      : [
          sendSnapshotInsert(tx, {
            sid: session.sid,
            version,
            schemaVersion: session.schemaVersion ?? 0,
            origin: 'checkpoint',
            body: checkpoint,
            bodyBytes: null,
          }),
        ]),
  ]);
  return { ack: { version, seq }, pending };
}
