import type { ActivityView } from '../../src/activity/view.js';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { EventRowPage } from '../../src/events/read.js';
import { ChangesSubscriber } from '../../src/stream/changes-feed.js';
import { buildStreamSide, type StreamSide } from '../../src/stream/stream-side.js';
import { KEEPALIVE_FRAME, liveFrame } from '../../src/stream/sse.js';
import { encodeNotification, type Notification, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { createTestDatabase } from '../helpers/db.js';
import { asWriter, FakeWriter } from '../helpers/fake-writer.js';

/**
 * The stream side's LISTEN connection over its life: first LISTEN, loss, reconnect
 * with backoff, pings, stop. The connection is real (embedded PostgreSQL);
 * an outage is the database refusing new connections (ALLOW_CONNECTIONS
 * false) after the listener's backend was terminated. Every timer (the stream side's
 * and the driver's) runs on a fake clock the test advances; the waits are for
 * what the stream side or the database does, never for time to pass.
 */

const PING_MS = 5000;
const HEARTBEAT_MS = 15_000;
const FLUSH_MS = 100;

let url: string;
let dbName: string;
let sql: postgres.Sql;
/** On another database: a database cannot refuse connections from a session of its own. */
let admin: postgres.Sql;
let side: StreamSide | undefined;

beforeAll(async () => {
  url = await createTestDatabase();
  dbName = new URL(url).pathname.slice(1);
  sql = postgres(url, { max: 1, onnotice: () => {} });
  // Connected before any clock is faked: the test's own connection never waits on a timer.
  admin = postgres(inject('pgAdminUrl'), { max: 1, onnotice: () => {} });
  await sql`select 1`;
  await admin`select 1`;
});
afterAll(async () => {
  await sql.end();
  await admin.end();
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await admin.unsafe(`alter database ${dbName} with allow_connections true`);
  await side?.stop();
  side = undefined;
  await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'session-sync-listen%' and datname = current_database()`;
});

/** Real I/O gets its turn; the fake clock does not move. */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  const start = process.hrtime.bigint();
  while (!done()) {
    await vi.advanceTimersByTimeAsync(0);
    await new Promise((resolve) => setImmediate(resolve));
    if (process.hrtime.bigint() - start > 20_000_000_000n) throw new Error(`gave up waiting for ${what}`);
  }
}

/** Asks the database until it answers `expected` (the fake clock leaves expect.poll's timers still). */
async function until<T>(ask: () => Promise<T>, expected: T): Promise<void> {
  let last: T | undefined;
  for (let i = 0; i < 2000; i++) {
    last = await ask();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(last).toEqual(expected);
}

/** The driver opens its connection on a timer of its own, set while the clock ticks, so 1 ms on. */
const driverConnects = () => vi.advanceTimersByTimeAsync(1);

function settled<T>(promise: Promise<T>) {
  const state = { settled: false, failed: false };
  promise.then(
    () => (state.settled = true),
    () => Object.assign(state, { settled: true, failed: true }),
  );
  return state;
}

interface Harness {
  side: StreamSide;
  /** What the stream side logged, as [level, message, fields]. */
  logs: [string, string, unknown][];
  /** LISTEN attempts (and their outcome) and pings, in order. */
  listens: { settled: boolean; failed: boolean }[];
  pings: number;
  /** Closes of the LISTEN connection the connection was told of. */
  closes: number;
  reads: number[];
  headReads: string[][];
  activities: Map<string, { sid: number; head: number; activity: ActivityView } | Error>;
  heads: { session_id: string; last_seq: number; version: number }[];
  failHeadReads: number;
}

/** A stream side on a fake clock, its LISTEN connection watched (not replaced) to count attempts and pings. */
function makeSide(heartbeatMs = HEARTBEAT_MS): Harness {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  // The driver times its reconnects with perf_hooks' performance, which the fake timers do not replace.
  vi.spyOn(performance, 'now').mockImplementation(() => Date.now());
  const h = {
    logs: [],
    listens: [],
    pings: 0,
    closes: 0,
    reads: [],
    headReads: [],
    activities: new Map(),
    heads: [],
    failHeadReads: 0,
  } as unknown as Harness;
  const record = (level: string) => (fields: unknown, message?: string) =>
    h.logs.push(typeof fields === 'string' ? [level, fields, undefined] : [level, message ?? '', fields]);
  side = buildStreamSide({
    url,
    listInstances: async () => [],
    heartbeatMs,
    pageSize: 100,
    maxStreams: 10,
    rowsMemoryBytes: 1 << 20,
    totalBufferedBytes: 1 << 20,
    // The head poll (a lost wakeup's backstop) is tested on its own.
    headPollMs: 3_600_000,
    readRows: async (_sid, after): Promise<EventRowPage> => {
      h.reads.push(after);
      return { rows: [], cut: false };
    },
    readActivity: async (id) => {
      const current = h.activities.get(id);
      if (current instanceof Error) throw current;
      return current;
    },
    readHeads: async (ids) => {
      h.headReads.push(ids);
      if (h.failHeadReads > 0) {
        h.failHeadReads--;
        throw new Error('database unreachable');
      }
      return h.heads.filter((head) => ids.includes(head.session_id));
    },
    log: { info: record('info'), warn: record('warn') },
    changesFlushMs: FLUSH_MS,
  });
  h.side = side;
  const inner = side.listenConnection as unknown as { listenSql: postgres.Sql; lost: () => void };
  const lost = inner.lost.bind(side.listenConnection);
  inner.lost = () => {
    h.closes++;
    lost();
  };
  const real = inner.listenSql;
  inner.listenSql = new Proxy(real, {
    apply(target, thisArg, args: [TemplateStringsArray, ...unknown[]]) {
      if (args[0][0] === 'select 1') h.pings++;
      return Reflect.apply(target, thisArg, args);
    },
    get(target, key, receiver) {
      if (key !== 'unsafe') return Reflect.get(target, key, receiver);
      return (query: string) => {
        const pending = target.unsafe(query);
        h.listens.push(settled(pending));
        return pending;
      };
    },
  });
  return h;
}

async function start(h: Harness): Promise<void> {
  const started = settled(h.side.start());
  await waitFor(() => started.settled, 'the stream side to start');
  expect(started.failed).toBe(false);
}

const listenBackends = async () =>
  (await sql`select query from pg_stat_activity where application_name like 'session-sync-listen%' and datname = current_database()`).map(
    (r) => r.query as string,
  );

/** The listener's backend goes away; with `refuse`, the database takes no new connections until `restore()`. */
async function dropListener(refuse: boolean): Promise<void> {
  if (refuse) await admin.unsafe(`alter database ${dbName} with allow_connections false`);
  await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'session-sync-listen%' and datname = current_database()`;
}
const restore = () => admin.unsafe(`alter database ${dbName} with allow_connections true`);

const send = (notification: Notification | string) =>
  sql`select pg_notify(${WAKEUP_CHANNEL}, ${typeof notification === 'string' ? notification : encodeNotification(notification)})`;

/** A changes feed opened as `GET /v1/changes` opens one: tracked for heartbeats and shutdown, then added to the feeds. */
function addChanges(side: StreamSide, subscriber: ChangesSubscriber): void {
  side.admission.track(subscriber.writer);
  side.changesFeed.add(subscriber);
}

/** A stream of session `id` that has caught up and joined its tail. */
function joinedStream(h: Harness, id: string, sid: number, cursor = 0) {
  const writer = new FakeWriter();
  const { tail, subscriber } = h.side.sessionTails.subscribe(id, sid, cursor);
  subscriber.writer = asWriter(writer);
  h.side.admission.track(asWriter(writer));
  expect(tail.tryJoin(subscriber)).toBe(true);
  return writer;
}

describe('the first LISTEN', () => {
  it('the stream side is not ready until its LISTEN is in place, and the first LISTEN is no reconnect (no sweep, no re-read)', async () => {
    const h = makeSide();
    expect(h.side.listenConnection.ready).toBe(false);
    const changes = new FakeWriter();
    addChanges(h.side, new ChangesSubscriber(asWriter(changes), () => true));
    await start(h);
    expect(h.side.listenConnection.ready).toBe(true);
    expect(h.listens).toHaveLength(1);
    await waitFor(() => true, 'nothing');
    expect(changes.frames).toEqual([]);
    expect(h.logs).toEqual([]);
  });
});

describe('losing the LISTEN connection', () => {
  it('reconnects after 100 ms, doubling the wait after each failed attempt up to 5 s, and warns once', async () => {
    // Heartbeats out of the way: only what the reconnect sends is on the streams.
    const h = makeSide(3_600_000);
    await start(h);
    const changes = new FakeWriter();
    addChanges(h.side, new ChangesSubscriber(asWriter(changes), () => true));
    const stream = joinedStream(h, 'r1', 1);
    const failing = joinedStream(h, 'r2', 1);
    await waitFor(() => h.reads.length === 2, 'the tails to read once');
    h.activities.set('r1', { sid: 1, head: 0, activity: { status: 'waiting' } });
    h.activities.set('r2', new Error('database unreachable'));

    await dropListener(true);
    await waitFor(() => !h.side.listenConnection.ready, 'the loss to be seen');
    expect(h.logs).toEqual([['warn', 'LISTEN connection lost; reconnecting', undefined]]);
    for (const wait of [100, 200, 400, 800, 1600, 3200, 5000, 5000]) {
      const before = h.listens.length;
      const closes = h.closes;
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(h.listens, `no attempt before ${wait} ms`).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(h.listens, `an attempt after ${wait} ms`).toHaveLength(before + 1);
      await driverConnects();
      // Failed, and its connection closed: the driver dates its own next connect from that close.
      await waitFor(() => h.listens.at(-1)?.settled === true && h.closes === closes + 1, 'the attempt to fail');
      expect(h.listens.at(-1)?.failed).toBe(true);
    }
    // Failed attempts are not warned about again, and nothing pings a connection that is down.
    expect(h.logs).toHaveLength(1);
    expect(h.pings).toBe(0);
    expect(h.side.listenConnection.ready).toBe(false);

    await restore();
    await vi.advanceTimersByTimeAsync(5000);
    await driverConnects();
    await waitFor(() => h.side.listenConnection.ready, 'the LISTEN to come back');
    await waitFor(() => h.logs.length === 3, 'the re-read of activity');
    expect(h.logs.slice(1)).toEqual(
      expect.arrayContaining([
        ['info', 'LISTEN connection re-established; streams re-read from their cursors', undefined],
        ['warn', 'activity re-read after reconnect failed', { err: new Error('database unreachable') }],
      ]),
    );
    // Each tail re-reads from its cursor; the feed is told to sweep; activity is re-announced.
    expect(h.reads).toEqual([0, 0, 0, 0]);
    expect(changes.frames).toEqual([liveFrame('sweep_required', {})]);
    expect(stream.frames).toEqual([liveFrame('session.activity', { status: 'waiting' })]);
    expect(failing.frames).toEqual([]);
    expect(await listenBackends()).toEqual([`listen "${WAKEUP_CHANNEL}"`]);

    // Once back, the wait starts at 100 ms again.
    await dropListener(false);
    await waitFor(() => !h.side.listenConnection.ready, 'the second loss to be seen');
    const before = h.listens.length;
    await vi.advanceTimersByTimeAsync(99);
    expect(h.listens).toHaveLength(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.listens).toHaveLength(before + 1);
    await driverConnects();
    await waitFor(() => h.side.listenConnection.ready, 'the LISTEN to come back again');
  });

  it('pings the connection every 5 s while it listens, so a half-open one shows itself', async () => {
    const h = makeSide();
    await start(h);
    await vi.advanceTimersByTimeAsync(PING_MS - 1);
    expect(h.pings).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.pings).toBe(1);
    await waitFor(() => true, 'nothing');
    await until(listenBackends, ['select 1']);
    await vi.advanceTimersByTimeAsync(PING_MS);
    expect(h.pings).toBe(2);
  });
});

describe('stop()', () => {
  it('ends every stream and feed, is no longer ready, and leaves no timer and no reconnect behind', async () => {
    const h = makeSide();
    await start(h);
    const stream = joinedStream(h, 's1', 1);
    const changes = new FakeWriter();
    addChanges(h.side, new ChangesSubscriber(asWriter(changes), () => true));
    const stopped = settled(h.side.stop());
    await waitFor(() => stopped.settled, 'stop');
    side = undefined;
    expect(stream.ended).toBe('server shutting down');
    expect(changes.ended).toBe('server shutting down');
    expect(h.side.listenConnection.ready).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    const attempts = h.listens.length;
    await vi.advanceTimersByTimeAsync(60_000);
    await waitFor(() => true, 'nothing');
    expect(h.listens).toHaveLength(attempts);
    expect(h.logs).toEqual([]);
    expect(await listenBackends()).toEqual([]);
  });

  it('cancels a reconnect that was waiting', async () => {
    const h = makeSide();
    await start(h);
    await dropListener(false);
    await waitFor(() => !h.side.listenConnection.ready, 'the loss to be seen');
    const stopped = settled(h.side.stop());
    await waitFor(() => stopped.settled, 'stop');
    side = undefined;
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    await waitFor(() => true, 'nothing');
    expect(h.listens).toHaveLength(1);
    expect(await listenBackends()).toEqual([]);
  });

  it('does not hang on a connection whose query never answers: it gives up after 2 s', async () => {
    const h = makeSide();
    await start(h);
    // A query the server sits on, as a half-open connection would leave a ping.
    const inner = h.side.listenConnection as unknown as { listenSql: postgres.Sql };
    const stuck = settled(inner.listenSql`select pg_sleep(3600)`);
    await until(listenBackends, ['select pg_sleep(3600)']);
    const stopped = settled(h.side.stop());
    side = undefined;
    await waitFor(() => true, 'nothing');
    expect(stopped.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    await waitFor(() => stopped.settled, 'stop');
    await waitFor(() => stuck.settled, 'the stuck query to be abandoned');
    expect(stuck.failed).toBe(true);
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where query = 'select pg_sleep(3600)' and datname = current_database()`;
  });
});

describe('the changes feed', () => {
  it('gets heartbeats like any stream, and once closed costs nothing: no head reads for it', async () => {
    const h = makeSide();
    await start(h);
    const changes = new FakeWriter();
    addChanges(h.side, new ChangesSubscriber(asWriter(changes), () => true));
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
    expect(changes.frames).toEqual([KEEPALIVE_FRAME]);
    await send({ kind: 'append', session_id: 'c1', seq: 1 } as Notification);
    await send({ kind: 'created', session_id: 'marker' });
    await waitFor(() => changes.frames.length === 2, 'the marker');
    changes.end('client closed');
    await vi.advanceTimersByTimeAsync(FLUSH_MS * 3);
    await waitFor(() => true, 'nothing');
    expect(h.headReads).toEqual([]);
  });

  it('one hint per session per flush, none for a session deleted meanwhile; a failed head read is logged and retried', async () => {
    const h = makeSide();
    await start(h);
    const changes = new FakeWriter();
    addChanges(h.side, new ChangesSubscriber(asWriter(changes), () => true));
    h.heads = [
      { session_id: 'c1', last_seq: 2, version: 0 },
      { session_id: 'gone', last_seq: 9, version: 0 },
    ];
    h.failHeadReads = 1;
    await send({ kind: 'append', session_id: 'c1', seq: 1 } as Notification);
    await send({ kind: 'append', session_id: 'gone', seq: 9 } as Notification);
    await send({ kind: 'deleted', session_id: 'gone', sid: 1 });
    await send({ kind: 'append', session_id: 'c1', seq: 2 } as Notification);
    await waitFor(() => changes.frames.length === 1, 'the deletion');
    expect(changes.frames).toEqual([liveFrame('session.deleted', { session_id: 'gone' })]);
    await vi.advanceTimersByTimeAsync(FLUSH_MS);
    await waitFor(() => h.logs.length === 1, 'the failed head read');
    expect(h.logs).toEqual([['warn', 'changes feed head read failed', { err: new Error('database unreachable') }]]);
    expect(h.headReads).toEqual([['c1']]);
    await vi.advanceTimersByTimeAsync(FLUSH_MS);
    await waitFor(() => changes.frames.length === 2, 'the hint');
    expect(changes.frames[1]).toBe(liveFrame('session.changed', { session_id: 'c1', last_seq: 2, version: 0 }));
    // Nothing new: later flushes read nothing and send nothing.
    await vi.advanceTimersByTimeAsync(FLUSH_MS * 3);
    await waitFor(() => true, 'nothing');
    expect(h.headReads).toEqual([['c1'], ['c1']]);
    expect(changes.frames).toHaveLength(2);
  });
});

describe('notifications', () => {
  it('a malformed payload is logged with its size, not its text', async () => {
    const h = makeSide();
    await start(h);
    await send('not json');
    await waitFor(() => h.logs.length === 1, 'the warning');
    expect(h.logs).toEqual([['warn', 'ignored a malformed notification', { payloadBytes: 8 }]]);
  });
});
