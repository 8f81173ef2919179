import Ajv, { type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const common: Options = {
  allErrors: false,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
  // TypeBox adds `kind`-symbol keys and `modifier` words ajv does not know.
  keywords: ['kind', 'modifier', 'x-pattern-message'],
  // Errors carry their schema, so a failed pattern is answered with its words (x-pattern-message), not the regex.
  verbose: true,
};

interface JsonSchema {
  type?: string;
  const?: unknown;
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
}

/** A query parameter that takes a whole number (and maybe a few words, like `after=now`). */
interface IntegerParameter {
  name: string;
  words: string[];
  minimum: number;
  maximum: number;
}

function integerParameters(schema: JsonSchema): IntegerParameter[] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, property]) => {
    const choices = property.anyOf ?? [property];
    const integer = choices.find((choice) => choice.type === 'integer');
    if (!integer) return [];
    const words = choices.flatMap((choice) => (typeof choice.const === 'string' ? [choice.const] : []));
    return [{ name, words, minimum: integer.minimum ?? Number.MIN_SAFE_INTEGER, maximum: integer.maximum ?? Number.MAX_SAFE_INTEGER }];
  });
}

function describe({ words, minimum, maximum }: IntegerParameter): string {
  const number = `a whole number from ${minimum} to ${maximum}, in decimal digits`;
  return words.length ? `must be ${words.map((w) => JSON.stringify(w)).join(' or ')}, or ${number}` : `must be ${number}`;
}

/**
 * ajv's coercion reads a query string number the way JavaScript does: `0x5`,
 * `1e1` and ` 5` all pass as numbers. A cursor or limit written like that is a
 * client bug, so integer parameters must be plain decimal digits, checked
 * before ajv coerces them; an out-of-range one is answered in words, not with
 * the `anyOf` branch that happened to fail first.
 */
function strictIntegers(validate: ValidateFunction, schema: JsonSchema): ValidateFunction {
  const parameters = integerParameters(schema);
  // Stryker disable next-line ConditionalExpression: wrapped with no integer parameters, the check loops over none and hands over to `validate` all the same
  if (parameters.length === 0) return validate;
  const strict = ((data: unknown) => {
    const query = data as Record<string, unknown> | null;
    for (const parameter of parameters) {
      const raw = query?.[parameter.name];
      if (raw === undefined || parameter.words.includes(raw as string)) continue;
      const ok =
        typeof raw === 'string' &&
        /^-?\d{1,16}$/.test(raw) &&
        Number(raw) >= parameter.minimum &&
        Number(raw) <= parameter.maximum;
      if (!ok) {
        const error: ErrorObject = {
          instancePath: `/${parameter.name}`,
          schemaPath: `#/properties/${parameter.name}`,
          keyword: 'type',
          params: { type: 'integer' },
          message: describe(parameter),
        };
        strict.errors = [error];
        return false;
      }
    }
    const valid = validate(data);
    strict.errors = validate.errors;
    return valid;
  }) as ValidateFunction;
  return strict;
}

/**
 * The contract says a JSON value of the wrong type is a 400, never coerced, so
 * bodies are validated as sent. Query strings, path parameters and headers are
 * text by nature; there "10" must read as the number 10.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodyAjv = addFormats.default(new Ajv.default({ ...common, coerceTypes: false }));
  const textAjv = addFormats.default(new Ajv.default({ ...common, coerceTypes: true }));
  return ({ schema, httpPart }) => {
    if (httpPart === 'body') return bodyAjv.compile(schema as object);
    const validate = textAjv.compile(schema as object);
    return httpPart === 'querystring' ? strictIntegers(validate, schema as JsonSchema) : validate;
  };
}
