import { describe, expect, it } from 'vitest';
import { MAX_STREAM_TTL_SECONDS, parseRfc3339, parseStreamExpiry } from '../../src/streams/expiry.js';

const ttl = (value: string) => parseStreamExpiry({ ttl: value, expiresAt: undefined });
const expiresAt = (value: string) => parseStreamExpiry({ ttl: undefined, expiresAt: value });
const detailOf = (expiry: ReturnType<typeof parseStreamExpiry>) => (expiry.kind === 'invalid' ? expiry.detail : undefined);

describe('parseStreamExpiry: Stream-TTL (PROTOCOL §5.1)', () => {
  it('neither header: no expiry', () => {
    expect(parseStreamExpiry({ ttl: undefined, expiresAt: undefined })).toEqual({ kind: 'none' });
  });

  it('takes whole seconds, 0 included (suite "should accept valid TTL")', () => {
    expect(ttl('3600')).toEqual({ kind: 'ttl', ttlSeconds: 3600 });
    expect(ttl('0')).toEqual({ kind: 'ttl', ttlSeconds: 0 });
    expect(ttl('99999')).toEqual({ kind: 'ttl', ttlSeconds: 99999 });
  });

  it.each([
    ['00060', 'leading zeros'],
    ['+60', 'plus sign'],
    ['60.5', 'float'],
    ['3600.0', 'decimal point'],
    ['1e3', 'scientific notation'],
    ['-1', 'negative'],
    ['abc', 'non-integer'],
    ['', 'empty'],
    [' 60', 'space'],
    ['0x3c', 'hex'],
  ])('refuses %j (%s; suite "TTL and Expiry Edge Cases")', (value) => {
    expect(detailOf(ttl(value))).toBe(
      'Stream-TTL must be a whole number of seconds in decimal digits, without sign, leading zero, decimal point or exponent ' +
        `(e.g. 3600); got ${JSON.stringify(value)}`,
    );
  });

  it('takes up to 2^31-1 seconds and refuses more, saying the bound', () => {
    expect(ttl(String(MAX_STREAM_TTL_SECONDS))).toEqual({ kind: 'ttl', ttlSeconds: MAX_STREAM_TTL_SECONDS });
    expect(detailOf(ttl('2147483648'))).toBe('Stream-TTL is at most 2147483647 seconds (about 68 years); got 2147483648');
    expect(ttl('99999999999999999999').kind).toBe('invalid');
  });

  it('the bound keeps "now + TTL" a valid Date and the TTL in milliseconds a safe integer', () => {
    expect(Number.isSafeInteger(MAX_STREAM_TTL_SECONDS * 1000)).toBe(true);
    expect(Number.isNaN(new Date(Date.now() + MAX_STREAM_TTL_SECONDS * 1000).getTime())).toBe(false);
  });
});

describe('parseStreamExpiry: Stream-Expires-At (PROTOCOL §5.1, RFC 3339)', () => {
  it('takes a Z time (suite "should accept Expires-At with Z timezone")', () => {
    expect(expiresAt('2026-12-05T14:00:00.123Z')).toEqual({ kind: 'expires-at', expiresAt: new Date('2026-12-05T14:00:00.123Z') });
  });

  it('takes an offset and converts it to the instant (suite "should accept Expires-At with timezone offset")', () => {
    expect(expiresAt('2026-12-05T14:00:00+00:00')).toEqual({ kind: 'expires-at', expiresAt: new Date('2026-12-05T14:00:00Z') });
    expect(expiresAt('2026-12-05T15:30:00+01:30')).toEqual({ kind: 'expires-at', expiresAt: new Date('2026-12-05T14:00:00Z') });
    expect(expiresAt('2026-12-05T09:00:00-05:00')).toEqual({ kind: 'expires-at', expiresAt: new Date('2026-12-05T14:00:00Z') });
  });

  it('takes what Date#toISOString writes, to the millisecond', () => {
    const now = new Date(Date.now() + 3_600_000);
    expect(expiresAt(now.toISOString())).toEqual({ kind: 'expires-at', expiresAt: now });
  });

  it('a time in the past is still a time (the stream is expired at once)', () => {
    expect(expiresAt('2001-01-01T00:00:00Z')).toEqual({ kind: 'expires-at', expiresAt: new Date('2001-01-01T00:00:00Z') });
  });

  it.each([
    ['not-a-timestamp'],
    ['2026-12-05'],
    ['2026-12-05T14:00:00'],
    ['2026-12-05 14:00:00Z'],
    ['2026-12-05T14:00Z'],
    ['2026-12-05T14:00:00+0100'],
    ['2026-12-05T14:00:00.Z'],
    ['Sat, 05 Dec 2026 14:00:00 GMT'],
    ['1764943200'],
    [''],
  ])('refuses %j as not RFC 3339, showing the expected shape (suite "should reject invalid Expires-At timestamp")', (value) => {
    expect(detailOf(expiresAt(value))).toBe(
      `Stream-Expires-At ${JSON.stringify(value)} is not an RFC 3339 time: ` +
        'expected YYYY-MM-DDTHH:MM:SS, optional fraction, then Z or ±HH:MM (e.g. 2026-12-05T14:00:00Z)',
    );
  });

  it.each([
    ['2026-13-01T00:00:00Z', 'month 13 is not 01..12'],
    ['2026-00-01T00:00:00Z', 'month 00 is not 01..12'],
    ['2026-02-29T00:00:00Z', 'day 29 is not in 2026-02 (01..28)'],
    ['2026-04-31T00:00:00Z', 'day 31 is not in 2026-04 (01..30)'],
    ['2026-01-00T00:00:00Z', 'day 00 is not in 2026-01 (01..31)'],
    ['2026-01-01T24:00:00Z', 'hour 24 is not 00..23'],
    ['2026-01-01T00:60:00Z', 'minute 60 is not 00..59'],
    ['2026-01-01T00:00:61Z', 'second 61 is not 00..60'],
    ['2026-01-01T00:00:00+24:00', 'offset +24:00 is not -23:59..+23:59'],
    ['2026-01-01T00:00:00-01:60', 'offset -01:60 is not -23:59..+23:59'],
  ])('refuses %j, naming the field out of range (a Date would roll it over)', (value, why) => {
    expect(detailOf(expiresAt(value))).toBe(`Stream-Expires-At ${JSON.stringify(value)} is not an RFC 3339 time: ${why}`);
  });

  it('quotes a long refused value cut short', () => {
    expect(detailOf(expiresAt('9'.repeat(500)))).toContain(`"${'9'.repeat(64)}"...`);
  });
});

