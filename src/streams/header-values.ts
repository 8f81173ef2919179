/**
 * Reading the Durable Streams face's numeric header values, and quoting a
 * refused value in a problem's detail. Pure: the routes hand in the raw
 * strings Node gives them (`undefined` when the header is absent).
 */

/** A refused value is quoted up to this many characters: enough to recognise it, without echoing a 16 KiB header. */
const QUOTED_VALUE_LENGTH = 64;

/** A header value as it appears in a detail: JSON-quoted (so spaces and control characters show), cut if long. */
export function quoteHeaderValue(raw: string): string {
  return raw.length <= QUOTED_VALUE_LENGTH ? JSON.stringify(raw) : `${JSON.stringify(raw.slice(0, QUOTED_VALUE_LENGTH))}...`;
}

/** Decimal digits only, and no leading zero unless the number is 0 (PROTOCOL §5.1 Stream-TTL, §4.2 sub-offset). */
const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/;
/** Decimal digits only; "007" is 7. */
const DECIMAL = /^[0-9]+$/;

/**
 * A non-negative integer written in decimal, at most `max`; undefined for
 * anything else (sign, point, exponent, hex, trailing junk, past `max`).
 * `leadingZeros` admits "007": the producer headers only say "integer", and a
 * zero-padded counter is no less unambiguous; Stream-TTL and the fork
 * sub-offset forbid them by name.
 */
export function parseDecimal(raw: string, max: number, leadingZeros: boolean): number | undefined {
  if (!(leadingZeros ? DECIMAL : CANONICAL_DECIMAL).test(raw)) return undefined;
  const value = Number(raw);
  return value <= max ? value : undefined;
}
