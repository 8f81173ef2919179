import { describe, expect, it } from 'vitest';
import { PatchFailed } from '../../src/errors.js';
import { applyJsonPatch, NO_LIMITS } from '../../src/state/json-patch.js';
import { measure, type StateLimits } from '../../src/state/json-value.js';

// A curl user reads the problem detail to learn what went wrong: every way an
// RFC 6902 patch can be refused, with the exact detail it gets (the HTTP tests
// in test/http/state-write-errors.test.ts show the detail reaching the problem).

/** Applies `patch` to a copy of `document` and returns the refusal's detail and op_index. */
function refusal(document: unknown, patch: unknown[], limits: StateLimits = NO_LIMITS): { detail: string; op_index: unknown } {
  const doc = structuredClone(document);
  try {
    applyJsonPatch({ document: doc, bytes: measure(doc, Infinity) }, patch as never, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(PatchFailed);
    return { detail: (error as PatchFailed).message, op_index: (error as PatchFailed).extra.op_index };
  }
  throw new Error(`${JSON.stringify(patch)} applied to ${JSON.stringify(document)}`);
}

/** Applies `patch` and returns the result, checking its measured size against a fresh measurement. */
function applied(document: unknown, patch: unknown[], limits: StateLimits = NO_LIMITS): unknown {
  const doc = structuredClone(document);
  const result = applyJsonPatch({ document: doc, bytes: measure(doc, Infinity) }, patch as never, limits);
  expect(result.bytes).toBe(measure(result.document, Infinity));
  return result.document;
}

const shared = { s: 1 };
const DEEP = ' would nest the state deeper than 3 levels (MAX_JSON_DEPTH less one, so the state fits back into a PUT body)';

// [what, document, operation, detail after "operation 0 does not apply: "]
const refused: [string, unknown, Record<string, unknown>, string][] = [
  // RFC 6901 pointer grammar
  ['path that is not a string', {}, { op: 'add', path: 5, value: 1 }, '"path" must be a JSON Pointer string'],
  ['from that is not a string', { a: 1 }, { op: 'copy', from: null, path: '/b' }, '"from" must be a JSON Pointer string'],
  ['path without a leading slash', {}, { op: 'add', path: 'a', value: 1 }, 'path "a" is not a JSON Pointer: it must be "" or start with "/"'],
  ['from without a leading slash', { a: 1 }, { op: 'move', from: 'a', path: '/b' }, 'from "a" is not a JSON Pointer: it must be "" or start with "/"'],
  ['"~" not followed by 0 or 1', {}, { op: 'add', path: '/a~2', value: 1 }, 'path "/a~2" is not a JSON Pointer: "~" must be followed by 0 or 1'],
  ['a lone "~" in from', { a: 1 }, { op: 'copy', from: '/a~', path: '/b' }, 'from "/a~" is not a JSON Pointer: "~" must be followed by 0 or 1'],
  // Array indexes
  ['add at a leading-zero index', { list: [1] }, { op: 'add', path: '/list/01', value: 2 }, '"/list/01": "01" is not an array index (digits without a leading zero, or "-")'],
  ['remove at "-"', { list: [1] }, { op: 'remove', path: '/list/-' }, '"/list/-": "-" is not an array index (digits without a leading zero)'],
  ['replace at "-"', { list: [1] }, { op: 'replace', path: '/list/-', value: 2 }, '"/list/-": "-" is not an array index (digits without a leading zero)'],
  ['"-" inside a path', { list: [{ x: 1 }] }, { op: 'test', path: '/list/-/x', value: 1 }, '"/list/-": "-" is not an array index (digits without a leading zero)'],
  ['a name as an index', { list: [1] }, { op: 'test', path: '/list/length', value: 1 }, '"/list/length": "length" is not an array index (digits without a leading zero)'],
  ['add past the end', { list: [1] }, { op: 'add', path: '/list/2', value: 2 }, '"/list/2": index 2 is past the end of an array of 1'],
  ['remove at the length', { list: [1] }, { op: 'remove', path: '/list/1' }, '"/list/1": index 1 is past the end of an array of 1'],
  ['an index past the end inside a path', { list: [{}] }, { op: 'add', path: '/list/3/x', value: 1 }, '"/list/3": index 3 is past the end of an array of 1'],
  // Members that do not exist
  ['test of a missing member', { a: {} }, { op: 'test', path: '/a/b', value: 1 }, '"/a/b" does not exist'],
  ['a missing member inside a path', {}, { op: 'add', path: '/a/b', value: 1 }, '"/a" does not exist'],
  ['remove of a missing member', { a: 1 }, { op: 'remove', path: '/b' }, '"/b" does not exist'],
  ['replace of a missing member', { a: 1 }, { op: 'replace', path: '/b', value: 1 }, '"/b" does not exist'],
  ['move from a missing member', { a: 1 }, { op: 'move', from: '/b', path: '/c' }, '"/b" does not exist'],
  ['copy from a missing member', { a: 1 }, { op: 'copy', from: '/b', path: '/c' }, '"/b" does not exist'],
  ['a member of a scalar inside a path', { a: { b: 1 } }, { op: 'test', path: '/a/b/c/d', value: 1 }, '"/a/b/c" does not exist: "/a/b" is not an object or array'],
  ['add into a scalar', { a: { b: 1 } }, { op: 'add', path: '/a/b/c', value: 1 }, '"/a/b" is not an object or array'],
  ['remove from a scalar', { a: { b: 1 } }, { op: 'remove', path: '/a/b/c' }, '"/a/b/c" does not exist: "/a/b" is not an object or array'],
  ['remove of the whole document', { a: 1 }, { op: 'remove', path: '' }, 'the whole document cannot be removed (replace it instead)'],
  // Members an operation needs
  ['add without value', {}, { op: 'add', path: '/a' }, '"add" needs a "value" member'],
  ['replace without value', { a: 1 }, { op: 'replace', path: '/a' }, '"replace" needs a "value" member'],
  ['test without value', { a: 1 }, { op: 'test', path: '/a' }, '"test" needs a "value" member'],
  ['move without from', { a: 1 }, { op: 'move', path: '/b' }, '"move" needs a "from" member'],
  ['copy without from', { a: 1 }, { op: 'copy', path: '/b' }, '"copy" needs a "from" member'],
  ['an unknown op', {}, { op: 'frob', path: '' }, 'unknown op "frob"'],
  // What the operation itself refuses
  ['move into its own child', { a: { b: 1 } }, { op: 'move', from: '/a', path: '/a/b/c' }, 'cannot move "/a" into its own child "/a/b/c"'],
  ['move of the whole document into a member', { a: 1 }, { op: 'move', from: '', path: '/b' }, 'cannot move "" into its own child "/b"'],
  ['a failed test on an object member', { o: { a: 1 } }, { op: 'test', path: '/o', value: { a: 2 } }, 'test failed: "/o" is not equal to the given value'],
  ['a failed test on a missing member name', { o: { a: 1 } }, { op: 'test', path: '/o', value: { b: 1 } }, 'test failed: "/o" is not equal to the given value'],
  ['a failed test on an array', { l: [1, 2] }, { op: 'test', path: '/l', value: [1, 3] }, 'test failed: "/l" is not equal to the given value'],
  // Member names no JSON body may hold (see http/json-body.ts)
  ['add of __proto__', {}, { op: 'add', path: '/__proto__', value: {} }, '"/__proto__": a member named "__proto__" is not accepted'],
  [
    'add of constructor holding prototype',
    {},
    { op: 'add', path: '/constructor', value: { prototype: 1 } },
    '"/constructor": a member "constructor" holding a member "prototype" is not accepted',
  ],
  [
    'add of prototype inside constructor',
    { constructor: {} },
    { op: 'add', path: '/constructor/prototype', value: 1 },
    '"/constructor/prototype": a member "constructor" holding a member "prototype" is not accepted',
  ],
  [
    'copy of prototype into constructor',
    { constructor: {}, p: 1 },
    { op: 'copy', from: '/p', path: '/constructor/prototype' },
    '"/constructor/prototype": a member "constructor" holding a member "prototype" is not accepted',
  ],
  // Values that are not plain JSON (a caller other than a JSON body)
  ['a value that is not finite', {}, { op: 'add', path: '/x', value: Number.NaN }, 'the value at "/x" holds a number that is not finite'],
  ['a function value', {}, { op: 'add', path: '/x', value: () => 1 }, 'the value at "/x" holds a function value'],
  ['a bigint inside a value', {}, { op: 'replace', path: '', value: { n: 1n } }, 'the value at "" holds a bigint value'],
  ['a shared object', {}, { op: 'add', path: '/x', value: { a: shared, b: shared } }, 'the value at "/x" holds the same object twice (a cycle or a shared reference)'],
  ['an object of a class', { l: [] }, { op: 'add', path: '/l/0', value: new Date(0) }, 'the value at "/l/0" holds an object that is not a plain JSON object'],
];

describe('applyJsonPatch refusals', () => {
  it.each(refused)('%s', (_what, document, operation, detail) => {
    expect(refusal(document, [operation])).toEqual({ detail: `operation 0 does not apply: ${detail}`, op_index: 0 });
  });

  it('names the operation that failed, after the ones before it applied', () => {
    const patch = [
      { op: 'add', path: '/a', value: 1 },
      { op: 'test', path: '/a', value: 1 },
      { op: 'remove', path: '/b' },
    ];
    expect(refusal({}, patch)).toEqual({ detail: 'operation 2 does not apply: "/b" does not exist', op_index: 2 });
  });

  it('refuses a value that would nest the state deeper than its limit, at the level it lands on', () => {
    const limits = { maxDepth: 3, maxBytes: Infinity };
    // Root, a and b are the three levels (containers count, scalars do not): b may hold scalars, not a container.
    expect(applied({ a: {} }, [{ op: 'add', path: '/a/b', value: { c: 1 } }], limits)).toEqual({ a: { b: { c: 1 } } });
    expect(refusal({ a: {} }, [{ op: 'add', path: '/a/b', value: { c: [] } }], limits).detail).toBe(`operation 0 does not apply: the value at "/a/b"${DEEP}`);
    expect(refusal({ a: { x: [] } }, [{ op: 'copy', from: '/a', path: '/a/y' }], limits).detail).toBe(
      `operation 0 does not apply: the value at "/a/y"${DEEP}`,
    );
  });
});

describe('member names next to the refused ones', () => {
  it('are accepted: only __proto__, and prototype inside constructor, are refused', () => {
    expect(applied({}, [{ op: 'add', path: '/prototype', value: { constructor: 1 } }])).toEqual({ prototype: { constructor: 1 } });
    expect(applied({}, [{ op: 'add', path: '/p', value: { prototype: 1 } }])).toEqual({ p: { prototype: 1 } });
    expect(applied({}, [{ op: 'add', path: '/constructor', value: { x: 1 } }])).toEqual({ constructor: { x: 1 } });
    expect(applied({ constructor: {} }, [{ op: 'add', path: '/constructor/x', value: 1 }])).toEqual({ constructor: { x: 1 } });
    expect(applied({ constructor: [] }, [{ op: 'add', path: '/constructor/0', value: { prototype: 1 } }])).toEqual({ constructor: [{ prototype: 1 }] });
  });
});

describe('applyJsonPatch move', () => {
  const limits = { maxDepth: 3, maxBytes: Infinity };

  it('moves a member under another path that shares a later token (only a prefix is "into its own child")', () => {
    expect(applied({ a: { b: 1 }, c: { b: {} } }, [{ op: 'move', from: '/a/b', path: '/c/b/d' }])).toEqual({ a: {}, c: { b: { d: 1 } } });
    expect(applied({ a: { b: 1 }, x: {} }, [{ op: 'move', from: '/a/b', path: '/x/b' }])).toEqual({ a: {}, x: { b: 1 } });
  });

  it('to itself changes nothing, not even the order of the members', () => {
    const document = applied({ a: 1, b: 2 }, [{ op: 'move', from: '/a', path: '/a' }]);
    expect(JSON.stringify(document)).toBe('{"a":1,"b":2}');
  });

  it('refuses a value moved deeper than the state may nest', () => {
    expect(refusal({ a: { x: {} }, b: {} }, [{ op: 'move', from: '/a', path: '/b/a' }], limits).detail).toBe(
      `operation 0 does not apply: the value at "/b/a"${DEEP}`,
    );
  });

  it('never refuses a move that does not go deeper, even in a state over the limit (one stored before MAX_JSON_DEPTH was lowered)', () => {
    const tooDeep = { a: { b: { c: {} } }, d: {} };
    expect(applied(tooDeep, [{ op: 'move', from: '/a', path: '/z' }], limits)).toEqual({ d: {}, z: { b: { c: {} } } });
    expect(applied(tooDeep, [{ op: 'move', from: '/a/b', path: '/d/b' }], limits)).toEqual({ a: {}, d: { b: { c: {} } } });
    expect(applied(tooDeep, [{ op: 'move', from: '/a/b', path: '/y' }], limits)).toEqual({ a: {}, d: {}, y: { c: {} } });
  });
});
