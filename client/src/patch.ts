/**
 * The client's JSON Patch (RFC 6902, with RFC 6901 pointers) and JSON Merge
 * Patch (RFC 7396), with the server's meaning: members are own properties only
 * (`/constructor` of `{}` does not exist), an array index is `0` or digits
 * without a leading zero (`/a/01` fails), `~` must be followed by `0` or `1`
 * (`/a~` fails), a value cannot move into its own child, an op without the
 * `value` or `from` it needs fails, and members an op does not define are
 * ignored. fast-json-patch, used here before, read the first five otherwise.
 *
 * Not shared with the server's applier (src/state/json-patch.ts): that one
 * patches its document in place and measures and limits every value it
 * inserts as it goes (size, depth, members named `__proto__`), a cost and a
 * set of refusals the client has no use for: it only applies deltas the
 * server accepted, so they are within those limits already. Sharing it would carry the
 * server's limits into the client, or split the server's one pass in two.
 * Instead both are held to one table: the json-patch-tests suite and the RFC
 * 7396 examples (test/helpers/patch-cases.ts), run through the API and
 * through watchState, and the reference of test/helpers/json-reference.ts,
 * which property tests compare with each applier.
 *
 * Unlike the server's, this one never mutates: it copies the containers on
 * the path it changes and shares every other member with the state it was
 * given, which stays frozen and shared with readers.
 */

/** Why a patch does not apply; the store closes with it (the server accepted the patch, so the mirror no longer agrees). */
export class PatchError extends Error {
  override name = 'PatchError';
}

type JsonObject = { [key: string]: unknown };

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 6901 array index: `0` or digits without a leading zero. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Deep-freezes a JSON value so a store's snapshot can be shared without copies being needed. */
export function freeze<T>(value: T): T {
  // Primitives and null count as frozen, and so does a member shared with the state before (already frozen, all the way down).
  if (!Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) freeze(child);
  }
  return value;
}

/** Deep equality as RFC 6902 section 4.6 defines it (member order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, index) => jsonEqual(item, other[index]));
  }
  const left = a as JsonObject;
  const right = b as JsonObject;
  const keys = Object.keys(left);
  return keys.length === Object.keys(right).length && keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]));
}

/** A copy of `object` with `key` set; defineProperty, so a member named `__proto__` stays a member, never a prototype. */
function withMember(object: JsonObject, key: string, value: unknown): JsonObject {
  const copy = { ...object };
  Object.defineProperty(copy, key, { value, writable: true, enumerable: true, configurable: true });
  return copy;
}

