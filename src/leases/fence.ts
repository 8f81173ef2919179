import { createHash, timingSafeEqual } from 'node:crypto';
import { LeaseHeld, LeaseLost } from '../errors.js';
import type { SessionRow } from '../sessions/store.js';

export function hashLeaseToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Whether `token` is the current, unexpired lease of the session. */
export function holdsLease(session: SessionRow, token: string): boolean {
  if (!session.leaseActive || session.leaseTokenHash === null) return false;
  const given = Buffer.from(hashLeaseToken(token));
  const stored = Buffer.from(session.leaseTokenHash);
  // Both are SHA-256 digests in base64url, 43 bytes; the length check keeps timingSafeEqual from throwing on a stored
  // value of any other form.
  // Stryker disable next-line ConditionalExpression,EqualityOperator: no stored hash has another length, so the check never decides
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/**
 * The fencing rule for every write a worker makes: while an unexpired lease
 * exists the write must carry its token (none: lease_held); a token must be
 * the current lease (else lease_lost, e.g. a paused worker whose lease moved
 * on). Without a lease and without a token, anyone may write.
 */
export function checkFence(session: SessionRow, token: string | undefined): void {
  if (token === undefined) {
    if (session.leaseActive && session.leaseOwner !== null && session.leaseExpiresAt !== null) {
      throw new LeaseHeld(
        session.leaseOwner,
        session.leaseExpiresAt.toISOString(),
        `"${session.leaseOwner}" holds the lease until ${session.leaseExpiresAt.toISOString()}; this write must carry its Lease-Token`,
      );
    }
    return;
  }
  if (!holdsLease(session, token)) throw new LeaseLost();
}
