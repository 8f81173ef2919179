/**
 * Serves the dashboard page and forwards /v1 to the API server, so the page
 * and the API share an origin (no CORS settings needed for the example).
 *
 *   npm run example:dashboard      then open http://127.0.0.1:5173/?session=demo
 *
 * SESSION_SYNC_URL (default http://127.0.0.1:8080) is the API; DASHBOARD_PORT (default 5173).
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const api = new URL(process.env.SESSION_SYNC_URL ?? 'http://127.0.0.1:8080');
const port = Number(process.env.DASHBOARD_PORT ?? 5173);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** The page's script: app.ts and the client bundled for the browser (no Node built-ins, so nothing to polyfill). */
async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [here('app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    alias: { '@session-sync/client': here('../../client/src/index.ts') },
  });
  return result.outputFiles[0]?.text ?? '';
}

const server = http.createServer(async (request, response) => {
  try {
    if (request.url?.startsWith('/v1/')) {
      // Forward as is, streaming both ways (SSE included).
      const upstream = http.request(
        { host: api.hostname, port: api.port || 80, path: request.url, method: request.method, headers: { ...request.headers, host: api.host } },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
      response.on('close', () => upstream.destroy());
      return;
    }
    if (request.url === '/app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(await bundle());
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' }).end(await readFile(here('index.html')));
  } catch (error) {
    response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
  }
});
server.listen(port, '127.0.0.1', () => console.log(`dashboard on http://127.0.0.1:${port}/?session=demo (API ${api.origin})`));
