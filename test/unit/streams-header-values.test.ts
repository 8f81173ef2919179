import { describe, expect, it } from 'vitest';
import { parseDecimal, quoteHeaderValue } from '../../src/streams/header-values.js';

describe('quoteHeaderValue', () => {
  it('quotes as JSON, so spaces and control characters show', () => {
    expect(quoteHeaderValue(' 1\t')).toBe('" 1\\t"');
  });

  it('quotes up to 64 characters whole and cuts longer values, marking the cut', () => {
    expect(quoteHeaderValue('a'.repeat(64))).toBe(`"${'a'.repeat(64)}"`);
    expect(quoteHeaderValue('a'.repeat(65))).toBe(`"${'a'.repeat(64)}"...`);
  });
});

describe('parseDecimal', () => {
  it('reads decimal digits up to the maximum, inclusive', () => {
    expect(parseDecimal('0', 10, false)).toBe(0);
    expect(parseDecimal('10', 10, false)).toBe(10);
    expect(parseDecimal('11', 10, false)).toBeUndefined();
  });

  it('leading zeros only when allowed', () => {
    expect(parseDecimal('007', 10, true)).toBe(7);
    expect(parseDecimal('007', 10, false)).toBeUndefined();
    expect(parseDecimal('00', 10, false)).toBeUndefined();
  });

  it.each(['', '+1', '-1', '1.0', '1e1', '0x1', ' 1', '1 ', '１'])('refuses %j either way', (raw) => {
    expect(parseDecimal(raw, 100, true)).toBeUndefined();
    expect(parseDecimal(raw, 100, false)).toBeUndefined();
  });
});
