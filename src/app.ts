import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { checkListenWorks } from './db/listen-check.js';
import { listApplications } from './db/statements.js';
import { activityRoutes } from './activity/routes.js';
import { registerAuth } from './auth/plugin.js';
import { announceExpiredActivities } from './activity/statements.js';
import { readEventRows } from './events/read.js';
import { eventRoutes } from './events/routes.js';
import { historyRoutes, transferRoutes } from './history/routes.js';
import { RetentionSweeper } from './history/trim.js';
import { SweepSupervisor } from './maintenance/supervisor.js';
import { deleteExpiredSessions } from './history/expiry.js';
import { clientErrorHandler, frameworkErrorHandler, registerErrorHandlers } from './http/error-handler.js';
import { HandlersInFlight } from './http/handlers-in-flight.js';
import { openApiShaping } from './http/openapi-shape.js';
import { opsRoutes } from './http/ops-routes.js';
import { registerBodyTimeout, registerShutdownRefusal } from './http/request-limits.js';
import { TransferSlots } from './http/transfers.js';
import { SessionQueue } from './writes/session-queue.js';
import { GROUP_LOCK_WAIT_MS, MAX_WRITES_PER_TRANSACTION, WriteGroups } from './writes/write-groups.js';
import { WakeupPublisher } from './wakeups/publisher.js';
import { registerJsonBodyParser } from './http/json-body.js';
import { registerUnreadBodyDrain } from './http/unread-body.js';
import { redactUrl, serializeError } from './http/log-safety.js';
import { originForm } from './http/request-target.js';
import { createValidatorCompiler } from './http/validation.js';
import { deleteExpiredKeys } from './idempotency/statements.js';
import { homeRoute } from './http/home-route.js';
import { inspectorRoutes } from './inspector/routes.js';
import { leaseRoutes } from './leases/routes.js';
import { settleExpiredLeases } from './leases/sweeper.js';
import { liveRoutes } from './live/routes.js';
import { messageRoutes } from './messages/routes.js';
import { turnRoutes } from './turns/routes.js';
import { attachmentRoutes } from './attachments/routes.js';
import { deleteExpiredIntents } from './attachments/statements.js';
import { queueRoutes } from './queue/routes.js';
import { settleDeadClaims } from './queue/sweeper.js';
import { Metrics } from './metrics/metrics.js';
import type { Services } from './services.js';
import { readHeadAndActivity } from './activity/store.js';
import { readSessionHeads } from './sessions/statements.js';
import { sessionRoutes } from './sessions/routes.js';
import { StateCache } from './state/cache.js';
import { stateRoutes } from './state/routes.js';
import { stateLimitsFor } from './state/store.js';
import { buildStreamSide } from './stream/stream-side.js';
import { LISTEN_APPLICATION_PREFIX } from './stream/listen-connection.js';
import { streamRoutes } from './stream/routes.js';
import { streamsFaceRoutes } from './streams/routes.js';
import { HEADER } from 'session-sync/client/protocol';
import { headersWithoutHooks, registerSecurityHeaders } from './http/answer-headers.js';
import { corsRule } from './http/cors.js';

export interface AppOptions {
  config: Config;
  database: Database;
  /** Defaults to pino at `config.logLevel`; tests pass false. */
  logger?: FastifyServerOptions['logger'];
  /** Open the LISTEN connection when ready (default). Off only to render the OpenAPI document offline. */
  listen?: boolean;
  /** Run the background sweeps (default). Off for the OpenAPI document, and for a test that counts the queries one request makes. */
  sweeps?: boolean;
  /**
   * Awaited before every read of durable events for a stream (its replay and
   * its session's tail). Tests hold a read here to make a race happen in one
   * order (a trim landing between two pages); unset in production.
   */
  beforeStreamRead?: (read: { sid: number; after: number }) => Promise<void>;
  /**
   * Sends the wakeup publisher's NOTIFY payloads (default: one statement on
   * the pool). Tests drop them to play an instance that dies between its
   * commits and their wakeups; unset in production.
   */
  sendWakeups?: (payloads: string[]) => Promise<void>;
  /**
   * How long a write transaction under WRITE_CONCURRENCY waits for a lock
   * (default `GROUP_LOCK_WAIT_MS`). Tests lengthen it to hold the only slot
   * while writes gather behind it; unset in production.
   */
  writeLockWaitMs?: number;
}

