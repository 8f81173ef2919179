import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../src/db/client.js';
import { createTestDatabase } from '../helpers/db.js';

// How values cross the driver for every statement of the app (src/db/client.ts, `types`): seqs and versions are
// numbers, JSON text is stored as the client sent it, and a timestamp given as text (an import file's) keeps its
// microseconds, so an export imported again carries the same times.

let database: Database;

beforeAll(async () => {
  database = connectDatabase({ url: await createTestDatabase(), poolMax: 2, writeConnections: 1 });
});
afterAll(async () => {
  await database?.close();
});

describe('values across the driver', () => {
  it('a timestamptz given as text keeps its microseconds, on the pool and on a write connection', async () => {
    const at = '2024-05-06T07:08:09.123456Z';
    const [pooled] = await database.db<{ micros: string }[]>`select to_char(${at}::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as micros`;
    expect(pooled!.micros).toBe(at);
    const written = await database.writeConnections[0]!.begin(async (tx) => {
      await tx`create temporary table stamped (at timestamptz) on commit drop`;
      await tx`insert into stamped (at) values (${at})`;
      const [row] = await tx<{ micros: string }[]>`select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as micros from stamped`;
      return row!.micros;
    });
    expect(written).toBe(at);
  });

  it('a Date is sent as its instant, and a timestamptz comes back as a Date', async () => {
    const at = new Date('2024-05-06T07:08:09.123Z');
    const [row] = await database.db<{ back: Date; sameInstant: boolean }[]>`
      select ${at}::timestamptz as back, ${at}::timestamptz = '2024-05-06T07:08:09.123Z'::timestamptz as same_instant`;
    expect(row!.back).toBeInstanceOf(Date);
    expect(row!.back.toISOString()).toBe(at.toISOString());
    expect(row!.sameInstant).toBe(true);
  });

  it('int8 comes back as a number, and JSON text is stored as sent, not as a JSON string', async () => {
    const text = '{"b":1,  "a":[2,3]}';
    const [row] = await database.db<{ big: number; kept: string; parsed: unknown; binary: unknown }[]>`
      select ${9_007_199_254_740_991}::int8 as big, ${text}::json::text as kept, ${text}::json as parsed, ${text}::jsonb as binary`;
    expect(row!.big).toBe(9_007_199_254_740_991);
    expect(row!.kept).toBe(text);
    expect(row!.parsed).toEqual({ b: 1, a: [2, 3] });
    // jsonb (a session's metadata, a retention policy) comes back parsed too, not as text.
    expect(row!.binary).toEqual({ a: [2, 3], b: 1 });
  });
});
