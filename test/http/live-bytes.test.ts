import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { open, waitForMarker } from '../helpers/streams.js';

let t: TestApp;
let wide: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  wide = await createTestApp({ env: { MAX_LIVE_BYTES: '7999' } });
  await t.listen();
  await wide.listen();
});
afterAll(async () => {
  await t.close();
  await wide.close();
});

/** A string whose JSON takes exactly `bytes` bytes of UTF-8, mostly three-byte characters. */
function textOfBytes(bytes: number): string {
  const body = bytes - 2;
  const text = '€'.repeat(Math.floor(body / 3)) + 'a'.repeat(body % 3);
  expect(Buffer.byteLength(JSON.stringify(text))).toBe(bytes);
  return text;
}

describe('live data is measured in bytes', () => {
  it('data of exactly MAX_LIVE_BYTES (7000) in multibyte text is delivered whole; one byte more is 413 and reaches no stream', async () => {
    const id = 'live-bytes';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const client = await open(t, `/v1/sessions/${id}/stream`);
    try {
      await waitForMarker(client);
      const over = expectProblem(await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'over', data: textOfBytes(7001) }), 413, 'payload_too_large');
      expect(over).toMatchObject({ limit_bytes: 7000, size: 7001 });
      const at = textOfBytes(7000);
      const sent = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'at', data: at });
      expect(sent.statusCode, sent.body).toBe(202);
      await client.waitFor(() => client.ofType('at').length === 1, 'the live event at the limit');
      expect(client.ofType('at')[0]?.json).toEqual({ type: 'at', data: at });
      expect(client.ofType('over')).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('a refusal names the field the body has: a single event\'s `data` (no index), a batch\'s `events[i].data` (with its index)', async () => {
    const id = 'live-bytes-names';
    expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const live = (body: unknown) => call(t.app, 'POST', `/v1/sessions/${id}/live`, body);

    const single = expectProblem(await live({ type: 'over', data: textOfBytes(7001) }), 413, 'payload_too_large');
    expect(single).toMatchObject({ limit_bytes: 7000, size: 7001 });
    expect(single.detail).toMatch(/\bdata is 7001 bytes.*MAX_LIVE_BYTES/);
    expect(single.detail).not.toContain('events[');
    const batch = expectProblem(
      await live({ events: [{ type: 'ok', data: 1 }, { type: 'over', data: textOfBytes(7001) }] }),
      413,
      'payload_too_large',
    );
    expect(batch).toMatchObject({ limit_bytes: 7000, size: 7001 });
    expect(batch.detail).toMatch(/^events\[1\]\.data is 7001 bytes.*MAX_LIVE_BYTES/);

    // A reserved type: `index` only in a batch (docs/API.md, Errors).
    const reserved = expectProblem(await live({ type: 'session.forged', data: 1 }), 400, 'reserved_event_type');
    expect(reserved.event_type).toBe('session.forged');
    expect(reserved).not.toHaveProperty('index');
    const reservedInBatch = expectProblem(
      await live({ events: [{ type: 'ok', data: 1 }, { type: 'session.forged', data: 1 }] }),
      400,
      'reserved_event_type',
    );
    expect(reservedInBatch).toMatchObject({ event_type: 'session.forged', index: 1 });
  });

  it('with MAX_LIVE_BYTES at its top, data within it whose wakeup is not is 413, never a 500', async () => {
    const id = `live-wide-${'s'.repeat(100)}`;
    expect((await call(wide.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const res = await call(wide.app, 'POST', `/v1/sessions/${id}/live`, { type: `t${'x'.repeat(120)}`, data: textOfBytes(7999) });
    expectProblem(res, 413, 'payload_too_large');
    const activity = await call(wide.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', detail: textOfBytes(7999) });
    expectProblem(activity, 413, 'payload_too_large');
    expect((await call(wide.app, 'GET', `/v1/sessions/${id}`)).json().activity).toEqual({ status: 'idle' });
  });
});
