import type { FastifyInstance } from 'fastify';
import { InvalidRequest } from './errors.js';

/** True if `value` nests arrays/objects deeper than `max` (iterative: no stack to exhaust). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (typeof current !== 'object' || current === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * fastify's own JSON parser (prototype-poisoning keys refused), plus a depth
 * limit: deeply nested bodies would otherwise reach validation, serialisers
 * and Postgres, each with its own recursion limit.
 */
export function registerJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, body as string, (error, value) => {
      if (error) return done(error, undefined);
      if (nestedDeeperThan(value, maxDepth)) {
        return done(new InvalidRequest(`body is nested deeper than ${maxDepth} levels (MAX_JSON_DEPTH)`), undefined);
      }
      done(null, value);
    });
  });
}
