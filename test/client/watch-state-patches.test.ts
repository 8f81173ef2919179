import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createClient, SessionSyncError, type StateSnapshot } from '../../client/src/index.js';
import { applyJsonPatch, applyMergePatch, freeze, PatchError } from '../../client/src/patch.js';
import { json, scriptedFetch, type SseFrame, sseResponse } from '../helpers/fake-fetch.js';
import { applyRef, type Delta, FAIL, type Json, scenario, wire } from '../helpers/json-reference.js';
import { jsonPatchSuite, mergeExamples, suiteExpectation } from '../helpers/patch-cases.js';

// The client's JSON Patch and merge patch held to the server's table
// (test/helpers/patch-cases.ts, which the server's suite runs through the
// API) and to the reference its property tests use: through watchState, the
// path a delta from the stream really takes, and through the applier alone
// for many generated cases.

const fast = { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 };
const durable = (seq: number, type: string, data: unknown, version?: number): SseFrame => ({
  id: seq,
  event: type,
  data: { seq, type, data, created_at: '2026-12-05T00:00:00Z', ...(version === undefined ? {} : { version }) },
});
const caughtUp = (cursor: number, status = 'idle'): SseFrame => ({ event: 'session.activity', data: { status, cursor } });

/**
 * A store on a scripted server whose session holds `doc` at version 1, seq 1,
 * and whose stream sends `deltas` as versions 2, 3, ... then its catch-up
 * marker, and stays open.
 */
function storeOn(doc: unknown, deltas: unknown[], activity: Record<string, unknown> = { status: 'idle' }) {
  const last = 1 + deltas.length;
  const frames = [...deltas.map((data, i) => durable(2 + i, 'state.delta', data, 2 + i)), caughtUp(last)];
  const server = scriptedFetch((request) => {
    const path = request.url.pathname;
    if (path.endsWith('/stream')) return sseResponse(frames, { hold: true, signal: request.signal });
    if (path.endsWith('/state')) return json({ mode: 'snapshot', version: 1, seq: 1, schema_version: 1, snapshot_version: 1, snapshot: doc, deltas: [] });
    return json({ id: 'patched', encoding: 'json', last_seq: 1, activity });
  });
  return createClient({ baseUrl: 'http://server.test', fetch: server.fetch, retry: fast }).watchState<unknown>('patched');
}

/** What the store made of the deltas: the state it reached, or the error it closed with. */
async function outcome(doc: unknown, deltas: unknown[]): Promise<{ state: unknown } | { error: SessionSyncError }> {
  const store = storeOn(doc, deltas);
  try {
    const ready = await store.ready;
    expect(ready.version).toBe(1 + deltas.length);
    return { state: ready.state };
  } catch (error) {
    expect(error).toBeInstanceOf(SessionSyncError);
    // A refused delta leaves the state as it was.
    expect(store.getSnapshot()).toMatchObject({ status: 'closed', version: 1 });
    expect(store.getSnapshot().state).toEqual(doc);
    return { error: error as SessionSyncError };
  } finally {
    store.close();
  }
}

