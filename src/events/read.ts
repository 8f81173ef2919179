import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client.js';
import { events } from '../db/schema.js';

/** An event as stored; `data` is its JSON text, compact and single-line as we wrote it. */
export interface EventRow {
  seq: number;
  type: string;
  data: string;
  version: number | null;
  createdAt: Date;
}

export interface EventView {
  seq: number;
  type: string;
  data: unknown;
  version?: number;
  created_at: string;
}

/** Durable events with seq > after, oldest first, at most `limit`, optionally of one type. */
export async function readEventRows(
  db: DbOrTx,
  sid: number,
  { after, limit, type }: { after: number; limit: number; type?: string },
): Promise<EventRow[]> {
  return db
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
    .limit(limit);
}

/**
 * The event as one line of JSON, spliced from the stored text rather than
 * parsed and re-serialised: replaying history costs little more than reading it.
 */
export function eventJson(row: EventRow): string {
  const version = row.version === null ? '' : `,"version":${row.version}`;
  return `{"seq":${row.seq},"type":${JSON.stringify(row.type)},"data":${row.data}${version},"created_at":"${row.createdAt.toISOString()}"}`;
}

export function toEventView(row: EventRow): EventView {
  return {
    seq: row.seq,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    ...(row.version === null ? {} : { version: row.version }),
    created_at: row.createdAt.toISOString(),
  };
}

export interface EventPage {
  events: EventView[];
  hasMore: boolean;
}

export async function readEvents(
  db: DbOrTx,
  sid: number,
  query: { after: number; limit: number; type?: string },
): Promise<EventPage> {
  const rows = await readEventRows(db, sid, { ...query, limit: query.limit + 1 });
  return { hasMore: rows.length > query.limit, events: rows.slice(0, query.limit).map(toEventView) };
}
