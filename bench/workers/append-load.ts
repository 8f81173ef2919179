// N concurrent clients, each appending small merge-patch deltas to its own session over HTTP.
import { createClient } from './http-client.js';
import { serve } from './worker.js';

interface Input {
  url: string;
  sessions: { id: string; version: number }[];
  durationMs: number;
}

serve<Input, { count: number; errors: number }>(async ({ url, sessions, durationMs }) => {
  const client = createClient(url, sessions.length);
  const until = Date.now() + durationMs;
  let count = 0;
  let errors = 0;
  await Promise.all(
    sessions.map(async (session) => {
      let version = session.version;
      while (Date.now() < until) {
        const res = await client.request('POST', `/v1/sessions/${session.id}/deltas`, {
          base_version: version,
          merge_patch: { counter: version, at: 'bench' },
        });
        if (res.status === 200) {
          version++;
          count++;
        } else errors++;
      }
    }),
  );
  client.close();
  return { count, errors };
});
