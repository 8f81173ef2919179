// The Node runtimes the suite runs on (optionalDependencies node-22, node-24:
// npm packages of the official binaries) each link a `node` into
// node_modules/.bin, which npm puts first on PATH for every script: `npm start`
// and `npm test` would silently run on whichever was linked last. Only
// scripts/test.ts uses them, by path, so the link goes.
import { rmSync } from 'node:fs';

rmSync('node_modules/.bin/node', { force: true });
