import { describe, expect, it } from 'vitest';
import { checkStreamSeq, compareUtf8 } from '../../src/streams/stream-seq.js';

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

  it('compares UTF-8 bytes where JavaScript\'s UTF-16 order disagrees: an astral character is above U+FFFD', () => {
    const replacement = '\uFFFD'; // UTF-8 EF BF BD; one UTF-16 unit 0xFFFD
    const emoji = '\u{1F600}'; // UTF-8 F0 9F 98 80; UTF-16 units 0xD83D 0xDE00
    expect(emoji < replacement).toBe(true); // the order a naive comparison would use
    expect(checkStreamSeq(replacement, emoji)).toBe('ok');
    expect(checkStreamSeq(emoji, replacement)).toBe('regression');
  });

  it('orders Latin-1 header text (Node decodes header bytes as Latin-1) as the raw bytes', () => {
    // The raw bytes C3 A9 ("é" in UTF-8) arrive as two Latin-1 characters; 0xC3 > 0x7A ("z").
    expect(checkStreamSeq('z', '\u00C3\u00A9')).toBe('ok');
  });
});

describe('compareUtf8', () => {
  it('is negative, zero, positive as the byte order says', () => {
    expect(compareUtf8('a', 'b')).toBeLessThan(0);
    expect(compareUtf8('b', 'b')).toBe(0);
    expect(compareUtf8('\u{10000}', '\uE000')).toBeGreaterThan(0);
  });
});
