import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyToken } from '../../src/auth/tokens.js';

const SECRET = 'a-token-subject-secret-that-is-32-bytes-long';
const sign = (payload: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

describe('the caller a token speaks for', () => {
  it('is its string sub; a sub that is not a string is no subject, and the token is its own caller', async () => {
    const named = await verifyToken(SECRET, await sign({ sub: 'worker 7', grants: { read: true } }));
    expect({ sub: named.sub, caller: named.caller }).toEqual({ sub: 'worker 7', caller: 'sub:worker%207' });
    for (const sub of [42, { id: 'x' }, true]) {
      const principal = await verifyToken(SECRET, await sign({ sub, grants: { read: true } }));
      expect(principal.sub).toBeUndefined();
      expect(principal.caller).toMatch(/^token:[A-Za-z0-9_-]{43}$/);
    }
  });
});
