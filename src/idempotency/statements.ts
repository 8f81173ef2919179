import type { Sql } from '../db/client.js';
import { nowMinusMs } from '../db/clock.js';
import { startQuery } from '../db/pipeline.js';

/*
 * Every statement of the idempotency feature: the answers stored under
 * Idempotency-Keys, one per (scope, key).
 */

export interface KeyedResponse {
  requestHash: string;
  statusCode: number;
  /** The stored body, parsed (null when the answer had none). */
  response: unknown;
  /** Older than the TTL: the key no longer holds its answer. */
  expired: boolean;
}

/**
 * The answer stored under the key, if any, and whether it outlived the TTL.
 * Sent at once, so it goes behind whatever the caller sent before.
 */
export async function findKeyedResponse(pg: Sql, scope: string, key: string, ttlMs: number): Promise<KeyedResponse | undefined> {
  // The database's clock decides, as for every expiry (see db/clock.ts): instances' clocks drift.
  const [row] = await startQuery(pg<KeyedResponse[]>`
    select request_hash, status_code, response, created_at < ${nowMinusMs(pg, ttlMs)} as expired
    from idempotency_keys where scope = ${scope} and key = ${key}`);
  return row;
}

/**
 * `findKeyedResponse` for a key scoped to a session's incarnation, whose
 * scope is `scopeBefore` followed by the session's `sid`: the sid is read
 * here, so the lookup can be sent before the caller knows it. Sent at once.
 */
export async function findKeyedResponseOfSession(
  pg: Sql,
  { sessionId, scopeBefore, key, ttlMs }: { sessionId: string; scopeBefore: string; key: string; ttlMs: number },
): Promise<(KeyedResponse & { scope: string }) | undefined> {
  const [row] = await startQuery(pg<(KeyedResponse & { scope: string })[]>`
    select k.scope, k.request_hash, k.status_code, k.response, k.created_at < ${nowMinusMs(pg, ttlMs)} as expired
    from sessions s join idempotency_keys k on k.scope = ${scopeBefore} || s.sid and k.key = ${key}
    where s.id = ${sessionId} and s.deleted_at is null`);
  return row;
}

/** The key holds no answer any more: the next request with it runs. */
export async function deleteKey(pg: Sql, scope: string, key: string): Promise<void> {
  await pg`delete from idempotency_keys where scope = ${scope} and key = ${key}`;
}

/**
 * The answer a retry with the key replays; `responseJson` is the body as JSON
 * text, null for none. Sent at once (see `db/pipeline.ts`): it may ride with the COMMIT.
 */
export async function insertKeyedResponse(
  pg: Sql,
  { scope, key, requestHash, statusCode, responseJson }: { scope: string; key: string; requestHash: string; statusCode: number; responseJson: string | null },
): Promise<void> {
  await startQuery(pg`
    insert into idempotency_keys (scope, key, request_hash, status_code, response)
    values (${scope}, ${key}, ${requestHash}, ${statusCode}, ${responseJson}::json)`);
}

/** The sweep: answers older than the TTL are dropped; returns how many. */
export async function deleteExpiredKeys(pg: Sql, ttlMs: number): Promise<number> {
  const { count } = await pg`delete from idempotency_keys where created_at < ${nowMinusMs(pg, ttlMs)}`;
  return count;
}
