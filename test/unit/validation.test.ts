import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { createValidatorCompiler } from '../../src/http/validation.js';

/**
 * The validators every route's schema is compiled into (test/http/query-parsing.test.ts
 * shows the answers through routes): query integers as plain decimal digits within
 * their range, said in words; bodies never coerced; other text parts coerced.
 */
const compile = createValidatorCompiler();
const Query = Type.Object({
  after: Type.Optional(Type.Union([Type.Literal('now'), Type.Integer({ minimum: 0 })])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  from: Type.Optional(Type.Integer()),
  name: Type.Optional(Type.String()),
});

function check(part: 'querystring' | 'body' | 'params', schema: object, data: unknown): { valid: boolean; errors: unknown } {
  const validate = compile({ schema, httpPart: part, method: 'GET', url: '/x' }) as ((data: unknown) => boolean) & { errors?: unknown };
  const valid = validate(data);
  return { valid, errors: validate.errors };
}

describe('query integers', () => {
  it.each(['0x5', '1e1', ' 5', '5 ', '+5', '5.0', '12345678901234567', ''])('%j is refused, in words, with the range and the word it may also be', (raw) => {
    expect(check('querystring', Query, { after: raw })).toEqual({
      valid: false,
      errors: [expect.objectContaining({ instancePath: '/after', keyword: 'type', message: 'must be "now", or a whole number from 0 to 9007199254740991, in decimal digits' })],
    });
  });

  it('a parameter that also takes two words names both, joined by "or"', () => {
    const TwoWords = Type.Object({ at: Type.Optional(Type.Union([Type.Literal('now'), Type.Literal('start'), Type.Integer({ minimum: 0, maximum: 9 })])) });
    expect(check('querystring', TwoWords, { at: 'later' }).errors).toEqual([
      expect.objectContaining({ instancePath: '/at', message: 'must be "now" or "start", or a whole number from 0 to 9, in decimal digits' }),
    ]);
    expect(check('querystring', TwoWords, { at: 'start' }).valid).toBe(true);
  });

  it('a range of its own is said as such; without one, the safe integers', () => {
    expect(check('querystring', Query, { limit: '1001' }).errors).toEqual([expect.objectContaining({ instancePath: '/limit', message: 'must be a whole number from 1 to 1000, in decimal digits' })]);
    expect(check('querystring', Query, { limit: '0' }).valid).toBe(false);
    expect(check('querystring', Query, { from: 'x' }).errors).toEqual([
      expect.objectContaining({ message: 'must be a whole number from -9007199254740991 to 9007199254740991, in decimal digits' }),
    ]);
  });

  it('decimal digits at the edges of the range, leading zeros, a negative, and the word pass, read as numbers', () => {
    const query: Record<string, unknown> = { after: '007', limit: '1000', from: '-12' };
    expect(check('querystring', Query, query).valid).toBe(true);
    expect(query).toEqual({ after: 7, limit: 1000, from: -12 });
    expect(check('querystring', Query, { after: 'now', limit: '1' }).valid).toBe(true);
  });

  it('other parameters are checked as their schema says', () => {
    expect(check('querystring', Query, { name: 'x' }).valid).toBe(true);
    expect(check('querystring', Type.Object({ name: Type.String({ minLength: 2 }) }), { name: 'x' }).valid).toBe(false);
  });
});

describe('bodies and path parameters', () => {
  it('a body is never coerced: "10" is not a number there', () => {
    expect(check('body', Type.Object({ n: Type.Integer() }), { n: '10' }).valid).toBe(false);
    expect(check('body', Type.Object({ n: Type.Integer() }), { n: 10 }).valid).toBe(true);
  });

  it('a path parameter is text, read as a number where its schema says', () => {
    const params: Record<string, unknown> = { n: '10' };
    expect(check('params', Type.Object({ n: Type.Integer() }), params).valid).toBe(true);
    expect(params.n).toBe(10);
  });
});