const IDEMPOTENCY_SWEEP_MS = 10 * 60_000;
/** Expired activity, leases and claims are announced within about this long. */
const EXPIRY_SWEEP_MS = 500;
/** Uncommitted attachments are deleted within about this long after their TTL (or the TTL itself, when shorter). */
const ATTACHMENT_SWEEP_MS = 60_000;
/**
 * How long a shutdown waits for handlers whose clients left before it closes the pool: a query or a group's
 * commit takes milliseconds; this leaves most of main.ts's 10 s grace to closing the pool and the database.
 */
const HANDLER_DRAIN_MS = 3000;
/** Node checks its requestTimeout every 30 s: past ours by more than that, it never answers first. */
const NODE_TIMEOUT_BACKSTOP_MS = 60_000;

/** package.json holds the one version number; src/ and dist/ both sit beside it. */
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const OPENAPI_INFO = {
  title: 'session-sync',
  version: PACKAGE_VERSION,
  description: 'Durable, live state for AI agent sessions: state sync for workers, SSE streams for dashboards.',
};

/**
 * Request log line: the target without credentials (EventSource tokens ride in
 * the query), in origin-form, so that an absolute-form target logs as the same
 * request and its userinfo never does.
 */
function serializeRequest(request: FastifyRequest) {
  return { method: request.method, url: redactUrl(originForm(request.url)), remoteAddress: request.ip };
}

