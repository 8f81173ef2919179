import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';

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
