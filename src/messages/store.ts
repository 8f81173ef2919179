import { uuidv7 } from 'uuidv7';
import { type Sql, type Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import type { NewEvent } from '../events/append.js';
import { VersionConflict } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import {
  archiveBefore,
  archiveKind,
  type ConversationCounters,
  listMessageRows,
  type MessageRow,
  type Role,
  sendConversationVersion,
  sendMessagesInsert,
} from './statements.js';
import type { MessageView } from './view.js';
import { EVENT } from 'session-sync/client/protocol';

export type { Role } from './statements.js';

export interface MessageInput {
  role: Role;
  kind?: string;
  /** The content's JSON text, already size-checked. */
  contentJson: string;
}


function toView(row: MessageRow): MessageView {
  return {
    id: row.id,
    seq: row.seq,
    role: row.role,
    kind: row.kind,
    content: JSON.parse(row.content) as unknown,
    created_at: row.createdAt.toISOString(),
    ...(row.archivedAt ? { archived_at: row.archivedAt.toISOString() } : {}),
  };
}

/** A message.appended event carries the message itself; content is spliced in as stored. */
function appendedEvent(row: MessageRow): NewEvent {
  const { content: _placeholder, ...rest } = toView({ ...row, content: 'null' });
  const head = JSON.stringify(rest);
  return { type: EVENT.messageAppended, dataJson: `${head.slice(0, -1)},"content":${row.content}}` };
}

export function checkExpectedVersion(session: SessionRow, expected: number | undefined): void {
  if (expected !== undefined && expected !== session.messageVersion) {
    throw new VersionConflict(expected, session.messageVersion, 'the conversation');
  }
}

/** Bumps the conversation version by one, with the counters the change moved: sent, not awaited. */
function bumpConversation(tx: Tx, session: SessionRow, counters: ConversationCounters): { version: number; pending: Promise<unknown> } {
  const version = session.messageVersion + 1;
  return { version, pending: sendConversationVersion(tx, session.sid, version, counters) };
}

/**
 * Stores the inputs as the messages after the session's last one: sent, not
 * awaited. The rows are what the insert stores, every value chosen here but
 * `created_at`, which is the transaction's clock (`session.now`).
 */
function storeInputs(tx: Tx, session: SessionRow, inputs: MessageInput[]): { rows: MessageRow[]; pending: Promise<unknown> } {
  const rows: MessageRow[] = inputs.map((input, i) => ({
    id: uuidv7(),
    seq: session.messageSeq + i + 1,
    role: input.role,
    kind: input.kind ?? 'message',
    content: input.contentJson,
    archivedAt: null,
    createdAt: session.now,
  }));
  const pending = sendMessagesInsert(
    tx,
    session.sid,
    rows.map(({ id, seq, role, kind, content }) => ({ id, seq, role, kind, contentJson: content })),
  );
  return { rows, pending };
}

/** A conversation change: the events to append, the new version, and its statements, sent to ride with the COMMIT. */
export interface Change {
  events: NewEvent[];
  version: number;
  pending: Promise<unknown>;
}

/** How long the session list's `first_user_message` may be, in characters (code points). */
export const FIRST_USER_MESSAGE_CHARS = 200;

/**
 * What a session picker shows of the first user message: its text if the
 * content is a string, else its JSON text; cut to FIRST_USER_MESSAGE_CHARS.
 * Kept on the session row when the message is appended, so a list of sessions
 * never reads their messages.
 */
export function firstUserMessagePreview(inputs: MessageInput[]): string | undefined {
  const first = inputs.find((input) => input.role === 'user');
  if (!first) return undefined;
  const content: unknown = JSON.parse(first.contentJson);
  const text = typeof content === 'string' ? content : first.contentJson;
  return Array.from(text).slice(0, FIRST_USER_MESSAGE_CHARS).join('');
}

export function appendMessages(tx: Tx, session: SessionRow, inputs: MessageInput[]): Change & { messages: MessageView[] } {
  const preview = session.firstUserMessage === null ? firstUserMessagePreview(inputs) : undefined;
  const stored = storeInputs(tx, session, inputs);
  const bumped = bumpConversation(tx, session, {
    messageSeq: session.messageSeq + inputs.length,
    messageCount: session.messageCount + inputs.length,
    ...(preview === undefined ? {} : { firstUserMessage: preview }),
  });
  return {
    messages: stored.rows.map(toView),
    events: stored.rows.map(appendedEvent),
    version: bumped.version,
    pending: inFlight([stored.pending, bumped.pending]),
  };
}

const ascending = (seqs: number[]): number[] => seqs.sort((a, b) => a - b);

/** The singleton of a kind: earlier active messages of the kind are archived, the new one appended. */
export async function replaceKind(
  tx: Tx,
  session: SessionRow,
  input: MessageInput & { kind: string },
): Promise<Change & { message: MessageView; archived_seqs: number[] }> {
  const archivedSeqs = ascending(await archiveKind(tx, session.sid, input.kind));
  const stored = storeInputs(tx, session, [input]);
  const row = stored.rows[0]!;
  const bumped = bumpConversation(tx, session, {
    messageSeq: session.messageSeq + 1,
    messageCount: session.messageCount - archivedSeqs.length + 1,
    archivedCount: session.archivedCount + archivedSeqs.length,
  });
  const events: NewEvent[] = [];
  if (archivedSeqs.length) {
    events.push({ type: EVENT.messageArchived, dataJson: JSON.stringify({ kind: input.kind, seqs: archivedSeqs }) });
  }
  events.push(appendedEvent(row));
  return { message: toView(row), archived_seqs: archivedSeqs, events, version: bumped.version, pending: inFlight([stored.pending, bumped.pending]) };
}

/** Archives active messages before `beforeSeq`, except those of protected kinds. */
export async function trimMessages(
  tx: Tx,
  session: SessionRow,
  beforeSeq: number,
  protectedKinds: string[],
): Promise<Change & { trimmed: number }> {
  const seqs = ascending(await archiveBefore(tx, session.sid, beforeSeq, protectedKinds));
  const { version, pending } = bumpConversation(tx, session, {
    messageCount: session.messageCount - seqs.length,
    archivedCount: session.archivedCount + seqs.length,
  });
  const events = [
    {
      type: EVENT.messageTrimmed,
      dataJson: JSON.stringify({ before_seq: beforeSeq, protected_kinds: protectedKinds, seqs }),
    },
  ];
  return { trimmed: seqs.length, events, version, pending };
}

export interface MessageQuery {
  role?: Role;
  kind?: string;
  afterSeq?: number;
  beforeSeq?: number;
  includeArchived: boolean;
  order: 'asc' | 'desc';
  limit: number;
  /** Keyset position: the last seq of the previous page. */
  from?: number;
}

export async function listMessages(pg: Sql, sid: number, q: MessageQuery): Promise<{ messages: MessageView[]; last: number | undefined }> {
  // A keyset position narrows the bound on its side of the order.
  const from = (order: MessageQuery['order']) => (q.from !== undefined && q.order === order ? [q.from] : []);
  const rows = await listMessageRows(pg, sid, {
    role: q.role,
    kind: q.kind,
    above: Math.max(q.afterSeq ?? 0, ...from('asc')),
    below: Math.min(q.beforeSeq ?? Number.MAX_SAFE_INTEGER, ...from('desc')),
    includeArchived: q.includeArchived,
    order: q.order,
    limit: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return { messages: page.map(toView), last: rows.length > q.limit ? page[page.length - 1]?.seq : undefined };
}
