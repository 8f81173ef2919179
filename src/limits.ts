import { PayloadTooLarge } from './errors.js';

/**
 * Serialises `value` once and checks it against a byte limit; the JSON text is
 * returned for storing, with its size. `what` names the value in the problem, e.g. "events[2].data".
 */
export function jsonWithin(
  value: unknown,
  limitBytes: number,
  what: string,
  setting: string,
  advice = '',
): { json: string; bytes: number } {
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json);
  if (bytes > limitBytes) {
    throw new PayloadTooLarge(`${what} is ${bytes} bytes; it may hold ${limitBytes} (${setting})${advice}`, {
      limit_bytes: limitBytes,
      size: bytes,
    });
  }
  return { json, bytes };
}

/** Checks how many items a batch holds against MAX_BATCH_EVENTS. */
export function countWithin(count: number, limit: number, what: string): void {
  if (count > limit) {
    throw new PayloadTooLarge(`a batch may hold ${limit} ${what} (MAX_BATCH_EVENTS); this one has ${count}`, { limit, size: count });
  }
}
