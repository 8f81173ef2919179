import { PatchFailed } from '../errors.js';
import {
  forbiddenMember,
  isJsonObject,
  type JsonObject,
  type Measured,
  measure,
  memberOverhead,
  NotPlainJson,
  resultTooLarge,
  setMember,
  type StateLimits,
  tooDeep,
} from './json-value.js';

/**
 * RFC 7396 JSON Merge Patch, applied in place where the target is an object
 * (the caller owns the target). Written here rather than taken from npm because
 * the packages available drop keys named `constructor` or `prototype` and stop
 * part-way through a patch; this keeps every key, and `__proto__` is set as an
 * own property, never as the object's prototype.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = isJsonObject(target) ? target : {};
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

/**
 * `applyMergePatch` for a json state: the same result, plus its measured size
 * and the state's limits, at the cost of the patch and the values it replaces
 * or removes (never a walk over the rest of the document).
 */
export function applyMergePatchToState(current: Measured, patch: unknown, limits: StateLimits): Measured {
  const place = (value: unknown, level: number): number => {
    try {
      return measure(value, limits.maxDepth - level);
    } catch (error) {
      if (error instanceof NotPlainJson) {
        throw new PatchFailed(undefined, error.tooDeep ? tooDeep(limits, 'the merge patch') : `the state would hold ${error.message}`);
      }
      throw error;
    }
  };
  const mergeInto = (target: JsonObject, patchObject: JsonObject, level: number, containerKey: string | undefined): number => {
    let change = 0;
    for (const key of Object.keys(patchObject)) {
      const value = patchObject[key];
      const existing = Object.hasOwn(target, key);
      if (value === null) {
        if (existing) {
          change -= memberOverhead(key) + measure(target[key], Infinity);
          delete target[key];
        }
        continue;
      }
      if (isJsonObject(value) && existing && isJsonObject(target[key])) {
        change += mergeInto(target[key] as JsonObject, value, level + 1, key);
        continue;
      }
      const merged = applyMergePatch(undefined, structuredClone(value));
      const refused = forbiddenMember(key, merged, containerKey);
      if (refused) throw new PatchFailed(undefined, refused);
      const bytes = place(merged, level + 1);
      change += existing ? bytes - measure(target[key], Infinity) : memberOverhead(key) + bytes;
      setMember(target, key, merged);
    }
    return change;
  };

  let result: Measured;
  if (isJsonObject(patch) && isJsonObject(current.document)) {
    result = { document: current.document, bytes: current.bytes + mergeInto(current.document, patch, 0, undefined) };
  } else {
    const document = applyMergePatch(undefined, structuredClone(patch));
    result = { document, bytes: place(document, 0) };
  }
  if (result.bytes > limits.maxBytes) throw resultTooLarge(result.bytes, limits);
  return result;
}
