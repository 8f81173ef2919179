import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';
import { type Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { type NewEvent, startAppend } from '../events/append.js';
import { ApiError, InvalidRequest, TurnConflict, UsageOverflow, VersionConflict } from '../errors.js';
import { checkFence } from '../leases/fence.js';
import { endLease } from '../leases/store.js';
import { appendMessages } from '../messages/store.js';
import { finishClaim } from '../queue/store.js';
import type { SessionRow } from '../sessions/store.js';
import { appendDelta, putSnapshot, type StartedStateWrite, type StateContext } from '../state/store.js';
import { commitAttachments } from '../attachments/store.js';
import type { TurnInput, TurnPart } from './input.js';
import type { TurnAnswer, TurnState, TurnUsage } from './view.js';
import { type CommittedTurn, findCommittedTurn, sendSessionUsage, sendTurnInsert } from './statements.js';
import { turnSummaryJson } from './summary.js';
import { EVENT } from 'session-sync/client/protocol';

export interface TurnResult {
  status: number;
  body: TurnAnswer;
  replayed: boolean;
  pending?: Promise<unknown>;
}

/** Canonical digest of a turn's body: the same turn serialised with its keys in another order is the same turn. */
export function turnHash(body: unknown): string {
  return createHash('sha256').update(stableStringify(body)).digest('base64url');
}

/**
 * Runs `work` as the given part of a turn: whatever it refuses is refused
 * for the whole turn, and the problem says which part (and which item).
 */
export async function asPart<T>(part: TurnPart, index: number | undefined, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    namePart(error, part, index);
    throw error;
  }
}

/** The same, for checks made before the transaction. */
export function asPartSync<T>(part: TurnPart, index: number | undefined, work: () => T): T {
  try {
    return work();
  } catch (error) {
    namePart(error, part, index);
    throw error;
  }
}

function namePart(error: unknown, part: TurnPart, index: number | undefined): void {
  if (!(error instanceof ApiError)) return;
  // Stryker disable next-line ConditionalExpression: `{ part, index: undefined }` answers the same as `{ part }`: no refusal of an unindexed part carries an index of its own to overwrite, and an undefined member is left out of the JSON problem (dropping a real index instead is what the index assertions in test/http/turns.test.ts catch)
  Object.assign(error.extra, index === undefined ? { part } : { part, index });
}

/** A turn's lookup on the wire (`lookUpTurn`). */
export type TurnLookup = Promise<CommittedTurn | undefined>;

/**
 * Looks up the turn committed under the input's id, sent at once: sent behind
 * the statement that locks the session (`SessionWrite.behindLock`), it runs
 * under the lock and answers with it. `commitTurn` reads its answer.
 */
export function lookUpTurn(tx: Tx, sessionId: string, input: TurnInput): TurnLookup {
  const found = findCommittedTurn(tx, sessionId, input.turn_id);
  // Had the lock failed, this fails too, and the lock's failure is the one reported.
  found.catch(() => {});
  return found;
}

/** A committed turn with this id, if any: its answer when the body is the same, turn_conflict otherwise. */
async function findTurn(input: TurnInput, committed: TurnLookup): Promise<TurnAnswer | undefined> {
  const row = await committed;
  if (!row) return undefined;
  if (row.requestHash !== input.hash) throw new TurnConflict(input.turn_id);
  return row.response as TurnAnswer;
}

function writeState(tx: Tx, ctx: StateContext, session: SessionRow, baseVersion: number, state: TurnState): Promise<StartedStateWrite> | StartedStateWrite {
  const isSnapshot = 'snapshot' in state || state.snapshot_base64 !== undefined;
  if (isSnapshot) {
    if (state.schema_version === undefined) {
      throw new InvalidRequest('a snapshot needs its schema_version', [
        { in: 'body', field: '/state/schema_version', message: 'is required with a snapshot' },
      ]);
    }
    const { patch: _patch, merge_patch: _mergePatch, delta_base64: _deltaBase64, ...snapshot } = state;
    // Present is sent, as on the state routes: a null merge patch and an empty binary delta are deltas too.
    const extra = (['patch', 'merge_patch', 'delta_base64'] as const).find((field) => state[field] !== undefined);
    if (extra) {
      throw new InvalidRequest(`send either a snapshot or a delta, not both`, [
        { in: 'body', field: `/state/${extra}`, message: 'must not be sent together with a snapshot' },
      ]);
    }
    return putSnapshot(tx, ctx, session, { ...snapshot, base_version: baseVersion, schema_version: state.schema_version });
  }
  return appendDelta(tx, ctx, session, { ...state, base_version: baseVersion });
}

/**
 * Commits one agent turn inside the caller's transaction, with the session
 * row locked (`writeSession`), `committed` the turn's lookup (`lookUpTurn`). Everything the turn holds is applied by the
 * same domain functions the single-purpose routes use, in the contract's
 * order: the state change, the events and messages (consecutive seqs), the
 * claims completed, the attachments committed, the usage, the lease release;
 * then one `turn.committed` event. Any part that refuses throws, so the
 * transaction rolls back and nothing of the turn is stored.
 *
 * A retried turn is answered from its record before the lease fence: a turn
 * that released the lease must still replay for the worker whose answer was
 * lost, although its Lease-Token is no longer current.
 */
