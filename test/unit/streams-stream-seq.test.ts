import { describe, expect, it } from 'vitest';
import { checkStreamSeq, compareWireBytes } from '../../src/streams/stream-seq.js';

describe('checkStreamSeq (PROTOCOL §5.2 Stream-Seq)', () => {
  it('the first value of a stream is always accepted, even the empty string', () => {
    expect(checkStreamSeq(null, '0')).toBe('ok');
    expect(checkStreamSeq(null, '')).toBe('ok');
  });

  it('a strictly greater value is accepted', () => {
    expect(checkStreamSeq('a', 'b')).toBe('ok');
    expect(checkStreamSeq('app-seq-001', 'app-seq-002')).toBe('ok');
    expect(checkStreamSeq('a', 'aa')).toBe('ok');
  });

  it('an equal value is a regression: strictly increasing (suite "Stream-Seq" equal case)', () => {
    expect(checkStreamSeq('5', '5')).toBe('regression');
  });

  it('is lexicographic, not numeric: "10" after "2" is a regression, "10" after "09" is not (suite Stream-Seq ordering)', () => {
    expect(checkStreamSeq('2', '10')).toBe('regression');
    expect(checkStreamSeq('09', '10')).toBe('ok');
  });

  it('is case-sensitive: "B" (0x42) is below "a" (0x61)', () => {
    expect(checkStreamSeq('a', 'B')).toBe('regression');
    expect(checkStreamSeq('B', 'a')).toBe('ok');
  });

  it('a prefix is smaller than the longer value', () => {
    expect(checkStreamSeq('abc', 'ab')).toBe('regression');
  });

  it('orders non-ASCII values by their wire bytes, as Node hands them over (one Latin-1 character per byte)', () => {
    // The raw bytes C3 A9 ("é" sent as UTF-8) arrive as two Latin-1 characters; 0xC3 > 0x7A ("z").
    const wire = (bytes: number[]) => Buffer.from(bytes).toString('latin1');
    expect(checkStreamSeq('z', wire([0xc3, 0xa9]))).toBe('ok');
    // "é" (C3 A9) then "ÿ" sent as Latin-1 (FF): FF is above C3 byte by byte.
    expect(checkStreamSeq(wire([0xc3, 0xa9]), wire([0xff]))).toBe('ok');
    expect(checkStreamSeq(wire([0xff]), wire([0xc3, 0xa9]))).toBe('regression');
    // A multi-byte value against its first byte alone: the prefix is smaller.
    expect(checkStreamSeq(wire([0xc3, 0xa9]), wire([0xc3]))).toBe('regression');
  });
});

describe('compareWireBytes', () => {
  it('is negative, zero, positive as the raw bytes compare (Buffer order)', () => {
    const samples = [[0x61], [0x62], [0x7f], [0x80], [0xc3, 0xa9], [0xff], [0xff, 0x00]].map((bytes) => Buffer.from(bytes));
    for (const a of samples) {
      for (const b of samples) {
        expect(Math.sign(compareWireBytes(a.toString('latin1'), b.toString('latin1')))).toBe(Math.sign(Buffer.compare(a, b)));
      }
    }
  });
});
