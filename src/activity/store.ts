import { type Sql, type Tx } from '../db/client.js';
import { wakeAfterCommit } from '../wakeups/publisher.js';
import { type SessionRow } from '../sessions/store.js';
import { findSessionRow } from '../sessions/statements.js';
import { type ActivityRow, replaceActivity, selectActivities } from './statements.js';
import { type ActivityInput, type ActivityView, IDLE } from './view.js';

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

export async function readActivities(db: Sql, sids: number[]): Promise<Map<number, ActivityView>> {
  if (sids.length === 0) return new Map();
  const rows = await selectActivities(db, sids);
  return new Map(rows.map((row) => [row.sessionSid, toView(row)]));
}

export async function readActivity(db: Sql, sid: number): Promise<ActivityView> {
  return (await readActivities(db, [sid])).get(sid) ?? IDLE;
}

/** Sets the current activity; every instance's streams hear of it once the transaction commits. */
export async function setActivity(tx: Tx, session: SessionRow, input: ActivityInput): Promise<ActivityView> {
  const row = await replaceActivity(tx, session.sid, {
    status: input.status,
    detailJson: input.detail === undefined ? null : JSON.stringify(input.detail),
    ttlMs: input.ttl_ms,
  });
  const activity = toView(row);
  wakeAfterCommit(tx, { kind: 'activity', session_id: session.id, sid: session.sid, head: session.lastSeq, activity });
  return activity;
}

/** Head and current activity, as the session tails re-announce them after a reconnect. */
export async function readHeadAndActivity(
  db: Sql,
  id: string,
): Promise<{ sid: number; head: number; activity: ActivityView } | undefined> {
  const row = await findSessionRow(db, id);
  if (!row) return undefined;
  return { sid: row.sid, head: row.lastSeq, activity: await readActivity(db, row.sid) };
}
