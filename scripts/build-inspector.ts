import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const source = path.join(root, 'inspector');

/**
 * Bundles the session inspector (inspector/: the page, its stylesheet, its
 * TypeScript on the project's client) into `outDir` (default dist/inspect,
 * where the server's /inspect serves it from). Written to a temporary
 * directory first and moved in whole, so a server never serves half a build.
 */
export async function buildInspector(outDir = path.join(root, 'dist', 'inspect')): Promise<string> {
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    await build({
      entryPoints: [path.join(source, 'src', 'main.ts')],
      outfile: path.join(staging, 'inspector.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      alias: { '@session-sync/client': path.join(root, 'client', 'src', 'index.ts') },
      logLevel: 'warning',
    });
    await copyFile(path.join(source, 'inspector.css'), path.join(staging, 'inspector.css'));
    await writeFile(path.join(staging, 'index.html'), await readFile(path.join(source, 'index.html')));
    await rm(outDir, { recursive: true, force: true });
    await rename(staging, outDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return outDir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = await buildInspector();
  console.log(`inspector built into ${path.relative(process.cwd(), out) || '.'}`);
}
