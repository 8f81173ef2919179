import type { Sql } from '../db/client.js';
import { startQuery } from '../db/pipeline.js';

/* Every statement of the turns feature: the committed turns, by id, and the usage totals a turn adds to its session. */

/** The turn committed under `turnId`, if any: the hash of its request and the answer it got. */
export async function findCommittedTurn(
  pg: Sql,
  sid: number,
  turnId: string,
): Promise<{ requestHash: string; response: unknown } | undefined> {
  const [row] = await pg<{ requestHash: string; response: unknown }[]>`
    select request_hash, response from turns where session_sid = ${sid} and turn_id = ${turnId}`;
  return row;
}

export interface UsageStatement {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Adds a turn's usage to the session's totals (one turn more). */
export async function addSessionUsage(pg: Sql, sid: number, usage: UsageStatement): Promise<void> {
  await pg`
    update sessions set usage_input_tokens = usage_input_tokens + ${usage.inputTokens},
      usage_output_tokens = usage_output_tokens + ${usage.outputTokens},
      usage_cost_usd = usage_cost_usd + ${usage.costUsd}, usage_turns = usage_turns + 1
    where sid = ${sid}`;
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
