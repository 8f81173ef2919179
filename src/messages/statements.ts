import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';
import type { messages } from '../db/schema.js';

/*
 * Every statement of the conversation (a session's messages). The writes run
 * against a session row the caller has locked, so the seqs and counters the
 * store computes from that row are the ones to write.
 */

export type Role = (typeof messages.$inferSelect)['role'];

/** A message as the feature reads it; `content` is the JSON text as stored. */
export interface MessageRow {
  id: string;
  seq: number;
  role: Role;
  kind: string;
  content: string;
  archivedAt: Date | null;
  createdAt: Date;
}

/** A message to store, its content as JSON text. */
export interface NewMessage {
  seq: number;
  id: string;
  role: Role;
  kind: string;
  contentJson: string;
}

/**
 * Sends, without waiting for its answer, the insert of the messages in the
 * order given (it rides with the COMMIT, see db/pipeline.ts). Each is stored
 * as the caller has it: its `created_at` is the transaction's `now()`.
 */
export function sendMessagesInsert(pg: Sql, sid: number, rows: NewMessage[]): Promise<unknown> {
  return startQuery(pg`
    insert into messages (session_sid, seq, id, role, kind, content)
    select ${sid}, seq, id, role, kind, content::json
    from unnest(
      ${rows.map((row) => row.seq)}::int8[], ${rows.map((row) => row.id)}::text[], ${rows.map((row) => row.role)}::text[],
      ${rows.map((row) => row.kind)}::text[], ${rows.map((row) => row.contentJson)}::text[]
    ) as input (seq, id, role, kind, content)`);
}

/** The session's counters a conversation change moved; one left undefined stays as it is. */
export interface ConversationCounters {
  firstUserMessage?: string;
  messageSeq?: number;
  messageCount?: number;
  archivedCount?: number;
}

/** Sends, without waiting for its answer: the conversation is now at `version`, with the counters the change moved. */
export function sendConversationVersion(pg: Sql, sid: number, version: number, counters: ConversationCounters): Promise<unknown> {
  return startQuery(pg`
    update sessions set message_version = ${version},
      message_seq = coalesce(${counters.messageSeq ?? null}::int8, message_seq),
      message_count = coalesce(${counters.messageCount ?? null}::int4, message_count),
      archived_count = coalesce(${counters.archivedCount ?? null}::int4, archived_count),
      first_user_message = coalesce(${counters.firstUserMessage ?? null}::text, first_user_message)
    where sid = ${sid}`);
}

/** Archives the session's active messages of a kind (a singleton kind is being replaced); returns their seqs. */
export async function archiveKind(pg: Sql, sid: number, kind: string): Promise<number[]> {
  const rows = await pg<{ seq: number }[]>`
    update messages set archived_at = now()
    where session_sid = ${sid} and archived_at is null and kind = ${kind}
    returning seq`;
  return rows.map((row) => row.seq);
}

/** Archives the session's active messages before `beforeSeq`, except those of protected kinds; returns their seqs. */
export async function archiveBefore(pg: Sql, sid: number, beforeSeq: number, protectedKinds: string[]): Promise<number[]> {
  const rows = await pg<{ seq: number }[]>`
    update messages set archived_at = now()
    where session_sid = ${sid} and archived_at is null and seq < ${beforeSeq} and kind <> all(${protectedKinds}::text[])
    returning seq`;
  return rows.map((row) => row.seq);
}

export interface MessageFilter {
  role: Role | undefined;
  kind: string | undefined;
  /** Only seqs above this one (0 for all: seqs start at 1). */
  above: number;
  /** Only seqs below this one. */
  below: number;
  includeArchived: boolean;
  order: 'asc' | 'desc';
  limit: number;
}

/**
 * Up to `limit` of the session's messages that pass the filter, by seq. A
 * role or kind filter is its own text (four in all, times two orders), so
 * each is planned on its index (`messages_role_idx`, `messages_kind_idx`)
 * rather than as a predicate a generic plan cannot use; the seq bounds are
 * always there, so the primary key's range scan serves every page.
 */
export async function listMessageRows(pg: Sql, sid: number, filter: MessageFilter): Promise<MessageRow[]> {
  return pg<MessageRow[]>`
    select id, seq, role, kind, content::text as content, archived_at, created_at
    from messages
    where session_sid = ${sid} and seq > ${filter.above} and seq < ${filter.below}
      and (${filter.includeArchived} or archived_at is null)
      ${filter.role === undefined ? pg`` : pg`and role = ${filter.role}`}
      ${filter.kind === undefined ? pg`` : pg`and kind = ${filter.kind}`}
    ${filter.order === 'asc' ? pg`order by seq` : pg`order by seq desc`}
    limit ${filter.limit}`;
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** A message as an export file carries it (history/export-format.ts). */
export interface ImportedMessage {
  seq: number;
  id: string;
  role: string;
  kind: string;
  archived_at: string | null;
  created_at: string;
}

/**
 * Messages as the file has them, `text` their content as JSON text. Ids are
 * unique across sessions: one this server holds already (the original, beside
 * its copy) gets its `fresh` id instead.
 */
export async function insertImportedMessages(pg: Sql, sid: number, rows: (ImportedMessage & { text: string; fresh: string })[]): Promise<void> {
  await pg`
    insert into messages (session_sid, seq, id, role, kind, content, archived_at, created_at)
    select ${sid}, m.seq, case when exists (select 1 from messages x where x.id = m.id) then m.fresh else m.id end,
      m.role, m.kind, m.content::json, m.archived_at::timestamptz, m.created_at::timestamptz
    from unnest(${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.fresh)}::text[],
      ${rows.map((r) => r.role)}::text[], ${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.text)}::text[],
      ${rows.map((r) => r.archived_at)}::text[], ${rows.map((r) => r.created_at)}::text[])
      as m(seq, id, fresh, role, kind, content, archived_at, created_at)`;
}
