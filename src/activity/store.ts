import { sql } from 'drizzle-orm';
import type { DbOrTx, Tx } from '../db/client.js';
import { nowPlus } from '../db/clock.js';
import { sessionActivity } from '../db/schema.js';
import { notify, WAKEUP_CHANNEL } from '../wakeups/wakeups.js';
import { findSession, type SessionRow } from '../sessions/repository.js';
import { type ActivityView, IDLE } from './view.js';

interface ActivityRow {
  sessionSid: number;
  status: string;
  detail: unknown;
  expiresAt: Date | null;
  updatedAt: Date;
  expired: boolean;
}

const columns = {
  sessionSid: sessionActivity.sessionSid,
  status: sessionActivity.status,
  detail: sessionActivity.detail,
  expiresAt: sessionActivity.expiresAt,
  updatedAt: sessionActivity.updatedAt,
  // The database's clock decides expiry, so every instance agrees.
  expired: sql<boolean>`coalesce(${sessionActivity.expiresAt} <= now(), false)`,
};

function toView(row: ActivityRow | undefined): ActivityView {
  if (!row) return IDLE;
  if (row.expired) return { status: 'idle', expired: true, updated_at: row.updatedAt.toISOString() };
  return {
    status: row.status,
    ...(row.detail === null ? {} : { detail: row.detail }),
    updated_at: row.updatedAt.toISOString(),
    ...(row.expiresAt ? { expires_at: row.expiresAt.toISOString() } : {}),
  };
}

export async function readActivities(db: DbOrTx, sids: number[]): Promise<Map<number, ActivityView>> {
  if (sids.length === 0) return new Map();
  const rows = await db.select(columns).from(sessionActivity).where(sql`${sessionActivity.sessionSid} = any(${sql.param(sids)}::bigint[])`);
  return new Map(rows.map((row) => [row.sessionSid, toView(row)]));
}

export async function readActivity(db: DbOrTx, sid: number): Promise<ActivityView> {
  return (await readActivities(db, [sid])).get(sid) ?? IDLE;
}

export interface ActivityInput {
  status: string;
  detail?: unknown;
  ttl_ms?: number;
}

/** Sets the current activity and tells every instance's streams, in one transaction. */
export async function setActivity(tx: Tx, session: SessionRow, input: ActivityInput): Promise<ActivityView> {
  const expiresAt = input.ttl_ms === undefined ? null : nowPlus(input.ttl_ms);
  const values = {
    sessionSid: session.sid,
    status: input.status,
    detail: input.detail === undefined ? null : sql`${JSON.stringify(input.detail)}::json`,
    expiresAt,
    expiredSent: false,
    updatedAt: sql`now()`,
  };
  const [row] = await tx
    .insert(sessionActivity)
    .values(values)
    .onConflictDoUpdate({ target: sessionActivity.sessionSid, set: values })
    .returning(columns);
  const activity = toView(row);
  await notify(tx, { kind: 'activity', session_id: session.id, sid: session.sid, head: session.lastSeq, activity });
  return activity;
}

/**
 * Announces activities whose TTL passed. Every instance runs this; each expiry
 * is claimed by exactly one of them (SKIP LOCKED plus the `expired_sent` flag),
 * so it is announced once. Returns how many were announced.
 */
export async function announceExpiredActivity(db: DbOrTx, batch = 500): Promise<number> {
  const expired = { status: 'idle', expired: true } as const;
  const rows = await db.execute<{ n: number }>(sql`
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
        'status', ${expired.status}::text,
        'expired', true,
        'updated_at', to_char(c.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      )
    )::text))::int as n
    from claimed c join sessions s on s.sid = c.session_sid`);
  return rows[0]?.n ?? 0;
}

/** Head and current activity, as the stream hub re-announces them after a reconnect. */
export async function readHeadAndActivity(
  db: DbOrTx,
  id: string,
): Promise<{ sid: number; head: number; activity: ActivityView } | undefined> {
  const row = await findSession(db, id);
  if (!row) return undefined;
  return { sid: row.sid, head: row.lastSeq, activity: await readActivity(db, row.sid) };
}
