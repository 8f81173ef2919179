import type { Static } from '@sinclair/typebox';
import { PatchFailed } from '../errors.js';
import {
  forbiddenMember,
  isJsonObject,
  jsonEqual,
  measure,
  memberOverhead,
  type Measured,
  NotPlainJson,
  resultTooLarge,
  setMember,
  type StateLimits,
  tooDeep,
} from './json-value.js';
import type { PatchOp } from './view.js';

/**
 * An RFC 6902 operation as the route schema admits it. Members an operation
 * does not define are ignored (section 4), so they may be present.
 */
export type PatchOperation = Static<typeof PatchOp>;

/** Replaying stored deltas: they were accepted once, so only RFC rules apply. */
export const NO_LIMITS: StateLimits = { maxDepth: Infinity, maxBytes: Infinity };

/** RFC 6901 array index: `0` or digits without a leading zero. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

class OpFailed extends Error {}

/** RFC 6901 section 3 and 4: "" is the whole document, otherwise "/"-separated tokens with ~1 and ~0 escapes. */
function tokensOf(pointer: unknown, member: 'path' | 'from'): string[] {
  if (typeof pointer !== 'string') throw new OpFailed(`"${member}" must be a JSON Pointer string`);
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new OpFailed(`${member} "${pointer}" is not a JSON Pointer: it must be "" or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new OpFailed(`${member} "${pointer}" is not a JSON Pointer: "~" must be followed by 0 or 1`);
      return token.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

function pointerOf(tokens: readonly string[]): string {
  return tokens.map((token) => `/${token.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** The index a token names in `array`; `allowEnd` admits `length` and `-` (add only). */
function indexIn(array: unknown[], token: string, tokens: readonly string[], allowEnd: boolean): number {
  if (allowEnd && token === '-') return array.length;
  if (!ARRAY_INDEX.test(token)) {
    throw new OpFailed(`"${pointerOf(tokens)}": "${token}" is not an array index (digits without a leading zero${allowEnd ? ', or "-"' : ''})`);
  }
  const index = Number(token);
  if (index > array.length || (index === array.length && !allowEnd)) {
    throw new OpFailed(`"${pointerOf(tokens)}": index ${token} is past the end of an array of ${array.length}`);
  }
  return index;
}

/**
 * Applies an RFC 6902 patch to `current.document` in place and returns the
 * new document and its size (a patch on the root path replaces the document).
 * On failure the document may be half patched: the caller must discard it.
 *
 * Written here rather than taken from fast-json-patch, which looks members up
 * through the prototype chain, lets `from` be a prefix of `path` (a cycle),
 * skips the pointer grammar and fails on members an operation does not define.
 * Members are only ever own properties; every value inserted is checked and
 * measured, so the cost is that of the patch and the values it touches, never
 * that of the rest of the document.
 */
export function applyJsonPatch(current: Measured, patch: readonly PatchOperation[], limits: StateLimits): Measured {
  let root = current.document;
  let bytes = current.bytes;

  /** The container holding the last token's target; every token before it must exist. */
  const parentOf = (tokens: readonly string[]): unknown => {
    let node = root;
    for (let depth = 0; depth < tokens.length - 1; depth += 1) node = child(node, tokens, depth);
    return node;
  };

  const child = (node: unknown, tokens: readonly string[], depth: number): unknown => {
    const token = tokens[depth] as string;
    const here = tokens.slice(0, depth + 1);
    if (Array.isArray(node)) return node[indexIn(node, token, here, false)];
    if (isJsonObject(node)) {
      if (!Object.hasOwn(node, token)) throw new OpFailed(`"${pointerOf(here)}" does not exist`);
      return node[token];
    }
    throw new OpFailed(`"${pointerOf(here)}" does not exist: "${pointerOf(tokens.slice(0, depth))}" is not an object or array`);
  };

  const get = (tokens: readonly string[]): unknown => (tokens.length === 0 ? root : child(parentOf(tokens), tokens, tokens.length - 1));

  const checked = (value: unknown, tokens: readonly string[]): number => {
    try {
      return measure(value, limits.maxDepth - tokens.length);
    } catch (error) {
      if (error instanceof NotPlainJson) {
        const where = `the value at "${pointerOf(tokens)}"`;
        throw new OpFailed(error.tooDeep ? tooDeep(limits, where) : `${where} holds ${error.message}`);
      }
      throw error;
    }
  };

  /** Inserts `value` (already owned by the document) whose size is `valueBytes` (0 for a move: it cancels out). */
  const add = (tokens: readonly string[], value: unknown, valueBytes: number, measureReplaced: boolean): void => {
    if (tokens.length === 0) {
      root = value;
      bytes = valueBytes;
      return;
    }
    const parent = parentOf(tokens);
    const last = tokens.at(-1) as string;
    if (Array.isArray(parent)) {
      parent.splice(indexIn(parent, last, tokens, true), 0, value);
      bytes += valueBytes + 1;
    } else if (isJsonObject(parent)) {
      const refused = forbiddenMember(last, value, tokens.at(-2));
      if (refused) throw new OpFailed(`"${pointerOf(tokens)}": ${refused}`);
      if (Object.hasOwn(parent, last)) {
        bytes += valueBytes - (measureReplaced ? measure(parent[last], Infinity) : 0);
      } else {
        bytes += memberOverhead(last) + valueBytes;
      }
      setMember(parent, last, value);
    } else {
      throw new OpFailed(`"${pointerOf(tokens.slice(0, -1))}" is not an object or array`);
    }
  };

  /** Removes and returns the target; its size is subtracted unless `keepValueBytes` (a move). */
  const remove = (tokens: readonly string[], keepValueBytes: boolean): unknown => {
    if (tokens.length === 0) throw new OpFailed('the whole document cannot be removed (replace it instead)');
    const parent = parentOf(tokens);
    const last = tokens.at(-1) as string;
    let removed: unknown;
    if (Array.isArray(parent)) {
      [removed] = parent.splice(indexIn(parent, last, tokens, false), 1);
      bytes -= 1;
    } else if (isJsonObject(parent)) {
      if (!Object.hasOwn(parent, last)) throw new OpFailed(`"${pointerOf(tokens)}" does not exist`);
      removed = parent[last];
      delete parent[last];
      bytes -= memberOverhead(last);
    } else {
      throw new OpFailed(`"${pointerOf(tokens)}" does not exist: "${pointerOf(tokens.slice(0, -1))}" is not an object or array`);
    }
    if (!keepValueBytes) bytes -= measure(removed, Infinity);
    return removed;
  };

  /** The operation's own `value`, checked and copied so the document never shares objects with the request. */
  const valueOf = (operation: PatchOperation, tokens: readonly string[]): { value: unknown; valueBytes: number } => {
    if (!Object.hasOwn(operation, 'value')) throw new OpFailed(`"${operation.op}" needs a "value" member`);
    const valueBytes = checked(operation.value, tokens);
    return { value: structuredClone(operation.value), valueBytes };
  };

  const fromOf = (operation: PatchOperation): string[] => {
    if (!Object.hasOwn(operation, 'from')) throw new OpFailed(`"${operation.op}" needs a "from" member`);
    return tokensOf(operation.from, 'from');
  };

  const apply = (operation: PatchOperation): void => {
    const path = tokensOf(operation.path, 'path');
    switch (operation.op) {
      case 'add': {
        const { value, valueBytes } = valueOf(operation, path);
        add(path, value, valueBytes, true);
        return;
      }
      case 'remove':
        remove(path, false);
        return;
      case 'replace': {
        const { value, valueBytes } = valueOf(operation, path);
        get(path); // must exist
        if (path.length > 0 && Array.isArray(parentOf(path))) {
          const parent = parentOf(path) as unknown[];
          // Stryker disable next-line BooleanLiteral: get(path) above already refused "-" and an index at the length, so allowEnd changes nothing here
          const index = indexIn(parent, path.at(-1) as string, path, false);
          bytes += valueBytes - measure(parent[index], Infinity);
          parent[index] = value;
          return;
        }
        add(path, value, valueBytes, true);
        return;
      }
      case 'move': {
        const from = fromOf(operation);
        // Tokens are strings, so a from longer than path is never its prefix.
        const fromIsPrefix = from.every((token, index) => token === path[index]);
        if (fromIsPrefix && from.length < path.length) {
          throw new OpFailed(`cannot move "${pointerOf(from)}" into its own child "${pointerOf(path)}"`);
        }
        get(from); // must exist, even when from equals path
        if (fromIsPrefix) return; // from equals path: nothing moves
        const value = remove(from, true);
        // Moved deeper: its own depth now counts from a lower level.
        if (path.length > from.length) checked(value, path);
        // Its size cancels out between the remove and the add, unless it becomes the whole document.
        add(path, value, path.length === 0 ? measure(value, Infinity) : 0, true);
        return;
      }
      case 'copy': {
        const value = structuredClone(get(fromOf(operation)));
        add(path, value, checked(value, path), true);
        return;
      }
      case 'test': {
        if (!Object.hasOwn(operation, 'value')) throw new OpFailed('"test" needs a "value" member');
        if (!jsonEqual(get(path), operation.value)) throw new OpFailed(`test failed: "${pointerOf(path)}" is not equal to the given value`);
        return;
      }
      default:
        throw new OpFailed(`unknown op ${JSON.stringify(operation.op)}`);
    }
  };

  patch.forEach((operation, index) => {
    try {
      apply(operation);
    } catch (error) {
      if (error instanceof OpFailed) throw new PatchFailed(index, error.message);
      throw error;
    }
  });
  if (bytes > limits.maxBytes) throw resultTooLarge(bytes, limits);
  return { document: root, bytes };
}
