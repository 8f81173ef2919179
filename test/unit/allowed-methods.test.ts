import { describe, expect, it } from 'vitest';
import { AllowedMethods } from '../../src/http/allowed-methods.js';

/**
 * The route table behind every 405's `Allow` (test/http/ops.test.ts and
 * request-target.test.ts show the answers): which methods a path has, read
 * from route patterns as fastify's router reads them.
 */
describe('AllowedMethods', () => {
  const table = () => {
    const allowed = new AllowedMethods();
    allowed.add('GET', '/v1/sessions');
    allowed.add(['POST', 'GET'], '/v1/sessions');
    allowed.add(['GET', 'HEAD', 'DELETE'], '/v1/sessions/:id');
    allowed.add('POST', '/v1/sessions/:id/events');
    allowed.add(['GET', 'PUT'], '/v1/stream/*');
    allowed.add('GET', '/openapi.json');
    allowed.add('GET', '/a+b/(c)');
    return allowed;
  };

  it('names each method a path has once, sorted, and a path no route has none', () => {
    expect(table().for('/v1/sessions')).toEqual(['GET', 'POST']);
    expect(table().for('/v1/nothing')).toEqual([]);
    expect(table().for('/')).toEqual([]);
  });

  it('a parameter takes one path segment, never none or two', () => {
    expect(table().for('/v1/sessions/abc')).toEqual(['DELETE', 'GET', 'HEAD']);
    expect(table().for('/v1/sessions/abc/events')).toEqual(['POST']);
    expect(table().for('/v1/sessions/a/b')).toEqual([]);
    expect(table().for('/v1/sessions//events')).toEqual([]);
  });

  it('a wildcard takes one character or more, slashes included', () => {
    expect(table().for('/v1/stream/a')).toEqual(['GET', 'PUT']);
    expect(table().for('/v1/stream/team/a/b')).toEqual(['GET', 'PUT']);
    expect(table().for('/v1/stream/')).toEqual([]);
  });

  it('a trailing slash is the same path; anything else around it is not', () => {
    expect(table().for('/v1/sessions/')).toEqual(['GET', 'POST']);
    expect(table().for('/v1/sessionsx')).toEqual([]);
    expect(table().for('/x/v1/sessions')).toEqual([]);
  });

  it('other characters of a pattern stand for themselves, not for regular expression syntax', () => {
    expect(table().for('/openapi.json')).toEqual(['GET']);
    expect(table().for('/openapiXjson')).toEqual([]);
    expect(table().for('/a+b/(c)')).toEqual(['GET']);
    expect(table().for('/aab/c')).toEqual([]);
  });
});
