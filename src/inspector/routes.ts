import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

/**
 * The session inspector's page and assets, as `npm run build` writes them
 * (scripts/build-inspector.ts bundles inspector/ into dist/inspect/). The page
 * only talks to this server's own /v1 API, so the policy allows nothing else:
 * no inline script or style (every byte it runs is one of these files), no
 * other origin, no framing, no <base>, no form posts, and Trusted Types
 * required, so not even the page's own code can hand a string to innerHTML.
 */
export const INSPECTOR_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'inspector.js': 'text/javascript; charset=utf-8',
  'inspector.css': 'text/css; charset=utf-8',
};

/** The repository (or image) root: the nearest directory above this module with a package.json, wherever the module sits. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('the inspector cannot find the package root');
    dir = parent;
  }
  return dir;
}

export const INSPECTOR_ASSETS_DIR = path.join(packageRoot(), 'dist', 'inspect');

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', INSPECTOR_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    // Small files, rebuilt in place by `npm run build`: always revalidate.
    .header('cache-control', 'no-cache');
}

/**
 * `GET /inspect` (the page), its two assets, and `config.json` (whether to ask
 * for a token before the first request); open to everyone: the page holds no
 * data, and every /v1 request it makes carries the viewer's own token.
 */
export const inspectorRoutes: FastifyPluginAsync<{ auth: boolean; assetsDir?: string }> = async (app, options) => {
  const dir = options.assetsDir ?? INSPECTOR_ASSETS_DIR;
  const serve = (file: string) => async (_request: unknown, reply: FastifyReply) => {
    let body: Buffer;
    try {
      body = await readFile(path.join(dir, file));
    } catch {
      return secure(reply)
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(`The inspector is not built (no ${file} in ${dir}): run npm run build.\n`);
    }
    return secure(reply).type(ASSETS[file] ?? 'application/octet-stream').send(body);
  };
  const route = { schema: { hide: true }, config: { access: 'public' as const } };
  app.get('/inspect', route, serve('index.html'));
  app.get('/inspect/config.json', route, async (_request, reply) => secure(reply).send({ auth: options.auth }));
  for (const file of Object.keys(ASSETS)) if (file !== 'index.html') app.get(`/inspect/${file}`, route, serve(file));
};
