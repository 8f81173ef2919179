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
