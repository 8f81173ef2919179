import { sql } from 'drizzle-orm';
import type { HistoryTuning } from '../config.js';
import type { Db, Tx } from '../db/client.js';
import { lockSession, lockSessionBySidIfFree, type SessionRow } from '../sessions/repository.js';
import type { StateCache } from '../state/cache.js';
import { materialise } from '../state/chain.js';
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
    const window = Math.min(session.lastSeq, session.historyStart + batch);
    const [young] = await tx.execute<{ seq: string }>(sql`
      select seq from events
      where session_sid = ${session.sid} and seq > ${session.historyStart} and seq <= ${window}
        and created_at >= now() - make_interval(secs => ${policy.max_age_ms / 1000}::float8)
      order by seq limit 1`);
    target = Math.max(target, young ? Number(young.seq) - 1 : window);
    beyond = !young && window < session.lastSeq;
  }
  return { target: Math.min(target, session.lastSeq), beyond };
}

/**
 * Makes sure the state stays materialisable once events up to `upTo` are
 * gone, and returns how far trimming may go. The state lives as the newest
 * stored snapshot (or checkpoint) at `base_version` plus the `state.delta`
 * events after it: none of those deltas may go. For json state the server
 * writes a checkpoint at the head when the trim would reach into that chain,
 * so any point can be trimmed to; binary state is opaque, so trimming stops
 * before the first delta after the worker's last snapshot.
 */
async function materialisableBound(tx: Tx, deps: TrimDeps, session: SessionRow, upTo: number): Promise<number> {
  if (session.version === session.baseVersion) return upTo;
  const [next] = await tx.execute<{ seq: string }>(sql`
    select seq from events where session_sid = ${session.sid} and version = ${session.baseVersion + 1}`);
  const firstNeeded = next ? Number(next.seq) : Infinity;
  if (upTo < firstNeeded) return upTo;
  if (session.encoding === 'binary') return firstNeeded - 1;
  const cached = deps.cache.get(session.id, session.sid, session.version);
  const document = cached ? cached.document : (await materialise(tx, session)).document;
  await tx.execute(sql`
    insert into state_snapshots (session_sid, version, schema_version, origin, body)
    values (${session.sid}, ${session.version}, ${session.schemaVersion ?? 0}, 'checkpoint', ${JSON.stringify(document)}::json)
    on conflict do nothing`);
  await tx.execute(sql`
    update sessions set base_version = version, chain_deltas = 0, chain_bytes = 0 where sid = ${session.sid}`);
  return upTo;
}

/**
 * Drops the snapshots no kept version needs: every version whose state event
 * is still kept rebuilds from the newest snapshot at or below it, so the one
 * below the oldest kept state event, and all above, stay. With no state event
 * kept, the newest snapshot alone stays (the head's base).
 */
async function pruneSnapshots(tx: Tx, sid: number): Promise<void> {
  await tx.execute(sql`
    with oldest as (
      select min(version) as v from events where session_sid = ${sid} and version is not null
    ), keep as (
      select coalesce(
        (select max(version) from state_snapshots, oldest where session_sid = ${sid} and version <= oldest.v),
        (select max(version) from state_snapshots where session_sid = ${sid})) as v
    )
    delete from state_snapshots using keep where session_sid = ${sid} and version < keep.v`);
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
 * a gap it is not told about.
 */
export async function trimBatch(tx: Tx, deps: TrimDeps, session: SessionRow, goal: TrimGoal): Promise<TrimStep> {
  const { target: wanted, beyond } =
    'upTo' in goal
      ? { target: Math.min(goal.upTo, session.lastSeq), beyond: false }
      : await policyTarget(tx, session, goal.policy, deps.batch);
  if (wanted <= session.historyStart) return { historyStart: session.historyStart, more: false };
  const step = Math.min(wanted, session.historyStart + deps.batch);
  const upTo = await materialisableBound(tx, deps, session, step);
  if (upTo <= session.historyStart) return { historyStart: session.historyStart, more: false };
  await tx.execute(sql`
    delete from events where session_sid = ${session.sid} and seq > ${session.historyStart} and seq <= ${upTo}`);
  await tx.execute(sql`update sessions set history_start = ${upTo} where sid = ${session.sid}`);
  await pruneSnapshots(tx, session.sid);
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
    const step = await db.transaction(async (tx) => {
      const session = await lockSession(tx, sessionId);
      return session && trimBatch(tx, deps, session, goal);
    });
    if (!step) return undefined;
    if (!step.more) return step.historyStart;
  }
}

/**
 * The background sweep every instance runs: finds sessions whose policy (their
 * own or the server default) has history due, and trims one batch each. A
 * session another transaction holds is skipped (`SKIP LOCKED`) and picked up
 * by a later sweep, so writers are never queued behind it. It walks the
 * sessions in key order from where the previous sweep stopped, so sessions it
 * cannot trim (binary state waiting for a snapshot) do not starve the others.
 */
export class RetentionSweeper {
  private from = 0;

  constructor(
    private readonly db: Db,
    private readonly deps: TrimDeps,
    private readonly defaults: HistoryTuning,
  ) {}

  /** One sweep over at most `limit` sessions; returns the batches trimmed. */
  async sweep(limit = 100): Promise<number> {
    const { maxEvents, maxAgeMs } = this.defaults;
    // The effective bound per session: its own policy when it has one, else the server default.
    const bound = (field: string, fallback: number | undefined) =>
      sql`case when s.retention is null then ${fallback ?? null}::bigint else (s.retention->>${field})::bigint end`;
    const ownOnly = maxEvents === undefined && maxAgeMs === undefined ? sql`and s.retention is not null` : sql``;
    const due = await this.db.execute<{ sid: string }>(sql`
      select s.sid from sessions s
      where s.sid > ${this.from} and s.last_seq > s.history_start ${ownOnly}
        and (s.last_seq - s.history_start > ${bound('max_events', maxEvents)}
          or exists (select 1 from events e where e.session_sid = s.sid and e.seq = s.history_start + 1
                     and e.created_at < now() - make_interval(secs => (${bound('max_age_ms', maxAgeMs)} / 1000.0)::float8)))
      order by s.sid limit ${limit}`);
    this.from = due.length < limit ? 0 : Number(due[due.length - 1]?.sid ?? 0);
    let batches = 0;
    let failed: unknown;
    for (const { sid } of due) {
      try {
        const trimmed = await this.db.transaction(async (tx) => {
          const session = await lockSessionBySidIfFree(tx, Number(sid));
          if (!session) return false;
          const step = await trimBatch(tx, this.deps, session, { policy: policyOf(session, this.defaults) });
          return step.historyStart > session.historyStart;
        });
        if (trimmed) batches++;
      } catch (error) {
        // One session whose state cannot be rebuilt (state_unreadable) must not stop the others' trimming.
        failed ??= error;
      }
    }
    if (failed) throw failed;
    return batches;
  }
}
