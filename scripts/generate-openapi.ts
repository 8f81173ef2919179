import { writeFile } from 'node:fs/promises';
import { buildOpenApiDocument } from '../src/http/openapi.js';

const target = new URL('../openapi/openapi.json', import.meta.url);
await writeFile(target, await buildOpenApiDocument());
console.log(`wrote ${target.pathname}`);
