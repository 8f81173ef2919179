/**
 * `operationId` of every route, by `METHOD /path` as fastify registers it.
 * The ids are the method names of the TypeScript client (docs/client.md),
 * so a generated client and ours read alike; kept in one table so a route
 * file does not need to know the client. A route may also set its own
 * `operationId` in its schema, which wins. `redocly lint` (npm run
 * lint:openapi) fails on a route left without one.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /healthz': 'getHealth',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics',

  'POST /v1/sessions': 'createSession',
  'GET /v1/sessions': 'listSessions',
  'GET /v1/sessions/:id': 'getSession',
  'PATCH /v1/sessions/:id': 'updateSession',
  'DELETE /v1/sessions/:id': 'deleteSession',

  'GET /v1/sessions/:id/state': 'sync',
  'PUT /v1/sessions/:id/state': 'putSnapshot',
  'POST /v1/sessions/:id/deltas': 'pushDelta',

  'POST /v1/sessions/:id/events': 'appendEvents',
  'GET /v1/sessions/:id/events': 'listEvents',
  'GET /v1/sessions/:id/stream': 'subscribe',
  'GET /v1/changes': 'watchChanges',
  'POST /v1/sessions/:id/live': 'publishLive',
  'PUT /v1/sessions/:id/activity': 'setActivity',

  'POST /v1/sessions/:id/lease': 'claimLease',
  'PUT /v1/sessions/:id/lease': 'renewLease',
  'DELETE /v1/sessions/:id/lease': 'releaseLease',

  'POST /v1/sessions/:id/queue': 'enqueue',
  'GET /v1/sessions/:id/queue': 'listQueue',
  'POST /v1/sessions/:id/queue/claim': 'claimQueue',
  'POST /v1/sessions/:id/queue/claims/:claim_id/complete': 'completeClaim',
  'POST /v1/sessions/:id/queue/claims/:claim_id/renew': 'renewClaim',
  'POST /v1/sessions/:id/queue/claims/:claim_id/abandon': 'abandonClaim',
  'DELETE /v1/sessions/:id/queue/:batch_id': 'cancelBatch',

  'POST /v1/sessions/:id/messages': 'appendMessages',
  'GET /v1/sessions/:id/messages': 'listMessages',
  'PUT /v1/sessions/:id/messages/kinds/:kind': 'replaceMessageKind',
  'POST /v1/sessions/:id/messages/trim': 'trimMessages',
  'GET /v1/sessions/:id/messages/meta': 'getMessagesMeta',

  // Routes API.md describes that other issues add; named here so they get the client's names.
  'POST /v1/sessions/import': 'importSession',
  'GET /v1/sessions/:id/export': 'exportSession',
  'POST /v1/sessions/:id/fork': 'forkSession',
  'POST /v1/sessions/:id/compact': 'compactSession',
  'POST /v1/sessions/:id/turns': 'commitTurn',
  'POST /v1/sessions/:id/attachments': 'uploadAttachment',
  'GET /v1/sessions/:id/attachments': 'listAttachments',
  'GET /v1/sessions/:id/attachments/:attachment_id': 'downloadAttachment',
  'POST /v1/sessions/:id/attachments/:attachment_id/commit': 'commitAttachment',
};

/** The id for one route, or undefined when neither the table nor the route names it. */
export function operationIdFor(method: string, url: string, schema: { operationId?: string } | undefined): string | undefined {
  return schema?.operationId ?? OPERATION_IDS[`${method} ${url}`];
}
