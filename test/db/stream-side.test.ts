import type { ActivityView } from '../../src/activity/view.js';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventRowPage } from '../../src/events/read.js';
import { ChangesSubscriber } from '../../src/stream/changes-feed.js';
import { buildStreamSide, type StreamSide } from '../../src/stream/stream-side.js';
import { KEEPALIVE_FRAME, liveFrame, publishedFrame } from '../../src/stream/sse.js';
import { encodeNotification, type Notification, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { createTestDatabase } from '../helpers/db.js';
import { asWriter, FakeWriter } from '../helpers/fake-writer.js';

/**
 * The stream side (LISTEN connection, session tails, changes feed, admission) on a real database connection, with fake readers
 * and writers around it: wakeups are sent with pg_notify, its intervals
 * (heartbeat, changes flush) are advanced by hand, and every wait is for
 * something the stream side does, never for time to pass.
 */

let url: string;
let sql: postgres.Sql;
const warnings: unknown[] = [];
/** What readActivity answers per session id (none: the session is gone). */
const activities = new Map<string, { sid: number; head: number; activity: ActivityView }>();
let heads: { session_id: string; last_seq: number; version: number }[] = [];
let side: StreamSide;

const HEARTBEAT_MS = 15_000;
const FLUSH_MS = 100;

beforeAll(async () => {
  url = await createTestDatabase();
  sql = postgres(url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end();
});

async function startSide(): Promise<StreamSide> {
  // Only its intervals are faked: its LISTEN connection and reconnect timer are real.
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  side = buildStreamSide({
    url,
    listInstances: async () => [],
    heartbeatMs: HEARTBEAT_MS,
    pageSize: 100,
    maxStreams: 10,
    rowsMemoryBytes: 1 << 20,
    totalBufferedBytes: 1 << 20,
    // The head poll (a lost wakeup's backstop) is tested on its own.
    headPollMs: 3_600_000,
    readRows: async (): Promise<EventRowPage> => ({ rows: [], cut: false }),
    readActivity: async (id) => activities.get(id),
    readHeads: async (ids) => heads.filter((head) => ids.includes(head.session_id)),
    log: { info: () => {}, warn: (entry: unknown) => warnings.push(entry) },
    changesFlushMs: FLUSH_MS,
  });
  await side.start();
  return side;
}
afterEach(async () => {
  await side?.stop();
  vi.useRealTimers();
  warnings.length = 0;
});

const send = (notification: Notification | string) =>
  sql`select pg_notify(${WAKEUP_CHANNEL}, ${typeof notification === 'string' ? notification : encodeNotification(notification)})`;

/** A changes feed opened as `GET /v1/changes` opens one: tracked for heartbeats and shutdown, then added to the feeds. */
function addChanges(side: StreamSide, subscriber: ChangesSubscriber): void {
  side.admission.track(subscriber.writer);
  side.changesFeed.add(subscriber);
}

/** A stream of session `id` (incarnation `sid`) that has caught up and joined the tail. */
function joinedStream(id: string, sid: number, cursor = 0) {
  const writer = new FakeWriter();
  const { tail, subscriber } = side.sessionTails.subscribe(id, sid, cursor);
  subscriber.writer = asWriter(writer);
  side.admission.track(asWriter(writer));
  expect(tail.tryJoin(subscriber)).toBe(true);
  return writer;
}

describe('heartbeats', () => {
  it('go to every open stream except one whose earlier output is still backed up', async () => {
    await startSide();
    const reading = new FakeWriter();
    const backedUp = new FakeWriter();
    backedUp.backedUp = true;
    side.admission.track(asWriter(reading));
    side.admission.track(asWriter(backedUp));
    vi.advanceTimersByTime(HEARTBEAT_MS);
    expect(reading.frames).toEqual([KEEPALIVE_FRAME]);
    expect(backedUp.frames).toEqual([]);
    // Once it has drained, it gets them again; a closed one gets none.
    backedUp.backedUp = false;
    reading.end('client closed');
    vi.advanceTimersByTime(HEARTBEAT_MS);
    expect(backedUp.frames).toEqual([KEEPALIVE_FRAME]);
    expect(reading.frames).toEqual([KEEPALIVE_FRAME]);
  });
});

describe('wakeups reach the streams of their session incarnation only', () => {
  it('a live event of another incarnation of the id is not delivered; the current one is', async () => {
    await startSide();
    const writer = joinedStream('s1', 7);
    await send({ kind: 'live', session_id: 's1', sid: 6, head: 0, type: 'old', data: 1 });
    await send({ kind: 'live', session_id: 's1', sid: 7, head: 0, type: 'current', data: 2 });
    await expect.poll(() => writer.frames.length).toBe(1);
    expect(writer.frames).toEqual([publishedFrame('current', { type: 'current', data: 2 })]);
  });

  it('a malformed payload is logged and ignored; the next wakeup still arrives', async () => {
    await startSide();
    const writer = joinedStream('s2', 1);
    await send('not json');
    await send({ kind: 'live', session_id: 's2', sid: 1, head: 0, type: 'ok', data: 1 });
    await expect.poll(() => writer.frames.length).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  it('a deletion ends the streams of that incarnation with session.deleted', async () => {
    await startSide();
    const current = joinedStream('s3', 2);
    await send({ kind: 'deleted', session_id: 's3', sid: 1 });
    await send({ kind: 'deleted', session_id: 's3', sid: 2 });
    await expect.poll(() => current.ended).toBe('session deleted');
    expect(current.frames).toEqual([liveFrame('session.deleted', { session_id: 's3' })]);
  });

  it('a stream of a newer incarnation ends the streams of the older one', async () => {
    await startSide();
    const old = joinedStream('s4', 1);
    joinedStream('s4', 2);
    expect(old.ended).toBe('session deleted');
  });
});

describe('the changes feed', () => {
  it('gets activity and lifecycle notices for sessions it may read, and one coalesced hint per flush', async () => {
    await startSide();
    const writer = new FakeWriter();
    addChanges(side, new ChangesSubscriber(asWriter(writer), (id) => id !== 'secret'));
    await send({ kind: 'created', session_id: 'secret' });
    await send({ kind: 'created', session_id: 'c1' });
    await send({ kind: 'activity', session_id: 'c1', sid: 1, head: 0, activity: { status: 'thinking' } });
    await expect.poll(() => writer.frames.length).toBe(2);
    expect(writer.frames).toEqual([
      liveFrame('session.created', { session_id: 'c1' }),
      liveFrame('session.activity', { session_id: 'c1', status: 'thinking' }),
    ]);
    heads = [{ session_id: 'c1', last_seq: 3, version: 1 }];
    await send({ kind: 'append', session_id: 'c1', seq: 2 } as Notification);
    await send({ kind: 'append', session_id: 'c1', seq: 3 } as Notification);
    // A marker after the appends: once it arrived, so did they.
    await send({ kind: 'created', session_id: 'marker' });
    await expect.poll(() => writer.frames.length).toBe(3);
    vi.advanceTimersByTime(FLUSH_MS);
    await expect.poll(() => writer.frames.length).toBe(4);
    expect(writer.frames[3]).toBe(liveFrame('session.changed', { session_id: 'c1', last_seq: 3, version: 1 }));
    vi.advanceTimersByTime(FLUSH_MS * 3);
    expect(writer.frames).toHaveLength(4);
  });

  it('after the LISTEN connection comes back: sweep_required, and tails re-read and re-announce their activity', async () => {
    await startSide();
    const changes = new FakeWriter();
    addChanges(side, new ChangesSubscriber(asWriter(changes), () => true));
    const stream = joinedStream('r1', 5);
    const gone = joinedStream('r2', 1);
    const recreated = joinedStream('r3', 1);
    activities.set('r1', { sid: 5, head: 0, activity: { status: 'waiting' } });
    activities.set('r3', { sid: 2, head: 0, activity: { status: 'idle' } });
    expect(side.listenConnection.ready).toBe(true);
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'session-sync-listen%' and datname = current_database()`;
    await expect.poll(() => changes.frames).toEqual([liveFrame('sweep_required', {})]);
    expect(side.listenConnection.ready).toBe(true);
    await expect.poll(() => stream.frames).toEqual([liveFrame('session.activity', { status: 'waiting' })]);
    // Deleted while the connection was down (its notice was lost): its streams end.
    // Deleted (or deleted and created again) while the connection was down, their notices lost: those streams end.
    await expect.poll(() => gone.ended).toBe('session deleted');
    await expect.poll(() => recreated.ended).toBe('session deleted');
    expect(recreated.frames).toEqual([liveFrame('session.deleted', { session_id: 'r3' })]);
    expect(stream.ended).toBeUndefined();
  });
});
