import { EventEmitter, once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RequestTimeout, TooManyTransfers } from '../../src/errors.js';
import { clientBody, readerPacedBody, TransferSlots } from '../../src/http/transfers.js';

/**
 * The pieces that keep a transfer (upload, import, export) from holding its
 * connection for ever. `lines` stand for an export's reads: their `finally`
 * is where the transaction rolls back and the connection goes back.
 */
/** A client's connection: it may close while a response on it hears nothing (one queued behind another, on Node 22). */
class FakeSocket extends EventEmitter {
  destroyed = false;
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

class FakeResponse extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  readonly req = { socket: new FakeSocket() as unknown as Socket };
  get connection(): FakeSocket {
    return this.req.socket as unknown as FakeSocket;
  }
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

function exportLike(count: number): { lines: AsyncGenerator<string>; released: () => boolean } {
  let released = false;
  async function* lines(): AsyncGenerator<string> {
    try {
      for (let i = 0; i < count; i++) yield `${'x'.repeat(1000)} ${i}\n`;
    } finally {
      released = true;
    }
  }
  return { lines: lines(), released: () => released };
}

describe('TransferSlots', () => {
  it('gives out its limit, then refuses with 503 too_many_transfers and Retry-After; a slot given back twice counts once', () => {
    const slots = new TransferSlots(2);
    const first = slots.take();
    slots.take();
    const refusal = (() => {
      try {
        slots.take();
      } catch (error) {
        return error;
      }
    })() as TooManyTransfers;
    expect(refusal).toBeInstanceOf(TooManyTransfers);
    expect(refusal).toMatchObject({ status: 503, code: 'too_many_transfers', extra: { limit: 2 }, headers: { 'retry-after': '1' } });
    first();
    first();
    expect(slots.inUse).toBe(1);
    slots.take();
    expect(() => slots.take()).toThrow(TooManyTransfers);
  });
});

describe('readerPacedBody', () => {
  it('returns the lines when the client left before the body was ever read (the route read the first line already)', async () => {
    const { lines, released } = exportLike(10);
    const first = await lines.next();
    const response = new FakeResponse();
    response.close();
    let settled = 0;
    const body = readerPacedBody(response.res, first.value as string, lines, 60_000, () => settled++);
    await once(body, 'close');
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });

  it('returns the lines when the client leaves halfway', async () => {
    const { lines, released } = exportLike(1000);
    const first = await lines.next();
    const response = new FakeResponse();
    let settled = 0;
    const body = readerPacedBody(response.res, first.value as string, lines, 60_000, () => settled++);
    body.pipe(new Writable({ highWaterMark: 1024, write: () => {} }));
    await new Promise((resolve) => setImmediate(resolve));
    response.close();
    await once(body, 'close');
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });

  it('gives its slot back and ends with the failure when returning the lines fails (a rollback on a dead connection)', async () => {
    async function* lines(): AsyncGenerator<string> {
      try {
        for (let i = 0; ; i++) yield `${'x'.repeat(1000)} ${i}\n`;
      } finally {
        // eslint-disable-next-line no-unsafe-finally -- the failure under test: a `finally` whose cleanup throws
        throw new Error('rollback failed: connection gone');
      }
    }
    const generator = lines();
    const first = await generator.next();
    const response = new FakeResponse();
    let settled = 0;
    const body = readerPacedBody(response.res, first.value as string, generator, 60_000, () => settled++);
    const failed = once(body, 'error');
    body.pipe(new Writable({ highWaterMark: 1024, write: () => {} }));
    await new Promise((resolve) => setImmediate(resolve));
    response.close();
    const [error] = await failed;
    expect((error as Error).message).toBe('rollback failed: connection gone');
    expect(settled).toBe(1);
  });

  it('returns the lines when the connection closes though the response never hears it (queued behind another), not after idleMs', async () => {
    const { lines, released } = exportLike(1000);
    const first = await lines.next();
    const response = new FakeResponse();
    let settled = 0;
    const body = readerPacedBody(response.res, first.value as string, lines, 60_000, () => settled++);
    // A response queued behind another takes what it is given until its buffer is full, then waits for its turn.
    body.pipe(new Writable({ highWaterMark: 1024, write: () => {} }));
    await new Promise((resolve) => setImmediate(resolve));
    response.connection.close();
    await once(body, 'close');
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });

  it('stops listening to its connection once it ended: a keep-alive connection serves download after download', async () => {
    const response = new FakeResponse();
    for (let download = 0; download < 3; download++) {
      const { lines } = exportLike(5);
      const first = await lines.next();
      const body = readerPacedBody(response.res, first.value as string, lines, 60_000, () => {});
      for await (const _chunk of body);
      expect(response.listenerCount('close')).toBe(0);
    }
  });

  it('cuts a reader that takes nothing once its buffers are full, and returns the lines', async () => {
    const { lines, released } = exportLike(1000);
    const first = await lines.next();
    let settled = 0;
    const body = readerPacedBody(new FakeResponse().res, first.value as string, lines, 50, () => settled++);
    // Takes the first write and never finishes it: the reader stopped.
    body.pipe(new Writable({ highWaterMark: 1024, write: () => {} }));
    const [error] = (await once(body, 'error')) as [Error];
    expect(error.message).toMatch(/took no bytes for 50 ms \(TRANSFER_IDLE_TIMEOUT_MS\)/);
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });

  it('never cuts a slow reader that keeps taking: idleMs bounds a stall, not the whole transfer', async () => {
    const { lines, released } = exportLike(120);
    const first = await lines.next();
    let settled = 0;
    const body = readerPacedBody(new FakeResponse().res, first.value as string, lines, 500, () => settled++);
    let error: Error | undefined;
    body.on('error', (e: Error) => (error = e));
    let taken = '';
    // Takes a line every 10 ms: its buffers stay full, it is never 500 ms without taking, and it takes over a second in all.
    const reader = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        taken += chunk.toString();
        setTimeout(done, 10);
      },
    });
    const finished = once(reader, 'finish');
    body.pipe(reader);
    // Closed at its end, or when it is cut.
    await once(body, 'close');
    expect(error).toBeUndefined();
    await finished;
    expect(taken.split('\n').filter(Boolean)).toHaveLength(120);
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });

  it('gives every line to a reader that keeps taking, then settles', async () => {
    const { lines, released } = exportLike(200);
    const first = await lines.next();
    let settled = 0;
    const body = readerPacedBody(new FakeResponse().res, first.value as string, lines, 60_000, () => settled++);
    let text = '';
    for await (const chunk of body) text += String(chunk);
    expect(text.split('\n').filter(Boolean)).toHaveLength(200);
    expect(released()).toBe(true);
    expect(settled).toBe(1);
  });
});

