import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ByteBudget, releaseWhenSent, STALLED_CLIENT_MS } from '../../src/stream/budget.js';

/**
 * A history answer's share of the row budget (STREAM_ROWS_MEMORY_BYTES) is
 * held until its body has gone to the socket; a client that takes nothing is
 * cut off after STALLED_CLIENT_MS, or after a second while others wait for
 * room. The response is a fake the test finishes, closes or leaves stalled;
 * the clock is fake.
 */
class FakeResponse extends EventEmitter {
  destroyed = false;
  writableFinished = false;
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // As a ServerResponse: 'close' comes later, once the socket is gone.
    process.nextTick(() => this.emit('close'));
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A budget of 100 bytes with `held` of them taken by the answer under test. */
async function held(bytes = 60) {
  const budget = new ByteBudget(100);
  const release = await budget.acquire(bytes);
  return { budget, release };
}

describe('releaseWhenSent', () => {
  it('frees the share once the body is sent, and not before', async () => {
    const { budget, release } = await held();
    const res = new FakeResponse();
    releaseWhenSent(res.res, budget, release);
    vi.advanceTimersByTime(STALLED_CLIENT_MS - 1);
    expect(budget.inUse).toBe(60);
    expect(res.destroyed).toBe(false);
    res.emit('finish');
    expect(budget.inUse).toBe(0);
    // Nothing is left to cut the (finished) response off later.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a response already closed or finished while it waited frees the share at once', async () => {
    for (const gone of [{ destroyed: true }, { writableFinished: true }]) {
      const { budget, release } = await held();
      const res = new FakeResponse();
      Object.assign(res, gone);
      releaseWhenSent(res.res, budget, release);
      expect(budget.inUse).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    }
  });

  it('a client that goes away before the body is sent frees the share when it closes', async () => {
    const { budget, release } = await held();
    const res = new FakeResponse();
    releaseWhenSent(res.res, budget, release);
    res.emit('close');
    expect(budget.inUse).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a client that takes nothing is cut off after exactly STALLED_CLIENT_MS when nobody waits', async () => {
    const { budget, release } = await held();
    const res = new FakeResponse();
    releaseWhenSent(res.res, budget, release);
    vi.advanceTimersByTime(STALLED_CLIENT_MS - 1000);
    expect(res.destroyed).toBe(false);
    expect(budget.inUse).toBe(60);
    vi.advanceTimersByTime(1000);
    expect(res.destroyed).toBe(true);
    // Freed with the cut, not later when the socket reports it closed.
    expect(budget.inUse).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('while another answer waits for room, a client that takes nothing gives its share up after a second', async () => {
    const { budget, release } = await held();
    const res = new FakeResponse();
    releaseWhenSent(res.res, budget, release);
    let waiting: (() => void) | undefined;
    void budget.acquire(50).then((r) => (waiting = r));
    expect(budget.contended).toBe(true);
    vi.advanceTimersByTime(999);
    expect(res.destroyed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(res.destroyed).toBe(true);
    // The waiting answer gets the room at once.
    expect(budget.inUse).toBe(50);
    await Promise.resolve();
    expect(waiting).toBeDefined();
  });
});
