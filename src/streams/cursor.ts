/**
 * `Stream-Cursor` (PROTOCOL §5.7, §10.1): a token live reads carry so that a
 * CDN collapsing long-polls into one upstream request keys them by time, and a
 * cached empty answer cannot loop forever. The cursor is the number of
 * fixed intervals since an epoch, in decimal; a client echoes it as
 * `cursor=`, and an echo at or past the current interval is answered with a
 * strictly greater cursor (jittered), so the same URL is never asked twice.
 * Pure: the clock and the random source are passed in.
 */

/** §10.1 defaults, kept so cursors from this server and from others (and the reference) count the same intervals. */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
export const CURSOR_INTERVAL_SECONDS = 20;
/** §10.1: the jitter added past an echoed cursor is 1 to 3600 seconds. */
export const MAX_CURSOR_JITTER_SECONDS = 3600;

/**
 * An echoed cursor is read only up to 15 digits: ours are ~8 digits for
 * centuries, and this keeps echo + jitter a safe integer. A longer or
 * malformed echo is ignored (answered with the current interval) rather than
 * refused: it is a cache key, and refusing it would break a client over
 * something that cannot hurt.
 */
const ECHOED_CURSOR = /^[0-9]{1,15}$/;

export interface CursorClock {
  /** Milliseconds since 1970 (Date.now()). */
  nowMs: number;
  /** A number in [0, 1) (Math.random()). */
  random: () => number;
}

/** The interval number at `nowMs`. */
export function currentCursorInterval(nowMs: number, intervalSeconds = CURSOR_INTERVAL_SECONDS): number {
  return Math.floor((nowMs - CURSOR_EPOCH_MS) / (intervalSeconds * 1000));
}

/**
 * The cursor to answer a live read with, given the one it echoed (undefined:
 * none). Below the current interval (or none, or unreadable): the current
 * interval. At or past it: the echo plus 1..3600 seconds of jitter, in whole
 * intervals and at least one, so the answer is strictly greater (§10.1
 * "Monotonic Progression") and clients that polled together spread out.
 */
export function responseCursor(echoed: string | undefined, clock: CursorClock, intervalSeconds = CURSOR_INTERVAL_SECONDS): string {
  const current = currentCursorInterval(clock.nowMs, intervalSeconds);
  if (echoed === undefined || !ECHOED_CURSOR.test(echoed)) return String(current);
  const echo = Number(echoed);
  if (echo < current) return String(current);
  const jitterSeconds = 1 + Math.floor(clock.random() * MAX_CURSOR_JITTER_SECONDS);
  return String(echo + Math.max(1, Math.ceil(jitterSeconds / intervalSeconds)));
}
