import { describe, expect, it } from 'vitest';
import { SameTurnReads } from '../../src/streams/shared-reads.js';

// The sharing under Durable Streams reads (src/streams/shared-reads.ts): the same ask in one turn reads once,
// and nobody is served by a read that started before they asked.
describe('SameTurnReads', () => {
  function gatedRead() {
    const started: string[] = [];
    const gates: (() => void)[] = [];
    const read = (value: string) => () => {
      started.push(value);
      return new Promise<string>((resolve) => gates.push(() => resolve(value)));
    };
    return { started, gates, read };
  }

  it('asks for one key in the same turn share one read; other keys read apart', async () => {
    const reads = new SameTurnReads();
    const { started, gates, read } = gatedRead();
    const a = reads.share('k', read('a'));
    const b = reads.share('k', read('b'));
    const other = reads.share('j', read('j'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a', 'j']);
    for (const open of gates) open();
    expect(await Promise.all([a, b, other])).toEqual(['a', 'a', 'j']);
  });

  it('an ask made after the read started gets a read of its own', async () => {
    const reads = new SameTurnReads();
    const { started, gates, read } = gatedRead();
    const first = reads.share('k', read('before'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['before']);
    // The first read is on its way (not answered): what committed since must not be missed.
    const second = reads.share('k', read('after'));
    const third = reads.share('k', read('after, too'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['before', 'after']);
    for (const open of gates) open();
    expect(await Promise.all([first, second, third])).toEqual(['before', 'after', 'after']);
  });

  it('a failed read fails every ask it served, and the next ask reads again', async () => {
    const reads = new SameTurnReads();
    const refused = () => Promise.reject(new Error('gone'));
    const both = [reads.share('k', refused), reads.share('k', refused)];
    for (const ask of both) await expect(ask).rejects.toThrow('gone');
    expect(await reads.share('k', () => Promise.resolve('again'))).toBe('again');
  });
});
