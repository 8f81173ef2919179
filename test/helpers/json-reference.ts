import fc from 'fast-check';

// A small reference for RFC 6902, 6901 and 7396 written from the RFC texts
// alone (immutable, recursive, sharing no code with the server), and
// generators of documents and deltas, valid and not, for property tests.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Op = { op: string; path: string; from?: string; value?: Json };
export const FAIL = Symbol('fail');
export type Result = Json | typeof FAIL;

const isObject = (v: unknown): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** RFC 6901: null when the pointer is not in the grammar. */
function refTokens(pointer: unknown): string[] | null {
  if (typeof pointer !== 'string') return null;
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return null;
  const tokens = pointer.slice(1).split('/');
  if (tokens.some((t) => /~([^01]|$)/.test(t))) return null;
  return tokens.map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const isIndex = (t: string) => /^(0|[1-9][0-9]*)$/.test(t);

function refGet(doc: Json, tokens: string[]): Result {
  if (tokens.length === 0) return doc;
  const [head, ...rest] = tokens as [string, ...string[]];
  if (Array.isArray(doc)) return isIndex(head) && Number(head) < doc.length ? refGet(doc[Number(head)] as Json, rest) : FAIL;
  if (isObject(doc)) return own(doc, head) ? refGet(doc[head] as Json, rest) : FAIL;
  return FAIL;
}

/** A copy of `doc` with the child at `head` replaced by `f(child)`. */
function refUpdate(doc: Json, tokens: string[], last: (parent: Json, key: string) => Result): Result {
  const [head, ...rest] = tokens as [string, ...string[]];
  if (rest.length === 0) return last(doc, head);
  const child = refGet(doc, [head]);
  if (child === FAIL) return FAIL;
  const updated = refUpdate(child, rest, last);
  if (updated === FAIL) return FAIL;
  if (Array.isArray(doc)) return doc.map((v, i) => (i === Number(head) ? updated : v));
  return { ...(doc as object), [head]: updated };
}

function refAdd(doc: Json, tokens: string[], value: Json): Result {
  if (tokens.length === 0) return value;
  return refUpdate(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : isIndex(key) ? Number(key) : NaN;
      if (!(index <= parent.length)) return FAIL;
      return [...parent.slice(0, index), value, ...parent.slice(index)];
    }
    if (isObject(parent)) return { ...parent, [key]: value };
    return FAIL;
  });
}

function refRemove(doc: Json, tokens: string[]): Result {
  if (tokens.length === 0) return FAIL;
  return refUpdate(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) return isIndex(key) && Number(key) < parent.length ? parent.filter((_, i) => i !== Number(key)) : FAIL;
    if (isObject(parent) && own(parent, key)) return Object.fromEntries(Object.entries(parent).filter(([k]) => k !== key));
    return FAIL;
  });
}

const canonical = (v: Json): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : isObject(v)
      ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k] as Json)}`).join(',')}}`
      : JSON.stringify(v);

export function refOp(doc: Json, op: Op): Result {
  const path = refTokens(op.path);
  if (path === null) return FAIL;
  const hasValue = own(op, 'value');
  const from = own(op, 'from') ? refTokens(op.from) : null;
  switch (op.op) {
    case 'add':
      return hasValue ? refAdd(doc, path, op.value as Json) : FAIL;
    case 'remove':
      return refRemove(doc, path);
    case 'replace': {
      if (!hasValue || refGet(doc, path) === FAIL) return FAIL;
      if (path.length === 0) return op.value as Json;
      const removed = refRemove(doc, path);
      return removed === FAIL ? FAIL : refAdd(removed, path, op.value as Json);
    }
    case 'move': {
      if (from === null) return FAIL;
      if (from.length < path.length && from.every((t, i) => t === path[i])) return FAIL;
      const value = refGet(doc, from);
      if (value === FAIL) return FAIL;
      // Remove then add at the root: the document, whatever "remove" alone may say about the root.
      if (from.length === 0 && path.length === 0) return doc;
      const removed = refRemove(doc, from);
      return removed === FAIL ? FAIL : refAdd(removed, path, value);
    }
    case 'copy': {
      if (from === null) return FAIL;
      const value = refGet(doc, from);
      return value === FAIL ? FAIL : refAdd(doc, path, value);
    }
    case 'test': {
      const current = refGet(doc, path);
      return hasValue && current !== FAIL && canonical(current) === canonical(op.value as Json) ? doc : FAIL;
    }
    default:
      return FAIL;
  }
}

export function refPatch(doc: Json, patch: Op[]): Result {
  let current: Result = doc;
  for (const op of patch) {
    current = refOp(current, op);
    if (current === FAIL) return FAIL;
  }
  return current;
}

/** RFC 7396 section 2, as written there. */
export function refMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: { [key: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete result[name];
    else result[name] = refMerge(own(result, name) ? (result[name] as Json) : null, value);
  }
  return result;
}

// Generators: few names, so generated pointers often hit; names that are
// JavaScript built-ins and pointer escapes on purpose.
const names = fc.constantFrom('a', 'b', '0', '1', '-', '', 'a/b', 'm~n', 'constructor', 'toString', 'length');
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -50, max: 50 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
  fc.string({ maxLength: 3 }),
);
export const json: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(names, tie('value'), { maxKeys: 3 }),
  ),
})).value;

const escape = (t: string) => t.replace(/~/g, '~0').replace(/\//g, '~1');
function pointersOf(doc: Json, prefix = ''): string[] {
  const children = Array.isArray(doc)
    ? doc.flatMap((v, i) => pointersOf(v, `${prefix}/${i}`))
    : isObject(doc)
      ? Object.entries(doc).flatMap(([k, v]) => pointersOf(v, `${prefix}/${escape(k)}`))
      : [];
  return [prefix, ...children];
}

/** Pointers that exist, one level past them, and ones the grammar forbids. */
const pointer = (doc: Json) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pointersOf(doc)) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...pointersOf(doc)), fc.oneof(names, fc.constantFrom('2', '9', '01'))).map(([p, n]) => `${p}/${escape(n)}`) },
    { weight: 1, arbitrary: fc.constantFrom('a', '/~2', '/a~', '/-/-', '/0/00') },
  );

export const operation = (doc: Json): fc.Arbitrary<Op> =>
  fc
    .record(
      {
        op: fc.oneof({ weight: 12, arbitrary: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test') }, { weight: 1, arbitrary: fc.constant('spam') }),
        path: pointer(doc),
        from: pointer(doc),
        value: json,
      },
      // Sometimes without value or from: the op must then be refused, if it needs them.
      { requiredKeys: ['op', 'path'] },
    )
    .map((op) => op as Op);

export type Delta = { patch: Op[] } | { merge_patch: Json };
const delta = (doc: Json): fc.Arbitrary<Delta> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(operation(doc), { minLength: 1, maxLength: 4 }).map((patch) => ({ patch })) },
    { weight: 1, arbitrary: json.map((merge_patch) => ({ merge_patch })) },
  );

export const scenario = json.chain((doc) => fc.tuple(fc.constant(doc), fc.array(delta(doc), { minLength: 1, maxLength: 4 })));

export const applyRef = (doc: Json, d: Delta): Result => ('patch' in d ? refPatch(doc, d.patch) : refMerge(doc, d.merge_patch));
/** What a JSON round trip makes of a value (-0 becomes 0). */
export const wire = (v: unknown) => JSON.parse(JSON.stringify(v)) as Json;
