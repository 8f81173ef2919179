import { randomBytes } from 'node:crypto';
import { type Tx } from '../db/client.js';
import { inFlight } from '../db/pipeline.js';
import { type NewEvent, startEventAppend } from '../events/append.js';
import { LeaseHeld, LeaseLost } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';
import { hashLeaseToken, holdsLease } from './fence.js';
import { extendLease, holdLease, replaceLeaseToken, sendClearLease } from './statements.js';
import type { LeaseGrant, Lease } from './view.js';
import { EVENT } from 'session-sync/client/protocol';



/** A lease that ran out without anyone saying so gets its lease.expired before anything else happens. */
export function pendingExpiryEvent(session: SessionRow): NewEvent | undefined {
  if (session.leaseActive || session.leaseExpiryAnnounced) return undefined;
  // Stryker disable next-line ConditionalExpression: defensive; a lease without an owner is always announced (the column defaults to true and a release sets it), so this check never decides
  if (session.leaseOwner === null) return undefined;
  return {
    type: EVENT.leaseExpired,
    dataJson: JSON.stringify({ owner: session.leaseOwner, fencing_token: session.leaseFencingToken }),
  };
}

/** A lease change, its event append sent to ride with the COMMIT (`WriteResult.pending`). */
export interface LeaseChange<T> {
  value: T;
  pending: Promise<unknown> | undefined;
}

/** Claims the lease; the session row is locked by the caller. */
export async function claimLease(tx: Tx, session: SessionRow, owner: string, ttlMs: number): Promise<LeaseChange<LeaseGrant>> {
  if (session.leaseActive && session.leaseOwner !== null && session.leaseExpiresAt !== null) {
    throw new LeaseHeld(session.leaseOwner, session.leaseExpiresAt.toISOString());
  }
  const token = randomBytes(32).toString('base64url');
  const fencingToken = session.leaseFencingToken + 1;
  const expiresAt = (
    await holdLease(tx, session.sid, { owner, tokenHash: hashLeaseToken(token), fencingToken, ttlMs })
  ).toISOString();
  const events = [pendingExpiryEvent(session)].filter((e): e is NewEvent => e !== undefined);
  events.push({ type: EVENT.leaseAcquired, dataJson: JSON.stringify({ owner, fencing_token: fencingToken, expires_at: expiresAt }) });
  return { value: { owner, token, fencing_token: fencingToken, expires_at: expiresAt }, pending: startEventAppend(tx, session, events)?.pending };
}

/**
 * A lease claim's Idempotency-Key keeps the answer without its token, so a
 * replay cannot hand anyone the secret the first answer carried. If the lease
 * that claim made is still the current one, the replay gets a fresh token and
 * the first one stops working: the caller whose answer was lost can go on,
 * and there is never more than one token that passes the fence. A claim whose
 * lease has since ended is lease_lost: claim again with a new key.
 */
export async function reissueLease(tx: Tx, session: SessionRow, claimed: Lease): Promise<LeaseGrant> {
  if (!session.leaseActive || session.leaseFencingToken !== claimed.fencing_token || session.leaseExpiresAt === null) {
    throw new LeaseLost(
      `the lease this Idempotency-Key claimed (fencing_token ${claimed.fencing_token}) has ended; claim again with a new key`,
    );
  }
  const token = randomBytes(32).toString('base64url');
  await replaceLeaseToken(tx, session.sid, hashLeaseToken(token));
  return {
    owner: session.leaseOwner ?? claimed.owner,
    token,
    fencing_token: session.leaseFencingToken,
    expires_at: session.leaseExpiresAt.toISOString(),
  };
}

export async function renewLease(tx: Tx, session: SessionRow, token: string, ttlMs: number | undefined): Promise<LeaseChange<Lease>> {
  if (!holdsLease(session, token)) throw new LeaseLost();
  const ttl = ttlMs ?? session.leaseTtlMs ?? 30_000;
  const expiresAt = await extendLease(tx, session.sid, ttl);
  const state = {
    // Stryker disable next-line StringLiteral: unreachable; holdsLease passed, so the lease has an owner
    owner: session.leaseOwner ?? '',
    fencing_token: session.leaseFencingToken,
    expires_at: expiresAt.toISOString(),
  };
  return { value: state, pending: startEventAppend(tx, session, [{ type: EVENT.leaseRenewed, dataJson: JSON.stringify(state) }])?.pending };
}

/** Ends the lease; nothing to wait for before the COMMIT. */
export function releaseLease(tx: Tx, session: SessionRow, token: string): LeaseChange<undefined> {
  const { events, pending } = endLease(tx, session, token);
  return { value: undefined, pending: inFlight([pending, startEventAppend(tx, session, events)?.pending]) };
}

/**
 * Ends the lease and returns its lease.released event, for a caller that
 * appends it with others (a turn); the update is sent, not awaited (`pending`).
 */
export function endLease(tx: Tx, session: SessionRow, token: string): { events: NewEvent[]; pending: Promise<unknown> } {
  if (!holdsLease(session, token)) throw new LeaseLost();
  return {
    pending: sendClearLease(tx, session.sid),
    events: [
      { type: EVENT.leaseReleased, dataJson: JSON.stringify({ owner: session.leaseOwner, fencing_token: session.leaseFencingToken }) },
    ],
  };
}
