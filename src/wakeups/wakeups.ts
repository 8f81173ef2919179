/**
 * Wakeups: the one LISTEN/NOTIFY channel, what travels on it, how it is
 * encoded and how much it carries. Writers `notify()`; the stream side's LISTEN
 * connection (`stream/listen-connection.ts`) decodes.
 *
 * What travels on the one LISTEN/NOTIFY channel. A wakeup says only "session X
 * committed up to seq N": listeners read the rows themselves. Live-only
 * signals (live events, activity) have no rows, so they ride in the payload,
 * with the session's durable head at publish time so receivers can hold them
 * until that history is delivered.
 */
import type { ActivityView } from '../activity/view.js';
import { type Sql } from '../db/client.js';
import { PayloadTooLarge } from '../errors.js';
import { sendNotification } from '../db/statements.js';

/** The one channel every instance LISTENs on. */
export const WAKEUP_CHANNEL = 'session_sync';

/**
 * The most a NOTIFY payload can carry: Postgres refuses one of 8000 bytes or
 * more (in the server encoding, UTF-8 here). Every live-only limit follows
 * from it: a live event or an activity travels whole, JSON-escaped, in one.
 */
export const MAX_WAKEUP_BYTES = 7999;

/**
 * `sid` names the incarnation: an id deleted and created again is another
 * session, and a stream of the old one must never take the new one's signals.
 */
export type SessionNotification =
  | { kind: 'append'; session_id: string; seq: number }
  | { kind: 'live'; session_id: string; sid: number; head: number; type: string; data: unknown; from?: string }
  | { kind: 'activity'; session_id: string; sid: number; head: number; activity: ActivityView; from?: string }
  | { kind: 'created'; session_id: string }
  | { kind: 'deleted'; session_id: string; sid: number; reason?: 'expired' };

/**
 * What travels on the channel: a session's signal, or the notice that an
 * instance lost wakeups of appends (a failed publication, a full queue) and
 * publishes again. Streams find such rows by their head poll; a changes feed
 * has no cursor to poll from, so every feed is told to sweep.
 */
export type Notification = SessionNotification | { kind: 'missed' };

/**
 * Live-only signals (live events, activity) carry the id of the instance that
 * published them (`from`), which has already handed them to its own streams
 * (`WakeupPublisher`'s `local`) and skips them when its LISTEN brings them back.
 * Every id has this many characters, so the bytes `from` adds are known
 * before the publishing instance is (an activity is encoded in its
 * transaction) and reserved by `encodeWithinWakeup`.
 */
export const INSTANCE_ID_LENGTH = 8;
const FROM_FIELD_BYTES = Buffer.byteLength(`"from":"${'x'.repeat(INSTANCE_ID_LENGTH)}",`);

/** `payload`, an encoded live event or activity, with the publishing instance's id added. */
export function stampFrom(payload: string, instanceId: string): string {
  if (instanceId.length !== INSTANCE_ID_LENGTH || !/^[\w-]+$/.test(instanceId)) {
    throw new Error(`an instance id is ${INSTANCE_ID_LENGTH} URL-safe characters; got "${instanceId}"`);
  }
  return `{"from":"${instanceId}",${payload.slice(1)}`;
}

/** Payloads of wakeups keep the two fields the wire format promises (session id and seq). */
export function encodeNotification(notification: Notification): string {
  if (notification.kind === 'append') return JSON.stringify({ session_id: notification.session_id, seq: notification.seq });
  return JSON.stringify(notification);
}

const CARRIED: Record<Notification['kind'], string> = {
  append: 'a wakeup',
  live: 'the live event',
  activity: 'the activity',
  created: 'the creation notice',
  deleted: 'the deletion notice',
  missed: 'the notice of missed wakeups',
};

/**
 * `encodeNotification`, refused with 413 when the payload (the session id,
 * the type, the data and the envelope, JSON-escaped, in UTF-8) is more than a
 * wakeup carries, so an oversized one is never a database error.
 */
export function encodeWithinWakeup(notification: Notification): string {
  const payload = encodeNotification(notification);
  // The signals that carry `from` count it now, while the instance that adds it may not be known.
  // Stryker disable next-line ConditionalExpression: the other kinds that come here (created, deleted) are a session id and a few fields, never near the bound
  const bytes = Buffer.byteLength(payload) + (notification.kind === 'live' || notification.kind === 'activity' ? FROM_FIELD_BYTES : 0);
  if (bytes > MAX_WAKEUP_BYTES) {
    throw new PayloadTooLarge(
      `${CARRIED[notification.kind]} travels to other instances as ${bytes} bytes (session id, type, data and envelope, ` +
        `JSON-escaped); a Postgres NOTIFY carries at most ${MAX_WAKEUP_BYTES}`,
      { limit_bytes: MAX_WAKEUP_BYTES, size: bytes },
    );
  }
  return payload;
}

/**
 * The notifications in one NOTIFY payload: one notification, or an array of
 * them (a publisher packs what it has into as few payloads as fit). A payload
 * that is neither, or an array with any malformed entry, yields nothing.
 */
export function decodeNotifications(payload: string): Notification[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch /* Stryker disable next-line BlockStatement: an unparsed payload leaves value undefined, which the loop below refuses alike */ {
    return undefined;
  }
  const entries = Array.isArray(value) ? value : [value];
  const notifications: Notification[] = [];
  for (const entry of entries) {
    const notification = toNotification(entry);
    if (!notification) return undefined;
    notifications.push(notification);
  }
  return notifications;
}

function toNotification(value: unknown): Notification | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.kind === 'missed') return { kind: 'missed' };
  if (typeof record.session_id !== 'string') return undefined;
  if (record.kind === undefined && typeof record.seq === 'number') {
    return { kind: 'append', session_id: record.session_id, seq: record.seq };
  }
  if (record.kind === 'live' || record.kind === 'activity' || record.kind === 'created' || record.kind === 'deleted') {
    return record as unknown as Notification;
  }
  return undefined;
}

/**
 * Sends a notification when the transaction commits (never if it rolls back).
 * One too large for a wakeup is refused (413) before it reaches Postgres.
 */
export async function notify(db: Sql, notification: Notification): Promise<void> {
  await sendNotification(db, WAKEUP_CHANNEL, encodeWithinWakeup(notification));
}
