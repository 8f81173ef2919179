import { describe, expect, it } from 'vitest';
import { CURSOR_EPOCH_MS, currentCursorInterval, responseCursor } from '../../src/streams/cursor.js';

const at = (iso: string, random = 0) => ({ nowMs: Date.parse(iso), random: () => random });
/** 2026-12-05T13:00:00Z is this many 20-second intervals after 2024-10-09T00:00:00Z. */
const INTERVAL = (Date.parse('2026-12-05T13:00:00Z') - Date.UTC(2024, 9, 9)) / 20_000;

describe('currentCursorInterval (PROTOCOL §10.1 "Interval-based Calculation")', () => {
  it('counts 20-second intervals from 2024-10-09T00:00:00Z', () => {
    expect(CURSOR_EPOCH_MS).toBe(Date.parse('2024-10-09T00:00:00Z'));
    expect(currentCursorInterval(CURSOR_EPOCH_MS)).toBe(0);
    expect(currentCursorInterval(CURSOR_EPOCH_MS + 19_999)).toBe(0);
    expect(currentCursorInterval(CURSOR_EPOCH_MS + 20_000)).toBe(1);
    expect(currentCursorInterval(Date.parse('2026-12-05T13:00:00Z'))).toBe(INTERVAL);
  });

  it('takes another interval length', () => {
    expect(currentCursorInterval(CURSOR_EPOCH_MS + 60_000, 60)).toBe(1);
  });
});

describe('responseCursor (PROTOCOL §10.1 "Monotonic Progression")', () => {
  it('without an echo: the current interval, in decimal digits (suite "should generate streamCursor": /^\\d+$/)', () => {
    expect(responseCursor(undefined, at('2026-12-05T13:00:00Z'))).toBe(String(INTERVAL));
    expect(responseCursor(undefined, at('2026-12-05T13:00:19.999Z'))).toBe(String(INTERVAL));
    expect(responseCursor(undefined, at('2026-12-05T13:00:20Z'))).toBe(String(INTERVAL + 1));
  });

  it('an echo from an earlier interval: the current one', () => {
    expect(responseCursor(String(INTERVAL - 1), at('2026-12-05T13:00:00Z', 0.99))).toBe(String(INTERVAL));
    expect(responseCursor('0', at('2026-12-05T13:00:00Z'))).toBe(String(INTERVAL));
  });

  it('echoing the current cursor answers a strictly greater one (suite "should handle cursor collision with jitter")', () => {
    // Smallest jitter (1 s) is still one whole interval.
    expect(responseCursor(String(INTERVAL), at('2026-12-05T13:00:00Z', 0))).toBe(String(INTERVAL + 1));
    // Largest jitter (3600 s) is 180 intervals.
    expect(responseCursor(String(INTERVAL), at('2026-12-05T13:00:00Z', 0.9999999))).toBe(String(INTERVAL + 180));
    // 0.5 -> 1 + 1800 = 1801 s -> 91 intervals.
    expect(responseCursor(String(INTERVAL), at('2026-12-05T13:00:00Z', 0.5))).toBe(String(INTERVAL + 91));
  });

  it('an echo ahead of the clock (a jittered cursor) moves further ahead, never back', () => {
    expect(responseCursor(String(INTERVAL + 100), at('2026-12-05T13:00:00Z', 0))).toBe(String(INTERVAL + 101));
  });

  it('a chain of echoes within one interval only ever grows', () => {
    let cursor = responseCursor(undefined, at('2026-12-05T13:00:00Z'));
    for (const random of [0, 0.3, 0.999, 0.1, 0]) {
      const next = responseCursor(cursor, at('2026-12-05T13:00:05Z', random));
      expect(Number(next)).toBeGreaterThan(Number(cursor));
      cursor = next;
    }
  });

  it('jitter counts whole intervals of the configured length', () => {
    const now = CURSOR_EPOCH_MS + 3_600_000;
    // 60-second intervals: now is interval 60; 1 + 0.5 * 3600 = 1801 s -> 31 intervals.
    expect(responseCursor('60', { nowMs: now, random: () => 0.5 }, 60)).toBe('91');
  });

  it.each(['abc', '12abc', '-5', '1.5', '', ' 1', '9'.repeat(16)])('an unreadable echo %j is ignored: the current interval', (echoed) => {
    expect(responseCursor(echoed, at('2026-12-05T13:00:00Z', 0.5))).toBe(String(INTERVAL));
  });

  it('reads an echo of up to 15 digits', () => {
    expect(responseCursor('9'.repeat(15), at('2026-12-05T13:00:00Z', 0))).toBe(String(10 ** 15));
  });
});
