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
});
