import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseRunning, nowMinusMs, nowPlusMs, sessionExpired, sessionExpiry } from '../../src/db/clock.js';
import { createTestDatabase } from '../helpers/db.js';
import { until } from '../helpers/waits.js';

// When a session expires (src/db/clock.ts), asked of Postgres's own clock: the sooner of a fixed expiry and an
// idle window that writes and Durable Streams reads both move.
let pg: postgres.Sql;
beforeAll(async () => {
  pg = postgres(await createTestDatabase(), { max: 1, onnotice: () => {}, transform: postgres.camel });
});
afterAll(() => pg.end());

interface Row {
  /** Seconds from now, or null. */
  expiresAt: number | null;
  updatedAt: number;
  readAt: number | null;
  ttlMs: number | null;
}

async function judge(row: Row): Promise<{ expired: boolean; expiredAtStatement: boolean; inSeconds: number | null }> {
  const at = (seconds: number | null) => (seconds === null ? null : new Date(Date.now() + seconds * 1000).toISOString());
  const [result] = await pg<{ expired: boolean; expiredAtStatement: boolean; inSeconds: number | null }[]>`
    select ${sessionExpired(pg)} as expired, ${sessionExpired(pg, 'statement')} as expired_at_statement,
           extract(epoch from ${sessionExpiry(pg)} - now())::float8 as in_seconds
    from (select ${at(row.expiresAt)}::timestamptz as expires_at, ${at(row.updatedAt)}::timestamptz as updated_at,
                 ${at(row.readAt)}::timestamptz as read_at, ${row.ttlMs}::bigint as ttl_ms) as sessions`;
  return result!;
}

describe('a session expires', () => {
  it('ttl_ms after its last write or its last stream read, whichever is later', async () => {
    // Written two minutes ago, read ten seconds ago, a one-minute window: alive for fifty seconds more.
    const readLately = await judge({ expiresAt: null, updatedAt: -120, readAt: -10, ttlMs: 60_000 });
    expect(readLately.expired).toBe(false);
    expect(readLately.expiredAtStatement).toBe(false);
    expect(readLately.inSeconds).toBeGreaterThan(45);
    expect(readLately.inSeconds).toBeLessThan(55);
    expect((await judge({ expiresAt: null, updatedAt: -10, readAt: -120, ttlMs: 60_000 })).expired).toBe(false);
    const both = await judge({ expiresAt: null, updatedAt: -120, readAt: -90, ttlMs: 60_000 });
    expect(both.expired).toBe(true);
    expect(both.expiredAtStatement).toBe(true);
    // Never read: its writes alone.
    expect((await judge({ expiresAt: null, updatedAt: -120, readAt: null, ttlMs: 60_000 })).expired).toBe(true);
    expect((await judge({ expiresAt: null, updatedAt: -30, readAt: null, ttlMs: 60_000 })).expired).toBe(false);
  });

  it('at its fixed expiry if that comes sooner, whatever the window says; never without either', async () => {
    const fixed = await judge({ expiresAt: -1, updatedAt: -1, readAt: -1, ttlMs: 3_600_000 });
    expect(fixed.expired).toBe(true);
    const soonest = await judge({ expiresAt: 20, updatedAt: 0, readAt: 0, ttlMs: 3_600_000 });
    expect(soonest.expired).toBe(false);
    expect(soonest.inSeconds).toBeGreaterThan(15);
    expect(soonest.inSeconds).toBeLessThan(25);
    expect((await judge({ expiresAt: 3600, updatedAt: -120, readAt: null, ttlMs: 60_000 })).expired).toBe(true);
    const never = await judge({ expiresAt: null, updatedAt: -86_400 * 365, readAt: null, ttlMs: null });
    expect(never).toEqual({ expired: false, expiredAtStatement: false, inSeconds: null });
  });
});

