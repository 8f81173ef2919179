import fastJsonPatch from 'fast-json-patch';
import { PatchFailed } from '../http/errors.js';

/** An RFC 6902 operation as the route schema admits it; fast-json-patch checks per-op members. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/**
 * Applies an RFC 6902 patch to `document` in place and returns the new document
 * (a patch on the root path replaces it). On failure the document may be half
 * patched: the caller must discard it.
 *
 * Ops are applied one at a time because fast-json-patch reports index 0 for any
 * op that fails its own validation; our loop index is the true `op_index`.
 */
export function applyJsonPatch(document: unknown, patch: readonly PatchOperation[]): unknown {
  let current = document;
  patch.forEach((operation, index) => {
    try {
      // validate: reject missing paths; mutate in place; ban __proto__ / constructor.prototype paths.
      current = fastJsonPatch.applyOperation(current, operation as fastJsonPatch.Operation, true, true, true, index).newDocument;
    } catch (error) {
      if (error instanceof fastJsonPatch.JsonPatchError) {
        const reason = error.name === 'TEST_OPERATION_FAILED' ? 'test failed' : error.message.split('\n')[0];
        throw new PatchFailed(index, reason ?? error.name);
      }
      if (error instanceof TypeError && /prototype/.test(error.message)) {
        throw new PatchFailed(index, 'paths through __proto__ or constructor/prototype are not allowed');
      }
      throw error;
    }
  });
  return current;
}