/** Builds the whole HTTP app around an already-migrated database; `main.ts` only adds listening. */
export async function buildApp({ config, database, logger, listen = true, sweeps: runSweeps = true, beforeStreamRead, sendWakeups, writeLockWaitMs }: AppOptions): Promise<FastifyInstance> {
  // Secrets never reach the logs, whatever logger the caller passes.
  const redaction = {
    redact: ['req.headers.authorization', `req.headers["${HEADER.leaseToken}"]`],
    serializers: { req: serializeRequest, err: serializeError },
  };
  const cors = config.corsOrigins.length ? corsRule(config.corsOrigins) : undefined;
  const app = Fastify({
    logger: logger === false ? false : { level: config.logLevel, ...(typeof logger === 'object' ? logger : {}), ...redaction },
    bodyLimit: config.limits.maxBodyBytes,
    // Ours (registerBodyTimeout) answers on time and with a problem; Node's is only the backstop.
    requestTimeout: config.requestTimeoutMs + NODE_TIMEOUT_BACKSTOP_MS,
    // 503s while draining are problem documents too (registerShutdownRefusal).
    return503OnClosing: false,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Streams stay open for hours and heartbeats keep them busy; no socket inactivity cut.
    connectionTimeout: 0,
    frameworkErrors: frameworkErrorHandler((request) => headersWithoutHooks(request, cors)),
    clientErrorHandler: clientErrorHandler(config.requestTimeoutMs),
    // Longer than any valid id (128), so a too-long id gets the schema's 400, not the router's 414.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler());
  // JSON only: a text/plain body is a 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  registerJsonBodyParser(app, config.maxJsonDepth);

  const metrics = new Metrics();
  const { db } = database;
  const readRows = beforeStreamRead
    ? async (sid: number, after: number, limit: number) => {
        await beforeStreamRead({ sid, after });
        return readEventRows(db, sid, { after, limit, maxBytes: config.stream.pageBytes });
      }
    : (sid: number, after: number, limit: number) => readEventRows(db, sid, { after, limit, maxBytes: config.stream.pageBytes });
  // Names this instance in the live signals it publishes (`WakeupPublisher`'s `local`); 48 random bits, 8 characters.
  const instanceId = randomBytes(6).toString('base64url');
  const streamSide = buildStreamSide({
    instanceId,
    url: database.url,
    heartbeatMs: config.sseHeartbeatMs,
    pageSize: config.stream.pageSize,
    maxStreams: config.maxStreams,
    rowsMemoryBytes: config.stream.rowsMemoryBytes,
    totalBufferedBytes: config.stream.totalBufferedBytes,
    readRows,
    readActivity: (sessionId) => readHeadAndActivity(db, sessionId),
    readHeads: (sessionIds) => readSessionHeads(db, sessionIds),
    headPollMs: config.stream.headPollMs,
    listInstances: () => listApplications(db, LISTEN_APPLICATION_PREFIX),
    log: app.log,
    onTailRead: () => metrics.streamReads.inc(),
  });
  metrics.observeOpenStreams(() => streamSide.admission.openStreams);
  metrics.observeRowsMemory(() => streamSide.admission.rowBudget.inUse);
  const wakeups = new WakeupPublisher({
    db,
    log: app.log,
    send: sendWakeups,
    local: { instanceId, deliver: (notification) => streamSide.localSignals.deliver(notification) },
    onFlush: ({ kinds, payloads, seconds, failed, waitedSeconds }) => {
      metrics.wakeupDelaySeconds.observe(waitedSeconds);
      metrics.wakeupTransactions.inc({ outcome: failed ? 'failed' : 'ok' });
      for (const [kind, count] of Object.entries(kinds)) metrics.wakeupsPublished.inc({ kind }, count);
      metrics.wakeupPayloads.inc(payloads);
      metrics.wakeupFlushSeconds.observe(seconds);
    },
  });
  const services: Services = {
    config,
    db,
    metrics,
    stateContext: {
      cache: new StateCache(config.state.cacheBytes),
      tuning: config.state,
      limits: config.limits,
      stateLimits: stateLimitsFor(config.maxJsonDepth, config.limits.maxBodyBytes),
    },
    listenConnection: streamSide.listenConnection,
    sessionTails: streamSide.sessionTails,
    changesFeed: streamSide.changesFeed,
    streamAdmission: streamSide.admission,
    sessionQueue: new SessionQueue(),
    writeGroups: new WriteGroups(
      { db, wakeups },
      {
        maxInFlight: config.writeConcurrency,
        maxGroupSize: MAX_WRITES_PER_TRANSACTION,
        lockWaitMs: writeLockWaitMs ?? GROUP_LOCK_WAIT_MS,
        connections: database.writeConnections,
        onGroup: ({ writes, outcome, seconds }) => {
          metrics.writeTransactions.inc({ outcome });
          metrics.writeTransactionSeconds.observe(seconds);
          metrics.writesPerTransaction.observe(writes);
        },
      },
    ),
    wakeups,
    transfers: new TransferSlots(config.maxTransfers),
    readEventRows: readRows,
  };

  metrics.observeWaitingWrites(() => services.writeGroups.load.waiting);

  registerErrorHandlers(app, metrics);
  const handlers = new HandlersInFlight();
  handlers.register(app);
  // Before the hooks that refuse (503 while draining, 408, 401): their refusals carry these headers too.
  registerSecurityHeaders(app);
  if (cors) await app.register(fastifyCors, cors);
  // Before authentication: a draining server refuses, and a slow body is timed, whoever sends it.
  registerShutdownRefusal(app);
  registerBodyTimeout(app, config.requestTimeoutMs);
  registerUnreadBodyDrain(app);
  registerAuth(app, config.authSecret);
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, {
    ...openApiShaping(),
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      servers: [
        { url: '/', description: 'The server that serves this document.' },
        { url: 'http://127.0.0.1:8080', description: 'A local server with the default HOST and PORT.' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'With AUTH_SECRET set: an HS256 JWT with exp and grants {sessions, read, write, admin}.',
          },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'sessions', description: 'Create, list, read, update and delete sessions.' },
        { name: 'state', description: 'Worker state sync: snapshots, deltas and the handshake.' },
        { name: 'events', description: 'Durable per-session history.' },
        { name: 'stream', description: 'Server-Sent Events, live events and activity.' },
        { name: 'leases', description: 'One writer at a time: execution leases with fencing tokens.' },
        { name: 'queue', description: 'Input that waits for the worker.' },
        { name: 'messages', description: 'The conversation an LLM loop keeps.' },
        { name: 'turns', description: 'One atomic commit per agent turn.' },
        { name: 'attachments', description: 'Files an agent reads or writes.' },
        { name: 'operations', description: 'Health, readiness and metrics.' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(opsRoutes, { services });
  await app.register(sessionRoutes, { services });
  await app.register(stateRoutes, { services });
  await app.register(eventRoutes, { services });
  await app.register(streamRoutes, { services });
  await app.register(liveRoutes, { services });
  await app.register(activityRoutes, { services });
  await app.register(leaseRoutes, { services });
  await app.register(queueRoutes, { services });
  await app.register(messageRoutes, { services });
  await app.register(historyRoutes, { services });
  await app.register(transferRoutes, { services });
  await app.register(turnRoutes, { services });
  await app.register(attachmentRoutes, { services });
  await app.register(streamsFaceRoutes, { services });
  await app.register(inspectorRoutes, { auth: config.authSecret !== undefined });
  await app.register(homeRoute);

  const retention = new RetentionSweeper(db, { cache: services.stateContext.cache, batch: config.history.trimBatch }, config.history);
  // Every background job, each with how instances share it (there is no lock of the supervisor's): a "session
  // lock" sweep locks each due session with SKIP LOCKED, so a session being written waits for the next run; the
  // others are one statement each, which two instances cannot both carry out.
  const sweeps = new SweepSupervisor(
    [
      // One DELETE.
      { name: 'idempotency_keys', everyMs: IDEMPOTENCY_SWEEP_MS, run: () => deleteExpiredKeys(db, config.idempotencyTtlMs) },
      // One statement: the activity rows it announces, claimed with SKIP LOCKED and marked as sent.
      { name: 'activity_expiry', everyMs: EXPIRY_SWEEP_MS, run: () => announceExpiredActivities(db) },
      // Session lock.
      { name: 'lease_expiry', everyMs: EXPIRY_SWEEP_MS, run: () => settleExpiredLeases(services) },
      // Session lock.
      { name: 'claim_expiry', everyMs: EXPIRY_SWEEP_MS, run: () => settleDeadClaims(services) },
      // Session lock.
      { name: 'retention', everyMs: config.history.sweepMs, run: () => retention.sweep() },
      // Session lock (rechecked once locked).
      { name: 'session_expiry', everyMs: config.history.sweepMs, run: () => deleteExpiredSessions(db) },
      // One DELETE.
      {
        name: 'attachment_intents',
        everyMs: Math.min(config.attachments.intentTtlMs, ATTACHMENT_SWEEP_MS),
        run: () => deleteExpiredIntents(db, config.attachments.intentTtlMs),
      },
    ],
    {
      ran: (sweep, seconds, error) => {
        metrics.sweepDuration.observe({ sweep }, seconds);
        metrics.sweepRuns.inc({ sweep, outcome: error === undefined ? 'ok' : 'failed' });
        if (error !== undefined) app.log.warn({ err: error, sweep }, 'sweep failed');
      },
    },
  );
  app.addHook('onReady', async () => {
    if (listen) {
      await checkListenWorks(database.url, db);
      await streamSide.start();
    }
    if (runSweeps) sweeps.start();
  });
  // Streams never finish on their own: end them first so closing the server can drain.
  app.addHook('preClose', async () => streamSide.admission.endStreams());
  app.addHook('onClose', async () => {
    // Runs once the server has closed every connection; a handler whose client left before may still run.
    const running = await handlers.settled(HANDLER_DRAIN_MS);
    if (running > 0) app.log.warn({ handlers: running }, 'request handlers still running when the pool closes');
    // Sweeps in flight end before the pool is closed under them.
    await sweeps.stop();
    // What committed is announced before the pool closes.
    wakeups.stop();
    await wakeups.drain();
    await streamSide.stop();
  });

  return app;
}
