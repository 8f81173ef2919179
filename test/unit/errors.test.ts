import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { toApiError } from '../../src/http/error-handler.js';

class Example extends ApiError {
  readonly status = 409;
  readonly code = 'version_conflict';
  readonly title = 'Example';
}

describe('problem extensions', () => {
  it('refuse a name of a standard member, which the answer would silently drop', () => {
    for (const name of ['type', 'title', 'status', 'detail', 'code', 'instance']) {
      expect(() => new Example('x', { [name]: 1 }), name).toThrow(/clashes with a standard problem member/);
    }
    expect(new Example('x', { batch_status: 'claimed' }).extra).toEqual({ batch_status: 'claimed' });
  });
});

describe('toApiError: errors that are not ours', () => {
  it('a 4xx statusCode (a plugin refusing the request) is 400 in its words; a 5xx one, or none, is 500 without them', () => {
    const tagged = (statusCode: number | undefined) => Object.assign(new Error('raw internal words'), statusCode === undefined ? {} : { statusCode });
    const refused = toApiError(tagged(415));
    expect([refused.status, refused.code, refused.message]).toEqual([400, 'invalid_request', 'raw internal words']);
    for (const statusCode of [500, 503, undefined]) {
      const failed = toApiError(tagged(statusCode));
      expect([failed.status, failed.code], String(statusCode)).toEqual([500, 'internal_error']);
      expect(failed.message, String(statusCode)).not.toContain('raw internal words');
    }
  });
});
