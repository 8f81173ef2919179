/**
 * `npm run pack:client`: builds the client package (client/, `@session-sync/client`)
 * and packs it into .pack/ as npm would publish it. The tarball's absolute
 * path is the last line printed, for scripts and the packaging test
 * (test/e2e/client-package.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = path.join(root, 'client', 'dist');
const destination = path.join(root, '.pack');

// Built in place, then whatever this build did not emit goes: a module since removed from client/src must not
// ship, and the server (which imports client/dist/protocol.js) never sees the folder empty.
const listed = execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'client/tsconfig.json', '--listEmittedFiles'], {
  cwd: root,
  encoding: 'utf8',
});
const emitted = new Set(listed.split('\n').filter((line) => line.startsWith('TSFILE: ')).map((line) => path.resolve(line.slice('TSFILE: '.length))));
for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
  const file = path.join(entry.parentPath, entry.name);
  if (entry.isFile() && !emitted.has(file)) rmSync(file);
}

mkdirSync(destination, { recursive: true });
// Scripts ignored: the build above is the prepack's, and --json must be the only thing on stdout.
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--workspace', 'client', '--pack-destination', destination, '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }),
) as { filename: string; files: { path: string }[] }[];
const [tarball] = packed;
if (!tarball) throw new Error('npm pack produced no tarball');
console.log(`${tarball.files.length} files: ${tarball.files.map((file) => file.path).join(', ')}`);
console.log(path.join(destination, tarball.filename));
