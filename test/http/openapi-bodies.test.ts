import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, type TestApp } from '../helpers/app.js';

// The document is what generated clients are made from: a body it calls
// required must be refused when missing, and one it calls optional must not
// be, or a client generated from it sends what the server refuses.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

type Operation = { requestBody?: { required?: boolean; content: Record<string, unknown> } };

describe('request bodies in openapi/openapi.json', () => {
  it('a JSON body is refused when missing exactly where the document says it is required', async () => {
    const document = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    expect((await call(t.app, 'POST', '/v1/sessions', { id: 'doc-bodies' })).statusCode).toBe(201);
    const seen: Record<string, { required: boolean; refused: boolean }> = {};
    for (const [path, item] of Object.entries<Record<string, Operation>>(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!operation.requestBody?.content['application/json']) continue;
        const url = path.replace('{id}', 'doc-bodies').replace(/\{[a-z_]+\}/g, 'x');
        const answer = await t.app.inject({ method: method.toUpperCase() as 'POST', url });
        const refused = answer.statusCode === 400 && /body/.test(answer.body);
        seen[`${method.toUpperCase()} ${path}`] = { required: operation.requestBody.required === true, refused };
      }
    }
    const disagreeing = Object.entries(seen).filter(([, { required, refused }]) => required !== refused);
    expect(disagreeing).toEqual([]);
    // Both kinds are in the document, so the comparison above can fail either way.
    expect(Object.values(seen).filter((s) => s.required).length).toBeGreaterThan(5);
    expect(Object.values(seen).filter((s) => !s.required).length).toBeGreaterThan(5);
  });

  it('an upload and an import have a body of bytes, of any type and of an export file', async () => {
    const document = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    const binary = { schema: { type: 'string', format: 'binary' } };
    expect(document.paths['/v1/sessions/{id}/attachments'].post.requestBody).toEqual({ required: true, content: { '*/*': binary } });
    expect(document.paths['/v1/sessions/import'].post.requestBody).toEqual({ required: true, content: { 'application/x-ndjson': binary } });
  });
});
