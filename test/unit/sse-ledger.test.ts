import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OutputLedger, SseWriter } from '../../src/stream/sse.js';

/** A client socket that never takes a byte (a reader that stopped reading). */
const stalled = () => new Writable({ highWaterMark: 16 * 1024, write() {} }) as unknown as ServerResponse;
/** One that takes everything at once. */
const reading = () =>
  new Writable({
    highWaterMark: 16 * 1024,
    write(_chunk, _encoding, callback) {
      callback();
    },
  }) as unknown as ServerResponse;

const frame = (kb: number) => `data: ${'x'.repeat(kb * 1024)}\n\n`;

describe('unsent output of all streams together (SSE_TOTAL_BUFFER_BYTES)', () => {
  it('cuts off the stream that takes the total past its bound, though each is within its own', async () => {
    const ledger = new OutputLedger(100 * 1024);
    const writers = [stalled(), stalled(), stalled()].map((res) => new SseWriter(res, 1024 * 1024, ledger));
    // Each gets 40 KiB: the third pushes the total (120 KiB) past 100 KiB.
    expect(writers[0]?.push(frame(40))).toBe(true);
    expect(writers[1]?.push(frame(40))).toBe(true);
    expect(writers[2]?.push(frame(40))).toBe(false);
    expect(writers.map((w) => w.reason)).toEqual([undefined, undefined, 'slow reader']);
    // What the cut stream held is no longer counted.
    expect(ledger.total).toBeLessThan(100 * 1024);
    expect(ledger.total).toBeGreaterThanOrEqual(80 * 1024);
    // A stream whose client reads is never held to it.
    const healthy = new SseWriter(reading(), 1024 * 1024, ledger);
    for (let i = 0; i < 20; i++) expect(healthy.push(frame(40))).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ledger.total).toBeLessThan(100 * 1024);
    writers[0]?.destroy('client closed');
    writers[1]?.destroy('client closed');
    expect(ledger.total).toBe(0);
  });
});
