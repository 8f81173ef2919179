import { describe, expect, it } from 'vitest';
import { bytesForkPrefix, jsonForkPrefix, parseForkHeaders, type BytesForkPrefix } from '../../src/streams/fork-offsets.js';

const ZERO = '0000000000000000_0000000000000000';
const chunks = (...texts: string[]) => texts.map((text) => Buffer.from(text));
const text = (prefix: BytesForkPrefix) => (prefix.kind === 'prefix' ? prefix.bytes.toString() : prefix.detail);

describe('parseForkHeaders (PROTOCOL §4.2, §5.1)', () => {
  it('no fork header: not a fork', () => {
    expect(parseForkHeaders({ forkedFrom: undefined, offset: undefined, subOffset: undefined })).toEqual({ kind: 'none' });
  });

  it('a source alone forks at its tail, sub-offset 0 (suite "should fork at current head (default)")', () => {
    expect(parseForkHeaders({ forkedFrom: '/v1/stream/src', offset: undefined, subOffset: undefined })).toEqual({
      kind: 'fork',
      source: '/v1/stream/src',
      offset: null,
      subOffset: 0,
    });
  });

  it('passes the offset on as sent (offsets.ts judges it) and reads the sub-offset', () => {
    expect(parseForkHeaders({ forkedFrom: '/v1/stream/src', offset: ZERO, subOffset: '3' })).toEqual({
      kind: 'fork',
      source: '/v1/stream/src',
      offset: ZERO,
      subOffset: 3,
    });
  });

  it('sub-offset "0" is the same fork as none (suite "should treat sub-offset 0 as equivalent to absent header")', () => {
    const withZero = parseForkHeaders({ forkedFrom: '/v1/stream/src', offset: ZERO, subOffset: '0' });
    const without = parseForkHeaders({ forkedFrom: '/v1/stream/src', offset: ZERO, subOffset: undefined });
    expect(withZero).toEqual(without);
  });

  it.each(['-1', 'abc', '1.5', '05', '+1', '', ' 1', '1e3', '0x1', '9007199254740992'])(
    'refuses sub-offset %j (suite "should return 400 for malformed sub-offset values")',
    (subOffset) => {
      expect(parseForkHeaders({ forkedFrom: '/v1/stream/src', offset: ZERO, subOffset })).toEqual({
        kind: 'invalid',
        detail:
          'Stream-Fork-Sub-Offset must be a non-negative integer in decimal digits, without sign or leading zero ' +
          `(messages of a JSON stream, bytes of any other); got ${JSON.stringify(subOffset)}`,
      });
    },
  );

  it('refuses a sub-offset without a source, even "0" (suite "... without Stream-Forked-From (even when value is 0)")', () => {
    expect(parseForkHeaders({ forkedFrom: undefined, offset: undefined, subOffset: '0' })).toEqual({
      kind: 'invalid',
      detail: 'Stream-Fork-Sub-Offset is for a fork: send it with Stream-Forked-From',
    });
  });

  it('refuses a fork offset without a source (§5.1 "requires Stream-Forked-From")', () => {
    expect(parseForkHeaders({ forkedFrom: undefined, offset: ZERO, subOffset: undefined })).toEqual({
      kind: 'invalid',
      detail: 'Stream-Fork-Offset is for a fork: send it with Stream-Forked-From',
    });
  });

  it('refuses an empty source', () => {
    expect(parseForkHeaders({ forkedFrom: '', offset: undefined, subOffset: undefined })).toEqual({
      kind: 'invalid',
      detail: "Stream-Forked-From is empty; it names the source stream's path",
    });
  });
});

describe('jsonForkPrefix (§4.2: "number of flattened messages to inherit past the anchor")', () => {
  const batch = [{ a: 1 }, { b: 2 }, { c: 3 }, { d: 4 }];

  it('takes the first k messages (suite "should fork at a JSON sub-offset within a flattened batch")', () => {
    expect(jsonForkPrefix(batch, 2)).toEqual({ kind: 'prefix', messages: [{ a: 1 }, { b: 2 }] });
  });

  it('k equal to the count takes them all (suite "should accept JSON sub-offset equal to flattened message count")', () => {
    expect(jsonForkPrefix(batch.slice(0, 3), 3)).toEqual({ kind: 'prefix', messages: batch.slice(0, 3) });
  });

  it('k past the count is an overshoot saying how many follow (suite "should return 400 when JSON sub-offset overshoots")', () => {
    expect(jsonForkPrefix(batch.slice(0, 3), 4)).toEqual({
      kind: 'overshoot',
      detail: 'Stream-Fork-Sub-Offset 4 is past the data after the fork offset: 3 messages follow it',
    });
    expect(jsonForkPrefix([1], 2)).toEqual({
      kind: 'overshoot',
      detail: 'Stream-Fork-Sub-Offset 2 is past the data after the fork offset: 1 message follows it',
    });
  });

  it('k > 0 with nothing after the anchor overshoots (suite "sub-offset > 0 without Stream-Fork-Offset", "on an empty source stream")', () => {
    expect(jsonForkPrefix([], 1)).toEqual({
      kind: 'overshoot',
      detail: 'Stream-Fork-Sub-Offset 1 is past the data after the fork offset: 0 messages follow it',
    });
  });

  it('k = 0 takes nothing, and reads nothing', () => {
    const never: Iterable<number> = {
      [Symbol.iterator]: () => {
        throw new Error('read');
      },
    };
    expect(jsonForkPrefix(never, 0)).toEqual({ kind: 'prefix', messages: [] });
  });

  it('reads only as many messages as it takes, so the source can be read lazily', () => {
    let read = 0;
    function* counted(): Generator<number> {
      for (let i = 0; i < 1000; i++) {
        read += 1;
        yield i;
      }
    }
    expect(jsonForkPrefix(counted(), 3)).toEqual({ kind: 'prefix', messages: [0, 1, 2] });
    expect(read).toBe(3);
  });

  it('messages that are themselves arrays or null stay single messages', () => {
    expect(jsonForkPrefix([[1, 2], null, [3]], 2)).toEqual({ kind: 'prefix', messages: [[1, 2], null] });
  });
});

