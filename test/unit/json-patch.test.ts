import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PatchFailed } from '../../src/errors.js';
import { applyJsonPatch, type PatchOperation } from '../../src/state/json-patch.js';
import { measure } from '../../src/state/json-value.js';
import { applyMergePatchToState } from '../../src/state/merge-patch.js';
import { applyRef, FAIL, scenario, wire } from '../helpers/json-reference.js';

// The applier on its own, many more cases than the API tests can afford: the
// same results as the reference, and a size kept up to date operation by
// operation that always equals a fresh measurement of the whole result.
const NO_LIMITS = { maxDepth: Infinity, maxBytes: Infinity };

describe('applyJsonPatch and applyMergePatchToState', () => {
  it('agree with the reference, refuse only with PatchFailed, and keep the measured size exact', () => {
    fc.assert(
      fc.property(scenario, ([doc, deltas]) => {
        let current = { document: structuredClone(doc) as unknown, bytes: measure(doc, Infinity) };
        let expected = wire(doc);
        for (const delta of deltas) {
          const reference = applyRef(expected, delta);
          let result: typeof current | undefined;
          try {
            const working = { document: structuredClone(current.document), bytes: current.bytes };
            result =
              'patch' in delta ? applyJsonPatch(working, delta.patch as never, NO_LIMITS) : applyMergePatchToState(working, delta.merge_patch, NO_LIMITS);
          } catch (error) {
            expect(error).toBeInstanceOf(PatchFailed);
          }
          if (reference === FAIL) {
            expect(result).toBeUndefined();
            continue;
          }
          expect(result, JSON.stringify(delta)).toBeDefined();
          current = result as typeof current;
          expected = wire(reference);
          expect(wire(current.document)).toEqual(expected);
          expect(current.bytes).toBe(measure(current.document, Infinity));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('measures a document as its JSON text with one separator per member', () => {
    const document = { a: [1, 'é', null], b: {}, 'c"': true };
    // {"a":[1,"é",null],"b":{},"c\"":true} plus one separator for each of 3 members and 3 elements, minus the 4 written.
    expect(measure(document, Infinity)).toBe(Buffer.byteLength(JSON.stringify(document)) + 2);
  });

  it('keeps the size exact through each kind of operation, whatever the random cases happen to draw', () => {
    const steps: PatchOperation[] = [
      { op: 'replace', path: '/a/1', value: 2 },
      { op: 'replace', path: '/o/k', value: 'é' },
      { op: 'add', path: '/a/0', value: { x: 'yy' } },
      { op: 'add', path: '/a/-', value: 'z' },
      { op: 'remove', path: '/a/1' },
      { op: 'copy', from: '/o', path: '/p' },
      { op: 'move', from: '/a/0', path: '/o/m' },
      { op: 'replace', path: '/o', value: [] },
      { op: 'remove', path: '/p' },
      { op: 'replace', path: '', value: { a: 'é'.repeat(10) } },
    ];
    let current = { document: { a: [1, 'a longer string', 3], o: { k: 'vvvv' } } as unknown, bytes: 0 };
    current.bytes = measure(current.document, Infinity);
    for (const step of steps) {
      current = applyJsonPatch(current, [step], NO_LIMITS);
      expect(current.bytes, JSON.stringify(step)).toBe(measure(current.document, Infinity));
    }
  });

  it('never treats built-in object members as document members', () => {
    for (const path of ['/constructor', '/toString', '/__proto__', '/hasOwnProperty']) {
      expect(() => applyJsonPatch({ document: {}, bytes: 2 }, [{ op: 'remove', path }], NO_LIMITS)).toThrow(PatchFailed);
      expect(() => applyJsonPatch({ document: {}, bytes: 2 }, [{ op: 'test', path, value: null }], NO_LIMITS)).toThrow(PatchFailed);
    }
  });
});
