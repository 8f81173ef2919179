import { parseDecimal, quoteHeaderValue } from './header-values.js';

/**
 * A stream's expiry as a PUT asks for it (PROTOCOL §5.1): `Stream-TTL`, a
 * sliding idle window in seconds (reset by reads and writes, not HEAD), or
 * `Stream-Expires-At`, an absolute RFC 3339 time that never moves; not both.
 * A refused value's detail says what is wrong with it, for whoever is
 * debugging with curl.
 */

/**
 * The longest Stream-TTL taken: 2^31-1 seconds (about 68 years). The protocol
 * sets no bound, but the window must fit what stores it and what is computed
 * from it: a Postgres `integer` column of seconds, `ttl_ms` (seconds * 1000
 * stays a safe integer) and "now + TTL" as both a JavaScript Date and a
 * timestamptz. Any real idle window is far below it.
 */
export const MAX_STREAM_TTL_SECONDS = 2_147_483_647;

export type StreamExpiry =
  | { kind: 'none' }
  | { kind: 'ttl'; ttlSeconds: number }
  /** A time already past is taken too: the stream is then expired at once (reads 404), as the reference server does. */
  | { kind: 'expires-at'; expiresAt: Date }
  /** 400: `detail` names the header and the rule. */
  | { kind: 'invalid'; detail: string };

/**
 * The expiry headers of a PUT. Both at once is refused (§5.1 "SHOULD reject
 * the request with 400"; no precedence rule to document).
 */
export function parseStreamExpiry(raw: { ttl: string | undefined; expiresAt: string | undefined }): StreamExpiry {
  if (raw.ttl !== undefined && raw.expiresAt !== undefined) {
    return { kind: 'invalid', detail: 'send Stream-TTL (an idle window) or Stream-Expires-At (a fixed time), not both' };
  }
  if (raw.ttl !== undefined) return parseTtl(raw.ttl);
  if (raw.expiresAt !== undefined) {
    const parsed = parseRfc3339(raw.expiresAt);
    return typeof parsed === 'string'
      ? { kind: 'invalid', detail: `Stream-Expires-At ${quoteHeaderValue(raw.expiresAt)} is not an RFC 3339 time: ${parsed}` }
      : { kind: 'expires-at', expiresAt: parsed };
  }
  return { kind: 'none' };
}

/** §5.1: "a non-negative integer in decimal notation without leading zeros, plus signs, decimal points, or scientific notation". */
function parseTtl(raw: string): StreamExpiry {
  const ttlSeconds = parseDecimal(raw, Number.MAX_SAFE_INTEGER, false);
  if (ttlSeconds === undefined) {
    return {
      kind: 'invalid',
      detail:
        `Stream-TTL must be a whole number of seconds in decimal digits, without sign, leading zero, ` +
        `decimal point or exponent (e.g. 3600); got ${quoteHeaderValue(raw)}`,
    };
  }
  if (ttlSeconds > MAX_STREAM_TTL_SECONDS) {
    return { kind: 'invalid', detail: `Stream-TTL is at most ${MAX_STREAM_TTL_SECONDS} seconds (about 68 years); got ${raw}` };
  }
  return { kind: 'ttl', ttlSeconds };
}

/**
 * RFC 3339 section 5.6 date-time: full-date "T" full-time, the offset "Z" or
 * ±hh:mm ("T" and "Z" may be lowercase, section 5.6 NOTE). The space some
 * writers put for "T" is refused: the RFC only permits it to applications
 * that say so, and a header is one token.
 */
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const SHAPE = 'expected YYYY-MM-DDTHH:MM:SS, optional fraction, then Z or ±HH:MM (e.g. 2026-12-05T14:00:00Z)';

/**
 * The instant an RFC 3339 date-time names, or what is wrong with it. Each
 * field is range-checked (a Date would roll 2026-02-30 over to March 2).
 * Fractions finer than a millisecond are cut (a Date holds milliseconds);
 * second 60, a leap second, is the first instant of the next minute.
 */
export function parseRfc3339(text: string): Date | string {
  const match = RFC_3339.exec(text);
  if (!match) return SHAPE;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fraction = match[7] ?? '';
  if (month < 1 || month > 12) return `month ${match[2]} is not 01..12`;
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeapYear(year) ? 1 : 0);
  if (day < 1 || day > daysInMonth) return `day ${match[3]} is not in ${match[1]}-${match[2]} (01..${daysInMonth})`;
  if (hour > 23) return `hour ${match[4]} is not 00..23`;
  if (minute > 59) return `minute ${match[5]} is not 00..59`;
  if (second > 60) return `second ${match[6]} is not 00..60`;
  let offsetMinutes = 0;
  if (match[8] === undefined) {
    const offsetHours = Number(match[10]);
    const offsetMins = Number(match[11]);
    if (offsetHours > 23 || offsetMins > 59) return `offset ${match[9]}${match[10]}:${match[11]} is not -23:59..+23:59`;
    offsetMinutes = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const instant = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0..99 as 1900..1999.
  instant.setUTCFullYear(year, month - 1, day);
  instant.setUTCHours(hour, minute - offsetMinutes, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  return instant;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
