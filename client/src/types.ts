import type { operations } from './openapi.js';

/**
 * Request and answer types of each operation, read off the types that
 * openapi-typescript generates from the committed OpenAPI document
 * (`openapi.ts`), so they follow the server's schemas and never drift.
 */
type Ops = operations;
export type OperationId = keyof Ops;

type JsonContent<T> = T extends { content: { 'application/json': infer B } } ? B : never;

/** The JSON request body of an operation. */
export type BodyOf<K extends OperationId> = JsonContent<NonNullable<Ops[K]['requestBody']>>;

/** The query string of an operation. */
export type QueryOf<K extends OperationId> = NonNullable<Ops[K]['parameters']['query']>;

/** The JSON answer of an operation's successful (2xx) responses. */
export type AnswerOf<K extends OperationId> = {
  [S in keyof Ops[K]['responses']]: S extends 200 | 201 | 202 ? JsonContent<Ops[K]['responses'][S]> : never;
}[keyof Ops[K]['responses']];

export type Session = AnswerOf<'getSession'>;
export type SessionList = AnswerOf<'listSessions'>;
export type SyncAnswer = AnswerOf<'sync'>;
export type StateWrite = AnswerOf<'pushDelta'>;
export type Delta = Omit<BodyOf<'pushDelta'>, 'base_version'>;
export type EventPage = AnswerOf<'listEvents'>;
/** A durable event as the history and the stream carry it. */
export type DurableEvent = EventPage['events'][number];
export type NewEvent = BodyOf<'appendEvents'>['events'][number];
export type LiveEvent = { type: string; data: unknown };
export type LiveAnswer = AnswerOf<'publishLive'>;
export type Activity = NonNullable<Session['activity']>;
/** A session's lease as readers see it (`Session.lease`): owner, fencing token and expiry, never the token. */
export type SessionLease = NonNullable<Session['lease']>;
export type LeaseGrant = AnswerOf<'claimLease'>;
export type QueueBatch = AnswerOf<'enqueue'>;
export type QueueClaim = AnswerOf<'claimQueue'>;
