import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { applyRef, FAIL, type Json, type Result, scenario, wire } from '../helpers/json-reference.js';
import { SseClient } from '../helpers/sse.js';

// Generated documents and patches, valid and not, through the API, compared
// with the reference in test/helpers/json-reference.ts.
let t: TestApp;
let cold: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await createTestApp({ env: { STATE_CHECKPOINT_DELTAS: '3' } });
  await t.listen();
  cold = await createTestApp({ databaseUrl: t.url });
});
afterAll(async () => {
  await cold.close();
  await t.close();
});

describe('generated patches against an independent reference', () => {
  it('server and reference agree on every delta; refusals change nothing; warm, cold, catch-up and stream replay reach one document', async () => {
    let applied = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ([doc, deltas]) => {
        const id = `prop-${++counter}`;
        await call(t.app, 'POST', '/v1/sessions', { id });
        expect((await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: doc })).statusCode).toBe(200);
        let expected: Json = wire(doc);
        let version = 1;
        for (const d of deltas) {
          const reference = applyRef(expected, d);
          const response = await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: version, ...d });
          if (reference === FAIL) {
            // An op the schema does not know is a 400 for the whole body; any other refusal is 422.
            const unknownOp = 'patch' in d && d.patch.some((op) => op.op === 'spam');
            expect(response.statusCode, response.body).toBe(unknownOp ? 400 : 422);
            refused += 1;
          } else {
            expect(response.statusCode, `${JSON.stringify(d)} -> ${response.body}`).toBe(200);
            expected = wire(reference);
            version += 1;
            applied += 1;
          }
          const read = (await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json();
          expect(read.version).toBe(version);
          expect(read.snapshot).toEqual(expected);
        }
        // Warm: the writer's cached document, compared by the server's own test op.
        const warm = await call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: version, patch: [{ op: 'test', path: '', value: expected }] });
        expect(warm.statusCode, warm.body).toBe(200);
        version += 1;
        // Cold: a second instance rebuilds from the stored checkpoint and chain.
        expect((await call(cold.app, 'GET', `/v1/sessions/${id}/state`)).json().snapshot).toEqual(expected);
        // Catch-up from the first version: the stored deltas, replayed by the reference.
        const catchUp = (await call(cold.app, 'GET', `/v1/sessions/${id}/state?have=1`)).json();
        expect(catchUp.mode).toBe('catch_up');
        let replayed: Result = wire(doc);
        for (const item of catchUp.deltas) replayed = applyRef(replayed as Json, item);
        expect(replayed).toEqual(expected);
        // The stream: state.delta events from the start, replayed by the reference.
        const stream = await SseClient.open(`${t.baseUrl}/v1/sessions/${id}/stream`);
        try {
          await stream.waitFor(() => stream.ofType('session.activity').length > 0, 'the replay to end');
          let fromStream: Result = wire(doc);
          for (const message of stream.ofType('state.delta')) fromStream = applyRef(fromStream as Json, message.json.data);
          expect(stream.ofType('state.delta').at(-1)?.json.version).toBe(version);
          expect(fromStream).toEqual(expected);
        } finally {
          await stream.close();
        }
      }),
      { numRuns: 60 },
    );
    // The generators reach both sides.
    expect(applied).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  }, 120_000);
});