describe('a session reaches its expiry', () => {
  it('at that very instant: one whose fixed expiry or idle window ends now is gone now (so Stream-TTL: 0 is absent from its creation on)', async () => {
    const [row] = await pg<{ fixed: boolean; window: boolean; aheadByAMillisecond: boolean }[]>`
      select (select ${sessionExpired(pg)} from (select now() as expires_at, now() as updated_at,
                null::timestamptz as read_at, null::bigint as ttl_ms) as sessions) as fixed,
             (select ${sessionExpired(pg)} from (select null::timestamptz as expires_at, now() - interval '60 seconds' as updated_at,
                now() - interval '61 seconds' as read_at, 60000::bigint as ttl_ms) as sessions) as window,
             (select ${sessionExpired(pg)} from (select now() + interval '1 millisecond' as expires_at, now() as updated_at,
                null::timestamptz as read_at, null::bigint as ttl_ms) as sessions) as ahead_by_a_millisecond`;
    expect(row).toEqual({ fixed: true, window: true, aheadByAMillisecond: false });
  });
});

describe("a statement's clock", () => {
  it("judges expiry when the row is read: a transaction begun before a session's expiry sees it expired after it", async () => {
    await pg.begin(async (tx) => {
      // The transaction's clock stops here; the session expires a moment after.
      const expiresAt = (await tx<{ expiresAt: Date }[]>`select now() + interval '200 milliseconds' as expires_at`)[0]!.expiresAt;
      // As a FOR UPDATE that waited for a writer that long would: the database's own clock passes the expiry.
      await until(async () => (await tx<{ past: boolean }[]>`select clock_timestamp() > ${expiresAt} as past`)[0]!.past, 'the expiry');
      const [row] = await tx<{ atStatement: boolean; atTransaction: boolean }[]>`
        select ${sessionExpired(pg, 'statement')} as at_statement, ${sessionExpired(pg)} as at_transaction
        from (select ${expiresAt}::timestamptz as expires_at, now() as updated_at, null::timestamptz as read_at,
                     null::bigint as ttl_ms) as sessions`;
      expect(row).toEqual({ atStatement: true, atTransaction: false });
    });
  });
});

describe('a lease is running', () => {
  it('while its expiry is ahead; not once it has passed, nor when there is none (released, or never claimed)', async () => {
    const running = async (seconds: number | null) => {
      const at = seconds === null ? null : new Date(Date.now() + seconds * 1000).toISOString();
      const [row] = await pg<{ running: boolean }[]>`select ${leaseRunning(pg, pg`${at}::timestamptz`)} as running`;
      return row!.running;
    };
    expect(await running(60)).toBe(true);
    expect(await running(-1)).toBe(false);
    expect(await running(null)).toBe(false);
  });

  it('not at the very instant of its expiry: a lease ends when its expiry comes, as a session does', async () => {
    const [row] = await pg<{ atExpiry: boolean; aMillisecondBefore: boolean }[]>`
      select ${leaseRunning(pg, pg`now()`)} as at_expiry,
             ${leaseRunning(pg, pg`now() + interval '1 millisecond'`)} as a_millisecond_before`;
    expect(row).toEqual({ atExpiry: false, aMillisecondBefore: true });
  });
});

describe('a duration from now', () => {
  it('is counted in milliseconds, ahead (lease, claim and activity expiries) or behind (idempotency keys, upload intents)', async () => {
    // 90 s ahead and behind: a lease of ttl_ms 90000 runs out a minute and a half from now; a key stored a minute
    // ago is not yet 90 s old.
    const [row] = await pg<{ ahead: number; behind: number; keyStoredAMinuteAgoExpired: boolean }[]>`
      select extract(epoch from ${nowPlusMs(pg, 90_000)} - now())::float8 as ahead,
             extract(epoch from ${nowMinusMs(pg, 90_000)} - now())::float8 as behind,
             (now() - interval '1 minute') < ${nowMinusMs(pg, 90_000)} as key_stored_a_minute_ago_expired`;
    expect(row).toEqual({ ahead: 90, behind: -90, keyStoredAMinuteAgoExpired: false });
  });
});
