/** SQLSTATE codes this server reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const PgError = {
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
  NUMERIC_VALUE_OUT_OF_RANGE: '22003',
  CHARACTER_NOT_IN_REPERTOIRE: '22021',
  INVALID_TEXT_REPRESENTATION: '22P02',
  UNTRANSLATABLE_CHARACTER: '22P05',
  STATEMENT_TOO_COMPLEX: '54001',
  TOO_MANY_CONNECTIONS: '53300',
  ADMIN_SHUTDOWN: '57P01',
  CRASH_SHUTDOWN: '57P02',
  CANNOT_CONNECT_NOW: '57P03',
  READ_ONLY_SQL_TRANSACTION: '25006',
  LOCK_NOT_AVAILABLE: '55P03',
} as const;

/** Connection-level failures reported by postgres.js or the socket layer, not by SQL. */
const CONNECTION_FAILURES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export interface PgErrorLike {
  code: string;
  constraint_name?: string;
  message: string;
}

/** The driver's error, where it may come wrapped (an error whose `cause` it is): its SQLSTATE decides the answer. */
export function pgErrorOf(error: unknown): PgErrorLike | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current === 'object' && 'code' in current && typeof current.code === 'string') {
      const e = current as PgErrorLike & { name?: string };
      if (e.name === 'PostgresError' || CONNECTION_FAILURES.has(e.code)) return e;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isPgError(error: unknown, code: string): boolean {
  return pgErrorOf(error)?.code === code;
}

/**
 * Postgres refused a statement (an error it answered, not a lost connection):
 * in a transaction block, that aborts the transaction, and its COMMIT rolls back.
 */
export function isStatementError(error: unknown): boolean {
  const e = pgErrorOf(error) as (PgErrorLike & { name?: string }) | undefined;
  return e?.name === 'PostgresError' && !isDatabaseUnavailable(e);
}

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = pgErrorOf(error);
  if (!e) return false;
  return (
    CONNECTION_FAILURES.has(e.code) ||
    e.code.startsWith('08') ||
    e.code === PgError.ADMIN_SHUTDOWN ||
    e.code === PgError.CRASH_SHUTDOWN ||
    e.code === PgError.CANNOT_CONNECT_NOW ||
    e.code === PgError.TOO_MANY_CONNECTIONS ||
    // A standby (or a primary being demoted) during a failover: writable again once one is promoted.
    e.code === PgError.READ_ONLY_SQL_TRANSACTION
  );
}
