import type { Sql } from '../db/client.js';
import { nowPlusMs } from '../db/clock.js';
import { WAKEUP_CHANNEL } from '../wakeups/wakeups.js';

/*
 * Every statement of the activity feature: one current activity per session
 * (session_activity), never history.
 */

export interface ActivityRow {
  sessionSid: number;
  status: string;
  /** Parsed; null when the activity has none. */
  detail: unknown;
  expiresAt: Date | null;
  updatedAt: Date;
  /** Its TTL has passed: it reads as idle. */
  expired: boolean;
}

/** The current activity of each of these sessions that has one. */
export async function selectActivities(pg: Sql, sids: number[]): Promise<ActivityRow[]> {
  // The database's clock decides expiry, so every instance agrees.
  return pg<ActivityRow[]>`
    select session_sid, status, detail, expires_at, updated_at, coalesce(expires_at <= now(), false) as expired
    from session_activity where session_sid = any(${sids}::bigint[])`;
}

/**
 * The session's activity is this one from now, replacing any other (and its
 * announced expiry); `detailJson` is the detail as JSON text, null for none;
 * without `ttlMs` it never expires. Returns it as stored.
 */
export async function replaceActivity(
  pg: Sql,
  sid: number,
  { status, detailJson, ttlMs }: { status: string; detailJson: string | null; ttlMs: number | undefined },
): Promise<ActivityRow> {
  const [row] = await pg<ActivityRow[]>`
    insert into session_activity (session_sid, status, detail, expires_at, expired_sent, updated_at)
    values (${sid}, ${status}, ${detailJson}::json, ${ttlMs === undefined ? pg`null` : nowPlusMs(pg, ttlMs)}, false, now())
    on conflict (session_sid) do update set status = excluded.status, detail = excluded.detail,
      expires_at = excluded.expires_at, expired_sent = false, updated_at = excluded.updated_at
    returning session_sid, status, detail, expires_at, updated_at, coalesce(expires_at <= now(), false) as expired`;
  if (!row) throw new Error('activity upsert returned no row');
  return row;
}

/**
 * Announces up to `batch` activities whose TTL passed, on the wakeup channel, as each
 * session's streams show an expired activity (`{status: "idle", expired: true,
 * updated_at}`); returns how many. Every instance runs this; each expiry is
 * claimed by exactly one of them (SKIP LOCKED plus the `expired_sent` flag),
 * so it is announced once.
 */
export async function announceExpiredActivities(pg: Sql, batch = 500): Promise<number> {
  const [row] = await pg<{ n: number }[]>`
    with due as (
      select session_sid from session_activity
      where not expired_sent and expires_at <= now()
      order by expires_at
      limit ${batch}
      for update skip locked
    ), claimed as (
      update session_activity a set expired_sent = true
      from due where a.session_sid = due.session_sid
      returning a.session_sid, a.updated_at
    )
    select count(pg_notify(${WAKEUP_CHANNEL}, json_build_object(
      'kind', 'activity',
      'session_id', s.id,
      'sid', s.sid,
      'head', s.last_seq,
      'activity', json_build_object(
        'status', 'idle',
        'expired', true,
        'updated_at', to_char(c.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )
    )::text))::int as n
    from claimed c join sessions s on s.sid = c.session_sid`;
  return row?.n ?? 0;
}
