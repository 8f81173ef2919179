import { describe, expect, it } from 'vitest';
import { type CachedState, StateCache } from '../../src/state/cache.js';

const entry = (sid: number, version: number, bytes: number): CachedState => ({ sid, version, document: { v: version }, bytes });

describe('StateCache', () => {
  it('answers only for the same incarnation and version, and drops a stale entry', () => {
    const cache = new StateCache(1000);
    cache.set('s', entry(1, 5, 10));
    expect(cache.get('s', 1, 5)).toEqual(entry(1, 5, 10));
    expect(cache.get('s', 2, 5)).toBeUndefined();
    // The stale read dropped it: the right key no longer finds it either.
    expect(cache.get('s', 1, 5)).toBeUndefined();
    cache.set('s', entry(1, 5, 10));
    expect(cache.get('s', 1, 6)).toBeUndefined();
    expect(cache.get('s', 1, 5)).toBeUndefined();
  });

  it('keeps at most its byte budget, dropping the least recently used', () => {
    const cache = new StateCache(100);
    cache.set('a', entry(1, 1, 40));
    cache.set('b', entry(1, 1, 40));
    // Reading a makes b the least recently used.
    expect(cache.get('a', 1, 1)).toBeDefined();
    // Exactly 100 bytes held: nothing goes yet.
    cache.set('c', entry(1, 1, 20));
    // One byte more: the least recently used (b) goes, and only it.
    cache.set('d', entry(1, 1, 1));
    expect(cache.get('b', 1, 1)).toBeUndefined();
    expect(cache.get('a', 1, 1)).toBeDefined();
    expect(cache.get('c', 1, 1)).toBeDefined();
    expect(cache.get('d', 1, 1)).toBeDefined();
  });

  it('does not keep an entry larger than the whole budget, and replacing an entry frees its old bytes', () => {
    const cache = new StateCache(100);
    cache.set('big', entry(1, 1, 101));
    expect(cache.get('big', 1, 1)).toBeUndefined();
    cache.set('a', entry(1, 1, 60));
    cache.set('a', entry(1, 2, 60));
    cache.set('b', entry(1, 1, 40));
    expect(cache.get('a', 1, 2)).toBeDefined();
    expect(cache.get('b', 1, 1)).toBeDefined();
    cache.set('exact', entry(1, 1, 100));
    expect(cache.get('exact', 1, 1)).toBeDefined();
  });

  it('runs the writes of one session one at a time, in order; other sessions do not wait', async () => {
    const cache = new StateCache(100);
    const log: string[] = [];
    let releaseFirst!: () => void;
    const first = cache.write('s', async () => {
      log.push('first start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      log.push('first end');
    });
    const second = cache.write('s', async () => {
      log.push('second');
    });
    await cache.write('other', async () => {
      log.push('other');
    });
    expect(log).toEqual(['first start', 'other']);
    releaseFirst();
    await Promise.all([first, second]);
    expect(log).toEqual(['first start', 'other', 'first end', 'second']);
  });

  it('a write arriving while the second of a queue runs still waits for it', async () => {
    const cache = new StateCache(100);
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const held = (name: string) => () =>
      new Promise<void>((resolve) => {
        log.push(`${name} start`);
        gates.push(() => {
          log.push(`${name} end`);
          resolve();
        });
      });
    const first = cache.write('s', held('first'));
    const second = cache.write('s', held('second'));
    await Promise.resolve();
    gates.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first start', 'first end', 'second start']);
    const third = cache.write('s', async () => {
      log.push('third');
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first start', 'first end', 'second start']);
    gates.shift()!();
    await Promise.all([second, third]);
    expect(log).toEqual(['first start', 'first end', 'second start', 'second end', 'third']);
  });

  it('a failed write drops the session entry and lets the next write run', async () => {
    const cache = new StateCache(100);
    cache.set('s', entry(1, 1, 10));
    await expect(
      cache.write('s', async () => {
        throw new Error('commit failed');
      }),
    ).rejects.toThrow('commit failed');
    expect(cache.get('s', 1, 1)).toBeUndefined();
    expect(await cache.write('s', async () => 'next')).toBe('next');
  });
});