/** RFC 6901 sections 3 and 4: "" is the whole document, otherwise "/"-separated tokens with ~1 and ~0 escapes. */
function tokensOf(pointer: unknown, member: 'path' | 'from'): string[] {
  if (typeof pointer !== 'string') throw new PatchError(`"${member}" must be a JSON Pointer string`);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`${member} "${pointer}" is not a JSON Pointer: it must be "" or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new PatchError(`${member} "${pointer}" is not a JSON Pointer: "~" must be followed by 0 or 1`);
      return token.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

/** The index `token` names in `array`; `allowEnd` admits its length and `-` (add only). */
function indexIn(array: readonly unknown[], token: string, allowEnd: boolean): number {
  if (allowEnd && token === '-') return array.length;
  if (!ARRAY_INDEX.test(token)) throw new PatchError(`"${token}" is not an array index`);
  const index = Number(token);
  if (index > array.length || (index === array.length && !allowEnd)) throw new PatchError(`index ${token} is past the end of an array of ${array.length}`);
  return index;
}

/** `array.toSpliced`, which the client's ES2022 target lacks. */
function spliced(array: readonly unknown[], start: number, deleteCount: number, ...items: unknown[]): unknown[] {
  const copy = [...array];
  copy.splice(start, deleteCount, ...items);
  return copy;
}

function childOf(node: unknown, token: string): unknown {
  if (Array.isArray(node)) return node[indexIn(node, token, false)];
  if (isObject(node) && Object.hasOwn(node, token)) return node[token];
  throw new PatchError(`"${token}" does not exist`);
}

function get(document: unknown, tokens: readonly string[]): unknown {
  return tokens.reduce(childOf, document);
}

/** A copy of `node` whose container at `tokens` (minus the last) is `change(container, last)`; everything else is shared. */
function update(node: unknown, tokens: readonly string[], change: (parent: unknown, last: string) => unknown): unknown {
  const [head, ...rest] = tokens as [string, ...string[]];
  if (rest.length === 0) return change(node, head);
  const updated = update(childOf(node, head), rest, change);
  if (Array.isArray(node)) return node.map((item, index) => (index === Number(head) ? updated : item));
  return withMember(node as JsonObject, head, updated);
}

function add(document: unknown, tokens: readonly string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  return update(document, tokens, (parent, last) => {
    if (Array.isArray(parent)) return spliced(parent, indexIn(parent, last, true), 0, value);
    if (isObject(parent)) return withMember(parent, last, value);
    throw new PatchError(`the parent of "${last}" is not an object or array`);
  });
}

function remove(document: unknown, tokens: readonly string[]): unknown {
  if (tokens.length === 0) throw new PatchError('the whole document cannot be removed');
  return update(document, tokens, (parent, last) => {
    if (Array.isArray(parent)) return spliced(parent, indexIn(parent, last, false), 1);
    if (isObject(parent) && Object.hasOwn(parent, last)) {
      const { [last]: _removed, ...rest } = parent;
      return rest;
    }
    throw new PatchError(`"${last}" does not exist`);
  });
}

function applyOperation(document: unknown, operation: unknown): unknown {
  if (!isObject(operation)) throw new PatchError('an operation must be an object');
  const path = tokensOf(operation.path, 'path');
  const value = (): unknown => {
    if (!Object.hasOwn(operation, 'value')) throw new PatchError(`"${String(operation.op)}" needs a "value" member`);
    return operation.value;
  };
  const from = (): string[] => {
    if (!Object.hasOwn(operation, 'from')) throw new PatchError(`"${String(operation.op)}" needs a "from" member`);
    return tokensOf(operation.from, 'from');
  };
  switch (operation.op) {
    case 'add':
      return add(document, path, value());
    case 'remove':
      return remove(document, path);
    case 'replace': {
      const replacement = value();
      get(document, path); // must exist
      return path.length === 0 ? replacement : add(remove(document, path), path, replacement);
    }
    case 'move': {
      const source = from();
      const fromIsPrefix = source.every((token, index) => token === path[index]);
      if (fromIsPrefix && source.length < path.length) throw new PatchError('a value cannot move into its own child');
      const moved = get(document, source); // must exist, even when from equals path
      if (fromIsPrefix) return document; // from equals path: nothing moves
      return add(remove(document, source), path, moved);
    }
    case 'copy':
      return add(document, path, get(document, from()));
    case 'test':
      if (!jsonEqual(get(document, path), value())) throw new PatchError('test operation failed: the value differs');
      return document;
    default:
      throw new PatchError(`unknown op ${JSON.stringify(operation.op)}`);
  }
}

/** RFC 6902 on a copy: `state` (frozen) is left as it was. Throws PatchError, naming the operation, when the patch does not apply. */
export function applyJsonPatch(state: unknown, patch: readonly unknown[]): unknown {
  return patch.reduce((document: unknown, operation, index) => {
    try {
      return applyOperation(document, operation);
    } catch (error) {
      if (error instanceof PatchError) throw new PatchError(`operation ${index}: ${error.message}`);
      throw error;
    }
  }, state);
}

/** RFC 7396 merge patch, returning a new value and sharing untouched members with `target`. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const base = isObject(target) ? target : {};
  const result: JsonObject = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty: a member named "__proto__" stays a member, never a prototype.
    else Object.defineProperty(result, key, { value: applyMergePatch(Object.hasOwn(base, key) ? base[key] : undefined, value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
