/**
 * Which methods a path has routes for, so a request with another method gets
 * 405 with `Allow` instead of a 404 that suggests the path does not exist.
 * Fastify's router answers only "no route"; the route table is recorded here
 * as each route is added (onRoute), patterns turned into one regex each.
 */
export class AllowedMethods {
  private readonly routes: { pattern: RegExp; method: string }[] = [];

  add(method: string | string[], url: string): void {
    const source = url
      .split('/')
      // A wildcard takes one character or more, as the router does: `/v1/stream/` matches no `/v1/stream/*` route.
      .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const pattern = new RegExp(`^${source}/?$`);
    for (const m of Array.isArray(method) ? method : [method]) this.routes.push({ pattern, method: m });
  }

  /** The methods routed for this path (no query string), in a stable order. */
  for(path: string): string[] {
    const methods = new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    return [...methods].sort();
  }
}
