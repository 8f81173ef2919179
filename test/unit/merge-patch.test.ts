import { describe, expect, it } from 'vitest';
import { PatchFailed } from '../../src/errors.js';
import { measure, type StateLimits } from '../../src/state/json-value.js';
import { applyMergePatch, applyMergePatchToState } from '../../src/state/merge-patch.js';
import { mergeExamples } from '../helpers/patch-cases.js';

describe('applyMergePatch (RFC 7396)', () => {
  // Every example of RFC 7396 Appendix A (the table the client's tests run too).
  it.each(mergeExamples)('%j + %j = %j', (target, patch, expected) => {
    // A copy: the merge changes its target in place, and the examples are shared with the tests below.
    expect(applyMergePatch(structuredClone(target), patch)).toEqual(expected);
  });

  it('keeps keys named constructor and prototype', () => {
    expect(applyMergePatch({}, { constructor: 'Alice', prototype: { x: 1 } })).toEqual({
      constructor: 'Alice',
      prototype: { x: 1 },
    });
  });

  it('stores __proto__ as an own key and never changes any prototype', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    const result = applyMergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.hasOwn(result, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":true}}');
  });
});

describe('applyMergePatch results', () => {
  it('are ordinary objects the caller may change', () => {
    const result = applyMergePatch({ a: 1 }, { a: 2, b: { c: 1 } }) as { a: number; b: { c?: number } };
    result.a = 3;
    delete result.b.c;
    expect(result).toEqual({ a: 3, b: {} });
  });
});

describe('applyMergePatchToState (RFC 7396 for a json state)', () => {
  const DEEP = ' would nest the state deeper than 3 levels (MAX_JSON_DEPTH less one, so the state fits back into a PUT body)';
  const limits = { maxDepth: 3, maxBytes: Infinity };
  const NO_LIMITS = { maxDepth: Infinity, maxBytes: Infinity };
  const merged = (document: unknown, patch: unknown, stateLimits: StateLimits = limits) => {
    const doc = structuredClone(document);
    const result = applyMergePatchToState({ document: doc, bytes: measure(doc, Infinity) }, patch, stateLimits);
    expect(result.bytes).toBe(measure(result.document, Infinity));
    return result.document;
  };
  const refusal = (document: unknown, patch: unknown, stateLimits: StateLimits = limits) => {
    const doc = structuredClone(document);
    try {
      applyMergePatchToState({ document: doc, bytes: measure(doc, Infinity) }, patch, stateLimits);
    } catch (error) {
      expect(error).toBeInstanceOf(PatchFailed);
      expect((error as PatchFailed).extra).toEqual({});
      return (error as PatchFailed).message;
    }
    throw new Error(`${JSON.stringify(patch)} merged into ${JSON.stringify(document)}`);
  };

  // The state's own merge (sized, bounded) reads RFC 7396 as the plain one does: every Appendix A example, a null
  // inside a new member included (a deletion, never a value).
  it.each(mergeExamples)('on the state: %j + %j = %j', (target, patch, expected) => {
    if (target === null || typeof target !== 'object' || Array.isArray(target)) return;
    expect(merged(target, patch, NO_LIMITS)).toEqual(expected);
  });

  it('keeps the measured size exact when members are removed, replaced and added', () => {
    expect(merged({ a: { x: 'long text here' }, b: [1, 2], c: 1 }, { a: null, b: 'short', d: { e: true } }, NO_LIMITS)).toEqual({ b: 'short', c: 1, d: { e: true } });
    expect(merged({ a: { b: { c: 1, d: 'gone' } } }, { a: { b: { d: null, e: [] } } }, NO_LIMITS)).toEqual({ a: { b: { c: 1, e: [] } } });
  });

  it('refuses a result deeper than the state may nest, counting the levels of the members it merges into', () => {
    // Root, a and b are the three levels: b may hold scalars, not a container.
    expect(merged({ a: {} }, { a: { b: { c: 1 } } })).toEqual({ a: { b: { c: 1 } } });
    expect(refusal({ a: {} }, { a: { b: { c: {} } } })).toBe(`the patch does not apply: the merge patch${DEEP}`);
    expect(refusal({ a: { b: {} } }, { a: { b: { c: { d: 1 } } } })).toBe(`the patch does not apply: the merge patch${DEEP}`);
    expect(refusal([], { a: { b: { c: [] } } })).toBe(`the patch does not apply: the merge patch${DEEP}`);
  });

  it('refuses values that are not plain JSON (a caller other than a JSON body)', () => {
    expect(refusal({}, { x: Number.POSITIVE_INFINITY })).toBe('the patch does not apply: the state would hold a number that is not finite');
    expect(refusal({}, { x: { y: 1n } })).toBe('the patch does not apply: the state would hold a bigint value');
  });

  it('accepts member names next to the refused ones', () => {
    expect(merged({}, { prototype: { constructor: 1 }, p: { prototype: 1 }, constructor: { x: 1 } })).toEqual({
      prototype: { constructor: 1 },
      p: { prototype: 1 },
      constructor: { x: 1 },
    });
    expect(merged({ constructor: {} }, { constructor: { x: 1 } })).toEqual({ constructor: { x: 1 } });
  });

  it('refuses member names no JSON body may hold', () => {
    const refused = 'the patch does not apply: a member "constructor" holding a member "prototype" is not accepted';
    expect(refusal({ constructor: {} }, { constructor: { prototype: 1 } })).toBe(refused);
    expect(refusal({}, { constructor: { prototype: 1 } })).toBe(refused);
    expect(refusal({}, JSON.parse('{"__proto__": 1}'))).toBe('the patch does not apply: a member named "__proto__" is not accepted');
  });
});
