/**
 * What the session view says, and decides, apart from its state and
 * history: the record's fields, the lease, the history's paging and its
 * status line, a binary state in words, live text, and which activity is a
 * change. No DOM: session.ts draws it.
 */
import type { DurableEvent, Session } from '../../client/src/types.js';
import { base64Bytes, jsonText, relative } from './format.js';
import { plainWords } from './status.js';

/** Running text of live fragments kept on screen (the tail). */
export const RUNNING_TEXT_CHARS = 50_000;

/** A field of the record: text, a link to another session, or a time. */
export type Field = { text: string | number } | { session: string } | { time: string };

/** The record's fields in order, term and value; what a session has none of reads `—` (an expiry, `never`). */
export function recordFields(session: Session): [string, Field][] {
  return [
    ['parent', session.parent_id ? { session: session.parent_id } : { text: '—' }],
    ['encoding', { text: session.encoding }],
    ['schema version', { text: session.schema_version ?? '—' }],
    ['version', { text: session.version }],
    ['last seq', { text: session.last_seq }],
    ['messages', { text: session.message_count }],
    ['first user message', { text: session.first_user_message ?? '—' }],
    ['created', { time: session.created_at }],
    ['updated', { time: session.updated_at }],
    ['expires', session.expires_at ? { time: session.expires_at } : { text: 'never' }],
  ];
}

export const NO_LEASE = 'No lease: any writer may write.';

/** The lease in words around its owner and expiry: `Held by <owner> (fencing token 3), expires <time> (in 12 s)`. */
export function leaseWords(lease: { owner: string; fencing_token: number; expires_at: string }, now = Date.now()): { token: string; expiry: string } {
  return { token: ` (fencing token ${lease.fencing_token}), expires `, expiry: ` (${relative(lease.expires_at, now)})` };
}

/**
 * Events in (after, upTo], in seq order, read page by page: a page ends
 * early at the server's byte bound, so it reads on until there (or until a
 * page comes back empty). Undefined when `stopped` says the view closed
 * meanwhile.
 */
export async function readRange(
  after: number,
  upTo: number,
  page: (after: number, limit: number) => Promise<{ events: DurableEvent[]; last_seq: number }>,
  stopped: () => boolean = () => false,
): Promise<DurableEvent[] | undefined> {
  const events: DurableEvent[] = [];
  let cursor = after;
  while (cursor < upTo) {
    const read = await page(cursor, upTo - cursor);
    if (stopped()) return undefined;
    events.push(...read.events.filter((event) => event.seq <= upTo));
    if (read.events.length === 0) break;
    cursor = read.last_seq;
  }
  return events;
}

/** The oldest seq shown after the first page (read up to `head`): its first event's, or past the head when it had none (1 for an empty session). */
export function oldestAfterFirstPage(events: readonly DurableEvent[], head: number): number {
  return events[0]?.seq ?? head + 1;
}

/** Under the history: whether it is all shown, else where it starts (and "Load older" shows). */
export function historyStatus(oldestShown: number | undefined): { text: string; atStart: boolean } {
  const atStart = (oldestShown ?? 1) <= 1;
  return { text: atStart ? 'Start of the history: every event is shown.' : `Showing from seq ${oldestShown}.`, atStart };
}

/** A binary state in words: its size and deltas (the worker's own format has no tree). */
export function binaryState(answer: { mode: string; snapshot_base64?: unknown; deltas?: unknown[] | null }): string {
  if (answer.mode === 'new') return 'No state yet (version 0).';
  const size = base64Bytes(String(answer.snapshot_base64 ?? ''));
  const deltas = (answer.deltas ?? []).length;
  return `Binary state: a snapshot of ${size} bytes and ${deltas} delta(s) after it, in the worker's own format (shown by version only; it follows state events).`;
}

/** The state panel's line, from the state mirror's snapshot: loading (and why not yet), or its status; with a problem shown instead of an empty state that could not load. */
export function stateLine(
  snapshot: { status: string; error?: unknown; version: number; state: unknown },
  session?: string,
): { loading: string } | { status: string; problem: string | undefined } {
  if (snapshot.status === 'loading') return { loading: snapshot.error ? `cannot load the state: ${plainWords(snapshot.error, session)}` : 'loading…' };
  return {
    status: snapshot.error ? `${snapshot.status}: ${plainWords(snapshot.error, session)}` : snapshot.status,
    problem: snapshot.error && snapshot.version === 0 && snapshot.state === null ? plainWords(snapshot.error, session) : undefined,
  };
}

/** A live event's text fragment (`data` a string, or `data.text`), or undefined for any other live event. */
export function liveText(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  const text = (data as { text?: unknown } | null | undefined)?.text;
  return typeof text === 'string' ? text : undefined;
}

/** The running text with `text` added: its tail, at most RUNNING_TEXT_CHARS. */
export function runningText(current: string, text: string): string {
  return (current + text).slice(-RUNNING_TEXT_CHARS);
}

export interface ActivitySeen {
  status: string;
  /** Its detail as text (empty for none). */
  detail: string;
  expired: boolean;
  /** Whether it goes in the log of changes. */
  change: boolean;
  /** Whether its status differs from the one before (live text starts a new paragraph). */
  newStatus: boolean;
}

/**
 * Which activity is a change. The first activity of each connection (it
 * carries `cursor`) is the current value, not a change: the page's load
 * shows it without logging it, and a reconnect logs it only when it differs
 * from the last one seen (a change made while the connection was down).
 */
export class Activities {
  private last: string | undefined;
  private lastStatus: string | undefined;

  see(activity: { status?: string; detail?: unknown; expired?: boolean; cursor?: number }): ActivitySeen {
    const { status = 'idle', detail, expired } = activity;
    // No detail is jsonText's empty text.
    const detailText = typeof detail === 'string' ? detail : jsonText(detail, 2000);
    const isExpired = expired === true;
    const key = JSON.stringify([status, detailText, isExpired]);
    const change = activity.cursor === undefined ? true : this.last !== undefined && key !== this.last;
    const newStatus = this.lastStatus !== undefined && status !== this.lastStatus;
    this.last = key;
    this.lastStatus = status;
    return { status, detail: detailText, expired: isExpired, change, newStatus };
  }
}
