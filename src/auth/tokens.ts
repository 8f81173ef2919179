import { createHash } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Principal } from './grants.js';

export const ALGORITHM = 'HS256';

export class TokenRejected extends Error {}

function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

const SESSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\*?$|^\*$/;

/**
 * Verifies an HS256 JWT and reads its grants. The algorithm is pinned (no
 * `none`, no other algorithm) and `exp` is required. Any problem is a
 * TokenRejected whose message is safe to show (it never echoes the token).
 */
export async function verifyToken(secret: string, token: string): Promise<Principal> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, secretKey(secret), { algorithms: [ALGORITHM], requiredClaims: ['exp'] }));
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new TokenRejected('the token has expired');
    if (error instanceof errors.JWTClaimValidationFailed) throw new TokenRejected(`the token's ${error.claim} claim is missing or invalid`);
    if (error instanceof errors.JOSEAlgNotAllowed) throw new TokenRejected('the token must be signed with HS256');
    throw new TokenRejected('the token is malformed or its signature does not verify');
  }
  const grants = payload.grants as Record<string, unknown> | undefined;
  if (typeof grants !== 'object' || grants === null || Array.isArray(grants)) {
    throw new TokenRejected('the token has no grants claim');
  }
  const sessions = grants.sessions ?? [];
  if (!Array.isArray(sessions) || !sessions.every((s) => typeof s === 'string' && SESSION_PATTERN.test(s))) {
    throw new TokenRejected('grants.sessions must be a list of session ids or prefixes ending in *');
  }
  const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
  return {
    sub,
    // A token without a subject is its own caller: a retry under a refreshed
    // token then starts afresh rather than replaying someone else's answer.
    caller: sub !== undefined ? `sub:${encodeURIComponent(sub)}` : `token:${createHash('sha256').update(token).digest('base64url')}`,
    sessions: sessions as string[],
    read: grants.read === true,
    write: grants.write === true,
    admin: grants.admin === true,
    // `exp` is required and checked by jwtVerify.
    expiresAt: (payload.exp as number) * 1000,
  };
}

export interface MintOptions {
  sub?: string;
  sessions: string[];
  read?: boolean;
  write?: boolean;
  admin?: boolean;
  ttlSeconds: number;
}

export async function mintToken(secret: string, options: MintOptions): Promise<string> {
  const grants = {
    sessions: options.sessions,
    ...(options.read ? { read: true } : {}),
    ...(options.write ? { write: true } : {}),
    ...(options.admin ? { admin: true } : {}),
  };
  let jwt = new SignJWT({ grants }).setProtectedHeader({ alg: ALGORITHM }).setIssuedAt().setExpirationTime(`${options.ttlSeconds}s`);
  if (options.sub) jwt = jwt.setSubject(options.sub);
  return jwt.sign(secretKey(secret));
}
