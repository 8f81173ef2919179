/**
 * The server's layers, checked by `npm run lint` (see the README's Layout):
 * routes -> domain -> db, the shared ground (errors, limits, media types,
 * shapes, values, config) importable from anywhere, and no cycles. Every
 * feature folder but metrics (ground, README's Layout) is domain but for its routes.
 */
const DOMAIN = '^src/(activity|attachments|auth|events|history|idempotency|leases|live|maintenance|messages|queue|sessions|state|stream|streams|turns|wakeups|writes)/(?!routes\\.ts$|plugin\\.ts$)';
const GROUND = '^src/(errors|limits|media-type|shapes|slots|values|config)\\.ts$';
const HTTP = '^src/(http/|app\\.ts$|main\\.ts$|services\\.ts$|[a-z-]+/routes\\.ts$|auth/plugin\\.ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle has no floor to stand on: break it by moving what both sides need below them.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-not-http',
      severity: 'error',
      comment:
        'Domain code takes plain inputs and the routes adapt requests to it (routes -> domain -> db); ' +
        'not even a type import: a signature that names a FastifyRequest is an HTTP signature.',
      from: { path: DOMAIN },
      to: { path: [HTTP, '^node_modules/(fastify|@fastify/[^/]+)/'] },
    },
    {
      name: 'ground-stays-ground',
      severity: 'error',
      comment: 'Errors, limits, shapes and value lists are imported by every layer, so they import none of them.',
      from: { path: GROUND },
      to: { path: '^src/', pathNot: GROUND },
    },
    {
      name: 'db-is-the-floor',
      severity: 'error',
      comment: 'The database layer imports only the shared ground.',
      from: { path: '^src/db/' },
      to: { path: '^src/', pathNot: ['^src/db/', GROUND] },
    },
    {
      name: 'routes-ask-stores',
      severity: 'error',
      comment:
        'Routes call their features\' stores, which decide; the statements only read and write (README "SQL"). ' +
        'The connection\'s own statements (db/statements.ts: the readiness ping) are not a feature\'s.',
      from: { path: '^src/([a-z-]+/routes\\.ts|http/)' },
      to: { path: '^src/(?!db/)[a-z-]+/statements\\.ts$' },
    },
    {
      name: 'routes-not-tables',
      severity: 'error',
      comment: 'Routes ask the feature stores; they do not query tables (the schema module) themselves.',
      from: { path: '^src/([a-z-]+/routes\\.ts|http/)' },
      to: { path: '^src/db/schema\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
