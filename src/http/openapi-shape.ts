import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import { operationIdFor } from './operation-ids.js';
import { emptyBodyAsObject, Problem } from './schemas.js';

type RouteSchema = { operationId?: string; body?: unknown; consumes?: string[] } & Record<string, unknown>;
type Content = Record<string, { schema?: unknown } | undefined>;
type Operation = { requestBody?: { required?: boolean }; responses?: Record<string, { content?: Content } | undefined> };
type Paths = Record<string, Record<string, Operation> | undefined>;

/**
 * What @fastify/swagger cannot read from the route schemas alone, so the
 * document says what the routes do:
 * - every operation named (the client's method names), so generated clients
 *   and the docs agree with ours;
 * - a raw body (an upload's bytes, an import's file) has no schema for fastify
 *   to check, only `consumes`: the document still gives it a body, of bytes;
 * - a body the route reads as `{}` when absent (`emptyBodyAsObject`) is not
 *   required, whereas the library marks every body required;
 * - the problem document is one component (`Problem`, its `code` the enum of
 *   every problem code), referred to by every error answer, rather than a
 *   copy in each of them, so a generated client has one `Problem` type.
 */
export function openApiShaping(): { transform: SwaggerTransform; transformObject: SwaggerTransformObject } {
  const optionalBodies: { method: string; path: string }[] = [];
  return {
    transform: ({ schema, url, route }) => {
      // Stryker disable next-line ConditionalExpression: a route without a schema (hidden ones) has nothing to shape
      if (!schema) return { schema, url };
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method);
      const routeSchema = schema as RouteSchema;
      const operationId = operationIdFor(method, url, routeSchema);
      const shaped: RouteSchema = { ...routeSchema, ...(operationId ? { operationId } : {}) };
      if (routeSchema.consumes && !routeSchema.body) shaped.body = { type: 'string', format: 'binary' };
      const hooks = [route.preValidation].flat();
      if (hooks.includes(emptyBodyAsObject)) optionalBodies.push({ method: method.toLowerCase(), path: openApiPath(url) });
      return { schema: shaped, url };
    },
    transformObject: (documentObject) => {
      const document = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      const paths = (document.paths ?? {}) as Paths;
      for (const { method, path } of optionalBodies) {
        const body = paths[path]?.[method]?.requestBody;
        if (body) body.required = false;
      }
      for (const operations of Object.values(paths)) {
        for (const operation of Object.values(operations ?? {})) {
          for (const response of Object.values(operation.responses ?? {})) {
            const problem = response?.content?.[PROBLEM_MEDIA_TYPE];
            if (problem) problem.schema = { $ref: '#/components/schemas/Problem' };
          }
        }
      }
      const withComponents = document as { components?: { schemas?: Record<string, unknown> } };
      withComponents.components = { ...withComponents.components, schemas: { ...withComponents.components?.schemas, Problem } };
      return document;
    },
  };
}

const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** `/v1/sessions/:id` as OpenAPI writes it: `/v1/sessions/{id}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}
