import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { append, open, sessionWithEvents, waitForMarker } from '../helpers/streams.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// What POST /v1/sessions/{id}/events promises the readers already streaming the session.
// The head poll (the safety net for a wakeup lost with its instance) is set to an hour,
// so what reaches the stream here came by the append's own wakeup.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { STREAM_HEAD_POLL_MS: '3600000' } });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

describe('POST /v1/sessions/{id}/events reaches open streams', () => {
  it('each batch appended after a stream caught up arrives on it, in seq order, with the seq as id and no reconnect', async () => {
    const id = 'events-to-stream';
    await sessionWithEvents(t, id, 2);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      expect(client.durable.map((m) => m.id)).toEqual(['1', '2']);
      expect(await append(t, id, [{ type: 'tool.call', data: { n: 3 } }])).toEqual({ first_seq: 3, last_seq: 3 });
      await client.waitForDurable(3);
      expect(await append(t, id, [{ type: 'tool.result', data: { n: 4 } }, { type: 'note', data: { n: 5 } }])).toEqual({ first_seq: 4, last_seq: 5 });
      await client.waitForDurable(5);
      expect(client.durable.map((m) => [m.id, m.event, m.json.data])).toEqual([
        ['1', 'e1', { n: 1 }],
        ['2', 'e2', { n: 2 }],
        ['3', 'tool.call', { n: 3 }],
        ['4', 'tool.result', { n: 4 }],
        ['5', 'note', { n: 5 }],
      ]);
      expect(client.ended).toBe(false);
    } finally {
      await client.close();
    }
  });
});
