import { PatchFailed } from '../errors.js';

/**
 * What a json state may hold, and how big it is, measured without walking the
 * whole document: every write checks only the values it inserts.
 *
 * Size is the document's JSON text with one separator counted per member or
 * element (`{"a":1,}` rather than `{"a":1}`). That is never below the real
 * serialised size, and unlike it, it changes by an amount that depends only on
 * the member added or removed, not on whether its container had other members
 * (knowing that for an object would cost a walk over its keys).
 */
export interface StateLimits {
  /** Deepest nesting of the document itself (a root object is level 1). */
  maxDepth: number;
  /** Largest measured size, in bytes. */
  maxBytes: number;
}

export type JsonObject = { [key: string]: unknown };

/** A document with its measured size. */
export interface Measured {
  document: unknown;
  bytes: number;
}

export function tooDeep(limits: StateLimits, where: string): string {
  return `${where} would nest the state deeper than ${limits.maxDepth} levels (MAX_JSON_DEPTH less one, so the state fits back into a PUT body)`;
}

export function resultTooLarge(bytes: number, limits: StateLimits): PatchFailed {
  return new PatchFailed(
    undefined,
    `the state would measure ${bytes} bytes; a json state may hold ${limits.maxBytes} (MAX_BODY_BYTES less room for the PUT envelope)`,
  );
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Thrown by `measure`: why a value is not plain JSON within its depth. */
export class NotPlainJson extends Error {
  constructor(
    message: string,
    readonly tooDeep = false,
  ) {
    super(message);
  }
}

/**
 * Checks that `value` is plain, finite, acyclic JSON no deeper than
 * `maxHeight` levels, and returns its measured size. Iterative: no stack to
 * exhaust. Costs O(value).
 */
export function measure(value: unknown, maxHeight: number): number {
  let bytes = 0;
  const seen = new Set<object>();
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [current, level] = stack.pop() as [unknown, number];
    switch (typeof current) {
      case 'string':
        bytes += Buffer.byteLength(JSON.stringify(current));
        continue;
      case 'boolean':
        bytes += current ? 4 : 5;
        continue;
      case 'number':
        if (!Number.isFinite(current)) throw new NotPlainJson('a number that is not finite');
        bytes += JSON.stringify(current).length;
        continue;
      case 'object':
        break;
      default:
        throw new NotPlainJson(`a ${typeof current} value`);
    }
    if (current === null) {
      bytes += 4;
      continue;
    }
    if (level > maxHeight) throw new NotPlainJson('nesting too deep', true);
    if (seen.has(current)) throw new NotPlainJson('the same object twice (a cycle or a shared reference)');
    seen.add(current);
    bytes += 2;
    if (Array.isArray(current)) {
      for (const item of current) {
        bytes += 1;
        stack.push([item, level + 1]);
      }
      continue;
    }
    const prototype = Object.getPrototypeOf(current);
    if (prototype !== Object.prototype && prototype !== null) throw new NotPlainJson('an object that is not a plain JSON object');
    for (const key of Object.keys(current)) {
      bytes += memberOverhead(key);
      stack.push([(current as JsonObject)[key], level + 1]);
    }
  }
  return bytes;
}

/** Bytes an object member adds besides its value: `"key":` and a separator. */
export function memberOverhead(key: string): number {
  return Buffer.byteLength(JSON.stringify(key)) + 2;
}

/** Deep equality as RFC 6902 section 4.6 defines it (member order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // Stryker disable next-line BlockStatement: the object comparison below gives the same answer for JSON arrays (dense: index keys, as many as the length); this branch is the direct way
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, index) => jsonEqual(item, other[index]));
  }
  const left = a as JsonObject;
  const right = b as JsonObject;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  return keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]));
}

/** Sets an own data property; `obj[key] = v` would change the prototype for `__proto__`. */
export function setMember(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * The member names every JSON body is refused for (see `http/json-body.ts`):
 * a document the server holds must always be a body it would accept back.
 * Returns the reason, or undefined when `key` may hold `value` in `container`.
 */
export function forbiddenMember(key: string, value: unknown, containerKey: string | number | undefined): string | undefined {
  if (key === '__proto__') return 'a member named "__proto__" is not accepted';
  if (key === 'constructor' && isJsonObject(value) && Object.hasOwn(value, 'prototype')) {
    return 'a member "constructor" holding a member "prototype" is not accepted';
  }
  if (key === 'prototype' && containerKey === 'constructor') {
    return 'a member "constructor" holding a member "prototype" is not accepted';
  }
  return undefined;
}
