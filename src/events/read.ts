import { sql } from 'drizzle-orm';
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

/** What one row costs beyond its data and type, in a page or a stream frame (seq, version, timestamp, framing). */
export const ROW_OVERHEAD_BYTES = 128;

/** The most a page of `pageBytes` can hold: one event may be larger than a page and then comes alone. */
export function pageBytesFor(pageBytes: number, maxEventBytes: number): number {
  // The type (at most 128 characters, ASCII) and the overhead come with the data.
  return Math.max(pageBytes, maxEventBytes + 128 + ROW_OVERHEAD_BYTES);
}

/** A page of rows, bounded by a count and by bytes. */
export interface EventRowPage {
  rows: EventRow[];
  /** The byte budget ended the page before `limit` rows: more rows follow. */
  cut: boolean;
  /**
   * The session's `history_start` as of the same read: when it is past the
   * cursor, events after the cursor were trimmed and the page does not follow
   * on from it. Undefined when the session is gone.
   */
  historyStart?: number;
}

type RawEventRow = Record<'history_start' | 'seq' | 'type' | 'data' | 'version' | 'created_at', unknown>;

/**
 * Durable events with seq > after, oldest first, optionally of one type: at
 * most `limit` rows and at most `maxBytes` of them (data, type and
 * `ROW_OVERHEAD_BYTES` each), except that the first row always comes, however
 * large, so a page always moves on. The page is walked row by row in
 * Postgres, adding up sizes, and the walk stops at the first row past the
 * budget: that row comes back without its data, only to say the budget cut
 * the page, and no row past it is read at all.
 */
export async function readEventRows(
  db: DbOrTx,
  sid: number,
  { after, limit, type, maxBytes }: { after: number; limit: number; type?: string; maxBytes: number },
): Promise<EventRowPage> {
  const ofType = type === undefined ? sql`` : sql`and type = ${type}`;
  const size = (e: string) => sql.raw(`octet_length(${e}.data::text) + octet_length(${e}.type) + ${ROW_OVERHEAD_BYTES}`);
  const raw = await db.execute<RawEventRow>(sql`
    with recursive page (seq, upto, n) as (
      (select e.seq, ${size('e')}, 1 from events e
       where e.session_sid = ${sid} and e.seq > ${after} ${ofType} order by e.seq limit 1)
      union all
      (select e.seq, p.upto + ${size('e')}, p.n + 1
       from page p cross join lateral (
         select seq, type, data from events
         where session_sid = ${sid} and seq > p.seq ${ofType} order by seq limit 1
       ) e
       where p.n < ${limit} and (p.upto < ${maxBytes} or p.n = 1))
    )
    select h.history_start, e.seq, e.type, case when p.n = 1 or p.upto <= ${maxBytes} then e.data::text end as data,
      e.version, e.created_at
    from sessions h left join (page p cross join lateral (
      select * from events where session_sid = ${sid} and seq = p.seq) e) on true
    where h.sid = ${sid}
    order by p.n`);
  const rows: EventRow[] = [];
  // One snapshot for the rows and the session's history_start (a single statement).
  const historyStart = raw[0] === undefined ? undefined : Number(raw[0].history_start);
  for (const row of raw) {
    if (row.seq === null) break;
    if (row.data === null) return { rows, cut: true, historyStart };
    rows.push({
      seq: Number(row.seq),
      type: row.type as string,
      data: row.data as string,
      version: row.version === null ? null : Number(row.version),
      // The column's own mapper: the driver hands timestamps over as text.
      createdAt: events.createdAt.mapFromDriverValue(row.created_at as string) as Date,
    });
  }
  return { rows, cut: false, historyStart };
}

/**
 * The event as one line of JSON, spliced from the stored text rather than
 * parsed and re-serialised: replaying history costs little more than reading it.
 */
export function eventJson(row: EventRow): string {
  const version = row.version === null ? '' : `,"version":${row.version}`;
  return `{"seq":${row.seq},"type":${JSON.stringify(row.type)},"data":${row.data}${version},"created_at":"${row.createdAt.toISOString()}"}`;
}

export interface EventPage {
  /** The events as JSON text, spliced from the stored text (see `eventJson`). */
  eventsJson: string[];
  lastSeq: number | undefined;
  hasMore: boolean;
}

export async function readEvents(
  db: DbOrTx,
  sid: number,
  query: { after: number; limit: number; type?: string; maxBytes: number },
): Promise<EventPage> {
  const { rows, cut } = await readEventRows(db, sid, { ...query, limit: query.limit + 1 });
  const page = rows.slice(0, query.limit);
  return { hasMore: cut || rows.length > query.limit, eventsJson: page.map(eventJson), lastSeq: page[page.length - 1]?.seq };
}
