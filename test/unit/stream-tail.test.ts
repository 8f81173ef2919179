import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventRow, EventRowPage } from '../../src/events/read.js';
import { cursorExpiredFrame, SessionTail, Subscriber, toFrame } from '../../src/stream/tail.js';
import { asWriter, FakeWriter } from '../helpers/fake-writer.js';

/**
 * The shared tail of a session and its subscribers, driven by hand: rows come
 * from an in-memory history through a reader whose pages the test releases
 * one at a time, and each subscriber writes into an array. Every ordering is
 * chosen by the test, none is left to timing.
 */
const row = (seq: number): EventRow => ({ seq, type: 'note', data: String(seq), version: null, createdAt: new Date(0) });
const durable = (seq: number) => toFrame(row(seq));
const live = (name: string) => `event: live\ndata: "${name}"\n\n`;

class History {
  rows: EventRow[] = [];
  reads: { after: number; limit: number }[] = [];
  private waiting: (() => void)[] = [];
  /** While held, each read waits for `release()`. */
  held = false;
  failNext = false;
  /** Rows up to this seq were trimmed (retention); undefined: nothing trimmed. */
  historyStart: number | undefined;

  append(...seqs: number[]): void {
    for (const seq of seqs) this.rows.push(row(seq));
  }

  readonly read = async (_sid: number, after: number, limit: number): Promise<EventRowPage> => {
    this.reads.push({ after, limit });
    // What was committed when the read began: rows appended while it waits belong to the next one.
    const rows = this.rows.filter((r) => r.seq > after).slice(0, limit);
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('database unreachable');
    }
    return { rows, cut: false, ...(this.historyStart === undefined ? {} : { historyStart: this.historyStart }) };
  };

  /** Lets the oldest waiting read answer. */
  release(): void {
    this.waiting.shift()?.();
  }
}


