import type { FastifyPluginAsync, FastifyRequest } from 'fastify';

/** What `GET /` answers a client that is not a browser: the places to go next, as text a person reads in a terminal. */
export const HOME_TEXT = `session-sync: durable, live sessions for AI agents

  /inspect       the session inspector: every session, live (open it in a browser)
  /docs          the API reference (browsable); /openapi.json is the OpenAPI document
  /v1            the API: POST /v1/sessions creates a session, GET /v1/sessions lists them
  /healthz       the process is alive; /readyz: the database is reachable; /metrics: Prometheus text
`;

/**
 * Whether the client asked for HTML: a browser lists text/html in Accept; curl
 * (star/star), fetch and the client library do not. A range with q=0 is a refusal.
 */
export function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type, ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    return type === 'text/html' && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/**
 * `GET /`: a browser is sent to the inspector, anything else gets a short text
 * naming /inspect, /docs and /v1. Not an API route (hidden from the OpenAPI
 * document), and open: it holds no data.
 */
export const homeRoute: FastifyPluginAsync = async (app) => {
  app.get('/', { schema: { hide: true }, config: { access: 'public' as const } }, async (request, reply) => {
    // The answer depends on Accept: a cache must not hand the redirect to curl, or the text to a browser.
    reply.header('vary', 'Accept');
    if (wantsHtml(request)) return reply.redirect('/inspect', 302);
    return reply.type('text/plain; charset=utf-8').send(HOME_TEXT);
  });
};
