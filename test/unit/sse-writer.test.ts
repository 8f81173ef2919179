import { describe, expect, it } from 'vitest';
import { OutputLedger, SseWriter } from '../../src/stream/sse.js';
import { PacedClient } from '../helpers/paced-client.js';

const chunk = (i: number) => `id: ${i}\nevent: note\ndata: "${String(i).padEnd(4000, '.')}"\n\n`;

describe('a replay sent at the client pace (writePaced)', () => {
  it('a slow but steady reader gets a long replay whole and in order, never cut off', async () => {
    const client = new PacedClient();
    const ledger = new OutputLedger(64 * 1024);
    const writer = new SseWriter(client.res, 16 * 1024, ledger);
    for (let i = 1; i <= 200; i++) {
      // Each chunk is past the socket's buffer: the write waits until the client reads.
      const sent = writer.writePaced(chunk(i), () => true);
      client.read();
      expect(await sent).toBe(true);
    }
    client.read();
    expect(writer.closed).toBe(false);
    expect(client.received.join('')).toBe(Array.from({ length: 200 }, (_, i) => chunk(i + 1)).join(''));
    expect(ledger.total).toBe(0);
  });

  it('a client that goes away mid-replay ends it: the pending write answers false, later ones too', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 16 * 1024);
    const waiting = writer.writePaced(chunk(1));
    client.socket.destroy();
    expect(await waiting).toBe(false);
    expect(await writer.writePaced(chunk(2))).toBe(false);
    expect(writer.push(chunk(3))).toBe(false);
    expect(client.received).toEqual([chunk(1)]);
  });

  it('a write that fits the socket buffer does not wait for the client', async () => {
    const client = new PacedClient();
    const writer = new SseWriter(client.res, 16 * 1024);
    expect(await writer.writePaced('data: small\n\n')).toBe(true);
    expect(writer.backedUp).toBe(false);
  });
});
