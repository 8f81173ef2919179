import { createHash } from 'node:crypto';
import stableStringify from 'fast-json-stable-stringify';
import { type Tx } from '../db/client.js';
import { IdempotencyKeyReused } from '../errors.js';
import { deleteKey, findKeyedResponse, findKeyedResponseOfSession, insertKeyedResponse, type KeyedResponse } from './statements.js';

export interface IdempotentRequest {
  scope: string;
  key: string;
  /** Digest of method, path and body: the same key must come with the same request. */
  hash: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * The body is hashed in canonical form (object keys sorted): a retry that
 * serialises the same request with its keys in another order is the same
 * request, not a reused key.
 */
export function requestHash(method: string, path: string, body: unknown): string {
  // Stryker disable next-line StringLiteral: any constant works; no body serialises to a bare string without quotes, so no-body never collides with a body either way
  const bodyText = body === undefined ? '' : stableStringify(body);
  return createHash('sha256').update(`${method} ${path}\n`).update(bodyText).digest('base64url');
}

/**
 * The stored response for this key, if the request was already carried out.
 * Call it after taking the lock that serialises the request's writes, so a
 * retry racing its own first attempt waits and then replays.
 */
export async function findStoredResponse(
  tx: Tx,
  request: IdempotentRequest,
  ttlMs: number,
): Promise<StoredResponse | undefined> {
  const row = await findKeyedResponse(tx, request.scope, request.key, ttlMs);
  return row && storedResponse(tx, request, row, request.scope);
}

/**
 * `findStoredResponse` for a key scoped to the incarnation of session
 * `sessionId` (`request.scope` is the scope less the session's sid, see
 * `findKeyedResponseOfSession`), sent at once: sent right behind the statement
 * that locks the session, it runs once the lock is held, and its answer comes
 * with the lock's, one round trip sooner than asking once the sid is known.
 * Nothing stored when there is no such session.
 */
export async function findStoredResponseOfSession(
  tx: Tx,
  sessionId: string,
  request: IdempotentRequest,
  ttlMs: number,
): Promise<StoredResponse | undefined> {
  const row = await findKeyedResponseOfSession(tx, { sessionId, scopeBefore: request.scope, key: request.key, ttlMs });
  return row && storedResponse(tx, request, row, row.scope);
}

/** What a stored row answers: nothing once expired (the key is dropped), a refusal when the key came with another request. */
async function storedResponse(tx: Tx, request: IdempotentRequest, row: KeyedResponse, scope: string): Promise<StoredResponse | undefined> {
  if (row.expired) {
    await deleteKey(tx, scope, request.key);
    return undefined;
  }
  if (row.requestHash !== request.hash) throw new IdempotencyKeyReused(request.key);
  return { status: row.statusCode, body: row.response };
}

/** Sent at once (see `db/pipeline.ts`): it may ride with the COMMIT. */
export function storeResponse(tx: Tx, request: IdempotentRequest, response: StoredResponse): Promise<unknown> {
  return insertKeyedResponse(tx, {
    scope: request.scope,
    key: request.key,
    requestHash: request.hash,
    statusCode: response.status,
    responseJson: response.body === undefined || response.body === null ? null : JSON.stringify(response.body),
  });
}

/** Drops a stored answer that no longer holds (see the create route), so the request runs again. */
export async function forgetResponse(tx: Tx, request: IdempotentRequest): Promise<void> {
  await deleteKey(tx, request.scope, request.key);
}
