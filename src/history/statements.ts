import type { Sql } from '../db/client.js';

/*
 * The statements of history's lifecycle: trimming (by request and by the
 * retention sweep), the expiry sweep, and reading a past version's state
 * event. Ages and expiries are judged by Postgres's clock.
 */

// ---- trimming

/** The first event after `after` (up to `upTo`) younger than `maxAgeMs`: where an age bound stops trimming. */
export async function findFirstYoungEvent(pg: Sql, sid: number, after: number, upTo: number, maxAgeMs: number): Promise<number | undefined> {
  const [row] = await pg<{ seq: number }[]>`
    select seq from events
    where session_sid = ${sid} and seq > ${after} and seq <= ${upTo}
      and created_at >= now() - make_interval(secs => ${maxAgeMs / 1000}::float8)
    order by seq limit 1`;
  return row?.seq;
}

/**
 * The version of the newest state event in (after, seq], and the oldest
 * version any kept state event has (the first found on the (session, version)
 * index, since trimmed state events are gone).
 */
export async function readVersionsAround(
  pg: Sql,
  sid: number,
  after: number,
  seq: number,
): Promise<{ at: number | null; oldest: number | null }> {
  const [row] = await pg<{ at: number | null; oldest: number | null }[]>`
    select
      (select version from events where session_sid = ${sid} and version is not null
         and seq > ${after} and seq <= ${seq} order by seq desc limit 1) as at,
      (select min(version) from events where session_sid = ${sid} and version is not null) as oldest`;
  return row ?? { at: null, oldest: null };
}

/** The seq of the state event that made `version`, if it is kept and after `after`. */
export async function findStateEventSeq(pg: Sql, sid: number, version: number, after: number): Promise<number | undefined> {
  const [row] = await pg<{ seq: number }[]>`
    select seq from events
    where session_sid = ${sid} and version = ${version} and type like 'state.%' and seq > ${after}`;
  return row?.seq;
}

/** Stores a checkpoint at `version` unless a snapshot stands there already. */
export async function insertCheckpointIfMissing(
  pg: Sql,
  checkpoint: { sid: number; version: number; schemaVersion: number; bodyJson: string },
): Promise<void> {
  await pg`
    insert into state_snapshots (session_sid, version, schema_version, origin, body)
    values (${checkpoint.sid}, ${checkpoint.version}, ${checkpoint.schemaVersion}, 'checkpoint', ${checkpoint.bodyJson}::json)
    on conflict do nothing`;
}

/** Removes the events in (after, upTo]. */
export async function deleteEventsThrough(pg: Sql, sid: number, after: number, upTo: number): Promise<void> {
  await pg`delete from events where session_sid = ${sid} and seq > ${after} and seq <= ${upTo}`;
}

/**
 * History now starts after `upTo`, and the head's chain at `floor` at the
 * latest (its older base is removed). Its byte count is kept as it was: an
 * overestimate, which at worst brings the next checkpoint sooner.
 */
export async function moveHistoryStart(pg: Sql, sid: number, upTo: number, floor: number): Promise<void> {
  await pg`
    update sessions set history_start = ${upTo},
      base_version = greatest(base_version, ${floor}),
      chain_deltas = version - greatest(base_version, ${floor})
    where sid = ${sid}`;
}

/** Removes the snapshots below `floor`: no kept version rebuilds from them any more. */
export async function deleteSnapshotsBelow(pg: Sql, sid: number, floor: number): Promise<void> {
  await pg`delete from state_snapshots where session_sid = ${sid} and version < ${floor}`;
}

// ---- the retention sweep's schedule (sessions.trim_due_at)

/** No policy applies: the sweep does not look at the session again until a new policy brings it back ('infinity'; writes leave it). */
export async function parkFromRetention(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set trim_due_at = 'infinity' where sid = ${sid}`;
}

/** The sweep looks again when the oldest kept event comes of age (`maxAgeMs`), or, with no age bound, after the next write. */
export async function scheduleRetention(pg: Sql, sid: number, maxAgeMs: number | undefined): Promise<void> {
  await pg`
    update sessions s set trim_due_at = ${
      maxAgeMs === undefined
        ? pg`null`
        : pg`(select e.created_at + make_interval(secs => ${maxAgeMs / 1000}::float8) from events e
               where e.session_sid = s.sid and e.seq > s.history_start order by e.seq limit 1)`
    }
    where sid = ${sid}`;
}

/** A server default that was not set when these sessions were parked applies to them now. */
export async function unparkSessionsWithoutPolicy(pg: Sql): Promise<void> {
  await pg`update sessions set trim_due_at = now() where trim_due_at = 'infinity' and retention is null`;
}

/** The sessions whose look has come, soonest first: an index range, never a scan of the sessions table. */
export async function findSessionsDueForTrim(pg: Sql, limit: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`select sid from sessions where trim_due_at <= now() order by trim_due_at limit ${limit}`;
  return rows.map((row) => row.sid);
}

/** A session that failed to trim is looked at again only after a while, so it cannot hold up the others. */
export async function postponeTrim(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set trim_due_at = now() + interval '1 hour' where sid = ${sid}`;
}

// ---- the expiry sweep (sessions.expiry_check_at)

/** The sessions whose expiry check has come, soonest first, on its index. */
export async function findSessionsDueForExpiry(pg: Sql, limit: number): Promise<number[]> {
  const rows = await pg<{ sid: number }[]>`
    select sid from sessions where expiry_check_at <= now() order by expiry_check_at limit ${limit}`;
  return rows.map((row) => row.sid);
}

/** Whether the session saw no write for its ttl_ms (`expiry_check_at` is only a lower bound: writes move `updated_at`, not it). */
export async function isExpired(pg: Sql, sid: number): Promise<boolean> {
  const [row] = await pg<{ due: boolean | null }[]>`
    select updated_at + ttl_ms * interval '1 millisecond' <= now() as due from sessions where sid = ${sid}`;
  return row?.due === true;
}

/** Written since (or its ttl_ms cleared): the next check is when it could expire next. */
export async function moveExpiryCheck(pg: Sql, sid: number): Promise<void> {
  await pg`update sessions set expiry_check_at = updated_at + ttl_ms * interval '1 millisecond' where sid = ${sid}`;
}
