import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  CHANGE_EVENT,
  CLIENT_ERROR,
  DS_HEADER,
  DS_LIVE,
  DS_SSE_CONTROL,
  EVENT,
  HEADER,
  LIVE_EVENT,
  PROBLEM,
  PROBLEM_CODES,
  RESERVED_PREFIXES,
  SERVER_EVENT_TYPES,
} from 'session-sync/client/protocol';
import { isReservedType } from '../../src/events/types.js';

const root = new URL('../../', import.meta.url);
/** Code that speaks the protocol: the server, the client, the inspector, the examples. */
const FOLDERS = ['src/', 'client/src/', 'inspector/src/', 'examples/'];
const OWNER = 'client/src/protocol.ts';
const GENERATED = 'client/src/openapi.ts';

/** Every file of the folders but the protocol module, its comment lines left out. */
async function sources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const folder of FOLDERS) {
    for (const entry of await readdir(new URL(folder, root), { recursive: true })) {
      const path = `${folder}${entry}`;
      if (!path.endsWith('.ts') || path === OWNER || path === GENERATED) continue;
      const text = await readFile(new URL(path, root), 'utf8');
      files.set(path, text.split('\n').filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line)).join('\n'));
    }
  }
  return files;
}

const quoted = (value: string) => new RegExp(`['"]${value.replace(/[.-]/g, '\\$&')}['"]`);
/** A code compared or assigned as a `code`: `code: 'x'`, `code === 'x'`, `'x' === error.code`. */
const asCode = (value: string) => new RegExp(`code\\s*(:|=|===|!==)\\s*['"]${value}['"]|['"]${value}['"]\\s*(===|!==)\\s*[\\w.]*code\\b`);

describe('wire names are written once, in the protocol module', () => {
  it('no SSE event name or header name is a literal anywhere else', async () => {
    const names = [
      ...Object.values(EVENT),
      ...Object.values(LIVE_EVENT),
      ...Object.values(CHANGE_EVENT),
      ...Object.values(HEADER),
      // The Durable Streams face's (its SSE event names, `data` and `control`, are too common a word to look for).
      ...Object.values(DS_HEADER),
      ...Object.values(DS_SSE_CONTROL),
      DS_LIVE.longPoll,
    ];
    const found: string[] = [];
    for (const [path, text] of await sources()) {
      for (const name of new Set(names)) if (quoted(name).test(text)) found.push(`${path}: '${name}'`);
    }
    expect(found).toEqual([]);
  });

  it('no problem code or client error code is a literal anywhere else', async () => {
    const codes = [...PROBLEM_CODES, ...Object.values(CLIENT_ERROR)];
    const found: string[] = [];
    for (const [path, text] of await sources()) {
      for (const code of codes) if (asCode(code).test(text)) found.push(`${path}: '${code}'`);
    }
    expect(found).toEqual([]);
  });

  it('every name it holds is in use: the server answers each problem code and writes each event type', async () => {
    const files = await sources();
    const server = [...files].filter(([path]) => path.startsWith('src/')).map(([, text]) => text).join('\n');
    const client = [...files].filter(([path]) => path.startsWith('client/src/')).map(([, text]) => text).join('\n');
    const unused = (table: string, keys: string[], text: string) => keys.filter((key) => !new RegExp(`\\b${table}\\.${key}\\b`).test(text));
    expect(unused('PROBLEM', Object.keys(PROBLEM), server)).toEqual([]);
    expect(unused('EVENT', Object.keys(EVENT), server.replace(/^.*SERVER_EVENT_TYPES.*$/gm, ''))).toEqual([]);
    expect(unused('CLIENT_ERROR', Object.keys(CLIENT_ERROR), client)).toEqual([]);
  });
});

describe('event types', () => {
  it('the server writes only reserved types into a history, so no client event can pass for one', () => {
    expect(SERVER_EVENT_TYPES.filter((type) => !isReservedType(type))).toEqual([]);
  });

  // An import takes exactly the types the server stores (issue 24, defect 6): a live frame stored in a
  // history would be replayed as if it had happened.
  it('no live frame shares a name with a durable event type, and a client can write none of them', () => {
    const live = [...Object.values(LIVE_EVENT), CHANGE_EVENT.changed, CHANGE_EVENT.created];
    expect(live.filter((name) => (SERVER_EVENT_TYPES as readonly string[]).includes(name))).toEqual([]);
    expect(live.filter((name) => !RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix)))).toEqual([]);
  });
});

describe('problem codes in the OpenAPI document', () => {
  it('are the enum of Problem.code, and every error answer refers to that one schema', async () => {
    const document = JSON.parse(await readFile(new URL('openapi/openapi.json', root), 'utf8')) as {
      components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
    };
    expect(document.components.schemas.Problem.properties.code.enum).toEqual([...PROBLEM_CODES]);
    const problemSchemas = Object.values(document.paths)
      .flatMap((operations) => Object.values(operations))
      .flatMap((operation) => Object.values(operation.responses))
      .flatMap((response) => (response.content?.['application/problem+json'] ? [response.content['application/problem+json'].schema] : []));
    expect(problemSchemas.length).toBeGreaterThan(50);
    expect(new Set(problemSchemas.map((schema) => JSON.stringify(schema)))).toEqual(new Set([JSON.stringify({ $ref: '#/components/schemas/Problem' })]));
  });
});
