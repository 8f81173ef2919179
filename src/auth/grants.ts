/** What a verified token allows. */
export interface Principal {
  sub: string | undefined;
  /**
   * Whom this caller's Idempotency-Key records belong to: the token's subject,
   * else a digest of the token itself. Undefined when authentication is off.
   */
  caller?: string;
  /** Exact session ids, or prefixes ending in `*`. */
  sessions: string[];
  read: boolean;
  write: boolean;
  admin: boolean;
  /** When the token stops being valid (ms since the epoch); what it opened (streams) ends then. */
  expiresAt?: number;
}

/** Anyone may do anything when authentication is off (AUTH_SECRET unset). */
export const OPEN_ACCESS: Principal = { sub: undefined, sessions: ['*'], read: true, write: true, admin: true };

export function matchesSession(patterns: readonly string[], sessionId: string): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? sessionId.startsWith(pattern.slice(0, -1)) : pattern === sessionId,
  );
}

export function mayRead(principal: Principal, sessionId: string): boolean {
  return principal.admin || (principal.read && matchesSession(principal.sessions, sessionId));
}

export function mayWrite(principal: Principal, sessionId: string): boolean {
  return principal.admin || (principal.write && matchesSession(principal.sessions, sessionId));
}

/** For listings: undefined means "everything"; otherwise exact ids and prefixes the caller may read. */
export function readableScope(principal: Principal): { exact: string[]; prefixes: string[] } | undefined {
  if (principal.admin) return undefined;
  if (!principal.read) return { exact: [], prefixes: [] };
  return {
    exact: principal.sessions.filter((p) => !p.endsWith('*')),
    prefixes: principal.sessions.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1)),
  };
}
