import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { debounce, throttle } from '../../inspector/src/timing.js';

// How the inspector acts on bursts: a filter typed letter by letter is applied once typing pauses
// (debounce); a session's events, which can come by the thousand, are followed up a few times a second at
// most, and never starved by a steady stream (throttle).

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('once after quiet', () => {
  it('calls once, the given time after the last request', () => {
    const fn = vi.fn();
    const apply = debounce(fn, 250);
    apply();
    vi.advanceTimersByTime(200);
    apply();
    vi.advanceTimersByTime(200);
    apply();
    vi.advanceTimersByTime(249);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
    apply();
    vi.advanceTimersByTime(250);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('calls nothing once cancelled', () => {
    const fn = vi.fn();
    const apply = debounce(fn, 250);
    apply();
    apply.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
    // Nothing pending: cancelling again is harmless.
    apply.cancel();
  });
});

describe('at most once per interval', () => {
  it('calls once per interval however often asked, the first the interval after the first request', () => {
    const fn = vi.fn();
    const refresh = throttle(fn, 250);
    refresh();
    vi.advanceTimersByTime(100);
    refresh();
    refresh();
    vi.advanceTimersByTime(149);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('is not starved by a steady stream of requests', () => {
    const fn = vi.fn();
    const refresh = throttle(fn, 250);
    for (let ms = 0; ms < 1000; ms += 50) {
      refresh();
      vi.advanceTimersByTime(50);
    }
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('calls nothing once cancelled', () => {
    const fn = vi.fn();
    const refresh = throttle(fn, 250);
    refresh();
    refresh.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
    throttle(fn, 250).cancel();
  });
});
