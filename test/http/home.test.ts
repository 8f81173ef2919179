import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

// GET / for the two visitors a new user sends: a browser goes to the
// inspector, curl reads where to go. Authentication is on: the page holds no
// data, so it stays open, as /inspect and /docs are.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ env: { AUTH_SECRET: 'a-home-page-secret-that-is-32-bytes-long' } });
});
afterAll(async () => {
  await t?.close();
});

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('GET /', () => {
  it.each([
    ['as browsers send it', BROWSER],
    ['in capitals, with spaces around each part and a weight', 'application/json , Text/HTML ; Q=0.5'],
    ['with a parameter of its own and no weight', 'text/html;level=1'],
  ])('sends a browser to the inspector (Accept %s)', async (_how, accept) => {
    const response = await call(t.app, 'GET', '/', undefined, { accept });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/inspect');
    expect(response.headers.vary).toMatch(/accept/i);
  });

  it.each([
    ['curl (*/*)', { accept: '*/*' }],
    ['a client sending no Accept', {}],
    ['a client refusing HTML (q=0)', { accept: 'text/html;q=0, text/plain' }],
    ['a client refusing HTML, spaced and in capitals (Q = 0)', { accept: 'TEXT/HTML ; Q=0 , text/plain' }],
  ])('answers %s with text naming the inspector, the reference and the API', async (_who, headers) => {
    const response = await call(t.app, 'GET', '/', undefined, headers);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.headers.vary).toMatch(/accept/i);
    for (const path of ['/inspect', '/docs', '/v1']) expect(response.body).toMatch(new RegExp(`^  ${path} `, 'm'));
  });

  it('is a route: HEAD answers, another method is a 405 naming GET, and other unknown paths are still a problem+json 404', async () => {
    expect((await call(t.app, 'HEAD', '/')).statusCode).toBe(200);
    const post = await call(t.app, 'POST', '/', {});
    expect(post.statusCode).toBe(405);
    expect(post.headers.allow).toMatch(/GET/);
    expectProblem(await call(t.app, 'GET', '/nothing-here'), 404, 'not_found');
  });
});
