// Appends events at a fixed rate and records when each was acknowledged.
import { wallMs } from '../lib.js';
import { serve } from './worker.js';

interface Input {
  url: string;
  session: string;
  perSecond: number;
  durationMs: number;
  /** Events per request and bytes of padding per event (for volume tests). */
  batch?: number;
  padBytes?: number;
}

serve<Input, { acks: [number, number][]; errors: number }>(async ({ url, session, perSecond, durationMs, batch = 1, padBytes = 0 }) => {
  const acks: [number, number][] = [];
  const pad = 'x'.repeat(padBytes);
  const interval = 1000 / perSecond;
  const start = performance.now();
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; performance.now() - start < durationMs; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      (async () => {
        const res = await fetch(`${url}/v1/sessions/${session}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events: Array.from({ length: batch }, (_, j) => ({ type: 'tick', data: { i, j, pad } })) }),
        });
        const at = wallMs();
        if (res.status !== 201) {
          errors++;
          await res.arrayBuffer();
          return;
        }
        const body = (await res.json()) as { first_seq: number; last_seq: number };
        for (let seq = body.first_seq; seq <= body.last_seq; seq++) acks.push([seq, at]);
      })(),
    );
  }
  await Promise.all(inFlight);
  return { acks, errors };
});
