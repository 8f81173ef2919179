import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const common: Options = {
  allErrors: false,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
  // TypeBox adds `kind`-symbol keys and `modifier` words ajv does not know.
  keywords: ['kind', 'modifier'],
};

/**
 * The contract says a JSON value of the wrong type is a 400, never coerced, so
 * bodies are validated as sent. Query strings, path parameters and headers are
 * text by nature; there "10" must read as the number 10.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodyAjv = addFormats.default(new Ajv.default({ ...common, coerceTypes: false }));
  const textAjv = addFormats.default(new Ajv.default({ ...common, coerceTypes: true }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
}
