import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/stream/budget.js';

/** The process-wide budget of replay pages held in memory (STREAM_ROWS_MEMORY_BYTES), in the order asked. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('ByteBudget', () => {
  it('grants at once up to exactly the total; past it, waits for a release', async () => {
    const budget = new ByteBudget(100);
    const first = await budget.acquire(60);
    const second = await budget.acquire(40);
    expect(budget.inUse).toBe(100);
    expect(budget.contended).toBe(false);
    let third: (() => void) | undefined;
    void budget.acquire(1).then((release) => (third = release));
    await settle();
    expect(third).toBeUndefined();
    expect(budget.contended).toBe(true);
    first();
    await settle();
    expect(third).toBeDefined();
    expect(budget.inUse).toBe(41);
    expect(budget.contended).toBe(false);
    second();
    third!();
    expect(budget.inUse).toBe(0);
  });

  it('a release grants a waiting request only once it fits', async () => {
    const budget = new ByteBudget(100);
    const sixty = await budget.acquire(60);
    const thirty = await budget.acquire(30);
    let waiting: (() => void) | undefined;
    void budget.acquire(50).then((release) => (waiting = release));
    thirty();
    await settle();
    // 60 + 50 would pass the total: still waiting.
    expect(waiting).toBeUndefined();
    expect(budget.inUse).toBe(60);
    sixty();
    await settle();
    expect(waiting).toBeDefined();
    expect(budget.inUse).toBe(50);
  });

  it('hands out room first come, first served: a small request does not pass a large one waiting', async () => {
    const budget = new ByteBudget(100);
    const held = await budget.acquire(90);
    const order: string[] = [];
    const large = budget.acquire(50).then((release) => (order.push('large'), release));
    const small = budget.acquire(5).then((release) => (order.push('small'), release));
    await settle();
    expect(order).toEqual([]);
    held();
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
    expect(budget.inUse).toBe(55);
  });

  it('a request larger than the total takes the whole budget rather than waiting for ever', async () => {
    const budget = new ByteBudget(100);
    const release = await budget.acquire(1000);
    expect(budget.inUse).toBe(100);
    release();
    expect(budget.inUse).toBe(0);
  });

  it('releasing twice frees the bytes once', async () => {
    const budget = new ByteBudget(100);
    const a = await budget.acquire(30);
    await budget.acquire(30);
    a();
    a();
    expect(budget.inUse).toBe(30);
  });

  it('an abandoned wait leaves the queue, resolves with a no-op, and lets the next one in', async () => {
    const budget = new ByteBudget(100);
    const held = await budget.acquire(80);
    let cancel: (() => void) | undefined;
    const abandoned = budget.acquire(50, (c) => (cancel = c));
    let next: (() => void) | undefined;
    void budget.acquire(20).then((release) => (next = release));
    await settle();
    expect(next).toBeUndefined();
    cancel!();
    const noop = await abandoned;
    await settle();
    // With the 50 gone from the head of the queue, 20 fits beside the 80 held.
    expect(next).toBeDefined();
    expect(budget.inUse).toBe(100);
    noop();
    expect(budget.inUse).toBe(100);
    // Cancelling again (the caller's cleanup running twice) must not take someone else's place.
    let later: (() => void) | undefined;
    void budget.acquire(60).then((release) => (later = release));
    await settle();
    cancel!();
    held();
    await settle();
    expect(later).toBeDefined();
    expect(budget.inUse).toBe(80);
  });

  it('shrinkTo gives back what a read did not need, lets the queue in, and never takes more', async () => {
    const budget = new ByteBudget(100);
    const page = await budget.acquire(80);
    let next: (() => void) | undefined;
    void budget.acquire(50).then((release) => (next = release));
    await settle();
    expect(next).toBeUndefined();
    page.shrinkTo(10);
    await settle();
    expect(next).toBeDefined();
    expect(budget.inUse).toBe(60);
    // Growing back is not a shrink: the 10 stay 10.
    page.shrinkTo(70);
    expect(budget.inUse).toBe(60);
    page.shrinkTo(-5);
    expect(budget.inUse).toBe(50);
    // Released after a shrink, it gives back what it still held, once; a shrink after release does nothing.
    page();
    page.shrinkTo(0);
    page();
    expect(budget.inUse).toBe(50);
  });

  it('a reservation released before it shrinks gives back all of it', async () => {
    const budget = new ByteBudget(100);
    const page = await budget.acquire(40);
    page();
    page.shrinkTo(10);
    expect(budget.inUse).toBe(0);
  });
});