describe('clientBody', () => {
  it('passes the body through to its end', async () => {
    const request = new PassThrough();
    request.end('abc');
    const chunks: Buffer[] = [];
    for await (const chunk of clientBody(request, new FakeResponse().res, 60_000)) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('abc');
  });

  it('ends in 408 request_timeout when no byte comes for idleMs, and leaves the request whole for that answer', async () => {
    const request = new PassThrough();
    request.write('ab');
    const reading = (async () => {
      for await (const _chunk of clientBody(request, new FakeResponse().res, 50));
    })();
    const error = await reading.catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(RequestTimeout);
    expect(error).toMatchObject({ status: 408, code: 'request_timeout', extra: { limit_ms: 50 } });
    expect((error as Error).message).toContain('TRANSFER_IDLE_TIMEOUT_MS');
    expect(request.destroyed).toBe(false);
  });

  it('ends in an error when the response closes first (the 408 of REQUEST_TIMEOUT_MS went out, or the client left)', async () => {
    const request = new PassThrough();
    request.write('ab');
    const response = new FakeResponse();
    const reading = (async () => {
      for await (const _chunk of clientBody(request, response.res)) response.close();
    })();
    await expect(reading).rejects.toThrow(/answered or its connection closed before its body ended/);
    expect(request.destroyed).toBe(true);
  });

  it('ends in an error when the connection closes though the response never hears it (queued behind another)', async () => {
    const request = new PassThrough();
    request.write('ab');
    const response = new FakeResponse();
    const reading = (async () => {
      for await (const _chunk of clientBody(request, response.res, 60_000)) response.connection.close();
    })();
    await expect(reading).rejects.toThrow(/answered or its connection closed before its body ended/);
    expect(request.destroyed).toBe(true);
    expect(response.listenerCount('close')).toBe(0);
  });
});
