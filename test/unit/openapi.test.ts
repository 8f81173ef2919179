import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../src/http/openapi.js';

describe('openapi/openapi.json', () => {
  it('is what the route schemas generate (run `npm run openapi` and commit)', async () => {
    const committed = await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8');
    expect(committed).toBe(await buildOpenApiDocument());
  });
});
