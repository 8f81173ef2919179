import type { SseWriter } from '../../src/stream/sse.js';

/**
 * What the tails, the changes feed and stream admission see of a stream's SseWriter, with what they
 * pushed kept for the test: an ended stream takes nothing more, and a close
 * listener added after the end runs at once.
 */
export class FakeWriter {
  frames: string[] = [];
  ended: string | undefined;
  /** What SseWriter.backedUp answers: the client is not reading. */
  backedUp = false;
  private listeners: (() => void)[] = [];
  push(frame: string): boolean {
    if (this.ended !== undefined) return false;
    this.frames.push(frame);
    return true;
  }
  end(reason: string): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    for (const listener of this.listeners.splice(0)) listener();
  }
  onClose(listener: () => void): void {
    if (this.ended !== undefined) listener();
    else this.listeners.push(listener);
  }
  get text(): string {
    return this.frames.join('');
  }
}

export const asWriter = (writer: FakeWriter) => writer as unknown as SseWriter;
