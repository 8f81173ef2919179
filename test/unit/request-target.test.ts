import { describe, expect, it } from 'vitest';
import { originForm, pathOfTarget, streamPathOfUrl } from '../../src/http/request-target.js';

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

describe('the Durable Streams path of a target', () => {
  it('reads the path of a request URL as sent: after /v1/stream/, before the query, undecoded', () => {
    expect(streamPathOfUrl('/v1/stream/team-a/chat-1?offset=-1&live=sse')).toBe('team-a/chat-1');
    expect(streamPathOfUrl('/v1/stream/a%zz')).toBe('a%zz');
    expect(streamPathOfUrl('/v1/stream/')).toBe('');
    for (const url of ['/v1/sessions/a%zz', '/v1/stream', '/v1/streams/a', '/x/v1/stream/a']) expect(streamPathOfUrl(url), url).toBeUndefined();
  });

  it('reads a request target in absolute-form (RFC 9112 §3.2.2) by its path, as the router routes it', () => {
    expect(streamPathOfUrl('http://localhost:3000/v1/stream/team-a/chat-1?offset=-1')).toBe('team-a/chat-1');
    expect(streamPathOfUrl('https://sync.example.com/v1/stream/a')).toBe('a');
    expect(streamPathOfUrl('HTTP://Sync.Example.com/v1/stream/a%zz')).toBe('a%zz');
    for (const url of ['http://localhost:3000', 'http://localhost:3000/v1/sessions/a', 'http://h?x=/v1/stream/a', 'ftp://h/v1/stream/a']) {
      expect(streamPathOfUrl(url), url).toBeUndefined();
    }
    // Only a target's start is a scheme and authority: an origin-form path is as sent, whatever it holds.
    expect(streamPathOfUrl('/v1/stream/xhttp://h/b')).toBe('xhttp://h/b');
  });
});
