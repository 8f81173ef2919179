type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * RFC 7396 JSON Merge Patch, applied in place where the target is an object
 * (the caller owns the target). Written here rather than taken from npm because
 * the packages available drop keys named `constructor` or `prototype` and stop
 * part-way through a patch; this keeps every key, and `__proto__` is set as an
 * own property, never as the object's prototype.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? target : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete result[key];
    } else {
      const merged = applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value);
      Object.defineProperty(result, key, { value: merged, writable: true, enumerable: true, configurable: true });
    }
  }
  return result;
}
