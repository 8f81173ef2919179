import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { events } from '../db/schema.js';

export interface EventView {
  seq: number;
  type: string;
  data: unknown;
  version?: number;
  created_at: string;
}

export interface EventPage {
  events: EventView[];
  hasMore: boolean;
}

/** Durable events with seq > after, oldest first, optionally of one type. */
export async function readEvents(
  db: DbOrTx,
  sid: number,
  { after, limit, type }: { after: number; limit: number; type?: string },
): Promise<EventPage> {
  const rows = await db
    .select({
      seq: events.seq,
      type: events.type,
      data: sql<string>`${events.data}::text`,
      version: events.version,
      createdAt: events.createdAt,
    })
    .from(events)
    .where(and(eq(events.sessionSid, sid), gt(events.seq, after), type === undefined ? undefined : eq(events.type, type)))
    .orderBy(asc(events.seq))
    .limit(limit + 1);
  const hasMore = rows.length > limit;
  return {
    hasMore,
    events: rows.slice(0, limit).map((row) => ({
      seq: row.seq,
      type: row.type,
      data: JSON.parse(row.data) as unknown,
      ...(row.version === null ? {} : { version: row.version }),
      created_at: row.createdAt.toISOString(),
    })),
  };
}
