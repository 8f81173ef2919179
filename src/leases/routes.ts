import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { emptyBodyAsObject, IdempotencyHeaders, LeaseHolderHeaders, problems, SessionParams } from '../http/schemas.js';
import { replyWithOutcome, writeCaller } from '../http/write-request.js';
import { writeSession } from '../writes/session-write.js';
import type { Tx } from '../db/client.js';
import type { StoredResponse } from '../idempotency/keys.js';
import type { SessionRow } from '../sessions/store.js';
import type { Services } from '../services.js';
import { claimLease, reissueLease, releaseLease, renewLease } from './store.js';
import { LeaseGrant, Lease } from './view.js';
import { HEADER } from 'session-sync/client/protocol';

const LeaseTtl = Type.Integer({ minimum: 100, maximum: 3_600_000, description: 'Milliseconds until the lease expires unless renewed.' });

export const leaseRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { config } = services;
  const write = (sessionId: string) => ({ sessionId, idempotencyTtlMs: config.idempotencyTtlMs });

  app.post(
    '/v1/sessions/:id/lease',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Claim the execution lease (one writer at a time)',
        description:
          'Returns the secret `token` (send it as Lease-Token on every write while the lease runs) and a ' +
          '`fencing_token` that grows with every successful claim. 409 lease_held while another unexpired lease exists.',
        tags: ['leases'],
        params: SessionParams,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { owner: Type.String({ minLength: 1, maxLength: 128, description: 'Who holds it, e.g. a worker id.' }), ttl_ms: LeaseTtl },
          { additionalProperties: false },
        ),
        response: {
          201: LeaseGrant,
          ...problems(400, 404, 409, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { owner, ttl_ms: ttlMs } = request.body;
      const claim = {
        ...write(request.params.id),
        replay: async (tx: Tx, session: SessionRow, stored: StoredResponse) => ({
          status: stored.status,
          body: await reissueLease(tx, session, stored.body as Lease),
        }),
      };
      const outcome = await writeSession(services, claim, writeCaller(request), async (tx, session) => {
        const { value: grant, pending } = await claimLease(tx, session, owner, ttlMs);
        // The key keeps the answer without its secret (see `reissueLease`).
        const kept: Lease = { owner: grant.owner, fencing_token: grant.fencing_token, expires_at: grant.expires_at };
        return { status: 201, body: grant, stored: { status: 201, body: kept }, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.put(
    '/v1/sessions/:id/lease',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Renew the lease (Lease-Token required)',
        tags: ['leases'],
        params: SessionParams,
        headers: LeaseHolderHeaders,
        body: Type.Object(
          { ttl_ms: Type.Optional(LeaseTtl) },
          { additionalProperties: false, description: 'Optional; ttl_ms defaults to that of the claim.' },
        ),
        response: { 200: Lease, ...problems(400, 404, 409, 415, 422) },
      },
      preValidation: emptyBodyAsObject,
    },
    async (request, reply) => {
      const token = request.headers[HEADER.leaseToken];
      const outcome = await writeSession(services, write(request.params.id), writeCaller(request), async (tx, session) => {
        const { value, pending } = await renewLease(tx, session, token, request.body.ttl_ms);
        return { status: 200, body: value, pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );

  app.delete(
    '/v1/sessions/:id/lease',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Release the lease (Lease-Token required)',
        description:
          '409 lease_lost when the token is no longer the current lease (expired, released or superseded): ' +
          'a worker releasing a lease it already lost learns that it lost it.',
        tags: ['leases'],
        params: SessionParams,
        headers: LeaseHolderHeaders,
        response: { 204: Type.Null(), ...problems(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const token = request.headers[HEADER.leaseToken];
      const outcome = await writeSession(services, write(request.params.id), writeCaller(request), async (tx, session) => {
        return { status: 204, body: null, pending: releaseLease(tx, session, token).pending };
      });
      return replyWithOutcome(reply, outcome);
    },
  );
};
