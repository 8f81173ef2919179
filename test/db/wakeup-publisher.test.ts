import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendNotifications } from '../../src/db/statements.js';
import { PayloadTooLarge } from '../../src/errors.js';
import { beginAndWake, wakeAfterCommit, WakeupPublisher } from '../../src/wakeups/publisher.js';
import { decodeNotifications, MAX_WAKEUP_BYTES, type Notification, WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { createTestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/streams.js';

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

/** A publisher whose sends wait at a gate the test opens, each send recorded, then really sent. */
function gatedPublisher() {
  const sends: string[][] = [];
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const publisher = new WakeupPublisher({
    db,
    log: quiet,
    send: async (payloads) => {
      sends.push(payloads);
      await gate;
      await sendNotifications(db, WAKEUP_CHANNEL, payloads);
    },
  });
  return {
    publisher,
    sends,
    release: () => {
      open();
      gate = Promise.resolve();
    },
  };
}

const notifications = () => received.flatMap((payload): unknown[] => decodeNotifications(payload) ?? [{ malformed: payload }]);
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
    const { publisher, sends, release } = gatedPublisher();
    await commitWith(publisher, append('hold', 1));
    // Each too large to share a payload with the other, and equal: one transaction would deliver it once.
    const token = 'x'.repeat(MAX_WAKEUP_BYTES / 2);
    const both = [publisher.publish(live('twice', token)), publisher.publish(live('twice', token))];
    release();
    await Promise.all(both);
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
});
