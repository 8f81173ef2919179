/*
 * A request target comes in origin-form (`/v1/sessions/a?x=1`) or, as an
 * HTTP/1.1 server must also take (RFC 9112 section 3.2.2), in absolute-form
 * (`http://host/v1/sessions/a?x=1`). Fastify's router routes both by their
 * path, while `request.url` keeps the target as sent: whatever reads the path
 * from it (fingerprints, problem instances, 405s, face headers, the log) reads
 * it through here, so that both forms of one request are the same request.
 */

import { STREAM_PREFIX } from '../streams/paths.js';

/**
 * The scheme and authority of a target in absolute-form: what the router
 * (find-my-way's `getPathFromAbsoluteUrl`) takes off, http and https in any case.
 */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

/**
 * The target in origin-form, undecoded: its path and query as sent, without
 * the scheme and authority of an absolute-form (and any userinfo in it). An
 * empty path is `/`, as the router reads `http://host` and `http://host?q`.
 */
export function originForm(target: string): string {
  const authority = ABSOLUTE_FORM.exec(target);
  if (authority === null) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The path of a request target, in either form, as sent (undecoded), without the query. */
export function pathOfTarget(target: string): string {
  // split always yields a first part.
  return originForm(target).split('?')[0]!;
}

/** The Durable Streams path of a request target under the face, in either form, as sent (undecoded, without the query); undefined for any other target. */
export function streamPathOfUrl(target: string): string | undefined {
  const path = pathOfTarget(target);
  return path.startsWith(STREAM_PREFIX) ? path.slice(STREAM_PREFIX.length) : undefined;
}
