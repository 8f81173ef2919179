// N concurrent clients, each posting one live `token` event per request (`{type, data}`) to its own session.
import { wallMs } from '../lib.js';
import { createClient } from './http-client.js';
import { measured } from './measured.js';
import { serve } from './worker.js';

interface Input {
  url: string;
  sessions: string[];
  warmupMs: number;
  durationMs: number;
  /** The first event's index on every session (later runs on the same streams start above earlier ones). */
  firstIndex?: number;
}

serve<Input, { count: number; errors: number; cpuMs: number; accepted: number[] }>(async ({ url, sessions, warmupMs, durationMs, firstIndex = 0 }) => {
  const client = createClient(url, sessions.length);
  const window = measured(warmupMs, durationMs);
  const accepted = sessions.map(() => 0);
  let errors = 0;
  await Promise.all(
    sessions.map(async (session, index) => {
      while (!window.over()) {
        const res = await client.request('POST', `/v1/sessions/${session}/live`, {
          type: 'token',
          data: { i: firstIndex + accepted[index]!, t: Number(wallMs().toFixed(3)), text: ' token' },
        });
        if (res.status === 202) {
          accepted[index]!++;
          window.done();
        } else errors++;
      }
    }),
  );
  client.close();
  return { ...window.result(), errors, accepted };
});
