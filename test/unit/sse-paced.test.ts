import type * as TimersPromises from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SseWriter, YIELD_AFTER_MS } from '../../src/stream/sse.js';
import { PacedClient } from '../helpers/paced-client.js';

/**
 * The waits of a replay sent at the client's pace, on a fake clock: the
 * writer's timer comes from node:timers/promises, which the fake timers do
 * not reach, so it is routed here to the (faked) global setTimeout, keeping
 * its AbortSignal. Every step is the test advancing the clock, never time
 * passing.
 */
vi.mock('node:timers/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof TimersPromises>();
  return {
    ...actual,
    setTimeout: <T>(ms: number, value: T, options: { signal?: AbortSignal } = {}) =>
      new Promise<T>((resolve, reject) => {
        const { signal } = options;
        const timer = globalThis.setTimeout(() => resolve(value), ms);
        signal?.addEventListener('abort', () => {
          globalThis.clearTimeout(timer);
          reject(signal.reason);
        });
      }),
  };
});

const DRAIN_TIMEOUT_MS = 30_000;

const big = (i: number) => `id: ${i}\nevent: note\ndata: "${String(i).padEnd(4000, '.')}"\n\n`;

/** Lets promise callbacks (and the stream's nextTick work) run without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T } = { settled: false };
  void promise.then((value) => Object.assign(state, { settled: true, value }));
  return state;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('writePaced under a client that takes nothing', () => {
  it('with nobody else waiting, it is cut off after exactly 30 s, not at a yield', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    const sent = track(writer.writePaced(big(1)));
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT_MS - 1);
    expect(sent.settled).toBe(false);
    expect(writer.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual({ settled: true, value: false });
    expect(writer.reason).toBe('slow reader');
    expect(client.socket.destroyed).toBe(true);
  });

  it('the 30 s are counted on the clock, not in yields: a wait that ran late shortens the last one', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    const sent = track(writer.writePaced(big(1)));
    // The process stalled (or the timer fired late): 28.5 s more of the clock went by during the first wait.
    vi.setSystemTime(Date.now() + 28_500);
    await vi.advanceTimersByTimeAsync(YIELD_AFTER_MS);
    expect(sent.settled).toBe(false);
    // 500 ms were left before the deadline: the next wait is that long, not a whole yield.
    await vi.advanceTimersByTimeAsync(499);
    expect(sent.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toEqual({ settled: true, value: false });
    expect(writer.reason).toBe('slow reader');
  });

  it('with others waiting for the memory it holds, it gives way after exactly YIELD_AFTER_MS', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    let asked = 0;
    const sent = track(writer.writePaced(big(1), () => (asked++, true)));
    await vi.advanceTimersByTimeAsync(YIELD_AFTER_MS - 1);
    // Asked only once it has waited a full YIELD_AFTER_MS.
    expect(asked).toBe(0);
    expect(sent.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toBe(1);
    expect(sent).toEqual({ settled: true, value: false });
    expect(writer.reason).toBe('slow reader');
    expect(client.socket.destroyed).toBe(true);
  });

  it('asks whether others wait once per YIELD_AFTER_MS, and a read before the deadline lets the replay go on', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    const drainListeners = client.socket.listenerCount('drain');
    const closeListeners = client.socket.listenerCount('close');
    let asked = 0;
    const sent = track(writer.writePaced(big(1), () => (asked++, false)));
    await vi.advanceTimersByTimeAsync(5 * YIELD_AFTER_MS);
    expect(asked).toBe(5);
    expect(sent.settled).toBe(false);
    // Only the current wait listens: the earlier ones took theirs away (a 30 s stall is 30 waits).
    expect(client.socket.listenerCount('drain')).toBe(drainListeners + 1);
    expect(client.socket.listenerCount('close')).toBe(closeListeners + 1);
    client.read();
    await settle();
    expect(sent).toEqual({ settled: true, value: true });
    expect(writer.closed).toBe(false);
  });

  it('a client that goes away mid-wait ends the write at once, without waiting for the yield', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    const sent = track(writer.writePaced(big(1), () => false));
    await settle();
    client.socket.destroy();
    await settle();
    expect(sent).toEqual({ settled: true, value: false });
  });

  it('each wait cleans up after itself: a long replay leaves no timers or listeners behind', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    const listeners = () => ({ drain: client.socket.listenerCount('drain'), close: client.socket.listenerCount('close') });
    const before = listeners();
    for (let i = 1; i <= 3; i++) {
      const sent = track(writer.writePaced(big(i), () => false));
      await vi.advanceTimersByTimeAsync(YIELD_AFTER_MS);
      client.read();
      await settle();
      expect(sent).toEqual({ settled: true, value: true });
    }
    expect(vi.getTimerCount()).toBe(0);
    expect(listeners()).toEqual(before);
  });
});

describe('ending a stream', () => {
  it('a stream ended cleanly is not destroyed by a later cut-off: its last bytes still reach the client', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 1 << 20);
    writer.push(big(1));
    writer.push(big(2));
    writer.end('replay complete');
    writer.destroy('slow reader');
    expect(writer.reason).toBe('replay complete');
    expect(client.socket.destroyed).toBe(false);
    for (let i = 0; i < 5; i++) {
      client.read();
      await settle();
    }
    expect(client.received.join('')).toBe(big(1) + big(2));
    expect(client.socket.writableFinished).toBe(true);
  });
});
