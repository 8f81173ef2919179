import { describe, expect, it } from 'vitest';
import { originForm, pathOfTarget } from '../../src/http/request-target.js';

describe('a request target', () => {
  it('in origin-form is read as sent, whatever its path holds', () => {
    for (const target of ['/v1/sessions/a?x=1', '/v1/stream/a%zz', '/v1/stream/xhttp://h/b', '/', '*']) expect(originForm(target), target).toBe(target);
  });

  it('in absolute-form is its path and query, as the router routes it: an empty path is /', () => {
    expect(originForm('http://localhost:3000/v1/sessions/a?x=1')).toBe('/v1/sessions/a?x=1');
    expect(originForm('HTTPS://Sync.Example.com/v1/stream/a%zz')).toBe('/v1/stream/a%zz');
    expect(originForm('http://h')).toBe('/');
    expect(originForm('http://h?access_token=t')).toBe('/?access_token=t');
    expect(pathOfTarget('http://h?x=/v1/stream/a')).toBe('/');
    // Userinfo is part of the authority: never part of the path, so never logged with it.
    expect(originForm('http://someone:secret@h/v1/sessions/a')).toBe('/v1/sessions/a');
    // Only http and https are taken off, as by the router (anything else does not route).
    expect(originForm('ftp://h/v1/sessions/a')).toBe('ftp://h/v1/sessions/a');
  });

  it('has a path without its query', () => {
    expect(pathOfTarget('/v1/sessions/a?x=1?y')).toBe('/v1/sessions/a');
    expect(pathOfTarget('http://h/v1/sessions/a?x=1')).toBe('/v1/sessions/a');
    expect(pathOfTarget('/v1/sessions/a')).toBe('/v1/sessions/a');
  });
});
