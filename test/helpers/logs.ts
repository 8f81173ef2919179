import { Writable } from 'node:stream';

/**
 * A pino destination that keeps every line, for tests that assert what an
 * operator would read in the log: `createTestApp({ log: logSink('warn') })`.
 */
export function logSink(level: string): { level: string; lines: string[]; stream: Writable; entries: () => Record<string, any>[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { level, lines, stream, entries: () => lines.map((line) => JSON.parse(line)) };
}
