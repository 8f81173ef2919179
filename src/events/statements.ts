import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';

/* Every statement on the events table: the append every write sends, and the page every read sends. */

export interface AppendStatement {
  sid: number;
  /** The seq of the first event: the locked row's last_seq + 1. */
  firstSeq: number;
  events: { type: string; dataJson: string; version?: number }[];
  /** The session row's columns the write changes with it, by column name: last_seq at least. */
  set: Record<string, number>;
}

/**
 * Sends, without waiting for its answer, the one statement that appends the
 * events and moves the session row's head (its `set` columns, `updated_at`).
 * One statement rather than two: each costs a round of protocol messages on
 * both ends, and this is every write's path. It also marks the session due
 * for the retention sweep (`trim_due_at`), unless it is due already or
 * parked: the value then stays as it was, so the row update can stay a HOT
 * update. No NOTIFY: the wakeup is published after the commit
 * (`wakeups/publisher.ts` says why).
 */
export function sendAppend(pg: Sql, { sid, firstSeq, events, set }: AppendStatement): Promise<unknown> {
  return startQuery(pg`
    with head as (
      update sessions set ${pg(set)}, updated_at = now(),
        trim_due_at = case when trim_due_at = 'infinity' then trim_due_at else least(trim_due_at, now()) end
      where sid = ${sid}
    )
    insert into events (session_sid, seq, type, data, version)
    select ${sid}, e.seq, e.type, e.data::json, e.version
    from unnest(
      ${events.map((_, i) => firstSeq + i)}::bigint[],
      ${events.map((e) => e.type)}::text[],
      ${events.map((e) => e.dataJson)}::text[],
      ${events.map((e) => e.version ?? null)}::bigint[]
    ) as e(seq, type, data, version)`);
}

/** An event as stored; `data` is its JSON text, compact and single-line as we wrote it. */
export interface EventRow {
  seq: number;
  type: string;
  data: string;
  version: number | null;
  createdAt: Date;
}

/** One row of `readEventPage`: the session's history start, and an event or (past the budget) only its seq, or nothing. */
export type EventPageRow = Omit<EventRow, 'seq' | 'data'> & { historyStart: number; seq: number | null; data: string | null };

/**
 * Durable events with seq > after, oldest first, optionally of one type: at
 * most `limit` rows, with the data of those whose running size (data, type
 * and `rowOverheadBytes` each) is within `maxBytes`, and of the first row
 * always, however large. Each row carries the session's `history_start` as
 * of the same read; no rows at all means the session is gone, and one row
 * with a null seq that there is nothing after the cursor.
 *
 * Why a window sum and not a walk: a recursive walk that stops at the budget
 * costs an index descent per row, and replayed history five times slower than
 * a plain page read (bench scenario 5). The window costs one index scan of at
 * most `limit` rows; past the cut it reads only the row headers, never the
 * (toasted) data, because the size is a column of its own.
 */
export function readEventPage(
  pg: Sql,
  sid: number,
  page: { after: number; limit: number; type?: string; maxBytes: number; rowOverheadBytes: number },
): Promise<EventPageRow[]> {
  const { after, limit, type, maxBytes, rowOverheadBytes } = page;
  return pg<EventPageRow[]>`
    select h.history_start, p.seq, p.type, case when p.n = 1 or p.upto <= ${maxBytes} then p.data::text end as data,
      p.version, p.created_at
    from sessions h left join (
      select seq, type, data, version, created_at, row_number() over w as n,
        sum(data_bytes + octet_length(type) + ${rowOverheadBytes}) over w as upto
      from events
      where session_sid = ${sid} and seq > ${after} ${type === undefined ? pg`` : pg`and type = ${type}`}
      window w as (order by seq)
      order by seq
      limit ${limit}
    ) p on true
    where h.sid = ${sid}
    order by p.seq`;
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** An event as an export file carries it (history/export-format.ts). */
export interface ImportedEvent {
  seq: number;
  type: string;
  version: number | null;
  created_at: string;
}

/** Events as the file has them, `text` their data as JSON text; data_bytes is generated from data, as for every append. */
export async function insertImportedEvents(pg: Sql, sid: number, rows: (ImportedEvent & { text: string })[]): Promise<void> {
  await pg`
    insert into events (session_sid, seq, type, data, version, created_at)
    select ${sid}, e.seq, e.type, e.data::json, e.version, e.created_at::timestamptz
    from unnest(${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.type)}::text[], ${rows.map((r) => r.text)}::text[],
      ${rows.map((r) => r.version)}::bigint[], ${rows.map((r) => r.created_at)}::text[])
      as e(seq, type, data, version, created_at)`;
}
