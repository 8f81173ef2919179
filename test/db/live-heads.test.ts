import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, type Db } from '../../src/db/client.js';
import { SessionNotFound } from '../../src/errors.js';
import { LiveHeads } from '../../src/live/heads.js';
import { createTestDatabase } from '../helpers/db.js';
import { unlessStuck, until } from '../helpers/waits.js';

// The heads live publishes follow, read many at a time against a real database.
let sql: postgres.Sql;
/** Statements sent through `counted`. */
let statements = 0;
let counted: Db;
let database: Database;

beforeAll(async () => {
  const url = await createTestDatabase();
  sql = postgres(url, { max: 2, onnotice: () => {} });
  database = connectDatabase({ url, poolMax: 2, onQuery: () => void (statements += 1) });
  counted = database.db;
  // Connected (its types fetched) before anything is counted.
  await Promise.all([counted`select 1`, counted`select 2`]);
  for (const id of ['h1', 'h2', 'h3']) await sql`insert into sessions (id) values (${id})`;
});
afterAll(async () => {
  await database.close();
  await sql.end();
});

const headOf = async (id: string) => Number((await sql`select last_seq from sessions where id = ${id}`)[0]!.last_seq);
const sidOf = async (id: string) => Number((await sql`select sid from sessions where id = ${id}`)[0]!.sid);

describe('live heads', () => {
  it('reads the sessions asked for together in one statement, each caller getting its own', async () => {
    const heads = new LiveHeads(counted);
    await sql`update sessions set last_seq = 7 where id = 'h2'`;
    statements = 0;
    const [a, b, b2, c] = await Promise.all([heads.read('h1'), heads.read('h2'), heads.read('h2'), heads.read('h3')]);
    expect(statements).toBe(1);
    expect(a).toEqual({ id: 'h1', sid: await sidOf('h1'), lastSeq: await headOf('h1') });
    expect(b).toEqual({ id: 'h2', sid: await sidOf('h2'), lastSeq: 7 });
    expect(b2).toEqual(b);
    expect(c?.id).toBe('h3');
  });

  it('never answers a caller with a read that began before it asked: it waits for the next, which sees what committed before', async () => {
    // The first read's answer is held after Postgres has run it, so its snapshot predates the commit below.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    // Only the heads' statement is held: its fragments (the expiry test) pass through as they are.
    const slowFirst = Object.assign(
      (strings: TemplateStringsArray, ...values: unknown[]) =>
        strings.join('').includes('last_seq')
          ? (async () => {
              const rows = await counted(strings, ...(values as never[]));
              if (reads++ === 0) await held;
              return rows;
            })()
          : counted(strings, ...(values as never[])),
      counted,
    );
    const heads = new LiveHeads(slowFirst as unknown as Db);
    await sql`update sessions set last_seq = 10 where id = 'h1'`;
    const first = heads.read('h1');
    // Its rows are in, so its snapshot was taken before the update below commits.
    await until(() => reads === 1, 'the first read answered by Postgres');
    await sql`update sessions set last_seq = 11 where id = 'h1'`;
    const second = heads.read('h1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const third = heads.read('h2');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One read at a time: the callers who came during the first wait for it to end, then share the next.
    expect(reads).toBe(1);
    release();
    expect((await first).lastSeq).toBe(10);
    expect((await second).lastSeq).toBe(11);
    expect((await third).id).toBe('h2');
    expect(reads).toBe(2);
  });

  it('refuses a session that does not exist with 404 without failing the others read with it', async () => {
    const heads = new LiveHeads(counted);
    const [missing, found] = await Promise.allSettled([heads.read('nope'), heads.read('h3')]);
    expect(missing.status === 'rejected' && missing.reason).toBeInstanceOf(SessionNotFound);
    expect(missing.status === 'rejected' && (missing.reason as Error).message).toBe('session "nope" does not exist');
    expect(found.status === 'fulfilled' && found.value.id).toBe('h3');
  });

  it('fails every caller of a read that failed, and reads again for the next', async () => {
    let fail = true;
    // The heads' statement fails once. Its fragments (the expiry test) are built before it, through this same
    // function: the statement is still built from them, or postgres.js would send them on their own.
    const failingOnce = Object.assign((strings: TemplateStringsArray, ...values: unknown[]) => {
      const query = counted(strings, ...(values as never[]));
      if (!(fail && strings.join('').includes('last_seq'))) return query;
      fail = false;
      query.catch(() => {});
      return Promise.reject(new Error('connection lost'));
    }, counted);
    const heads = new LiveHeads(failingOnce as unknown as Db);
    const results = await unlessStuck(Promise.allSettled([heads.read('h1'), heads.read('h2')]), "the failed read's callers");
    expect(results.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['connection lost', 'connection lost']);
    expect((await heads.read('h2')).lastSeq).toBe(7);
  });
});
