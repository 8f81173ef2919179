/**
 * Value lists the database checks and the API schemas both use: each is
 * written here once (drizzle's `enum` and `check`, and the route schemas'
 * `StringEnum`, read them from here).
 */
export const ENCODINGS = ['json', 'binary'] as const;
export const SNAPSHOT_ORIGINS = ['put', 'checkpoint'] as const;
export const BATCH_STATUSES = ['pending', 'claimed', 'completed', 'cancelled'] as const;
export const CLAIM_STATUSES = ['active', 'completed', 'abandoned', 'expired'] as const;
/** How a claim can be finished by its worker (the sweeper marks the rest `expired`). */
export const CLAIM_ENDINGS = ['active', 'completed', 'abandoned'] as const;
export const MESSAGE_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

/** A value list as SQL, for check constraints: `('a', 'b')`. */
export function sqlList(values: readonly string[]): string {
  return `(${values.map((value) => `'${value}'`).join(', ')})`;
}
