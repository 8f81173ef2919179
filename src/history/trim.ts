import type { HistoryTuning } from '../config.js';
import { type Db, type Tx } from '../db/client.js';
import { type SessionRow } from '../sessions/store.js';
import { lockSessionRow, lockSessionRowIfFree } from '../sessions/statements.js';
import type { StateCache } from '../state/cache.js';
import { readSnapshotAtOrBelow } from '../state/statements.js';
import { documentAt } from './time-travel.js';
import {
  deleteEventsThrough,
  deleteSnapshotsBelow,
  findFirstYoungEvent,
  findSessionsDueForTrim,
  findStateEventSeq,
  insertCheckpointIfMissing,
  moveHistoryStart,
  parkFromRetention,
  postponeTrim,
  readVersionsAround,
  scheduleRetention,
  unparkSessionsWithoutPolicy,
} from './statements.js';
import type { Retention } from './view.js';

/** The policy that applies to a session: its own, else the server default. */
export function policyOf(session: Pick<SessionRow, 'retention'>, defaults: HistoryTuning): Retention {
  if (session.retention !== null) return session.retention;
  return {
    ...(defaults.maxEvents === undefined ? {} : { max_events: defaults.maxEvents }),
    ...(defaults.maxAgeMs === undefined ? {} : { max_age_ms: defaults.maxAgeMs }),
  };
}

/** What to trim: up to a seq the caller names, or what the policy says is due. */
export type TrimGoal = { upTo: number } | { policy: Retention };

export interface TrimDeps {
  cache: StateCache;
  batch: number;
}

/**
 * The highest seq the policy wants gone, looking at most `batch` events past
 * `history_start` for the age bound (one batch is all a call trims anyway).
 * Ages are judged by Postgres's clock, like every other expiry.
 */
async function policyTarget(tx: Tx, session: SessionRow, policy: Retention, batch: number): Promise<{ target: number; beyond: boolean }> {
  let target = session.historyStart;
  // The age bound looked no further than one batch: more may be due past it.
  let beyond = false;
  if (policy.max_events !== undefined) target = Math.max(target, session.lastSeq - policy.max_events);
  if (policy.max_age_ms !== undefined) {
    // Stryker disable next-line MethodExpression: only bounds the scan; a wider window finds the same first young event.
    const window = Math.min(session.lastSeq, session.historyStart + batch);
    const young = await findFirstYoungEvent(tx, session.sid, session.historyStart, window, policy.max_age_ms);
    target = Math.max(target, young === undefined ? window : young - 1);
    beyond = young === undefined && window < session.lastSeq;
  }
  return { target: Math.min(target, session.lastSeq), beyond };
}

/**
 * The version the state had right after `seq`, for a seq above
 * `history_start`: the newest state event at or below it, else the version
 * as of `history_start` itself (the one before the oldest kept state event,
 * or the head when none is kept). Trimmed state events are gone, so the
 * oldest remaining one is found first on the (session, version) index.
 */
async function versionAsOf(tx: Tx, session: SessionRow, seq: number): Promise<number> {
  const { at, oldest } = await readVersionsAround(tx, session.sid, session.historyStart, seq);
  if (at !== null) return at;
  return oldest !== null ? oldest - 1 : session.version;
}

/**
 * How far one batch may trim, and the version every kept version will rebuild
 * from. Once events up to S are gone, each version whose state event is kept
 * rebuilds from a stored snapshot at or below it plus the deltas after that,
 * so a snapshot must stand at V, the version as of S (the deltas after V are
 * all kept). For json state the server writes that checkpoint, so any point
 * can be trimmed to; binary state is opaque, so the trim stops before the
 * first delta after the newest snapshot at or below V.
 */
async function trimPoint(tx: Tx, deps: TrimDeps, session: SessionRow, upTo: number): Promise<{ upTo: number; floor: number }> {
  const floor = await versionAsOf(tx, session, upTo);
  if (floor === 0) return { upTo, floor };
  const base = await readSnapshotAtOrBelow(tx, session.sid, floor);
  if (base?.version === floor) return { upTo, floor };
  if (session.encoding === 'binary') {
    const below = base?.version ?? 0;
    const next = await findStateEventSeq(tx, session.sid, below + 1, 0);
    return { upTo: next === undefined ? session.historyStart : next - 1, floor: below };
  }
  const cached = floor === session.version ? deps.cache.get(session.id, session.sid, session.version) : undefined;
  const document = cached ? cached.document : await documentAt(tx, session, floor);
  await insertCheckpointIfMissing(tx, {
    sid: session.sid,
    version: floor,
    schemaVersion: session.schemaVersion ?? 0,
    bodyJson: JSON.stringify(document),
  });
  return { upTo, floor };
}

export interface TrimStep {
  historyStart: number;
  /** More is due than this batch removed. */
  more: boolean;
}

