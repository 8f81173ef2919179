import { describe, expect, it } from 'vitest';
import { base64Bytes, bytes, count, cut, dateTime, jsonText, moment, plural, relative, usd } from '../../inspector/src/format.js';

// How the inspector writes values: the same on every machine (screenshots and tests compare them).

describe('JSON as text', () => {
  it('writes a value as JSON, a string quoted, nothing for no value', () => {
    expect(jsonText({ a: [1, 'two', null] })).toBe('{"a":[1,"two",null]}');
    expect(jsonText('plan "day 1"')).toBe('"plan \\"day 1\\""');
    expect(jsonText(undefined)).toBe('');
    expect(jsonText(null)).toBe('null');
    expect(jsonText(false)).toBe('false');
  });

  it('indents when asked, a string too', () => {
    expect(jsonText({ a: { b: 1 } }, 100, 2)).toBe('{\n  "a": {\n    "b": 1\n  }\n}');
    expect(jsonText('text', 100, 2)).toBe('"text"');
  });

  it('writes what JSON cannot hold as text rather than failing', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(jsonText(loop)).toBe('[object Object]');
    expect(jsonText(10n)).toBe('10');
  });

  it('cuts text past the limit and says how much more there was', () => {
    expect(jsonText('abc', 5)).toBe('"abc"');
    expect(jsonText('abcd', 5)).toBe('"abcd… (1 more characters)');
    expect(jsonText([1, 2, 3], 3)).toBe('[1,… (4 more characters)');
    expect(jsonText('x'.repeat(5000))).toBe(`"${'x'.repeat(3999)}… (1002 more characters)`);
  });
});

describe('short text', () => {
  it('cuts at a length with an ellipsis, and leaves text that fits', () => {
    expect(cut('abcdef', 3)).toBe('abc…');
    expect(cut('abc', 3)).toBe('abc');
    expect(cut('', 3)).toBe('');
  });

  it('counts in the singular for one, the plural otherwise', () => {
    expect(plural(1, 'turn')).toBe('1 turn');
    expect(plural(0, 'turn')).toBe('0 turns');
    expect(plural(2, 'batch', 'batches')).toBe('2 batches');
  });
});

describe('times', () => {
  it('writes a moment in local time with its date, so a day-old event never reads as today\'s', () => {
    expect(dateTime(new Date(2026, 11, 3, 12, 3, 4).toISOString())).toBe('2026-12-03 12:03:04');
    expect(dateTime(new Date(2027, 0, 9, 7, 8, 9, 999).toISOString())).toBe('2027-01-09 07:08:09');
    expect(dateTime(new Date(2026, 9, 10, 23, 59, 30).toISOString())).toBe('2026-10-10 23:59:30');
  });

  it('has no time for text that is none', () => {
    expect(dateTime('yesterday')).toBeUndefined();
    expect(dateTime('')).toBeUndefined();
  });

  it('writes what this page saw happen to the millisecond', () => {
    expect(moment(new Date(2026, 11, 3, 1, 2, 3, 4))).toBe('01:02:03.004');
    expect(moment(new Date(2026, 11, 3, 13, 24, 35, 987))).toBe('13:24:35.987');
    expect(moment(new Date(2026, 11, 3, 9, 0, 0, 50))).toBe('09:00:00.050');
  });

  it('says how far off an expiry is: seconds, minutes past two, hours past two', () => {
    const now = Date.parse('2026-12-03T12:00:00.000Z');
    const from = (ms: number) => new Date(now + ms).toISOString();
    expect(relative(from(12_000), now)).toBe('in 12 s');
    expect(relative(from(-3_000), now)).toBe('3 s ago');
    expect(relative(from(0), now)).toBe('in 0 s');
    expect(relative(from(-400), now)).toBe('0 s ago');
    expect(relative(from(119_000), now)).toBe('in 119 s');
    expect(relative(from(119_600), now)).toBe('in 2 min');
    expect(relative(from(-120_000), now)).toBe('2 min ago');
    expect(relative(from(7_199_000), now)).toBe('in 120 min');
    expect(relative(from(7_200_000), now)).toBe('in 2 h');
    expect(relative(from(-30 * 3_600_000), now)).toBe('30 h ago');
    expect(relative('never', now)).toBe('');
  });

  it('measures from now unless told', () => {
    expect(relative(new Date(Date.now() + 60_000).toISOString())).toBe('in 60 s');
  });
});

describe('numbers', () => {
  it('groups thousands with commas, whole numbers only', () => {
    expect(count(0)).toBe('0');
    expect(count(999)).toBe('999');
    expect(count(1000)).toBe('1,000');
    expect(count(1_234_567)).toBe('1,234,567');
    expect(count(-1234)).toBe('-1,234');
    expect(count(1234.6)).toBe('1,235');
    expect(count(2 ** 53 - 1)).toBe('9,007,199,254,740,991');
  });

  it('writes dollars as cents from a dollar up, and as the fraction of a cent a model call costs below', () => {
    expect(usd(0.0042)).toBe('$0.0042');
    expect(usd(0.00012)).toBe('$0.00012');
    expect(usd(0.1234567)).toBe('$0.123457');
    expect(usd(0.1)).toBe('$0.10');
    expect(usd(0.5)).toBe('$0.50');
    expect(usd(0)).toBe('$0.00');
    expect(usd(0.0000001)).toBe('$0.00');
    expect(usd(1)).toBe('$1.00');
    expect(usd(1.5)).toBe('$1.50');
    expect(usd(1.0049)).toBe('$1.00');
    expect(usd(1234.567)).toBe('$1,234.57');
    expect(usd(-12.5)).toBe('-$12.50');
    expect(usd(-0.0042)).toBe('-$0.0042');
  });

  it('writes sizes in bytes, KiB and MiB', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1024)).toBe('1.0 KiB');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(1024 * 1024 - 1)).toBe('1024.0 KiB');
    expect(bytes(1024 * 1024)).toBe('1.0 MiB');
    expect(bytes(5.5 * 1024 * 1024)).toBe('5.5 MiB');
  });

  it('measures base64 text in the bytes it holds, padding taken off', () => {
    expect(base64Bytes('')).toBe(0);
    expect(base64Bytes('IHdvcmxk')).toBe(6);
    expect(base64Bytes('aGVsbG8=')).toBe(5);
    expect(base64Bytes('aGk=')).toBe(2);
    expect(base64Bytes('YQ==')).toBe(1);
  });
});
