import fastJsonPatch, { type Operation } from 'fast-json-patch';

/** Deep-freezes a JSON value so a store's snapshot can be shared without copies being needed. */
export function freeze<T>(value: T): T {
  // Primitives and null count as frozen, and so does a member shared with the state before (already frozen, all the way down).
  if (!Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) freeze(child);
  }
  return value;
}

/** RFC 6902 on a copy: `state` (frozen) is left as it was. */
export function applyJsonPatch(state: unknown, patch: Operation[]): unknown {
  // Stryker disable next-line BooleanLiteral: validating again changes nothing; the server validated and applied each patch to this very state before storing it, and a failing `test` op throws either way
  const validateOperation = false;
  return fastJsonPatch.applyPatch(state, patch, validateOperation, false).newDocument;
}

/** RFC 7396 merge patch, returning a new value and sharing untouched members with `target`. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Record<string, unknown>) : {};
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    // defineProperty: a member named "__proto__" stays a member, never a prototype.
    else {
      Object.defineProperty(result, key, {
        value: applyMergePatch(base[key], value),
        enumerable: true,
        // Stryker disable next-line BooleanLiteral: no reader can tell; every result is deep-frozen before it is handed out, and nothing writes to it before
        writable: true,
        configurable: true,
      });
    }
  }
  return result;
}
