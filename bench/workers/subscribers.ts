// Opens many SSE streams, reports when every one has its caught-up marker, and
// (if asked) records when each durable event arrived on each stream.
import { wallMs } from '../lib.js';
import { openStream, type StreamHandle } from './sse.js';
import { report, serve } from './worker.js';

interface Input {
  url: string;
  paths: string[];
  record: boolean;
  /** Streams opened at once while connecting. */
  concurrency?: number;
}

interface Output {
  /** Per stream: [seq, receivedAtMs] pairs, in arrival order (empty unless `record`). */
  receipts: [number, number][][];
  markers: number;
}

serve<Input, Output>(async ({ url, paths, record, concurrency = 100 }, control) => {
  const receipts: [number, number][][] = paths.map(() => []);
  const handles: StreamHandle[] = [];
  let markers = 0;
  let next = 0;
  const openOne = async (): Promise<void> => {
    while (next < paths.length) {
      const index = next++;
      await new Promise<void>((resolve) => {
        const handle = openStream(`${url}${paths[index]}`, (message) => {
          if (message.event === 'session.activity' && message.data.includes('"cursor"')) {
            markers++;
            resolve();
          } else if (record && message.id !== undefined) {
            receipts[index]?.push([Number(message.id), wallMs()]);
          }
        });
        handles.push(handle);
        void handle.ended.then(resolve);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, openOne));
  report({ type: 'ready', markers });
  await new Promise<void>((resolve) => control.on('finish', () => resolve()));
  for (const handle of handles) handle.close();
  return { receipts, markers };
});
