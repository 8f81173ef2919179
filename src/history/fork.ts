import { SessionExists, SessionNotFound } from '../errors.js';
import { type NewEvent, startAppend } from '../events/append.js';
import { getSessionRecord, insertSession, type SessionRecord } from '../sessions/store.js';
import { lockSessionRow } from '../sessions/statements.js';
import { sendSnapshotInsert } from '../state/statements.js';
import { stateAtVersion } from './time-travel.js';
import { beginAndWake, type Committer } from '../wakeups/publisher.js';
import { EVENT } from 'session-sync/client/protocol';

export interface ForkInput {
  sourceId: string;
  /** The new session's id. */
  id: string;
  /** Default: the source's head. */
  atVersion?: number;
  metadata: Record<string, unknown>;
}

/**
 * Creates a session whose state is the source's at `atVersion`, in one
 * transaction under the source's lock (the version cannot be trimmed away
 * meanwhile). Its history starts with `session.forked` and a `state.snapshot`;
 * a binary source's deltas after its snapshot follow as `state.delta`, since
 * the server cannot fold opaque deltas into a snapshot.
 */
export async function forkSession(committer: Committer, input: ForkInput): Promise<SessionRecord> {
  return beginAndWake(committer, async (tx) => {
    const source = await lockSessionRow(tx, input.sourceId);
    if (!source || source.streamExpired) throw new SessionNotFound(input.sourceId);
    const version = input.atVersion ?? source.version;
    const state = await stateAtVersion(tx, source, version);
    const forkedFrom = { session_id: source.id, version };
    const created = await insertSession(tx, {
      id: input.id,
      parentId: source.id,
      metadata: input.metadata,
      encoding: source.encoding,
      retention: source.retention,
      forkedFrom,
    });
    if (!created) throw new SessionExists(input.id);
    const events: NewEvent[] = [{ type: EVENT.sessionForked, dataJson: JSON.stringify({ forked_from: forkedFrom }) }];
    if (state) {
      await sendSnapshotInsert(tx, {
        sid: created.sid,
        version: 1,
        schemaVersion: state.schemaVersion,
        origin: 'put',
        body: state.snapshotBytes === undefined ? JSON.stringify(state.document) : null,
        bodyBytes: state.snapshotBytes ?? null,
      });
      events.push({ type: EVENT.stateSnapshot, dataJson: JSON.stringify({ schema_version: state.schemaVersion }), version: 1 });
      state.deltas.forEach((d, i) => events.push({ type: EVENT.stateDelta, dataJson: JSON.stringify(d.delta), version: i + 2 }));
    }
    const head = state ? 1 + state.deltas.length : 0;
    // Stryker disable next-line BooleanLiteral: the row's shape asks for it; an append reads no lease (a new session has none)
    await startAppend(tx, { ...created, leaseActive: false }, events, {
      version: head,
      ...(state ? { schema_version: state.schemaVersion, base_version: 1, snapshot_version: 1 } : {}),
      chain_deltas: state?.deltas.length ?? 0,
      // The head's state event comes last.
      state_seq: state ? created.lastSeq + events.length : 0,
    }).pending;
    return getSessionRecord(tx, input.id);
  });
}
