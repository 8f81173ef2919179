/**
 * The chat page's development server: the page, its stylesheet, its script
 * bundled by esbuild (again on each load after an edit: change app.tsx,
 * reload the page), and `/v1` forwarded to the API, so the page and the API
 * share an origin and the server needs no CORS_ORIGINS.
 *
 * Every answer carries a Content-Security-Policy that allows only this
 * origin's script, stylesheet and API, and no HTML made from strings: React
 * renders the transcript as text, and the browser would refuse anything else.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { context } from 'esbuild';

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/** Serves the page on `port` (0: any free one) of 127.0.0.1, with `/v1` forwarded to `api`. */
export async function serveDashboard(options: { api: string; port: number }): Promise<Dashboard> {
  const api = new URL(options.api);
  const bundler = await context({
    entryPoints: [here('app.tsx')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // React's development build: its warnings show in the browser's console while you work on the page.
    define: { 'process.env.NODE_ENV': '"development"' },
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
    // The client from this repository's source; an app of your own imports the installed package instead.
    alias: {
      '@session-sync/client/react': here('../../client/src/react.ts'),
      '@session-sync/client': here('../../client/src/index.ts'),
    },
  });

  const send = (response: http.ServerResponse, status: number, type: string, body: string | Buffer) =>
    response.writeHead(status, { 'content-type': type, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' }).end(body);

  const server = http.createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://page').pathname;
    try {
      if (path.startsWith('/v1/')) return forward(api, request, response);
      if (path === '/app.js') {
        const result = await bundler.rebuild();
        return send(response, 200, 'text/javascript; charset=utf-8', result.outputFiles?.[0]?.text ?? '');
      }
      if (path === '/style.css') return send(response, 200, 'text/css; charset=utf-8', await readFile(here('style.css')));
      if (path === '/') return send(response, 200, 'text/html; charset=utf-8', await readFile(here('index.html')));
      send(response, 404, 'text/plain; charset=utf-8', 'not found');
    } catch (error) {
      // A build error (a typo in app.tsx) shows here and in the terminal, with esbuild's message.
      console.error(String(error));
      send(response, 500, 'text/plain; charset=utf-8', String(error));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      // Open streams (SSE) would hold the server open: they are cut, and the page's client would reconnect.
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await bundler.dispose();
    },
  };
}

/** Forwards a request to the API as it is, streaming both ways (SSE included). */
function forward(api: URL, request: http.IncomingMessage, response: http.ServerResponse): void {
  const upstream = http.request(
    { host: api.hostname, port: api.port || 80, path: request.url, method: request.method, headers: { ...request.headers, host: api.host } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  // The API is down: the connection is cut, and the page's client says so and retries.
  upstream.on('error', () => response.destroy());
  request.pipe(upstream);
  response.on('close', () => upstream.destroy());
}
