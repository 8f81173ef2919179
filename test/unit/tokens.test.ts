import { decodeJwt, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { matchesSession, mayRead, mayWrite, OPEN_ACCESS, readableScope, type Principal } from '../../src/auth/grants.js';
import { mintToken, TokenRejected, verifyToken } from '../../src/auth/tokens.js';

const SECRET = 'a-unit-test-secret-that-is-32-bytes-or-more';
const sign = (payload: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
const principal = (grants: Partial<Principal>): Principal => ({ sub: undefined, sessions: [], read: false, write: false, admin: false, ...grants });

describe('verifyToken reads the grants strictly', () => {
  it('grants.sessions must be a list of ids or prefixes ending in *', async () => {
    for (const sessions of ['team-a:*', [1], ['has space'], ['a*b'], ['**'], [`${'x'.repeat(129)}`]]) {
      await expect(verifyToken(SECRET, await sign({ grants: { sessions, read: true } }))).rejects.toThrow(
        new TokenRejected('grants.sessions must be a list of session ids or prefixes ending in *'),
      );
    }
    for (const sessions of [['*'], ['team-a:*'], ['a.b_c-d:1'], [`${'x'.repeat(128)}`]]) {
      expect((await verifyToken(SECRET, await sign({ grants: { sessions, read: true } }))).sessions).toEqual(sessions);
    }
  });

  it('grants must be an object; a missing sessions list grants no session', async () => {
    for (const grants of [[], 'admin', null]) {
      await expect(verifyToken(SECRET, await sign({ grants }))).rejects.toThrow(new TokenRejected('the token has no grants claim'));
    }
    expect((await verifyToken(SECRET, await sign({ grants: { read: true } }))).sessions).toEqual([]);
  });

  it('only `true` grants read, write or admin', async () => {
    const lax = await verifyToken(SECRET, await sign({ grants: { sessions: ['*'], read: 'yes', write: 1, admin: 'true' } }));
    expect(lax).toMatchObject({ read: false, write: false, admin: false });
    const strict = await verifyToken(SECRET, await sign({ grants: { sessions: ['*'], read: true, write: true, admin: true } }));
    expect(strict).toMatchObject({ read: true, write: true, admin: true });
  });

  it('the caller is the subject, else the token itself; expiresAt is exp in ms', async () => {
    const withSub = await mintToken(SECRET, { sub: 'worker/1', sessions: ['*'], read: true, ttlSeconds: 60 });
    const verified = await verifyToken(SECRET, withSub);
    expect(verified.sub).toBe('worker/1');
    expect(verified.caller).toBe('sub:worker%2F1');
    expect(verified.expiresAt).toBe((decodeJwt(withSub).exp as number) * 1000);
    const [a, b] = [await sign({ grants: { sessions: ['*'] }, n: 1 }), await sign({ grants: { sessions: ['*'] }, n: 2 })];
    const [ca, cb] = [(await verifyToken(SECRET, a)).caller, (await verifyToken(SECRET, b)).caller];
    expect(ca).toMatch(/^token:[A-Za-z0-9_-]{43}$/);
    expect(ca).not.toBe(cb);
    expect((await verifyToken(SECRET, a)).sub).toBeUndefined();
  });

  it('mintToken writes only the grants asked for, and the subject when given', async () => {
    const token = await mintToken(SECRET, { sessions: ['s'], read: true, ttlSeconds: 120 });
    const claims = decodeJwt(token);
    expect(claims.grants).toEqual({ sessions: ['s'], read: true });
    expect(claims.sub).toBeUndefined();
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    expect(decodeJwt(await mintToken(SECRET, { sessions: [], write: true, admin: true, sub: 'x', ttlSeconds: 1 }))).toMatchObject({
      grants: { sessions: [], write: true, admin: true },
      sub: 'x',
    });
  });
});

describe('grants', () => {
  it('a pattern ending in * is a prefix; any other is exact', () => {
    expect(matchesSession(['team-a:*'], 'team-a:')).toBe(true);
    expect(matchesSession(['team-a:*'], 'team-a:1')).toBe(true);
    expect(matchesSession(['team-a:*'], 'team-b:1')).toBe(false);
    expect(matchesSession(['*'], 'anything')).toBe(true);
    expect(matchesSession(['solo'], 'solo')).toBe(true);
    expect(matchesSession(['solo'], 'solo2')).toBe(false);
    expect(matchesSession([], 'solo')).toBe(false);
  });

  it('admin reads and writes everything; read and write each need their grant and a matching session', () => {
    expect(mayRead(principal({ admin: true }), 'x')).toBe(true);
    expect(mayWrite(principal({ admin: true }), 'x')).toBe(true);
    expect(mayRead(principal({ read: true, sessions: ['x'] }), 'x')).toBe(true);
    expect(mayRead(principal({ read: true, sessions: ['y'] }), 'x')).toBe(false);
    expect(mayRead(principal({ write: true, sessions: ['x'] }), 'x')).toBe(false);
    expect(mayWrite(principal({ write: true, sessions: ['x'] }), 'x')).toBe(true);
    expect(mayWrite(principal({ write: true, sessions: ['y'] }), 'x')).toBe(false);
    expect(mayWrite(principal({ read: true, sessions: ['x'] }), 'x')).toBe(false);
    expect(mayRead(OPEN_ACCESS, 'x') && mayWrite(OPEN_ACCESS, 'x')).toBe(true);
  });

  it('a listing is scoped to exact ids and prefixes the caller may read; admin sees everything', () => {
    expect(readableScope(principal({ admin: true, sessions: ['x'] }))).toBeUndefined();
    expect(readableScope(principal({ write: true, sessions: ['x', 'p*'] }))).toEqual({ exact: [], prefixes: [] });
    expect(readableScope(principal({ read: true, sessions: ['x', 'p*', '*'] }))).toEqual({ exact: ['x'], prefixes: ['p', ''] });
  });
});