describe('watchState applies what the server applies, and refuses what it refuses', () => {
  it(`json-patch-tests: every enabled case (${jsonPatchSuite.length})`, async () => {
    expect(jsonPatchSuite.length).toBeGreaterThan(80);
    const failed: string[] = [];
    for (const [name, c] of jsonPatchSuite) {
      const expected = suiteExpectation(c);
      const got = await outcome(c.doc, [{ patch: c.patch }]);
      const agrees =
        expected === undefined ? 'error' in got && got.error.code === 'client_error' : 'state' in got && isDeepStrictEqual(wire(got.state), wire(expected.value));
      if (!agrees) failed.push(`${name} (${c.comment ?? c.error ?? ''}): ${'error' in got ? got.error.detail : JSON.stringify(got.state)}`);
    }
    expect(failed).toEqual([]);
  });

  it('RFC 7396 appendix A: every example', async () => {
    for (const [target, patch, result] of mergeExamples) {
      expect(await outcome(target, [{ merge_patch: patch }]), JSON.stringify([target, patch])).toEqual({ state: result });
    }
  });

  // The inputs fast-json-patch, used before, read differently from the server.
  it.each([
    ['a member the object does not own (a prototype lookup)', {}, [{ op: 'replace', path: '/constructor', value: 1 }]],
    ['an inherited member removed', { a: 1 }, [{ op: 'remove', path: '/toString' }]],
    ['an array index with a leading zero', { a: [1, 2] }, [{ op: 'replace', path: '/a/01', value: 9 }]],
    ['a "~" not followed by 0 or 1', { 'a~': 1 }, [{ op: 'remove', path: '/a~' }]],
    ['a move into its own child', { a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]],
  ])('refuses %s, as the server does', async (_name, doc, patch) => {
    const got = await outcome(doc, [{ patch }]);
    expect('error' in got && got.error.code).toBe('client_error');
  });

  it('a member named __proto__ set by merge patch is a member, never the prototype', async () => {
    const got = (await outcome({}, [{ merge_patch: JSON.parse('{"__proto__": {"polluted": true}}') }])) as { state: object };
    expect(Object.getPrototypeOf(got.state)).toBe(Object.prototype);
    expect(Object.hasOwn(got.state, '__proto__')).toBe(true);
  });

  it('generated documents and deltas reach the reference\'s document, one delta after another from the stream', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ([doc, deltas]) => {
        // The server refuses what the reference refuses, so the stream carries only the rest.
        const accepted: Delta[] = [];
        let expected: Json = wire(doc);
        for (const d of deltas) {
          const next = applyRef(expected, d);
          if (next === FAIL) continue;
          accepted.push(d);
          expected = wire(next);
        }
        const got = await outcome(doc, accepted);
        expect(got).toEqual({ state: expected });
      }),
      { numRuns: 300 },
    );
  });
});

describe('applyJsonPatch and applyMergePatch', () => {
  it('agree with the reference on generated deltas, valid and not, refuse only with PatchError, and leave the frozen state as it was', () => {
    fc.assert(
      fc.property(scenario, ([doc, deltas]) => {
        let current: unknown = freeze(structuredClone(doc));
        let expected: Json = wire(doc);
        for (const d of deltas) {
          const before = JSON.stringify(current);
          const reference = applyRef(expected, d);
          let result: unknown = FAIL;
          try {
            result = 'patch' in d ? applyJsonPatch(current, d.patch) : applyMergePatch(current, d.merge_patch);
          } catch (error) {
            expect(error).toBeInstanceOf(PatchError);
          }
          expect(JSON.stringify(current)).toBe(before);
          if (reference === FAIL) {
            expect(result, JSON.stringify(d)).toBe(FAIL);
            continue;
          }
          expect(result, JSON.stringify(d)).not.toBe(FAIL);
          expected = wire(reference);
          expect(wire(result)).toEqual(expected);
          current = freeze(result);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('what listeners are told', () => {
  /** Every snapshot a listener was shown, from the first. */
  function shown(store: ReturnType<typeof storeOn>): StateSnapshot<unknown>[] {
    const seen: StateSnapshot<unknown>[] = [];
    store.subscribe(() => seen.push(store.getSnapshot()));
    return seen;
  }

  it('at start-up the state read comes with the session\'s seq: never version 1 at seq 0', async () => {
    const store = storeOn({ n: 1 }, []);
    const seen = shown(store);
    try {
      await store.ready;
      expect(seen.map(({ version, seq }) => `v${version} seq ${seq}`)).not.toContain('v1 seq 0');
      expect(seen[0]).toMatchObject({ status: 'loading', version: 1, seq: 1, state: { n: 1 }, activity: { status: 'idle' } });
    } finally {
      store.close();
    }
  });

  it('only of a change: an activity frame repeating the activity held tells no one and keeps the snapshot', async () => {
    const store = storeOn({ n: 1 }, [], { status: 'idle' });
    const seen = shown(store);
    try {
      await store.ready;
      // The catch-up marker repeats `idle`: the one change it brings is `live`.
      expect(seen.map((s) => s.status)).toEqual(['loading', 'live']);
      expect(seen[1]!.activity).toBe(seen[0]!.activity);
    } finally {
      store.close();
    }
  });

  it('a delta that leaves the state equal keeps the state object: only the version changes', async () => {
    const store = storeOn({ n: 1, list: [1] }, [{ patch: [{ op: 'test', path: '/n', value: 1 }] }, { merge_patch: { list: [1] } }]);
    const seen = shown(store);
    try {
      await store.ready;
      const states = new Set(seen.map((s) => s.state));
      expect(states.size).toBe(1);
      expect(seen.map((s) => s.version)).toEqual([1, 2, 3, 3]);
    } finally {
      store.close();
    }
  });
});
