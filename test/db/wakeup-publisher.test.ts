import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendNotifications } from '../../src/db/statements.js';
import { PayloadTooLarge } from '../../src/errors.js';
import { beginAndWake, type FlushReport, wakeAfterCommit, WakeupPublisher, type WakeupPublisherOptions } from '../../src/wakeups/publisher.js';
import { decodeNotifications, encodeNotification, MAX_WAKEUP_BYTES, type Notification, stampFrom, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { createTestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/streams.js';
import { unlessStuck } from '../helpers/waits.js';

// The publisher against a real database and a real LISTEN: what a listener
// receives, in which order, in how many NOTIFY transactions.
let url: string;
let db: postgres.Sql;
let listener: postgres.Sql;
let received: string[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
  db = postgres(url, { max: 2, onnotice: () => {} });
  listener = postgres(url, { max: 1, onnotice: () => {} });
  await listener.listen(WAKEUP_CHANNEL, (payload) => received.push(payload));
});
afterAll(async () => {
  await listener.end();
  await db.end();
});

const quiet = { warn: () => {} };

/**
 * A publisher whose sends each wait at a gate the test opens (`step` opens the
 * oldest waiting send, `release` every send from now on), each send recorded
 * and then really sent.
 */
function gatedPublisher(options: Partial<Pick<WakeupPublisherOptions, 'maxPayloadsPerFlush' | 'maxQueuedBytes' | 'local' | 'missedNoticeDelayMs'>> & { log?: { warn: (...args: unknown[]) => void } } = {}) {
  const sends: string[][] = [];
  const reports: FlushReport[] = [];
  const waiting: (() => void)[] = [];
  let open = false;
  const publisher = new WakeupPublisher({
    db,
    log: options.log ?? quiet,
    ...options,
    onFlush: (report) => reports.push(report),
    send: async (payloads) => {
      sends.push(payloads);
      if (!open) await new Promise<void>((resolve) => waiting.push(resolve));
      await sendNotifications(db, WAKEUP_CHANNEL, payloads);
    },
  });
  return {
    publisher,
    sends,
    reports,
    step: async () => {
      await eventually(async () => waiting.length, (n) => n > 0, 'a send at the gate');
      waiting.shift()!();
    },
    release: () => {
      open = true;
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

/** A publisher that sends at once, recording each flush's payloads and when it started. */
function recordingPublisher(options: Partial<Pick<WakeupPublisherOptions, 'minFlushIntervalMs' | 'onFlush'>>) {
  const starts: number[] = [];
  const sends: string[][] = [];
  const publisher = new WakeupPublisher({
    db,
    log: quiet,
    ...options,
    send: async (payloads) => {
      starts.push(performance.now());
      sends.push(payloads);
      await sendNotifications(db, WAKEUP_CHANNEL, payloads);
    },
  });
  return { publisher, starts, sends };
}

/** The session ids (or kinds) a flush's payloads carry, in order. */
const namesIn = (payloads: string[]) => payloads.flatMap((payload) => decodeNotifications(payload)!).map((n) => ('session_id' in n ? n.session_id : n.kind));

const notifications = () => received.flatMap((payload): unknown[] => decodeNotifications(payload) ?? [{ malformed: payload }]);
/** What arrived for this test's sessions only (their ids start with `prefix`): an earlier test's NOTIFYs may still be arriving. */
const notificationsOf = (prefix: string) => notifications().filter((n) => typeof n === 'object' && n !== null && 'session_id' in n && String(n.session_id).startsWith(prefix));
const append = (session_id: string, seq: number): Notification => ({ kind: 'append', session_id, seq });
const live = (session_id: string, data: unknown): Notification => ({ kind: 'live', session_id, sid: 1, head: 0, type: 'token', data });

async function commitWith(publisher: WakeupPublisher, ...wakeups: Notification[]): Promise<void> {
  await beginAndWake({ db, wakeups: publisher }, async (tx) => {
    await tx`select 1`;
    for (const wakeup of wakeups) wakeAfterCommit(tx, wakeup);
  });
}

describe('wakeup publisher', () => {
  it('sends what commits while a flush is in flight together, in one NOTIFY transaction and one payload', async () => {
    received = [];
    const { publisher, sends, release } = gatedPublisher();
    await commitWith(publisher, append('first', 1));
    // The first flush has started and waits at the gate; twenty commits land meanwhile.
    await Promise.all(Array.from({ length: 20 }, (_, i) => commitWith(publisher, append(`batched-${i}`, i + 1))));
    expect(sends).toHaveLength(1);
    release();
    await publisher.drain();
    expect(sends).toHaveLength(2);
    expect(sends[1]).toHaveLength(1);
    await eventually(async () => received.length, (n) => n === 2, 'both payloads');
    // One notification alone goes bare, as every listener has always read it; several as an array.
    expect(received[0]).toBe(JSON.stringify({ session_id: 'first', seq: 1 }));
    expect(received[1]!.startsWith('[')).toBe(true);
    // The twenty in the order they committed, which the pool decides.
    const batched = Array.from({ length: 20 }, (_, i) => append(`batched-${i}`, i + 1));
    expect(notifications()[0]).toEqual(append('first', 1));
    expect(notifications().slice(1)).toHaveLength(20);
    expect(notifications().slice(1)).toEqual(expect.arrayContaining(batched));
  });

  it('coalesces the appends of one session that wait for the same flush into one wakeup with the highest seq', async () => {
    received = [];
    const { publisher, release } = gatedPublisher();
    await commitWith(publisher, append('other', 1));
    await commitWith(publisher, append('busy', 1));
    await commitWith(publisher, live('busy', 'between'));
    await commitWith(publisher, append('busy', 3), append('busy', 2));
    release();
    await publisher.drain();
    await eventually(async () => notifications().length, (n) => n >= 3, 'the notifications');
    // In order of first arrival; the raised seq is where the first append was, ahead of the live event (a reader reads further, never less).
    expect(notifications()).toEqual([append('other', 1), append('busy', 3), live('busy', 'between')]);
  });

  it('never lets Postgres fold two equal payloads of one flush into one: the second goes in the next flush', async () => {
    received = [];
    const { publisher, sends, step } = gatedPublisher();
    await commitWith(publisher, append('hold', 1));
    // Each too large to share a payload with the other, and equal: one transaction would deliver it once.
    const token = 'x'.repeat(MAX_WAKEUP_BYTES / 2);
    const resolved: number[] = [];
    const both = [publisher.publish(live('twice', token)), publisher.publish(live('twice', token))];
    both.forEach((sent, i) => void sent.then(() => resolved.push(i)));
    await step();
    await step();
    await eventually(async () => resolved.length, (n) => n >= 1, 'the first answered');
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The second is answered only once the NOTIFY carrying it has gone.
    expect(resolved).toEqual([0]);
    await step();
    await Promise.all(both);
    expect(resolved).toEqual([0, 1]);
    await eventually(async () => notifications().length, (n) => n >= 3, 'three notifications');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(notifications()).toEqual([append('hold', 1), live('twice', token), live('twice', token)]);
    expect(sends).toHaveLength(3);
  });

  it('packs as many as fit into each payload and never passes the NOTIFY limit', async () => {
    received = [];
    const { publisher, release } = gatedPublisher();
    await commitWith(publisher, append('hold', 1));
    const tokens = Array.from({ length: 60 }, (_, i) => live('packed', `${i}:${'y'.repeat(500)}`));
    const sent = tokens.map((token) => publisher.publish(token));
    release();
    await Promise.all(sent);
    await eventually(async () => notifications().length, (n) => n >= 61, 'every token');
    expect(notifications()).toEqual([append('hold', 1), ...tokens]);
    for (const payload of received) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_WAKEUP_BYTES);
    // About 560 bytes each: 14 to a payload, so 5 payloads carry the 60, not 60.
    expect(received.length).toBeLessThanOrEqual(1 + 5);
  });

  it('publishes nothing for a transaction that rolled back', async () => {
    received = [];
    const publisher = new WakeupPublisher({ db, log: quiet });
    await expect(
      beginAndWake({ db, wakeups: publisher }, async (tx) => {
        wakeAfterCommit(tx, append('rolled-back', 1));
        await tx`select 1 / 0`;
      }),
    ).rejects.toThrow();
    await commitWith(publisher, append('committed', 1));
    await publisher.drain();
    await eventually(async () => received.length, (n) => n >= 1, 'the committed wakeup');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(notifications()).toEqual([append('committed', 1)]);
  });

  it('refuses a live event too large for a NOTIFY before queueing it, and one queued inside a transaction before it commits', async () => {
    const publisher = new WakeupPublisher({ db, log: quiet });
    const big = live('big', 'z'.repeat(MAX_WAKEUP_BYTES));
    expect(() => publisher.publish(big)).toThrow(PayloadTooLarge);
    await expect(commitWith(publisher, { kind: 'activity', session_id: 'big', sid: 1, head: 0, activity: { status: 'busy', detail: 'z'.repeat(MAX_WAKEUP_BYTES), updated_at: '' } as never })).rejects.toThrow(PayloadTooLarge);
    expect(publisher.waiting).toBe(0);
  });

  it('a failed send rejects the live events it carried and the next flush goes on', async () => {
    received = [];
    let fail = true;
    const publisher = new WakeupPublisher({
      db,
      log: quiet,
      send: async (payloads) => {
        if (fail) throw new Error('connection lost');
        await sendNotifications(db, WAKEUP_CHANNEL, payloads);
      },
    });
    await expect(publisher.publish(live('flaky', 1))).rejects.toThrow('connection lost');
    fail = false;
    await publisher.publish(live('flaky', 2));
    await eventually(async () => received.length, (n) => n >= 1, 'the second event');
    expect(notifications()).toEqual([live('flaky', 2)]);
  });

  it("publishes an append committed after its session's wakeup went out, rather than folding it into the one sent", async () => {
    received = [];
    const { publisher, release } = gatedPublisher();
    await commitWith(publisher, append('again', 1));
    await commitWith(publisher, append('again', 2));
    release();
    await publisher.drain();
    await eventually(async () => notifications().length, (n) => n >= 2, 'both wakeups');
    expect(notifications()).toEqual([append('again', 1), append('again', 2)]);
  });

  it("fills a payload to exactly 7999 bytes, and starts another one byte past it; live events counted as sent, the instance's id included", async () => {
    for (const instanceId of [undefined, 'stamp-01']) {
      // Sized as they travel: stamped with the publishing instance's id when there is one.
      const sized = (name: string, bytes: number): Notification => {
        const encoded = encodeNotification(live(name, ''));
        const empty = Buffer.byteLength(instanceId === undefined ? encoded : stampFrom(encoded, instanceId));
        return live(name, name.repeat(bytes - empty));
      };
      // Two parts, a comma and two brackets.
      const half = (MAX_WAKEUP_BYTES - 3) / 2;
      for (const [extra, payloads] of [
        [0, 1],
        [1, 2],
      ] as const) {
        received = [];
        const { publisher, release } = gatedPublisher(instanceId === undefined ? {} : { local: { instanceId, deliver: () => {} } });
        await commitWith(publisher, append('hold', 1));
        const pair = [sized('a', half), sized('b', half + extra)];
        const sent = pair.map((n) => publisher.publish(n));
        release();
        // Packed past the limit, the NOTIFY would be refused and both publishers told it failed.
        await Promise.all(sent);
        await eventually(async () => notifications().length, (n) => n >= 3, 'the pair');
        const stamped = instanceId === undefined ? pair : pair.map((n) => ({ from: instanceId, ...n }));
        expect(notifications(), `instance ${instanceId}`).toEqual([append('hold', 1), ...stamped]);
        expect(received.slice(1).map((p) => Buffer.byteLength(p))).toEqual(payloads === 1 ? [MAX_WAKEUP_BYTES] : [half, half + extra]);
      }
    }
  });

  it('sends a live event of the full 7999 bytes alone and whole', async () => {
    received = [];
    const publisher = new WakeupPublisher({ db, log: quiet, local: { instanceId: 'abcd-_12', deliver: () => {} } });
    // Counted with the publishing instance's id, which it carries.
    const empty = Buffer.byteLength(stampFrom(encodeNotification(live('full', '')), 'abcd-_12'));
    const full = live('full', 'f'.repeat(MAX_WAKEUP_BYTES - empty));
    expect(() => publisher.publish(live('full', 'f'.repeat(MAX_WAKEUP_BYTES - empty + 1)))).toThrow(PayloadTooLarge);
    await publisher.publish(full);
    await eventually(async () => received.length, (n) => n >= 1, 'the event');
    expect(received.map((p) => Buffer.byteLength(p))).toEqual([MAX_WAKEUP_BYTES]);
    expect(notifications()).toEqual([{ from: 'abcd-_12', ...full }]);
  });

  it("hands live events and activity to this instance's streams as they are queued, stamped with its id; not appends, not refused ones", async () => {
    received = [];
    const local: Notification[] = [];
    const { publisher, release } = gatedPublisher({ maxQueuedBytes: 1000, local: { instanceId: 'instance', deliver: (n) => local.push(n) } });
    const activity: Notification = { kind: 'activity', session_id: 'here', sid: 1, head: 0, activity: { status: 'thinking', updated_at: '2026-01-01T00:00:00.000Z' } };
    await commitWith(publisher, append('here', 1), activity);
    const token = live('here', 'a');
    const sent = publisher.publish(token);
    // Both delivered before anything was sent: the first flush waits at the gate.
    expect(local).toEqual([activity, token]);
    await expect(publisher.publish(live('here', 'b'.repeat(1000)))).rejects.toThrow('wakeup queue full');
    expect(local).toEqual([activity, token]);
    release();
    await sent;
    await eventually(async () => notifications().length, (n) => n >= 3, 'the notifications');
    expect(notifications()).toEqual([append('here', 1), { from: 'instance', ...activity }, { from: 'instance', ...token }]);
  });

  it('refuses an instance id of another length, or one a payload would have to escape', () => {
    expect(stampFrom('{"a":1}', 'abcdefgh')).toBe('{"from":"abcdefgh","a":1}');
    expect(() => stampFrom('{}', 'abcdefg')).toThrow('an instance id is 8 URL-safe characters; got "abcdefg"');
    expect(() => stampFrom('{}', 'abcdefghi')).toThrow('an instance id is 8 URL-safe characters');
    expect(() => stampFrom('{}', 'abcdefg"')).toThrow('an instance id is 8 URL-safe characters');
    expect(() => stampFrom('{}', '"bcdefgh')).toThrow('an instance id is 8 URL-safe characters');
  });

  it('puts at most maxPayloadsPerFlush payloads in one NOTIFY transaction; the rest follow in order', async () => {
    received = [];
    const { publisher, sends, release } = gatedPublisher({ maxPayloadsPerFlush: 2 });
    await commitWith(publisher, append('hold', 1));
    // Each too large to share a payload.
    const tokens = Array.from({ length: 5 }, (_, i) => live('many', `${i}`.repeat(5000)));
    const sent = tokens.map((n) => publisher.publish(n));
    release();
    await Promise.all(sent);
    expect(sends.map((payloads) => payloads.length)).toEqual([1, 2, 2, 1]);
    await eventually(async () => notifications().length, (n) => n >= 6, 'every token');
    expect(notifications()).toEqual([append('hold', 1), ...tokens]);
  });

  it('bounds what waits: past maxQueuedBytes a live event is refused and a wakeup dropped with a warning, and room comes back once sent', async () => {
    received = [];
    const warnings: unknown[] = [];
    const { publisher, release } = gatedPublisher({ maxQueuedBytes: 1000, log: { warn: (...args) => warnings.push(args) } });
    await commitWith(publisher, append('hold', 1));
    // 990 of the 1000 bytes: no wakeup fits beside it.
    const filling = live('bounded', 'a'.repeat(990 - Buffer.byteLength(encodeNotification(live('bounded', '')))));
    const first = publisher.publish(filling);
    await expect(publisher.publish(live('bounded', 'b'))).rejects.toThrow('wakeup queue full (990 bytes waiting)');
    await commitWith(publisher, append('dropped', 1));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toEqual([{ session_id: 'dropped' }, expect.stringMatching(/^wakeup queue full/)]);
    release();
    await first;
    await publisher.publish(filling);
    await eventually(async () => notifications().length, (n) => n >= 3, 'the accepted ones');
    expect(notifications()).toEqual([append('hold', 1), filling, filling]);
    publisher.stop();
  });

  it('tells every instance soon after it lost wakeups (a failed flush, a full queue): one `missed` notice, sent again until it goes', async () => {
    received = [];
    let noticeFailures = 1;
    const sends: string[][] = [];
    let openGate: (() => void) | undefined;
    const publisher = new WakeupPublisher({
      db,
      log: quiet,
      missedNoticeDelayMs: 50,
      maxQueuedBytes: 200,
      send: async (payloads) => {
        sends.push(payloads);
        // The first flush waits until the second wakeup has queued behind it: both are lost before the notice is
        // due, however long the second commit takes. Every flush of the two wakeups fails, and the first notice.
        if (sends.length === 1) await new Promise<void>((resolve) => (openGate = resolve));
        const notice = payloads.includes('{"kind":"missed"}');
        if (!notice) throw new Error('connection lost');
        if (noticeFailures-- > 0) throw new Error('connection lost');
        await sendNotifications(db, WAKEUP_CHANNEL, payloads);
      },
    });
    // Lost in the first flush and the next: one notice for both; the notice itself fails once and is sent again.
    await commitWith(publisher, append('lost-1', 1));
    await commitWith(publisher, append('lost-2', 1));
    openGate!();
    await eventually(async () => notifications(), (n) => n.length >= 1, 'the notice');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(notifications()).toEqual([{ kind: 'missed' }]);
    expect(sends.flat().filter((payload) => payload === '{"kind":"missed"}')).toHaveLength(2);

    publisher.stop();
  });

  it('counts a wakeup dropped from a full queue as lost', async () => {
    received = [];
    const { publisher, release } = gatedPublisher({ maxQueuedBytes: 200, missedNoticeDelayMs: 50 });
    await commitWith(publisher, append('hold-2', 1));
    const filling = live('full', 'a'.repeat(190 - Buffer.byteLength(encodeNotification(live('full', '')))));
    const sent = publisher.publish(filling);
    await commitWith(publisher, append('dropped-2', 1));
    release();
    await sent;
    await eventually(async () => notifications(), (n) => n.length >= 3, 'the notice');
    expect(notifications()).toEqual([append('hold-2', 1), filling, { kind: 'missed' }]);
    publisher.stop();
  });

  it('sends no notice for a live event that failed: its publisher heard of it', async () => {
    received = [];
    let fail = true;
    const publisher = new WakeupPublisher({
      db,
      log: quiet,
      missedNoticeDelayMs: 20,
      send: async (payloads) => {
        if (fail) throw new Error('connection lost');
        await sendNotifications(db, WAKEUP_CHANNEL, payloads);
      },
    });
    await expect(publisher.publish(live('heard', 1))).rejects.toThrow('connection lost');
    fail = false;
    await new Promise((resolve) => setTimeout(resolve, 150));
    await publisher.publish(live('heard', 2));
    await eventually(async () => notifications(), (n) => n.length >= 1, 'the second event');
    expect(notifications()).toEqual([live('heard', 2)]);
  });

  it('sends the notice when a failed flush mixed a live event with wakeups: the live event is rejected, the wakeups are lost', async () => {
    received = [];
    const sends: string[][] = [];
    let openGate: (() => void) | undefined;
    const publisher = new WakeupPublisher({
      db,
      log: quiet,
      missedNoticeDelayMs: 20,
      send: async (payloads) => {
        const n = sends.push(payloads);
        // The first flush waits while a live event and an append queue up behind it; the flush of both fails.
        if (n === 1) await new Promise<void>((resolve) => (openGate = resolve));
        if (n === 2) throw new Error('connection lost');
        await sendNotifications(db, WAKEUP_CHANNEL, payloads);
      },
    });
    await commitWith(publisher, append('mixed-held', 1));
    await eventually(async () => openGate, (gate) => gate !== undefined, 'the first flush at its gate');
    const sentLive = publisher.publish(live('mixed-live', 1));
    await commitWith(publisher, append('mixed-lost', 1));
    openGate!();
    await expect(sentLive).rejects.toThrow('connection lost');
    expect(sends[1]!.flatMap((payload) => decodeNotifications(payload) ?? [])).toEqual(
      expect.arrayContaining([live('mixed-live', 1), append('mixed-lost', 1)]),
    );
    // The append's reader heard nothing: changes feeds must be told to sweep.
    await eventually(async () => notifications(), (n) => n.length >= 2, 'the notice');
    expect(notifications()).toEqual([append('mixed-held', 1), { kind: 'missed' }]);
    publisher.stop();
  });

  it('reports each flush: what it carried, how long it took, whether it failed (and warns when it did)', async () => {
    const warnings: unknown[] = [];
    const { publisher, reports, step } = gatedPublisher();
    const held = Date.now();
    const sent = publisher.publish(live('timed', 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await step();
    await sent;
    expect(reports).toEqual([{ notifications: 1, kinds: { live: 1 }, payloads: 1, seconds: expect.any(Number), failed: false, waitedSeconds: expect.any(Number) }]);
    expect(reports[0]!.seconds).toBeGreaterThanOrEqual(0.04);
    expect(reports[0]!.seconds).toBeLessThanOrEqual((Date.now() - held) / 1000 + 0.01);

    const failing: FlushReport[] = [];
    const broken = new WakeupPublisher({
      db,
      log: { warn: (...args: unknown[]) => warnings.push(args) },
      onFlush: (report) => failing.push(report),
      send: async () => {
        throw new Error('connection lost');
      },
    });
    await commitWith(broken, append('lost', 1), append('lost-too', 1));
    await broken.drain();
    expect(failing).toEqual([{ notifications: 2, kinds: { append: 2 }, payloads: 1, seconds: expect.any(Number), failed: true, waitedSeconds: expect.any(Number) }]);
    expect(warnings).toEqual([[{ err: new Error('connection lost'), notifications: 2 }, expect.stringContaining('publishing wakeups failed')]]);
    broken.stop();
  });
  it('starts flushes at most every minFlushIntervalMs: the first after a quiet spell at once, what arrives meanwhile together in the next', async () => {
    const reports: FlushReport[] = [];
    const { publisher, starts, sends } = recordingPublisher({ minFlushIntervalMs: 1000, onFlush: (report) => reports.push(report) });
    await commitWith(publisher, append('interval-1', 1));
    // Sent from within the commit's publication: no wait at all.
    expect(sends).toHaveLength(1);
    await publisher.drain();
    // The commits' times bound when the first of them joined the queue (`queuedAt`), which a loaded machine delays.
    const commitsStarted = performance.now();
    let firstCommitted = Infinity;
    await Promise.all([2, 3, 4].map((n) => commitWith(publisher, append(`interval-${n}`, n)).then(() => (firstCommitted = Math.min(firstCommitted, performance.now())))));
    await publisher.drain();
    expect(sends).toHaveLength(2);
    expect(sends[1]!.flatMap((payload) => decodeNotifications(payload)!).map((n) => ('session_id' in n ? n.session_id : n.kind)).sort()).toEqual(['interval-2', 'interval-3', 'interval-4']);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(990);
    // The wait is what the delay metric reports: none for the first, for the others from the oldest's commit to the flush.
    expect(reports[0]!.waitedSeconds).toBeLessThan(0.5);
    expect(reports[1]!.waitedSeconds * 1000).toBeGreaterThanOrEqual(starts[1]! - firstCommitted - 5);
    expect(reports[1]!.waitedSeconds * 1000).toBeLessThanOrEqual(starts[1]! - commitsStarted);

    // Once they are sent, wakeups wait for the interval again.
    await commitWith(publisher, append('interval-8', 8));
    await publisher.drain();
    expect(sends).toHaveLength(3);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(990);
  });
  it('a live event is published at once, whatever the interval, and takes the wakeups that wait with it', async () => {
    // An interval no test waits out: a flush that waited for it would be stuck.
    const { publisher, sends } = recordingPublisher({ minFlushIntervalMs: 600_000 });
    await unlessStuck(commitWith(publisher, append('live-first-1', 1)), 'the first wakeup');
    expect(sends).toHaveLength(1);
    // This one waits for the interval...
    await commitWith(publisher, append('live-first-2', 2));
    expect(sends).toHaveLength(1);
    // ...until a live event's request, which waits for its NOTIFY only, and takes it along.
    await unlessStuck(publisher.publish(live('live-first', 3)), 'a live event behind a waiting wakeup');
    expect(sends).toHaveLength(2);
    expect(namesIn(sends[1]!)).toEqual(['live-first-2', 'live-first']);
    // Nor when it comes first.
    await unlessStuck(publisher.publish(live('live-first', 4)), 'a live event alone');
    expect(sends).toHaveLength(3);
    expect(namesIn(sends[2]!)).toEqual(['live-first']);
    publisher.stop();
  });

  it('holds exactly maxQueuedBytes waiting: a live event filling the queue to the byte is accepted, one byte more is refused', async () => {
    received = [];
    const { publisher, release } = gatedPublisher({ maxQueuedBytes: 1000 });
    // In flight at the gate: what is being sent no longer counts as waiting.
    await commitWith(publisher, append('to-the-byte-hold', 1));
    const sized = (bytes: number) => live('to-the-byte', 'q'.repeat(bytes - Buffer.byteLength(encodeNotification(live('to-the-byte', '')))));
    await expect(publisher.publish(sized(1001))).rejects.toThrow('wakeup queue full (0 bytes waiting)');
    const full = sized(1000);
    const sent = publisher.publish(full);
    expect(publisher.waiting).toBe(1);
    release();
    await sent;
    await eventually(async () => notificationsOf('to-the-byte').length, (n) => n >= 2, 'the full event');
    expect(notificationsOf('to-the-byte')).toEqual([append('to-the-byte-hold', 1), full]);
    publisher.stop();
  });

  it("publishes live events and activity to other instances, and answers their writers, even when handing them to this instance's streams throws", async () => {
    received = [];
    const warnings: unknown[][] = [];
    const publisher = new WakeupPublisher({
      db,
      log: { warn: (...args: unknown[]) => warnings.push(args) },
      local: {
        instanceId: 'throwing',
        deliver: () => {
          throw new Error('a local stream broke');
        },
      },
    });
    const activity: Notification = { kind: 'activity', session_id: 'local-throws', sid: 1, head: 0, activity: { status: 'thinking', updated_at: '2026-01-01T00:00:00.000Z' } };
    // The activity's write has committed: it must not fail after the fact.
    await commitWith(publisher, activity);
    const token = live('local-throws', 'still sent');
    await publisher.publish(token);
    await eventually(async () => notificationsOf('local-throws').length, (n) => n >= 2, 'both signals');
    expect(notificationsOf('local-throws')).toEqual([{ from: 'throwing', ...activity }, { from: 'throwing', ...token }]);
    expect(warnings.map((args) => args[1])).toEqual([expect.stringContaining('delivering a live signal'), expect.stringContaining('delivering a live signal')]);
    publisher.stop();
  });

  it('a live event published by the caller its flush just answered goes at once, without waiting for another commit (a token producer posting back to back)', async () => {
    const { publisher, sends } = recordingPublisher({});
    // The producer's next token is published in the same turn its previous one was answered in, while the
    // flush that answered it is still settling: nothing else will come along to send it.
    let second: Promise<void> | undefined;
    await unlessStuck(
      publisher.publish(live('back-to-back', 1)).then(() => {
        second = publisher.publish(live('back-to-back', 2));
      }),
      'the first token',
    );
    await unlessStuck(second!, 'a token published as the one before it was answered');
    expect(sends.map(namesIn)).toEqual([['back-to-back'], ['back-to-back']]);
    expect(publisher.waiting).toBe(0);
    publisher.stop();
  });

  it('after a live event has gone, wakeups wait for the interval again (a live event does not end every later wait)', async () => {
    const { publisher, sends } = recordingPublisher({ minFlushIntervalMs: 600_000 });
    await publisher.publish(live('interval-again', 1));
    expect(sends).toHaveLength(1);
    // Within the interval after the live event's flush: this wakeup waits...
    await commitWith(publisher, append('interval-again-1', 1));
    await commitWith(publisher, append('interval-again-2', 1));
    expect(sends).toHaveLength(1);
    // ...and goes with the next live event, batched.
    await publisher.publish(live('interval-again', 2));
    expect(sends).toHaveLength(2);
    expect(namesIn(sends[1]!)).toEqual(['interval-again-1', 'interval-again-2', 'interval-again']);
    publisher.stop();
  });

  it('rejects, and publishes nothing, when the statements left in flight fail after the COMMIT (the COMMIT was a ROLLBACK)', async () => {
    received = [];
    const publisher = new WakeupPublisher({ db, log: quiet });
    await expect(
      beginAndWake(
        { db, wakeups: publisher },
        async (tx) => {
          await tx`select 1`;
          wakeAfterCommit(tx, append('settle-rolled-back', 1));
          return 'written';
        },
        async () => {
          throw new Error('a pipelined statement failed');
        },
      ),
    ).rejects.toThrow('a pipelined statement failed');
    await commitWith(publisher, append('settle-committed', 1));
    await publisher.drain();
    await eventually(async () => notificationsOf('settle-').length, (n) => n >= 1, 'the settled wakeup');
    expect(notificationsOf('settle-')).toEqual([append('settle-committed', 1)]);
    publisher.stop();
  });

  it('drain waits until everything queued before it ends has been sent: also what a caller answered by the last flush published at once', async () => {
    const delivered: string[] = [];
    const publisher = new WakeupPublisher({
      db,
      log: quiet,
      send: async (payloads) => {
        await sendNotifications(db, WAKEUP_CHANNEL, payloads);
        delivered.push(...payloads);
      },
    });
    // A token producer: each token is posted once the one before it has been answered (shutdown must not cut the next one off).
    let second: Promise<void> | undefined;
    const first = publisher.publish(live('drain-token', 1)).then(() => {
      second = publisher.publish(live('drain-token', 2));
    });
    await publisher.drain();
    expect(second).toBeDefined();
    expect(delivered.flatMap((payload) => decodeNotifications(payload)!)).toEqual([live('drain-token', 1), live('drain-token', 2)]);
    expect(publisher.waiting).toBe(0);
    await first;
    await second;
  });

  it('sends no `missed` notice once stopped, though one was due (a stopping instance publishes nothing more)', async () => {
    const notices = (sends: string[][]) => sends.flat().filter((payload) => payload === '{"kind":"missed"}');
    const losing = (sends: string[][]) =>
      new WakeupPublisher({
        db,
        log: quiet,
        missedNoticeDelayMs: 30,
        send: async (payloads) => {
          sends.push(payloads);
          if (notices([payloads]).length === 0) throw new Error('connection lost');
        },
      });
    const stoppedSends: string[][] = [];
    const stopped = losing(stoppedSends);
    await commitWith(stopped, append('stopped-lost', 1));
    await stopped.drain();
    stopped.stop();
    // A publisher that lost a wakeup after it, with the same delay: once its notice has gone, the stopped one's was due.
    const runningSends: string[][] = [];
    const running = losing(runningSends);
    await commitWith(running, append('running-lost', 1));
    await running.drain();
    await eventually(async () => notices(runningSends).length, (n) => n >= 1, "the running publisher's notice");
    await stopped.drain();
    expect(notices(stoppedSends)).toEqual([]);
    expect(stoppedSends).toHaveLength(1);
    running.stop();
  });
});
