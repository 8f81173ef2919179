// N concurrent clients, each appending small merge-patch deltas to its own session over HTTP.
import { createClient } from './http-client.js';
import { measured } from './measured.js';
import { serve } from './worker.js';

interface Input {
  url: string;
  sessions: { id: string; version: number }[];
  warmupMs: number;
  durationMs: number;
}

serve<Input, { count: number; errors: number; cpuMs: number }>(async ({ url, sessions, warmupMs, durationMs }) => {
  const client = createClient(url, sessions.length);
  const window = measured(warmupMs, durationMs);
  let errors = 0;
  await Promise.all(
    sessions.map(async (session) => {
      let version = session.version;
      while (!window.over()) {
        const res = await client.request('POST', `/v1/sessions/${session.id}/deltas`, {
          base_version: version,
          merge_patch: { counter: version, at: 'bench' },
        });
        if (res.status === 200) {
          version++;
          window.done();
        } else errors++;
      }
    }),
  );
  client.close();
  return { ...window.result(), errors };
});
