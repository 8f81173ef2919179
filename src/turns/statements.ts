import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';

/* Every statement of the turns feature: the committed turns, by id, and the usage totals a turn adds to its session. */

export interface CommittedTurn {
  requestHash: string;
  response: unknown;
}

/**
 * The turn committed under `turnId` in session `sessionId` (its live
 * incarnation), if any: the hash of its request and the answer it got. Sent at
 * once, so it can follow the statement that locks the session.
 */
export async function findCommittedTurn(pg: Sql, sessionId: string, turnId: string): Promise<CommittedTurn | undefined> {
  const [row] = await startQuery(pg<CommittedTurn[]>`
    select t.request_hash, t.response from sessions s join turns t on t.session_sid = s.sid
    where s.id = ${sessionId} and s.deleted_at is null and t.turn_id = ${turnId}`);
  return row;
}

export interface UsageStatement {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Sends, without waiting for its answer, a turn's usage added to the session's totals (one turn more): it rides with the COMMIT. */
export function sendSessionUsage(pg: Sql, sid: number, usage: UsageStatement): Promise<unknown> {
  return startQuery(pg`
    update sessions set usage_input_tokens = usage_input_tokens + ${usage.inputTokens},
      usage_output_tokens = usage_output_tokens + ${usage.outputTokens},
      usage_cost_usd = usage_cost_usd + ${usage.costUsd}, usage_turns = usage_turns + 1
    where sid = ${sid}`);
}

/** Sends, without waiting for its answer, the record of a committed turn (it rides with the COMMIT, see db/pipeline.ts). */
export function sendTurnInsert(pg: Sql, turn: { sid: number; turnId: string; requestHash: string; responseJson: string }): Promise<unknown> {
  return startQuery(pg`
    insert into turns (session_sid, turn_id, request_hash, response)
    values (${turn.sid}, ${turn.turnId}, ${turn.requestHash}, ${turn.responseJson}::json)`);
}

// ---- import: the rows of a copy, inside the import's one transaction (history/import.ts)

/** A committed turn as an export file carries it (history/export-format.ts). */
export interface ImportedTurn {
  turn_id: string;
  request_hash: string;
  created_at: string;
}

/** Committed turns, `text` their answer as JSON text. */
export async function insertImportedTurns(pg: Sql, sid: number, rows: (ImportedTurn & { text: string })[]): Promise<void> {
  await pg`
    insert into turns (session_sid, turn_id, request_hash, response, created_at)
    select ${sid}, t.turn_id, t.request_hash, t.response::json, t.created_at::timestamptz
    from unnest(${rows.map((r) => r.turn_id)}::text[], ${rows.map((r) => r.request_hash)}::text[],
      ${rows.map((r) => r.text)}::text[], ${rows.map((r) => r.created_at)}::text[])
      as t(turn_id, request_hash, response, created_at)`;
}
