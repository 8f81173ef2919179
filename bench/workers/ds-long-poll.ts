// Many Durable Streams long-poll readers on one stream, each following it from its tail as a
// Durable Streams client does (the next request from the last Stream-Next-Offset, echoing
// Stream-Cursor), recording when each message's seq arrived.
import { wallMs } from '../lib.js';
import { createClient } from './http-client.js';
import { report, serve } from './worker.js';

interface Input {
  url: string;
  path: string;
  readers: number;
}

/** The seq an offset stands after (`0000000000000000_<seq>`). */
const seqOf = (offset: string) => Number(offset.slice(offset.indexOf('_') + 1));

serve<Input, { receipts: [number, number][][]; errors: number }>(async ({ url, path, readers }, control) => {
  const client = createClient(url, readers);
  const receipts: [number, number][][] = Array.from({ length: readers }, () => []);
  let finished = false;
  let errors = 0;
  control.on('finish', () => {
    finished = true;
    // Ends the long-polls still waiting (they would wait out STREAM_LONG_POLL_MS).
    client.close();
  });
  const head = await client.request('HEAD', `/v1/stream/${path}`);
  const start = String(head.headers['stream-next-offset']);
  let waiting = 0;
  const follow = async (index: number) => {
    let offset = start;
    let cursor: string | undefined;
    let first = true;
    while (!finished) {
      const query = `offset=${offset}&live=long-poll${cursor ? `&cursor=${cursor}` : ''}`;
      if (first) {
        first = false;
        if (++waiting === readers) report({ type: 'ready' });
      }
      const res = await client.request('GET', `/v1/stream/${path}?${query}`).catch(() => undefined);
      const at = wallMs();
      if (!res) break;
      if (res.status === 200) {
        const next = String(res.headers['stream-next-offset']);
        for (let seq = seqOf(offset) + 1; seq <= seqOf(next); seq++) receipts[index]?.push([seq, at]);
        offset = next;
      } else if (res.status !== 204) {
        errors++;
      }
      cursor = res.headers['stream-cursor'] as string | undefined;
    }
  };
  await Promise.all(Array.from({ length: readers }, (_, i) => follow(i)));
  return { receipts, errors };
});
