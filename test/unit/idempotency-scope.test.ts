import { describe, expect, it } from 'vitest';
import { idempotentRequest } from '../../src/writes/session-write.js';

// The scope a stored Idempotency-Key answer is filed under. Its text is kept in
// the database: an upgrade must find the keys the previous build stored, and no
// two callers' scopes may run together into one.
describe('idempotency scopes', () => {
  const key = { key: 'k', fingerprint: 'f' };

  it('is the write scope alone for an anonymous caller without a lease: the text earlier builds stored', () => {
    expect(idempotentRequest({ idempotency: key }, 'sid:12')).toEqual({ scope: 'sid:12', key: 'k', hash: 'f' });
    expect(idempotentRequest({}, 'sid:12')).toBeUndefined();
  });

  it('puts the caller, then the lease token digest, before the write scope, each part set apart', () => {
    const withCaller = idempotentRequest({ idempotency: { ...key, callerScope: 'a' } }, 'sid:12');
    expect(withCaller?.scope).toBe('a|sid:12');
    // Run together, caller "a" writing sid 12 and caller "as" deleting id 12 would share one scope.
    expect(idempotentRequest({ idempotency: { ...key, callerScope: 'as' } }, 'id:12')?.scope).not.toBe(withCaller?.scope);
    const leased = idempotentRequest({ idempotency: { ...key, callerScope: 'a' }, leaseToken: 'secret' }, 'sid:12');
    expect(leased?.scope).toMatch(/^a\|lease:[A-Za-z0-9_-]{43}\|sid:12$/);
    expect(leased?.scope).not.toContain('secret');
  });
});
