import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateClientTypes } from '../../scripts/client-types.js';
import { buildOpenApiDocument } from '../../src/http/openapi.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFile(new URL(path, root), 'utf8');

describe('openapi/openapi.json', () => {
  it('is what the route schemas generate (run `npm run openapi` and commit)', async () => {
    expect(await read('openapi/openapi.json')).toBe(await buildOpenApiDocument());
  });

  it('carries the version of the package, the one place the version is written', async () => {
    const { version } = JSON.parse(await read('package.json'));
    expect(JSON.parse(await read('openapi/openapi.json')).info.version).toBe(version);
  });

  it('names every operation, once, and lists a server', async () => {
    const document = JSON.parse(await read('openapi/openapi.json'));
    const ids: string[] = [];
    for (const [path, item] of Object.entries<Record<string, { operationId?: string }>>(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        expect(operation.operationId, `${method.toUpperCase()} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
        ids.push(operation.operationId as string);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.servers.length).toBeGreaterThan(0);
  });

  it('gives every pattern a request can fail its words (x-pattern-message), so a refusal says the rule, not the regex', async () => {
    const document = JSON.parse(await read('openapi/openapi.json'));
    const wordless: string[] = [];
    let patterns = 0;
    const walk = (node: unknown, at: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (typeof schema.pattern === 'string') {
        patterns += 1;
        if (typeof schema['x-pattern-message'] !== 'string') wordless.push(at);
      }
      for (const [key, child] of Object.entries(schema)) walk(child, `${at}/${key}`);
    };
    walk(document, '');
    expect(patterns).toBeGreaterThan(0);
    expect(wordless).toEqual([]);
  });

  it('passes `redocly lint` with the recommended rules: no error, no warning', async () => {
    // Found by module resolution, not at ./node_modules/.bin: the mutation sandbox and worktrees have no node_modules of their own.
    const cli = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin/cli.js');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [cli, 'lint', 'openapi/openapi.json', '--format=json'],
      { cwd: root.pathname, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
    );
    const report = JSON.parse(stdout);
    expect(report.problems.map((p: { ruleId: string; message: string }) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });
});

describe('client/src/openapi.ts', () => {
  it('is what openapi-typescript generates from the committed document (run `npm run openapi` and commit)', async () => {
    expect(await read('client/src/openapi.ts')).toBe(await generateClientTypes(await read('openapi/openapi.json')));
  });
});
