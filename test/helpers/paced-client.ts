import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';

/** A client socket that takes bytes only when the test says it reads. */
export class PacedClient {
  received: string[] = [];
  private pending: (() => void)[] = [];
  readonly socket = new Writable({
    highWaterMark: 1024,
    write: (chunk: Buffer, _encoding, callback) => {
      this.received.push(chunk.toString());
      this.pending.push(callback);
    },
  });
  get res(): ServerResponse {
    return this.socket as unknown as ServerResponse;
  }
  /** Takes everything written so far. */
  read(): void {
    for (const done of this.pending.splice(0)) done();
  }
}