describe('parseRfc3339 details', () => {
  it('knows leap years: 29 February exists in 2024 and 2000, not in 1900', () => {
    expect(parseRfc3339('2024-02-29T00:00:00Z')).toEqual(new Date('2024-02-29T00:00:00Z'));
    expect(parseRfc3339('2000-02-29T00:00:00Z')).toEqual(new Date('2000-02-29T00:00:00Z'));
    expect(parseRfc3339('1900-02-29T00:00:00Z')).toBe('day 29 is not in 1900-02 (01..28)');
  });

  it('takes lowercase t and z (RFC 3339 §5.6 NOTE)', () => {
    expect(parseRfc3339('2026-12-05t14:00:00z')).toEqual(new Date('2026-12-05T14:00:00Z'));
  });

  it('-00:00 (offset unknown) is UTC', () => {
    expect(parseRfc3339('2026-12-05T14:00:00-00:00')).toEqual(new Date('2026-12-05T14:00:00Z'));
  });

  it('cuts fractions finer than a millisecond and pads shorter ones', () => {
    expect(parseRfc3339('2026-12-05T14:00:00.123999999Z')).toEqual(new Date('2026-12-05T14:00:00.123Z'));
    expect(parseRfc3339('2026-12-05T14:00:00.5Z')).toEqual(new Date('2026-12-05T14:00:00.500Z'));
  });

  it('a leap second is the next minute\'s first instant', () => {
    expect(parseRfc3339('2016-12-31T23:59:60Z')).toEqual(new Date('2017-01-01T00:00:00Z'));
  });

  it('reads years below 100 as written (Date.UTC would read them as 19xx)', () => {
    const parsed = parseRfc3339('0099-03-01T00:00:00Z');
    expect(parsed instanceof Date && parsed.getUTCFullYear()).toBe(99);
  });

  it('an offset moves the instant across a day boundary', () => {
    expect(parseRfc3339('2026-01-01T00:30:00+01:00')).toEqual(new Date('2025-12-31T23:30:00Z'));
  });

  it('takes the widest offsets, +23:59 and -23:59 (the refusals above are one past them)', () => {
    expect(parseRfc3339('2026-01-01T00:00:00+23:59')).toEqual(new Date('2025-12-31T00:01:00Z'));
    expect(parseRfc3339('2026-01-01T00:00:00-23:59')).toEqual(new Date('2026-01-01T23:59:00Z'));
  });
});

describe('parseStreamExpiry: both headers (PROTOCOL §5.1)', () => {
  it('refuses TTL and Expires-At together, even when each is valid (suite "should reject both TTL and Expires-At (400)")', () => {
    expect(parseStreamExpiry({ ttl: '3600', expiresAt: '2026-12-05T14:00:00Z' })).toEqual({
      kind: 'invalid',
      detail: 'send Stream-TTL (an idle window) or Stream-Expires-At (a fixed time), not both',
    });
  });
});
