import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, type Tx } from '../../src/db/client.js';
import { inFlight, startQuery } from '../../src/db/pipeline.js';
import { VersionConflict } from '../../src/errors.js';
import { wakeAfterCommit, WakeupPublisher } from '../../src/wakeups/publisher.js';
import { decodeNotifications } from '../../src/wakeups/wakeups.js';
import { type GroupReport, WriteGroups } from '../../src/writes/write-groups.js';
import { createTestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/streams.js';
import { unlessStuck } from '../helpers/waits.js';

// Group commit against a real database: which writes share a transaction,
// what a failed write does to the others in its group, in which order rows
// are locked, and when each write is answered.
let db: postgres.Sql;
let other: postgres.Sql;
let url: string;
/** Where the groups' transactions run: on write connections of their own (as in the app), or on the pool. */
let onWriteConnections = false;
const opened: Database[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
  db = postgres(url, { max: 8, onnotice: () => {} });
  other = postgres(url, { max: 2, onnotice: () => {} });
  await db`create table group_rows (session text primary key, value int not null)`;
  await db`create table group_log (n bigserial, session text not null, txid bigint not null)`;
});
afterAll(async () => {
  await other.end();
  await db.end();
});
beforeEach(async () => {
  await db`truncate group_rows, group_log`;
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((database) => database.close()));
});

/** A write connection per transaction under the limit, when the groups run on them. */
function connections(maxInFlight: number) {
  if (!onWriteConnections) return {};
  const database = connectDatabase({ url, poolMax: 1, writeConnections: maxInFlight });
  opened.push(database);
  return { connections: database.writeConnections };
}

const quiet = { warn: () => {} };

interface Written {
  txid: string;
  pending?: Promise<unknown>;
}

function groupsOn(maxInFlight: number, sent: string[][] = [], lockWaitMs = 100) {
  const reports: Omit<GroupReport, 'seconds'>[] = [];
  const wakeups = new WakeupPublisher({ db, log: quiet, send: async (payloads) => void sent.push(payloads) });
  const groups = new WriteGroups(
    { db, wakeups },
    { maxInFlight, maxGroupSize: 64, lockWaitMs, ...connections(maxInFlight), onGroup: ({ writes, outcome }) => reports.push({ writes, outcome }) },
  );
  return { groups, reports, wakeups };
}

/** A write that records the transaction it ran in, under a lock on its session's row. */
function logWrite(session: string, extra?: (tx: Tx) => Promise<void>) {
  return async (tx: Tx): Promise<Written> => {
    await tx`insert into group_rows (session, value) values (${session}, 1)
             on conflict (session) do update set value = group_rows.value + 1`;
    const [row] = await tx<{ txid: string }[]>`insert into group_log (session, txid) values (${session}, txid_current()) returning txid::text`;
    await extra?.(tx);
    return { txid: row!.txid };
  };
}

/** Occupies every running slot with writes that wait until `release`. */
function occupy(groups: WriteGroups, count: number) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = Array.from({ length: count }, (_, i) => groups.run(`held-${i}`, logWrite(`held-${i}`, () => gate)));
  return { held, release };
}

const committedSessions = async () => (await db<{ session: string }[]>`select session from group_rows order by session`).map((r) => r.session);