describe('bytesForkPrefix (§4.2: "number of decoded entity body bytes to inherit past the anchor")', () => {
  it('cuts inside a chunk: "hel" of "hello" (suite "should fork at a binary sub-offset within an append")', () => {
    const prefix = bytesForkPrefix(chunks('hello'), 3);
    expect(prefix).toEqual({ kind: 'prefix', bytes: Buffer.from('hel'), wholeChunks: 0, partialChunk: Buffer.from('hel') });
  });

  it('takes a whole chunk when k is its length (suite "should accept binary sub-offset equal to message length")', () => {
    expect(bytesForkPrefix(chunks('hello'), 5)).toEqual({ kind: 'prefix', bytes: Buffer.from('hello'), wholeChunks: 1, partialChunk: null });
  });

  it('past the bytes that follow is an overshoot (suite "should return 400 when binary sub-offset overshoots message length")', () => {
    expect(bytesForkPrefix(chunks('hi'), 5)).toEqual({
      kind: 'overshoot',
      detail: 'Stream-Fork-Sub-Offset 5 is past the data after the fork offset: 2 bytes follow it',
    });
    expect(text(bytesForkPrefix(chunks('x'), 2))).toBe('Stream-Fork-Sub-Offset 2 is past the data after the fork offset: 1 byte follows it');
    expect(text(bytesForkPrefix([], 1))).toBe('Stream-Fork-Sub-Offset 1 is past the data after the fork offset: 0 bytes follow it');
  });

  it('spans chunks: whole ones, then the head of the next', () => {
    expect(bytesForkPrefix(chunks('first', 'second', 'third'), 8)).toEqual({
      kind: 'prefix',
      bytes: Buffer.from('firstsec'),
      wholeChunks: 1,
      partialChunk: Buffer.from('sec'),
    });
    expect(bytesForkPrefix(chunks('ab', 'cd', 'ef'), 4)).toEqual({ kind: 'prefix', bytes: Buffer.from('abcd'), wholeChunks: 2, partialChunk: null });
  });

  it('anchored mid-stream, the chunks after the anchor are what is cut: "sec" of "second" (suite "anchored mid-stream")', () => {
    // The source holds "first" then "second"; the anchor is after "first", so only "second" follows it.
    expect(text(bytesForkPrefix(chunks('second'), 3))).toBe('sec');
  });

  it('composes across a fork chain: "abcdef" cut at 4, that fork cut at 2 (suite "should compose sub-offsets across chained forks")', () => {
    const level1 = bytesForkPrefix(chunks('abcdef'), 4);
    expect(text(level1)).toBe('abcd');
    // Level 1 holds its materialised prefix as its one chunk; level 2 forks it at its start.
    const level2 = bytesForkPrefix([level1.kind === 'prefix' ? level1.bytes : Buffer.alloc(0)], 2);
    expect(text(level2)).toBe('ab');
  });

  it('counts bytes, not characters: a cut may split a UTF-8 character', () => {
    const prefix = bytesForkPrefix(chunks('é!'), 1);
    expect(prefix.kind === 'prefix' && [...prefix.bytes]).toEqual([0xc3]);
  });

  it('k = 0 takes nothing', () => {
    expect(bytesForkPrefix(chunks('hello'), 0)).toEqual({ kind: 'prefix', bytes: Buffer.alloc(0), wholeChunks: 0, partialChunk: null });
  });

  it('the cut is a copy, not a view into the source chunk', () => {
    const source = Buffer.from('hello');
    const prefix = bytesForkPrefix([source], 3);
    source.fill(0);
    expect(prefix.kind === 'prefix' && prefix.partialChunk?.toString()).toBe('hel');
    expect(text(prefix)).toBe('hel');
  });

  it('reads chunks only up to the cut', () => {
    let read = 0;
    function* counted(): Generator<Uint8Array> {
      for (let i = 0; i < 100; i++) {
        read += 1;
        yield Buffer.from('abc');
      }
    }
    expect(text(bytesForkPrefix(counted(), 7))).toBe('abcabca');
    expect(read).toBe(3);
  });
});
