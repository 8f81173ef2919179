import { writeFile } from 'node:fs/promises';
import { buildOpenApiDocument } from '../src/http/openapi.js';
import { generateClientTypes } from './client-types.js';

// One command regenerates the document and the client types made from it.
const document = await buildOpenApiDocument();
const target = new URL('../openapi/openapi.json', import.meta.url);
await writeFile(target, document);
console.log(`wrote ${target.pathname}`);
const types = new URL('../client/src/openapi.ts', import.meta.url);
await writeFile(types, await generateClientTypes(document));
console.log(`wrote ${types.pathname}`);
