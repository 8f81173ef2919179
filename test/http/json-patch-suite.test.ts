import { describe, expect, it } from 'vitest';
import { call, type TestApp, warmAndColdApps } from '../helpers/app.js';
import { jsonPatchSuite as suite, mergeExamples, suiteExpectation } from '../helpers/patch-cases.js';

// The public json-patch-tests suite and the RFC 7396 appendix A examples, run
// through the HTTP API: each case is a delta on a session holding its doc,
// read back from the instance that applied it (its cached document), from a
// cold instance that replays the stored chain, and from a checkpoint. The
// client runs the same table through watchState (test/client/watch-state-patches.test.ts).
let warm: TestApp;
let cold: TestApp;

// A checkpoint every third delta: versions 2 and 3 are replayed from the chain, version 4 is a checkpoint.
warmAndColdApps({ STATE_CHECKPOINT_DELTAS: '3' }, (warmApp, coldApp) => {
  warm = warmApp;
  cold = coldApp;
});

const state = async (t: TestApp, id: string) => (await call(t.app, 'GET', `/v1/sessions/${id}/state`)).json();
/** A delta that changes nothing and passes only if the instance's document equals `document`. */
const assertDocument = (t: TestApp, id: string, base: number, document: unknown) =>
  call(t.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: base, patch: [{ op: 'test', path: '', value: document }] });

let counter = 0;

/**
 * Runs one delta on a fresh session holding `doc` and checks every way of
 * reading the result. `expected === undefined` means the delta must be refused.
 */
async function runCase(doc: unknown, delta: Record<string, unknown>, expected: { value: unknown } | undefined): Promise<string[]> {
  const failures: string[] = [];
  const check = (ok: boolean, what: string) => ok || failures.push(what);
  const id = `suite-${++counter}`;
  await call(warm.app, 'POST', '/v1/sessions', { id });
  const put = await call(warm.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: doc });
  check(put.statusCode === 200, `PUT doc: ${put.statusCode} ${put.body}`);
  const applied = await call(warm.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, ...delta });

  if (expected === undefined) {
    check(applied.statusCode >= 400 && applied.statusCode < 500, `refused with a 4xx, got ${applied.statusCode} ${applied.body}`);
    const after = await state(cold, id);
    check(after.version === 1, `version unchanged, got ${after.version}`);
    check(JSON.stringify(after.snapshot) === JSON.stringify(doc), `state unchanged, got ${JSON.stringify(after.snapshot)}`);
    const next = await assertDocument(warm, id, 1, doc);
    check(next.statusCode === 200, `the writing instance still holds doc: ${next.statusCode} ${next.body}`);
    return failures;
  }

  check(applied.statusCode === 200, `applied: ${applied.statusCode} ${applied.body}`);
  if (applied.statusCode !== 200) return failures;
  // Version 3: the writing instance's cached document equals the expected one.
  const cached = await assertDocument(warm, id, 2, expected.value);
  check(cached.statusCode === 200, `warm document: ${cached.statusCode} ${cached.body}`);
  // A cold instance rebuilds snapshot 1 + deltas 2, 3 from the stored chain.
  const replayed = await state(cold, id);
  check(replayed.version === 3, `cold version ${replayed.version}`);
  expect(replayed.snapshot).toEqual(expected.value);
  // Catch-up hands out the delta exactly as posted.
  const catchUp = await call(cold.app, 'GET', `/v1/sessions/${id}/state?have=1`);
  expect(catchUp.json().deltas[0]).toEqual({ version: 2, ...delta });
  // Version 4 makes the writing instance store its document as a checkpoint; the cold one reads it, then applies to it.
  check((await assertDocument(warm, id, 3, expected.value)).statusCode === 200, 'warm document at version 4');
  expect((await state(cold, id)).snapshot).toEqual(expected.value);
  const coldWrite = await assertDocument(cold, id, 4, expected.value);
  check(coldWrite.statusCode === 200, `cold instance's own document: ${coldWrite.statusCode} ${coldWrite.body}`);
  return failures;
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += size) await Promise.all(items.slice(start, start + size).map(run));
}

describe('json-patch-tests (RFC 6902) through the API', () => {
  it(`every enabled case (${suite.length}) applies, or is refused and changes nothing, warm and cold`, async () => {
    expect(suite.length).toBeGreaterThan(80);
    const failed: string[] = [];
    await inBatches(suite, 8, async ([name, c]) => {
      const failures = await runCase(c.doc, { patch: c.patch }, suiteExpectation(c)).catch((error: Error) => [error.message]);
      if (failures.length) failed.push(`${name} (${c.comment ?? c.error ?? ''}): ${failures.join('; ')}`);
    });
    expect(failed).toEqual([]);
  }, 120_000);
});

describe('RFC 7396 appendix A through the API', () => {
  it('every example, warm and cold', async () => {
    const failed: string[] = [];
    await inBatches(mergeExamples, 8, async ([target, patch, result]) => {
      const failures = await runCase(target, { merge_patch: patch }, { value: result }).catch((error: Error) => [error.message]);
      if (failures.length) failed.push(`${JSON.stringify(target)} + ${JSON.stringify(patch)}: ${failures.join('; ')}`);
    });
    expect(failed).toEqual([]);
  }, 60_000);
});
