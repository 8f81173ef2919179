// N concurrent writers, each appending one small JSON message per request to its own session:
// through the Durable Streams face as an idempotent producer, or through the native events route.
import { createClient } from './http-client.js';
import { measured } from './measured.js';
import { serve } from './worker.js';

interface Input {
  url: string;
  /** Session ids; on the face their stream paths are the same (no `:` in them). */
  sessions: string[];
  face: 'stream' | 'native';
  warmupMs: number;
  durationMs: number;
}

serve<Input, { count: number; errors: number; cpuMs: number }>(async ({ url, sessions, face, warmupMs, durationMs }) => {
  const client = createClient(url, sessions.length);
  const window = measured(warmupMs, durationMs);
  let errors = 0;
  await Promise.all(
    sessions.map(async (id) => {
      for (let n = 0; !window.over(); n++) {
        const res =
          face === 'stream'
            ? await client.request('POST', `/v1/stream/${id}`, { n, at: 'bench' }, { 'producer-id': `bench-${id}`, 'producer-epoch': '0', 'producer-seq': String(n) })
            : await client.request('POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: { n, at: 'bench' } }] });
        if (res.status === (face === 'stream' ? 200 : 201)) window.done();
        else errors++;
      }
    }),
  );
  client.close();
  return { ...window.result(), errors };
});