/**
 * One bounded batch of trimming, on a session this transaction has locked:
 * removes events in (history_start, S] and moves `history_start` to S in the
 * same transaction, so a reader sees either the events or the new start, never
 * a gap it is not told about. Snapshots below the new floor go with them: no
 * kept version rebuilds from them any more.
 */
export async function trimBatch(tx: Tx, deps: TrimDeps, session: SessionRow, goal: TrimGoal): Promise<TrimStep> {
  const { target: wanted, beyond } =
    'upTo' in goal
      ? // Stryker disable next-line BooleanLiteral: a caller's bound is all known; saying more only costs trimSession one batch that finds nothing
        { target: Math.min(goal.upTo, session.lastSeq), beyond: false }
      : await policyTarget(tx, session, goal.policy, deps.batch);
  if (wanted <= session.historyStart) return { historyStart: session.historyStart, more: false };
  const step = Math.min(wanted, session.historyStart + deps.batch);
  const { upTo, floor } = await trimPoint(tx, deps, session, step);
  if (upTo <= session.historyStart) return { historyStart: session.historyStart, more: false };
  await deleteEventsThrough(tx, session.sid, session.historyStart, upTo);
  await moveHistoryStart(tx, session.sid, upTo, floor);
  await deleteSnapshotsBelow(tx, session.sid, floor);
  return { historyStart: upTo, more: upTo === step && (step < wanted || beyond) };
}

/**
 * Trims one session now, batch after batch, each in its own transaction (a
 * writer waits for one batch at most). Waits for the session's lock, unlike
 * the background sweep. Returns the new `history_start`, or undefined when the
 * session does not exist.
 */
export async function trimSession(db: Db, deps: TrimDeps, sessionId: string, goal: TrimGoal): Promise<number | undefined> {
  for (;;) {
    const step = await db.begin(async (tx) => {
      const session = await lockSessionRow(tx, sessionId);
      return session && trimBatch(tx, deps, session, goal);
    });
    if (!step) return undefined;
    if (!step.more) return step.historyStart;
  }
}

/**
 * When the sweep should look at a session next, after it has: now when more
 * is due than one batch; for an age bound, when its oldest kept event comes
 * of age; otherwise not until a write (`startAppend` marks a written session
 * due again). A session no policy applies to is parked ('infinity'): writes
 * leave it alone, and only a new policy (PATCH, or a server default at
 * start-up) brings it back.
 */
async function scheduleNext(tx: Tx, session: SessionRow, policy: Retention, more: boolean): Promise<void> {
  if (more) return;
  if (policy.max_events === undefined && policy.max_age_ms === undefined) {
    await parkFromRetention(tx, session.sid);
    return;
  }
  await scheduleRetention(tx, session.sid, policy.max_age_ms);
}

/**
 * The background sweep every instance runs: takes the sessions whose
 * `trim_due_at` has come (an index range, never a scan of the sessions
 * table), trims one batch each and schedules the next look. A session another
 * transaction holds is skipped (`SKIP LOCKED`) and stays due for a later
 * sweep, so writers are never queued behind it. One that fails to trim (state
 * that cannot be rebuilt) is looked at again only after a while, so it
 * cannot hold up the others.
 */
export class RetentionSweeper {
  private defaultsApplied = false;

  constructor(
    private readonly db: Db,
    private readonly deps: TrimDeps,
    private readonly defaults: HistoryTuning,
  ) {}

  /** One sweep over at most `limit` due sessions; returns the batches trimmed. */
  async sweep(limit = 100): Promise<number> {
    // Stryker disable next-line ConditionalExpression: unparking again only makes the sweep look at sessions that park again
    if (!this.defaultsApplied) {
      // A server default that was not set when these sessions were parked applies to them now.
      // Stryker disable next-line ConditionalExpression: with no default, an unparked session has no policy and parks again at its look
      if (this.defaults.maxEvents !== undefined || this.defaults.maxAgeMs !== undefined) {
        await unparkSessionsWithoutPolicy(this.db);
      }
      // Stryker disable next-line BooleanLiteral: as above, unparking on every sweep only costs looks
      this.defaultsApplied = true;
    }
    const due = await findSessionsDueForTrim(this.db, limit);
    let batches = 0;
    let failed: unknown;
    for (const sid of due) {
      try {
        const trimmed = await this.db.begin(async (tx) => {
          const session = await lockSessionRowIfFree(tx, sid);
          if (!session) return false;
          const policy = policyOf(session, this.defaults);
          const step = await trimBatch(tx, this.deps, session, { policy });
          await scheduleNext(tx, session, policy, step.more);
          return step.historyStart > session.historyStart;
        });
        if (trimmed) batches++;
      } catch (error) {
        failed ??= error;
        await postponeTrim(this.db, sid).catch(() => {});
      }
    }
    if (failed) throw failed;
    return batches;
  }
}