describe.each([
  ['on the pool', false],
  ['on write connections', true],
])('write groups %s', (_, own) => {
  beforeAll(() => {
    onWriteConnections = own;
  });

  it('runs a write at once when a slot is free, alone in its transaction', async () => {
    const { groups, reports } = groupsOn(2);
    const [a, b] = await Promise.all([groups.run('a', logWrite('a')), groups.run('b', logWrite('b'))]);
    // Two slots, two writes: each started at once, neither waited for the other to batch.
    expect(a.txid).not.toBe(b.txid);
    expect(reports).toEqual([
      { writes: 1, outcome: 'committed' },
      { writes: 1, outcome: 'committed' },
    ]);
  });

  it('puts the writes that waited for a slot into one transaction, and answers each after its commit', async () => {
    const { groups, reports } = groupsOn(1);
    const { held, release } = occupy(groups, 1);
    const waiting = ['c', 'a', 'b'].map((session) => groups.run(session, logWrite(session)));
    await eventually(async () => groups.load.waiting, (n) => n === 3, 'three writes waiting');
    let answered = false;
    void Promise.all(waiting).then(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);
    release();
    const results = await Promise.all(waiting);
    await held[0];
    expect(new Set(results.map((r) => r.txid)).size).toBe(1);
    // Run in session id order, whatever order they came in: every instance's groups lock rows alike.
    expect((await db<{ session: string }[]>`select session from group_log where txid = ${results[0]!.txid} order by n`).map((r) => r.session)).toEqual(['a', 'b', 'c']);
    expect(reports.map((r) => r.writes)).toEqual([1, 3]);
    expect(await committedSessions()).toEqual(['a', 'b', 'c', 'held-0']);
  });

  it('takes at most maxGroupSize writes into one transaction', async () => {
    const reports: GroupReport[] = [];
    const wakeups = new WakeupPublisher({ db, log: quiet, send: async () => {} });
    const groups = new WriteGroups({ db, wakeups }, { maxInFlight: 1, maxGroupSize: 2, lockWaitMs: 100, ...connections(1), onGroup: (r) => reports.push(r) });
    const { release } = occupy(groups, 1);
    const waiting = ['a', 'b', 'c', 'd', 'e'].map((session) => groups.run(session, logWrite(session)));
    await eventually(async () => groups.load.waiting, (n) => n === 5, 'five writes waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const released = performance.now();
    release();
    await Promise.all(waiting);
    const done = performance.now();
    expect(reports.map((r) => r.writes)).toEqual([1, 2, 2, 1]);
    // Each report times its transaction: the held one lasted as long as the test held it; the next began
    // once it was let go, not when its writes started waiting.
    expect(reports[0]!.seconds).toBeGreaterThanOrEqual(0.1);
    expect(reports[1]!.seconds).toBeLessThanOrEqual((done - released) / 1000);
  });

  it('answers a refused write with its refusal and commits its neighbours, none of the refused write kept', async () => {
    const { groups, reports } = groupsOn(1);
    const { release } = occupy(groups, 1);
    const refused = groups.run(
      'b',
      logWrite('b', async () => {
        throw new VersionConflict(1, 2);
      }),
    );
    const fine = ['a', 'c'].map((session) => groups.run(session, logWrite(session)));
    await eventually(async () => groups.load.waiting, (n) => n === 3, 'three writes waiting');
    release();
    await expect(refused).rejects.toBeInstanceOf(VersionConflict);
    const [a, c] = await Promise.all(fine);
    // The group rolled back once and its other writes ran again together.
    expect(a!.txid).toBe(c!.txid);
    expect(reports.map((r) => [r.writes, r.outcome])).toEqual([
      [1, 'committed'],
      [3, 'rerun'],
      [2, 'committed'],
    ]);
    expect(await committedSessions()).toEqual(['a', 'c', 'held-0']);
  });

  it('runs every other write alone after a failed statement, and the failing one fails by itself', async () => {
    const { groups, reports } = groupsOn(1);
    const { release } = occupy(groups, 1);
    const broken = groups.run(
      'b',
      logWrite('b', async (tx) => {
        await tx`select 1 / 0`;
      }),
    );
    const fine = ['a', 'c'].map((session) => groups.run(session, logWrite(session)));
    await eventually(async () => groups.load.waiting, (n) => n === 3, 'three writes waiting');
    release();
    await expect(broken).rejects.toMatchObject({ code: '22012' });
    const [a, c] = await Promise.all(fine);
    expect(a!.txid).not.toBe(c!.txid);
    expect(reports.map((r) => [r.writes, r.outcome]).sort()).toEqual(
      [
        [1, 'committed'],
        [3, 'rerun'],
        [1, 'committed'],
        [1, 'committed'],
        [1, 'rolled_back'],
      ].sort(),
    );
    expect(await committedSessions()).toEqual(['a', 'c', 'held-0']);
  });

  it('answers a lone write that fails with its own failure, in one transaction, without running it again', async () => {
    const { groups, reports } = groupsOn(1);
    let runs = 0;
    const refused = groups.run('alone', async () => {
      runs += 1;
      throw new VersionConflict(1, 2);
    });
    await expect(refused).rejects.toBeInstanceOf(VersionConflict);
    const broken = groups.run(
      'alone',
      logWrite('alone', async (tx) => {
        runs += 1;
        await tx`select 1 / 0`;
      }),
    );
    await expect(broken).rejects.toMatchObject({ code: '22012' });
    expect(runs).toBe(2);
    expect(reports).toEqual([
      { writes: 1, outcome: 'rolled_back' },
      { writes: 1, outcome: 'rolled_back' },
    ]);
  });

  it('counts a statement left in flight that fails as its write failing, in a group too', async () => {
    const { groups } = groupsOn(1);
    const { release } = occupy(groups, 1);
    const broken = groups.run('b', async (tx) => {
      const written = await logWrite('b')(tx);
      // As the write path does (`inFlight`): a statement that fails before the group awaits it is already handled.
      return { ...written, pending: inFlight([startQuery(tx`select 1 / 0`)]) };
    });
    const fine = groups.run('a', logWrite('a'));
    await eventually(async () => groups.load.waiting, (n) => n === 2, 'two writes waiting');
    release();
    await expect(broken).rejects.toMatchObject({ code: '22012' });
    await fine;
    expect(await committedSessions()).toEqual(['a', 'held-0']);
  });

  it('sends a group\'s last statements with its COMMIT; one failing there rolls the group back, and the others run again alone', async () => {
    const { groups, reports } = groupsOn(1);
    const { release } = occupy(groups, 1);
    const runs: string[] = [];
    const counted = (session: string, pending: (tx: Tx) => Promise<unknown>) => async (tx: Tx) => {
      runs.push(session);
      const written = await logWrite(session)(tx);
      return { ...written, pending: inFlight([startQuery(pending(tx))]) };
    };
    const fine = groups.run('a', counted('a', (tx) => tx`select 1`));
    const broken = groups.run('b', counted('b', (tx) => tx`select 1 / 0`));
    await eventually(async () => groups.load.waiting, (n) => n === 2, 'two writes waiting');
    release();
    await expect(broken).rejects.toMatchObject({ code: '22012' });
    await fine;
    // Once together (rolled back by b's statement), then each alone.
    expect(runs.sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(reports.slice(-3).map((r) => r.outcome).sort()).toEqual(['committed', 'rerun', 'rolled_back']);
    expect(await committedSessions()).toEqual(['a', 'held-0']);
  });

  it('takes a statement the driver never sent for a failed COMMIT: every write of the group fails, none runs again', async () => {
    const { groups, reports } = groupsOn(1);
    const { release } = occupy(groups, 1);
    let runs = 0;
    const writes = ['a', 'b'].map((session) =>
      groups.run(session, async (tx) => {
        runs += 1;
        const written = await logWrite(session)(tx);
        if (session === 'a') return written;
        const notSent = Promise.reject(new Error('not sent'));
        notSent.catch(() => {});
        return { ...written, pending: notSent };
      }),
    );
    await eventually(async () => groups.load.waiting, (n) => n === 2, 'two writes waiting');
    release();
    for (const write of writes) await expect(write).rejects.toThrow('not sent');
    expect(runs).toBe(2);
    expect(reports.at(-1)).toEqual({ writes: 2, outcome: 'rolled_back' });
  });

  it('fails every write of a group whose COMMIT fails, and runs none of them again', async () => {
    await db`create table if not exists group_deferred (value int unique deferrable initially deferred)`;
    await db`truncate group_deferred`;
    const { groups, reports } = groupsOn(1);
    const { release } = occupy(groups, 1);
    let runs = 0;
    const both = ['a', 'b'].map((session) =>
      groups.run(
        session,
        logWrite(session, async (tx) => {
          runs += 1;
          await tx`insert into group_deferred values (1)`;
        }),
      ),
    );
    await eventually(async () => groups.load.waiting, (n) => n === 2, 'two writes waiting');
    release();
    for (const write of both) await expect(write).rejects.toMatchObject({ code: '23505' });
    expect(runs).toBe(2);
    expect(reports.at(-1)).toEqual({ writes: 2, outcome: 'rolled_back' });
    expect(await committedSessions()).toEqual(['held-0']);
  });

  it('publishes the wakeups of a committed group after its commit, and none of a rolled-back attempt', async () => {
    const sent: string[][] = [];
    const { groups, wakeups } = groupsOn(1, sent);
    const { release } = occupy(groups, 1);
    const refused = groups.run('b', async (tx) => {
      wakeAfterCommit(tx, { kind: 'append', session_id: 'b', seq: 1 });
      throw new VersionConflict(1, 2);
    });
    const fine = groups.run('a', async (tx) => {
      wakeAfterCommit(tx, { kind: 'append', session_id: 'a', seq: 7 });
      return logWrite('a')(tx);
    });
    await eventually(async () => groups.load.waiting, (n) => n === 2, 'two writes waiting');
    release();
    await expect(refused).rejects.toBeInstanceOf(VersionConflict);
    await fine;
    await wakeups.drain();
    expect(sent.flat().flatMap((payload) => decodeNotifications(payload))).toEqual([{ kind: 'append', session_id: 'a', seq: 7 }]);
  });

  it('lets no session locked elsewhere stall the others: past the lock wait its write waits alone, outside the limit', async () => {
    await db`insert into group_rows (session, value) values ('locked', 0)`;
    const { groups, reports } = groupsOn(1);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = other.begin(async (sql) => {
      await sql`select 1 from group_rows where session = 'locked' for update`;
      locked();
      await released;
    });
    await unlessStuck(isLocked, "the other transaction's lock on the row");
    let lockedDone = false;
    const stuck = groups.run('locked', logWrite('locked')).then((result) => {
      lockedDone = true;
      return result;
    });
    const free = groups.run('free', logWrite('free'));
    try {
      // The only slot is taken by the stuck write until its lock wait runs out; then this write gets it.
      await unlessStuck(free, 'the write behind the write waiting on a row locked elsewhere');
      expect(lockedDone).toBe(false);
      expect(reports).toEqual([
        { writes: 1, outcome: 'rerun' },
        { writes: 1, outcome: 'committed' },
      ]);
    } finally {
      // Released whatever failed above: a row left locked would stall every later test of the file in its hooks.
      release();
      await unlessStuck(holding, "the other transaction's commit");
      await unlessStuck(Promise.all([stuck, free]), 'the writes once the lock is released');
    }
    expect(await db`select value from group_rows where session = 'locked'`).toEqual([{ value: 1 }]);
  });

  it('locks rows in session order, so two instances grouping the same sessions in opposite orders never deadlock', async () => {
    await db`insert into group_rows (session, value) values ('x', 0), ('y', 0)`;
    // In order, one group waits for the other's row until its COMMIT; that wait must not run into the lock
    // wait bound (its rerun would look like a deadlock's). Out of order, Postgres ends the deadlock after
    // deadlock_timeout (1 s), well within this bound.
    const first = groupsOn(1, [], 10_000);
    const second = groupsOn(1, [], 10_000);
    const one = occupy(first.groups, 1);
    const two = occupy(second.groups, 1);
    // Each write pauses, then locks its row: the two groups start together, so
    // out of order each would hold one row and wait for the other's.
    const slowWrite = (session: string) => async (tx: Tx) => {
      await tx`update group_rows set value = value + 1 where session = ${session} and (select pg_sleep(0.05)) is not null`;
      return {};
    };
    const a = ['x', 'y'].map((s) => first.groups.run(s, slowWrite(s)));
    const b = ['y', 'x'].map((s) => second.groups.run(s, slowWrite(s)));
    await eventually(async () => first.groups.load.waiting + second.groups.load.waiting, (n) => n === 4, 'both groups waiting');
    one.release();
    two.release();
    await Promise.all([...a, ...b]);
    // A deadlock would have rolled a group back (Postgres detects it after deadlock_timeout) and rerun its writes.
    expect([...first.reports, ...second.reports].map((r) => r.outcome)).not.toContain('rerun');
    expect(await db`select session, value from group_rows where session in ('x', 'y') order by session`).toEqual([
      { session: 'x', value: 2 },
      { session: 'y', value: 2 },
    ]);
  });
});