/** Lets every pending promise callback run (the tail's reads are promise chains, no timers). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

const warnings: [unknown, string | undefined][] = [];
const log = { warn: (entry: unknown, message?: string) => warnings.push([entry, message]) };

function setup(pageSize = 100) {
  const history = new History();
  const tail = new SessionTail('s', 1, history.read, pageSize, log);
  const join = (lastSeq: number) => {
    const subscriber = new Subscriber(lastSeq);
    const writer = new FakeWriter();
    subscriber.writer = asWriter(writer);
    tail.add(subscriber);
    return { subscriber, writer };
  };
  return { history, tail, join };
}

describe('joining the shared tail', () => {
  it('the first subscriber starts the tail at its own cursor and the tail reads once', async () => {
    const { history, tail, join } = setup();
    history.append(1, 2, 3);
    const { subscriber, writer } = join(2);
    expect(tail.tryJoin(subscriber)).toBe(true);
    await settle();
    expect(history.reads).toEqual([{ after: 2, limit: 100 }]);
    expect(writer.text).toBe(durable(3));
    expect(subscriber.lastSeq).toBe(3);
  });

  it('a subscriber exactly at the tail edge joins; one row behind must read on by itself', async () => {
    const { history, tail, join } = setup();
    history.append(1, 2, 3);
    const first = join(0);
    tail.tryJoin(first.subscriber);
    await settle();
    expect(first.subscriber.lastSeq).toBe(3);
    const behind = join(2);
    expect(tail.tryJoin(behind.subscriber)).toBe(false);
    expect(behind.subscriber.joined).toBe(false);
    const atEdge = join(3);
    expect(tail.tryJoin(atEdge.subscriber)).toBe(true);
    history.append(4);
    tail.wake();
    await settle();
    // Each gets seq 4 once; the one that did not join gets nothing from the tail.
    expect(first.writer.text).toBe([1, 2, 3, 4].map(durable).join(''));
    expect(atEdge.writer.text).toBe(durable(4));
    expect(behind.writer.frames).toEqual([]);
  });

  it('a subscriber that joined ahead of the tail is sent only the rows after its own cursor', async () => {
    const { history, tail, join } = setup();
    history.append(1);
    const first = join(0);
    tail.tryJoin(first.subscriber);
    await settle();
    // Another stream replayed on by itself to seq 3 while the tail was still at 1.
    history.append(2, 3, 4, 5, 6);
    const ahead = join(3);
    expect(tail.tryJoin(ahead.subscriber)).toBe(true);
    tail.wake();
    await settle();
    expect(first.writer.text).toBe([1, 2, 3, 4, 5, 6].map(durable).join(''));
    expect(ahead.writer.text).toBe([4, 5, 6].map(durable).join(''));
    expect(ahead.subscriber.lastSeq).toBe(6);
  });

  it('once the last subscriber has left, a wakeup reads nothing', async () => {
    const { history, tail, join } = setup();
    history.append(1);
    const { subscriber } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    expect(history.reads).toHaveLength(1);
    tail.remove(subscriber);
    history.append(2);
    tail.wake();
    tail.publishLive(2, live('nobody'));
    await settle();
    expect(history.reads).toHaveLength(1);
  });

  it('nobody joined: a wakeup reads nothing', async () => {
    const { history, tail, join } = setup();
    join(0);
    tail.wake();
    await settle();
    expect(history.reads).toEqual([]);
  });
});

describe('reading the history behind a wakeup', () => {
  it('reads page after full page until a short one', async () => {
    const { history, tail, join } = setup(2);
    history.append(1, 2, 3, 4, 5);
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    expect(history.reads.map((r) => r.after)).toEqual([0, 2, 4]);
    expect(writer.text).toBe([1, 2, 3, 4, 5].map(durable).join(''));
  });

  it('reads on after a page the byte bound cut short', async () => {
    const history = new History();
    history.append(1, 2, 3);
    let first = true;
    // The first page holds one row of the ten asked for: the byte bound ended it.
    const cutting = async (sid: number, after: number, limit: number): Promise<EventRowPage> => {
      if (!first) return history.read(sid, after, limit);
      first = false;
      return { rows: [row(1)], cut: true };
    };
    const tail = new SessionTail('s', 1, cutting, 10, log);
    const subscriber = new Subscriber(0);
    const writer = new FakeWriter();
    subscriber.writer = asWriter(writer);
    tail.add(subscriber);
    tail.tryJoin(subscriber);
    await settle();
    expect(writer.text).toBe([1, 2, 3].map(durable).join(''));
  });

  it('a wakeup during a read is not lost: the tail reads again once that read is done', async () => {
    const { history, tail, join } = setup();
    history.append(1);
    history.held = true;
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    // Seq 2 commits, and its wakeup arrives, while the read for seq 1 is under way.
    history.append(2);
    tail.wake();
    history.release();
    await settle();
    expect(writer.text).toBe(durable(1));
    history.release();
    await settle();
    expect(writer.text).toBe([1, 2].map(durable).join(''));
    expect(history.reads.map((r) => r.after)).toEqual([0, 1]);
  });

  it('a failed read is logged and the stream stays open', async () => {
    const { history, tail, join } = setup();
    history.append(1);
    history.failNext = true;
    const { subscriber, writer } = join(0);
    warnings.length = 0;
    tail.tryJoin(subscriber);
    await settle();
    expect(warnings).toEqual([[{ err: new Error('database unreachable'), session: 's' }, 'stream tail read failed; retrying']]);
    expect(writer.ended).toBeUndefined();
    // The next wakeup (or the retry, or a LISTEN reconnect) reads from the same cursor.
    tail.wake();
    await settle();
    expect(writer.text).toBe(durable(1));
    tail.remove(subscriber);
  });
});

describe('a failed read is retried after RETRY_READ_MS', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads again after exactly a second, and delivers what it missed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { history, tail, join } = setup();
    history.append(1);
    history.failNext = true;
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    expect(history.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(history.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(history.reads).toHaveLength(2);
    expect(writer.text).toBe(durable(1));
    tail.remove(subscriber);
  });

  it('failing again before the retry moves the retry on: one retry per failure, not one per failure seen', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { history, tail, join } = setup();
    history.append(1);
    history.failNext = true;
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    await vi.advanceTimersByTimeAsync(500);
    // A wakeup half way through the wait; that read fails too.
    history.failNext = true;
    tail.wake();
    await settle();
    expect(history.reads).toHaveLength(2);
    // The first failure's retry was replaced: nothing at its time, one read a second after the second failure.
    await vi.advanceTimersByTimeAsync(999);
    expect(history.reads).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(history.reads).toHaveLength(3);
    expect(writer.text).toBe(durable(1));
    await vi.advanceTimersByTimeAsync(5000);
    expect(history.reads).toHaveLength(3);
    tail.remove(subscriber);
  });
});

describe('history trimmed under the tail (retention)', () => {
  it('ends the joined streams that had not sent the trimmed events, with session.cursor_expired; the others go on', async () => {
    const { history, tail, join } = setup();
    // Events up to seq 5 were trimmed: history starts after 5.
    history.append(6, 7, 8);
    history.historyStart = 5;
    const behind = join(2);
    const atStart = join(5);
    const ahead = join(7);
    const replaying = join(0);
    // The first to join starts the tail at 2; the others join ahead of it before it reads.
    expect(tail.tryJoin(behind.subscriber)).toBe(true);
    expect(tail.tryJoin(atStart.subscriber)).toBe(true);
    expect(tail.tryJoin(ahead.subscriber)).toBe(true);
    await settle();
    expect(behind.writer.frames).toEqual([cursorExpiredFrame(2, 5)]);
    expect(behind.writer.ended).toBe('cursor expired');
    expect(atStart.writer.text).toBe([6, 7, 8].map(durable).join(''));
    expect(atStart.writer.ended).toBeUndefined();
    expect(ahead.writer.text).toBe(durable(8));
    expect(ahead.writer.ended).toBeUndefined();
    // A stream still replaying by itself finds the trimmed history on its own reads; the tail leaves it be.
    expect(replaying.writer.frames).toEqual([]);
    expect(replaying.writer.ended).toBeUndefined();
    // The tail reads on from the start of history, not from its old cursor.
    expect(history.reads.map((r) => r.after)).toEqual([2, 5]);
  });
});

describe('live events keep their place behind the history they follow', () => {
  it('a live event published at a head the tail has not read waits for those rows, then follows them', async () => {
    const { history, tail, join } = setup();
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    history.held = true;
    history.append(1);
    // seq 1 committed, then the live event was sent with head 1; the wakeup for 1 may come later.
    tail.publishLive(1, live('after-1'));
    expect(writer.frames).toEqual([]);
    history.release();
    await settle();
    expect(writer.frames).toEqual([durable(1), live('after-1')]);
  });

  it('a live event at a head already delivered goes out at once, and after any still waiting', async () => {
    const { history, tail, join } = setup();
    history.append(1);
    const { subscriber, writer } = join(0);
    tail.tryJoin(subscriber);
    await settle();
    tail.publishLive(1, live('now'));
    expect(writer.frames).toEqual([durable(1), live('now')]);
    history.held = true;
    history.append(2);
    tail.publishLive(2, live('after-2'));
    // Its head is read, but an earlier one still waits: order is kept.
    tail.publishLive(1, live('at-1'));
    expect(writer.frames).toEqual([durable(1), live('now')]);
    history.release();
    await settle();
    history.release();
    await settle();
    expect(writer.frames).toEqual([durable(1), live('now'), durable(2), live('after-2'), live('at-1')]);
  });

  it('a subscriber still replaying history keeps live events until it joins, then gets them after its history', async () => {
    const { history, tail, join } = setup();
    history.append(1, 2, 3);
    const leader = join(0);
    tail.tryJoin(leader.subscriber);
    await settle();
    const replaying = join(0);
    // The tail delivers live events of head 3 to everyone; the replaying stream has sent nothing yet.
    tail.publishLive(3, live('at-3'));
    expect(leader.writer.frames.at(-1)).toBe(live('at-3'));
    expect(replaying.writer.frames).toEqual([]);
    // It replays by itself up to the tail, then joins.
    for (const seq of [1, 2, 3]) replaying.writer.push(durable(seq));
    replaying.subscriber.lastSeq = 3;
    expect(tail.tryJoin(replaying.subscriber)).toBe(true);
    expect(replaying.writer.frames).toEqual([durable(1), durable(2), durable(3), live('at-3')]);
    // Once joined, live events go straight out.
    tail.publishLive(3, live('joined'));
    expect(replaying.writer.frames.at(-1)).toBe(live('joined'));
  });

  it('a replaying subscriber keeps exactly 64 KiB of live events whole; one byte more drops the oldest', () => {
    const subscriber = new Subscriber(0);
    const writer = new FakeWriter();
    subscriber.writer = asWriter(writer);
    // Frames of exactly 16 KiB: four make 64 KiB.
    const frame = (i: number, extra = 0) => {
      const head = `event: live\ndata: "${i}`;
      return `${head}${'.'.repeat(16 * 1024 + extra - head.length - 3)}"\n\n`;
    };
    expect(frame(0)).toHaveLength(16 * 1024);
    for (let i = 0; i < 4; i++) subscriber.deliverLive(frame(i));
    subscriber.joined = true;
    subscriber.flushLiveBacklog();
    expect(writer.frames).toEqual([0, 1, 2, 3].map((i) => frame(i)));

    const over = new Subscriber(0);
    const overWriter = new FakeWriter();
    over.writer = asWriter(overWriter);
    for (let i = 0; i < 3; i++) over.deliverLive(frame(i));
    over.deliverLive(frame(3, 1));
    over.joined = true;
    over.flushLiveBacklog();
    expect(overWriter.frames).toEqual([frame(1), frame(2), frame(3, 1)]);
  });

  it('a replaying subscriber keeps at most 64 KiB of live events, dropping the oldest', () => {
    const subscriber = new Subscriber(0);
    const writer = new FakeWriter();
    subscriber.writer = asWriter(writer);
    const big = (i: number) => `event: live\ndata: "${String(i).padEnd(16 * 1024, '.')}"\n\n`;
    for (let i = 0; i < 5; i++) subscriber.deliverLive(big(i));
    subscriber.joined = true;
    subscriber.flushLiveBacklog();
    // Frames of 16406 bytes: four pass 64 KiB, so only the newest three are kept.
    expect(writer.frames).toEqual([big(2), big(3), big(4)]);
  });
});

describe('the end of a session', () => {
  it('ends joined streams with a final frame, and keeps it for a stream not yet writing', () => {
    const { tail, join } = setup();
    const open = join(0);
    const opening = new Subscriber(0);
    tail.add(opening);
    tail.finish('event: session.deleted\ndata: {}\n\n', 'session deleted');
    expect(open.writer.frames).toEqual(['event: session.deleted\ndata: {}\n\n']);
    expect(open.writer.ended).toBe('session deleted');
    expect(opening.finalFrame).toBe('event: session.deleted\ndata: {}\n\n');
  });
});
