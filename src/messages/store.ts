import { uuidv7 } from 'uuidv7';
import { type Sql, type Tx } from '../db/client.js';
import type { NewEvent } from '../events/append.js';
import { VersionConflict } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import {
  archiveBefore,
  archiveKind,
  type ConversationCounters,
  insertMessages,
  listMessageRows,
  type MessageRow,
  type Role,
  setConversationVersion,
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

/** Bumps the conversation version by one, with the counters the change moved. */
async function bumpConversation(tx: Tx, session: SessionRow, counters: ConversationCounters): Promise<number> {
  const version = session.messageVersion + 1;
  await setConversationVersion(tx, session.sid, version, counters);
  return version;
}

/** Stores the inputs as the messages after the session's last one. */
async function storeInputs(tx: Tx, session: SessionRow, inputs: MessageInput[]): Promise<MessageRow[]> {
  return insertMessages(
    tx,
    session.sid,
    inputs.map((input, i) => ({
      seq: session.messageSeq + i + 1,
      id: uuidv7(),
      role: input.role,
      kind: input.kind ?? 'message',
      contentJson: input.contentJson,
    })),
  );
}

export interface Change {
  events: NewEvent[];
  version: number;
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

export async function appendMessages(tx: Tx, session: SessionRow, inputs: MessageInput[]): Promise<Change & { messages: MessageView[] }> {
  const preview = session.firstUserMessage === null ? firstUserMessagePreview(inputs) : undefined;
  // Both sent at once, one round trip for the two (an insert returns a row per input).
  const [rows, version] = await Promise.all([
    storeInputs(tx, session, inputs),
    bumpConversation(tx, session, {
      messageSeq: session.messageSeq + inputs.length,
      messageCount: session.messageCount + inputs.length,
      ...(preview === undefined ? {} : { firstUserMessage: preview }),
    }),
  ]);
  return { messages: rows.map(toView), events: rows.map(appendedEvent), version };
}

const ascending = (seqs: number[]): number[] => seqs.sort((a, b) => a - b);

/** The singleton of a kind: earlier active messages of the kind are archived, the new one appended. */
export async function replaceKind(
  tx: Tx,
  session: SessionRow,
  input: MessageInput & { kind: string },
): Promise<Change & { message: MessageView; archived_seqs: number[] }> {
  const archivedSeqs = ascending(await archiveKind(tx, session.sid, input.kind));
  const [row] = await storeInputs(tx, session, [input]);
  // Stryker disable next-line StringLiteral: unreachable; an INSERT of one row with RETURNING always returns that row (a failed one throws)
  if (!row) throw new Error('replace inserted no row');
  const version = await bumpConversation(tx, session, {
    messageSeq: session.messageSeq + 1,
    messageCount: session.messageCount - archivedSeqs.length + 1,
    archivedCount: session.archivedCount + archivedSeqs.length,
  });
  const events: NewEvent[] = [];
  if (archivedSeqs.length) {
    events.push({ type: EVENT.messageArchived, dataJson: JSON.stringify({ kind: input.kind, seqs: archivedSeqs }) });
  }
  events.push(appendedEvent(row));
  return { message: toView(row), archived_seqs: archivedSeqs, events, version };
}

/** Archives active messages before `beforeSeq`, except those of protected kinds. */
export async function trimMessages(
  tx: Tx,
  session: SessionRow,
  beforeSeq: number,
  protectedKinds: string[],
): Promise<Change & { trimmed: number }> {
  const seqs = ascending(await archiveBefore(tx, session.sid, beforeSeq, protectedKinds));
  const version = await bumpConversation(tx, session, {
    messageCount: session.messageCount - seqs.length,
    archivedCount: session.archivedCount + seqs.length,
  });
  const events = [
    {
      type: EVENT.messageTrimmed,
      dataJson: JSON.stringify({ before_seq: beforeSeq, protected_kinds: protectedKinds, seqs }),
    },
  ];
  return { trimmed: seqs.length, events, version };
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