export async function commitTurn(
  tx: Tx,
  ctx: StateContext,
  session: SessionRow,
  input: TurnInput,
  leaseToken: string | undefined,
  committed: TurnLookup,
): Promise<TurnResult> {
  const replayed = await findTurn(input, committed);
  if (replayed) return { status: 201, body: replayed, replayed: true };
  checkFence(session, leaseToken);

  let head = session;
  const sent: Promise<unknown>[] = [];
  const firstSeq = session.lastSeq + 1;
  if (input.state === undefined && input.base_version !== undefined) {
    const expected = input.base_version;
    // A turn may assert the state it was computed from without changing it.
    asPartSync('state', undefined, () => {
      if (expected !== session.version) throw new VersionConflict(expected, session.version);
    });
  }
  if (input.state !== undefined) {
    const state = input.state;
    const baseVersion = asPartSync('state', undefined, () => {
      if (input.base_version === undefined) {
        throw new InvalidRequest('a turn that changes the state needs base_version', [
          { in: 'body', field: '/base_version', message: 'is required with state' },
        ]);
      }
      return input.base_version;
    });
    const { ack, pending } = await asPart('state', undefined, () => writeState(tx, ctx, session, baseVersion, state));
    sent.push(pending);
    head = {
      ...head,
      version: ack.version,
      lastSeq: ack.seq,
      // The state write moved these on the row; later parts must not see the old values.
      // Stryker disable next-line all: equivalent today; no later part of a turn reads schemaVersion (messages, claims, attachments, the lease release, the append), it is kept right for one that will
      schemaVersion: 'snapshot' in state || state.snapshot_base64 !== undefined ? (state.schema_version ?? null) : head.schemaVersion,
    };
  }

  const events: NewEvent[] = [...input.events];
  let messageIds: string[] = [];
  if (input.messages.length) {
    const change = asPartSync('messages', undefined, () => appendMessages(tx, head, input.messages));
    sent.push(change.pending);
    events.push(...change.events);
    messageIds = change.messages.map((m) => m.id);
  }
  for (const [index, claimId] of input.complete_claims.entries()) {
    const done = await asPart('complete_claims', index, async () => {
      const finished = await finishClaim(tx, head, claimId, 'complete');
      if (finished.refusal) throw finished.refusal;
      return finished;
    });
    events.push(...done.events);
  }
  if (input.attachments.length) {
    events.push(...(await commitAttachments(tx, head, input.attachments, 'attachments')));
  }
  const usage = asPartSync('usage', undefined, () => addUsage(session, input.usage));
  sent.push(
    sendSessionUsage(tx, session.sid, {
      inputTokens: usage.input_tokens,
      outputTokens: usage.output_tokens,
      costUsd: usage.cost_usd,
    }),
  );
  if (input.release_lease) {
    const token = asPartSync('release_lease', undefined, () => {
      if (leaseToken === undefined) {
        throw new InvalidRequest('release_lease needs the Lease-Token header', [
          { in: 'headers', field: '/lease-token', message: 'is required with release_lease' },
        ]);
      }
      return leaseToken;
    });
    const ended = asPartSync('release_lease', undefined, () => endLease(tx, head, token));
    sent.push(ended.pending);
    events.push(...ended.events);
  }

  const lastSeq = head.lastSeq + events.length + 1;
  const answer: TurnAnswer = { turn_id: input.turn_id, version: head.version, first_seq: firstSeq, last_seq: lastSeq };
  // Within MAX_EVENT_BYTES: the route checked the widest it can be (checkTurnSummaryFits).
  events.push({ type: EVENT.turnCommitted, dataJson: turnSummaryJson(input, { version: head.version, firstSeq, messageIds }) });
  sent.push(startAppend(tx, head, events).pending);
  sent.push(
    sendTurnInsert(tx, { sid: session.sid, turnId: input.turn_id, requestHash: input.hash, responseJson: JSON.stringify(answer) }),
  );
  return { status: 201, body: answer, replayed: false, pending: inFlight(sent) };
}

/**
 * The most a session's usage total may hold: what the API takes for one count
 * (and what an export of the session must carry to import again).
 */
export const MAX_USAGE_TOTAL = Number.MAX_SAFE_INTEGER;

/** The turn's usage summed, refused when it would take one of the session's totals past MAX_USAGE_TOTAL. */
function addUsage(session: SessionRow, usage: TurnUsage[]): { input_tokens: number; output_tokens: number; cost_usd: number } {
  const totals = { input_tokens: session.usageInputTokens, output_tokens: session.usageOutputTokens, cost_usd: session.usageCostUsd };
  const added = { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  for (const item of usage) {
    for (const field of ['input_tokens', 'output_tokens'] as const) {
      // Compared before adding: past 2^53 a sum of integers is no longer exact. Both terms are within it here.
      if (item[field] > MAX_USAGE_TOTAL - totals[field] - added[field]) throw new UsageOverflow(field, totals[field], MAX_USAGE_TOTAL);
      added[field] += item[field];
    }
    // A double: the total stored is this same sum (the database adds it as JavaScript does).
    const cost = added.cost_usd + (item.cost_usd ?? 0);
    if (totals.cost_usd + cost > MAX_USAGE_TOTAL) throw new UsageOverflow('cost_usd', totals.cost_usd, MAX_USAGE_TOTAL);
    added.cost_usd = cost;
  }
  return added;
}
