// Generated from openapi/openapi.json by `npm run openapi` (openapi-typescript). Do not edit.
/* eslint-disable */
export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The process is alive */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The database is reachable and the LISTEN connection is up */
        get: operations["getReadiness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics */
        get: operations["getMetrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List sessions, newest first */
        get: operations["listSessions"];
        put?: never;
        /** Create a session */
        post: operations["createSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a session */
        get: operations["getSession"];
        put?: never;
        post?: never;
        /** Delete a session, its state and its history */
        delete: operations["deleteSession"];
        options?: never;
        head?: never;
        /** Merge-patch (RFC 7396) the session metadata; set its retention policy */
        patch: operations["updateSession"];
        trace?: never;
    };
    "/v1/sessions/{id}/state": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Sync handshake: what a worker holding version `have` is missing */
        get: operations["sync"];
        /** Replace the state with a snapshot */
        put: operations["putSnapshot"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/deltas": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Append a delta against base_version */
        post: operations["pushDelta"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Read durable history after a cursor
         * @description Pages forward through the history. `last_seq` is where this page ends: pass it as `after` for the next page. When `has_more` is false it is the session head, so a filtered reader skips what it has scanned. A page ends early at `EVENTS_PAGE_BYTES` of events (one larger event comes alone), with `has_more: true`. `after` below `history_start` (history trimmed by retention) is 410 `cursor_expired` `{history_start}`.
         */
        get: operations["listEvents"];
        put?: never;
        /** Append a batch of durable events atomically */
        post: operations["appendEvents"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow a session: durable history after a cursor, then live (Server-Sent Events)
         * @description Cursor: Last-Event-ID, else `after`, else 0 (exclusive); `after=now` starts at the head. Sends the history up to the head B, then one `session.activity` carrying `cursor: B`, then durable events as they commit, live events and activity changes. `live=false` ends after the activity marker. Ends with `session.deleted` when the session is deleted, and with `session.token_expired` when the token that opened it expires (reconnect with a fresh one). A cursor below `history_start` is 410 `cursor_expired`; history trimmed under an open stream before it was sent ends the stream with `session.cursor_expired` `{cursor, history_start}` (reconnecting gets the 410).
         */
        get: operations["subscribe"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/changes": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Watch many sessions over one connection (Server-Sent Events, live only)
         * @description First `sweep_required` (re-list what you watch), then coalesced `session.changed` hints `{session_id, last_seq, version}` and `session.created`, `session.deleted`, `session.activity`. `sweep_required` is sent again whenever hints may have been missed. Ends with `session.token_expired` when the token that opened it expires.
         */
        get: operations["watchChanges"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/live": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Publish live events to current subscribers (never stored, never replayed)
         * @description Token fragments, progress. Delivered only to streams open now, in the order posted, each after every durable event committed before it was sent (`after_seq`). The body is one `{type, data}`, a batch `{events}`, or `application/x-ndjson` with one `{type, data}` per line, each line delivered as it arrives (a model's token stream in one request). A malformed line ends the request with 400 naming the `line`; lines before it were delivered.
         */
        post: operations["publishLive"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/activity": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Set the current activity (a current value, never history) */
        put: operations["setActivity"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/lease": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Renew the lease (Lease-Token required) */
        put: operations["renewLease"];
        /**
         * Claim the execution lease (one writer at a time)
         * @description Returns the secret `token` (send it as Lease-Token on every write while the lease runs) and a `fencing_token` that grows with every successful claim. 409 lease_held while another unexpired lease exists.
         */
        post: operations["claimLease"];
        /**
         * Release the lease (Lease-Token required)
         * @description 409 lease_lost when the token is no longer the current lease (expired, released or superseded): a worker releasing a lease it already lost learns that it lost it.
         */
        delete: operations["releaseLease"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List queued batches in enqueue order */
        get: operations["listQueue"];
        put?: never;
        /** Queue input for the worker (needs no lease: dashboards send it while the agent is busy) */
        post: operations["enqueue"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue/claim": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Claim pending batches in enqueue order (the lease holder only, while a lease exists) */
        post: operations["claimQueue"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue/claims/{claim_id}/complete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Complete a claim: its batches are done */
        post: operations["completeClaim"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue/claims/{claim_id}/renew": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Extend a claim */
        post: operations["renewClaim"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue/claims/{claim_id}/abandon": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Abandon a claim: its batches become pending again */
        post: operations["abandonClaim"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/queue/{batch_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Cancel a pending batch */
        delete: operations["cancelBatch"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/messages": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List messages with filters, in stable keyset pages */
        get: operations["listMessages"];
        put?: never;
        /** Append conversation messages atomically */
        post: operations["appendMessages"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/messages/kinds/{kind}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /** Replace the singleton of a kind (earlier active messages of the kind are archived) */
        put: operations["replaceMessageKind"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/messages/trim": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Archive active messages before a seq, except protected kinds */
        post: operations["trimMessages"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/messages/meta": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Conversation metadata */
        get: operations["getMessagesMeta"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/compact": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Trim history now, by the retention policy or up to before_seq
         * @description Removes durable events with seq < `before_seq` (or what the retention policy says is due), in bounded batches, and only where the state stays materialisable: a json session gets a checkpoint of its state when needed; a binary session is trimmed no further than its last snapshot. Answers the resulting `history_start`.
         */
        post: operations["compactSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/fork": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Fork a session at a version (default: the head)
         * @description Creates a session whose state is the source's state at `at_version`, with `parent_id` the source and `forked_from: {session_id, version}`. Its history starts with `session.forked` and a `state.snapshot` (a binary source's deltas after its snapshot follow as `state.delta`). Needs read on the source and write on the new id (admin when the server picks the id). 410 `version_expired` when that version is no longer kept.
         */
        post: operations["forkSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Export a session as NDJSON, streamed
         * @description One JSON record a line, read in one consistent snapshot and streamed as it is read: `header` (format `session-sync.export`, `format_version` 1), `session` (the record with its counters), each kept `snapshot` (the state as stored: snapshots and checkpoints, binary bytes in `chunk` lines after it), every kept `event` with its seq, every `message`, `queue_batch`, `turn`, `producer` (a Durable Stream's idempotent producers) and `attachment` (its bytes in base64 `chunk` lines), and last `end` with the counts, so a file cut short is told apart. `POST /v1/sessions/import` reads it back. A reader that takes no byte for TRANSFER_IDLE_TIMEOUT_MS is cut off; past MAX_TRANSFERS uploads, imports and exports at once, 503 `too_many_transfers` with Retry-After.
         */
        get: operations["exportSession"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/import": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import a session from an export (admin)
         * @description The body is an export file (`application/x-ndjson`), read as it arrives and imported in one transaction: the copy answers reads as the original did (state at every kept version, events with their seqs, messages, queue, attachments, metadata, history_start; a Durable Stream's Content-Type, closure, Stream-Seq, expiry and producers). `?id=` gives the copy another id. A malformed, truncated or unknown-format file is 400 `invalid_import` naming the `line`, and nothing is created; 409 `session_exists` when the id is taken. Leases do not move; a batch claimed on the source is pending in the copy; message and batch ids this server already holds (a copy beside its original) get new ones. A file that sends no byte for TRANSFER_IDLE_TIMEOUT_MS is 408 `request_timeout`; past MAX_TRANSFERS uploads, imports and exports at once, 503 `too_many_transfers` with Retry-After.
         */
        post: operations["importSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/turns": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Commit one agent turn atomically: state, events, messages, claims, attachments, usage, lease release
         * @description All parts commit together or none does, in this order: the state change (CAS on base_version), the events, the messages, the claims completed, the attachments committed, the usage, the lease released; then one `turn.committed` event. The same turn_id with the same body replays the answer (Idempotent-Replayed: true), even after the turn released the lease; with another body it is 409 `turn_conflict`. A refused part refuses the whole turn with that part's error plus `part` and, for list parts, `index`. Its lists (events, messages, complete_claims, attachments, usage) hold at most MAX_BATCH_EVENTS items together, a claim or attachment is named once, and its turn.committed event must fit MAX_EVENT_BYTES (413 otherwise).
         */
        post: operations["commitTurn"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/attachments": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List a session's attachments (committed or not), oldest first */
        get: operations["listAttachments"];
        put?: never;
        /**
         * Upload an attachment: the raw bytes are the body, streamed into storage
         * @description Any Content-Type (kept, and served back). Up to MAX_ATTACHMENT_BYTES; the body is stored in chunks as it arrives and never held whole. The same bytes on the same session give the same attachment_id (the SHA-256). The attachment is uncommitted until a turn (or POST .../commit) commits it; uncommitted ones are deleted after ATTACHMENT_INTENT_TTL_MS. A broken upload stores nothing: one that sends no byte for TRANSFER_IDLE_TIMEOUT_MS is 408 `request_timeout`; past MAX_TRANSFERS uploads, imports and exports at once, 503 `too_many_transfers` with Retry-After.
         */
        post: operations["uploadAttachment"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/attachments/{attachment_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Download an attachment, streamed, with Range and ETag
         * @description Served with its stored Content-Type, `X-Content-Type-Options: nosniff` and a sandboxing Content-Security-Policy; types a browser would render as a document (HTML, SVG, XML and anything not known to be inert) come with `Content-Disposition: attachment`, so hostile bytes never run in this origin. A single `bytes=` Range gives 206 (416 when outside the file); `If-None-Match` gives 304.
         */
        get: operations["downloadAttachment"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{id}/attachments/{attachment_id}/commit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Commit an attachment outside a turn (a turn commits those it lists) */
        post: operations["commitAttachment"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description RFC 9457 problem details (application/problem+json). */
        Problem: {
            type: string;
            title: string;
            status: number;
            detail: string;
            /**
             * @description Stable, machine-readable error code.
             * @enum {string}
             */
            code: "invalid_request" | "unsupported_media_type" | "payload_too_large" | "not_found" | "method_not_allowed" | "unauthorized" | "forbidden" | "session_not_found" | "parent_not_found" | "session_exists" | "version_conflict" | "version_ahead" | "schema_mismatch" | "encoding_mismatch" | "no_state" | "patch_failed" | "state_unreadable" | "idempotency_key_reused" | "cursor_ahead" | "seq_conflict" | "cursor_expired" | "version_expired" | "invalid_import" | "turn_conflict" | "usage_overflow" | "reserved_event_type" | "lease_held" | "lease_lost" | "claim_not_found" | "claim_expired" | "batch_not_found" | "batch_claimed" | "attachment_not_found" | "range_not_satisfiable" | "database_unavailable" | "too_many_streams" | "too_many_transfers" | "request_timeout" | "shutting_down" | "internal_error" | "invalid_stream_path" | "session_closed" | "content_type_mismatch" | "stream_seq_conflict" | "producer_epoch_stale" | "producer_seq_gap" | "not_implemented" | "session_deleted" | "fork_has_state";
            instance?: string;
        } & {
            [key: string]: unknown;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @enum {string} */
                        status: "ok";
                    };
                };
            };
        };
    };
    getReadiness: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @enum {string} */
                        status: "ready";
                    };
                };
            };
            /** @description Default Response */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @enum {string} */
                        status: "not_ready";
                        reason: string;
                    };
                };
            };
        };
    };
    getMetrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text exposition format. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description Missing, malformed, badly signed or expired token (WWW-Authenticate: Bearer). */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token does not grant this. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listSessions: {
        parameters: {
            query?: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                parent_id?: string;
                limit?: number;
                /** @description next_cursor from the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        sessions: {
                            /**
                             * @description Letters, digits and . _ : - (not first), 1-128 characters.
                             * @example team-a:run-42
                             */
                            id: string;
                            parent_id: string | null;
                            /** @description Free-form JSON object. */
                            metadata: {
                                [key: string]: unknown;
                            };
                            /** @enum {string} */
                            encoding: "json" | "binary";
                            schema_version: number | null;
                            version: number;
                            last_seq: number;
                            /** @description History is complete after this seq (0 until something is trimmed). */
                            history_start: number;
                            /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                            retention: {
                                /** @description Keep at most this many recent events. */
                                max_events?: number;
                                /** @description Trim events older than this. */
                                max_age_ms?: number;
                            } | null;
                            /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                            forked_from: {
                                session_id: string;
                                version: number;
                            } | {
                                session_id: string;
                                /** @description The history is the source's up to this seq. */
                                seq: number;
                                /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                                sub_offset: number;
                            } | null;
                            /** @description Delete the session once no write came for this long; null: never. */
                            ttl_ms: number | null;
                            /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                            expires_at: string | null;
                            /** Format: date-time */
                            created_at: string;
                            /** Format: date-time */
                            updated_at: string;
                            /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                            activity: {
                                status: string;
                                detail?: unknown;
                                /** @enum {boolean} */
                                expired?: true;
                                /** Format: date-time */
                                updated_at?: string;
                                /** Format: date-time */
                                expires_at?: string;
                            };
                            lease: {
                                owner: string;
                                fencing_token: number;
                                /** Format: date-time */
                                expires_at: string;
                            } | null;
                            /** @description Totals of the usage the turns reported. */
                            usage: {
                                input_tokens: number;
                                output_tokens: number;
                                cost_usd: number;
                                /** @description Turns committed (POST .../turns). */
                                turns: number;
                            };
                            /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                            first_user_message: string | null;
                            /** @description Active (not archived) messages. */
                            message_count: number;
                        }[];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    createSession: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /**
                     * @description Letters, digits and . _ : - (not first), 1-128 characters.
                     * @example team-a:run-42
                     */
                    id?: string;
                    /**
                     * @description Letters, digits and . _ : - (not first), 1-128 characters.
                     * @example team-a:run-42
                     */
                    parent_id?: string;
                    /** @description Free-form JSON object. */
                    metadata?: {
                        [key: string]: unknown;
                    };
                    /**
                     * @description How state is stored; default json.
                     * @enum {string}
                     */
                    encoding?: "json" | "binary";
                    /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                    retention?: {
                        /** @description Keep at most this many recent events. */
                        max_events?: number;
                        /** @description Trim events older than this. */
                        max_age_ms?: number;
                    } | null;
                    /** @description Delete the session once no write came for this long; null: never. */
                    ttl_ms?: number | null;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /**
                         * @description Letters, digits and . _ : - (not first), 1-128 characters.
                         * @example team-a:run-42
                         */
                        id: string;
                        parent_id: string | null;
                        /** @description Free-form JSON object. */
                        metadata: {
                            [key: string]: unknown;
                        };
                        /** @enum {string} */
                        encoding: "json" | "binary";
                        schema_version: number | null;
                        version: number;
                        last_seq: number;
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                        /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                        retention: {
                            /** @description Keep at most this many recent events. */
                            max_events?: number;
                            /** @description Trim events older than this. */
                            max_age_ms?: number;
                        } | null;
                        /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                        forked_from: {
                            session_id: string;
                            version: number;
                        } | {
                            session_id: string;
                            /** @description The history is the source's up to this seq. */
                            seq: number;
                            /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                            sub_offset: number;
                        } | null;
                        /** @description Delete the session once no write came for this long; null: never. */
                        ttl_ms: number | null;
                        /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                        expires_at: string | null;
                        /** Format: date-time */
                        created_at: string;
                        /** Format: date-time */
                        updated_at: string;
                        /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                        activity: {
                            status: string;
                            detail?: unknown;
                            /** @enum {boolean} */
                            expired?: true;
                            /** Format: date-time */
                            updated_at?: string;
                            /** Format: date-time */
                            expires_at?: string;
                        };
                        lease: {
                            owner: string;
                            fencing_token: number;
                            /** Format: date-time */
                            expires_at: string;
                        } | null;
                        /** @description Totals of the usage the turns reported. */
                        usage: {
                            input_tokens: number;
                            output_tokens: number;
                            cost_usd: number;
                            /** @description Turns committed (POST .../turns). */
                            turns: number;
                        };
                        /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                        first_user_message: string | null;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /**
                         * @description Letters, digits and . _ : - (not first), 1-128 characters.
                         * @example team-a:run-42
                         */
                        id: string;
                        parent_id: string | null;
                        /** @description Free-form JSON object. */
                        metadata: {
                            [key: string]: unknown;
                        };
                        /** @enum {string} */
                        encoding: "json" | "binary";
                        schema_version: number | null;
                        version: number;
                        last_seq: number;
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                        /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                        retention: {
                            /** @description Keep at most this many recent events. */
                            max_events?: number;
                            /** @description Trim events older than this. */
                            max_age_ms?: number;
                        } | null;
                        /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                        forked_from: {
                            session_id: string;
                            version: number;
                        } | {
                            session_id: string;
                            /** @description The history is the source's up to this seq. */
                            seq: number;
                            /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                            sub_offset: number;
                        } | null;
                        /** @description Delete the session once no write came for this long; null: never. */
                        ttl_ms: number | null;
                        /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                        expires_at: string | null;
                        /** Format: date-time */
                        created_at: string;
                        /** Format: date-time */
                        updated_at: string;
                        /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                        activity: {
                            status: string;
                            detail?: unknown;
                            /** @enum {boolean} */
                            expired?: true;
                            /** Format: date-time */
                            updated_at?: string;
                            /** Format: date-time */
                            expires_at?: string;
                        };
                        lease: {
                            owner: string;
                            fencing_token: number;
                            /** Format: date-time */
                            expires_at: string;
                        } | null;
                        /** @description Totals of the usage the turns reported. */
                        usage: {
                            input_tokens: number;
                            output_tokens: number;
                            cost_usd: number;
                            /** @description Turns committed (POST .../turns). */
                            turns: number;
                        };
                        /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                        first_user_message: string | null;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    deleteSession: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    updateSession: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Free-form JSON object. */
                    metadata?: {
                        [key: string]: unknown;
                    };
                    /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                    retention?: {
                        /** @description Keep at most this many recent events. */
                        max_events?: number;
                        /** @description Trim events older than this. */
                        max_age_ms?: number;
                    } | null;
                    /** @description Delete the session once no write came for this long; null: never. */
                    ttl_ms?: number | null;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /**
                         * @description Letters, digits and . _ : - (not first), 1-128 characters.
                         * @example team-a:run-42
                         */
                        id: string;
                        parent_id: string | null;
                        /** @description Free-form JSON object. */
                        metadata: {
                            [key: string]: unknown;
                        };
                        /** @enum {string} */
                        encoding: "json" | "binary";
                        schema_version: number | null;
                        version: number;
                        last_seq: number;
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                        /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                        retention: {
                            /** @description Keep at most this many recent events. */
                            max_events?: number;
                            /** @description Trim events older than this. */
                            max_age_ms?: number;
                        } | null;
                        /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                        forked_from: {
                            session_id: string;
                            version: number;
                        } | {
                            session_id: string;
                            /** @description The history is the source's up to this seq. */
                            seq: number;
                            /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                            sub_offset: number;
                        } | null;
                        /** @description Delete the session once no write came for this long; null: never. */
                        ttl_ms: number | null;
                        /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                        expires_at: string | null;
                        /** Format: date-time */
                        created_at: string;
                        /** Format: date-time */
                        updated_at: string;
                        /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                        activity: {
                            status: string;
                            detail?: unknown;
                            /** @enum {boolean} */
                            expired?: true;
                            /** Format: date-time */
                            updated_at?: string;
                            /** Format: date-time */
                            expires_at?: string;
                        };
                        lease: {
                            owner: string;
                            fencing_token: number;
                            /** Format: date-time */
                            expires_at: string;
                        } | null;
                        /** @description Totals of the usage the turns reported. */
                        usage: {
                            input_tokens: number;
                            output_tokens: number;
                            cost_usd: number;
                            /** @description Turns committed (POST .../turns). */
                            turns: number;
                        };
                        /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                        first_user_message: string | null;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    sync: {
        parameters: {
            query?: {
                have?: number;
                schema_version?: number;
                /** @description Time travel: the state as of this version, in `snapshot` mode (`have` is ignored); 410 `version_expired` once it is no longer kept. */
                at_version?: number;
            };
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Exactly one mode: new, resume, catch_up or snapshot. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @enum {string} */
                        mode: "new" | "resume" | "catch_up" | "snapshot";
                        version: number;
                        /** @description Seq of the state event that made `version` (0 for `new`): a reader of the history skips `state.*` events up to it. */
                        seq: number;
                        schema_version?: number | null;
                        snapshot_version?: number;
                        /** @description json encoding: the state document. */
                        snapshot?: unknown;
                        /** @description binary encoding: the snapshot bytes. */
                        snapshot_base64?: string;
                        deltas?: {
                            version: number;
                            patch?: ({
                                /** @enum {string} */
                                op: "add" | "remove" | "replace" | "move" | "copy" | "test";
                                /** @description JSON Pointer (RFC 6901). */
                                path: string;
                                from?: string;
                                value?: unknown;
                            } & {
                                [key: string]: unknown;
                            })[];
                            merge_patch?: unknown;
                            /**
                             * Format: byte
                             * @description Standard base64 (RFC 4648 section 4), padded.
                             */
                            delta_base64?: string;
                        }[];
                    };
                };
            };
            /** @description Default Response */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description History no longer kept (retention); the problem says where it starts (`history_start`). */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    putSnapshot: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    base_version: number;
                    schema_version: number;
                    /** @description json encoding: the whole state. */
                    snapshot?: unknown;
                    /**
                     * Format: byte
                     * @description Standard base64 (RFC 4648 section 4), padded.
                     */
                    snapshot_base64?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        version: number;
                        seq: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    pushDelta: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    base_version: number;
                    schema_version?: number;
                    /** @description RFC 6902 JSON Patch (json encoding). */
                    patch?: ({
                        /** @enum {string} */
                        op: "add" | "remove" | "replace" | "move" | "copy" | "test";
                        /** @description JSON Pointer (RFC 6901). */
                        path: string;
                        from?: string;
                        value?: unknown;
                    } & {
                        [key: string]: unknown;
                    })[];
                    /** @description RFC 7396 JSON Merge Patch (json encoding). */
                    merge_patch?: unknown;
                    /**
                     * Format: byte
                     * @description Standard base64 (RFC 4648 section 4), padded.
                     */
                    delta_base64?: string;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        version: number;
                        seq: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listEvents: {
        parameters: {
            query?: {
                after?: number;
                limit?: number;
                /** @description Lowercase dotted name, e.g. `tool.call`; at most 128 characters. */
                type?: string;
            };
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        events: {
                            seq: number;
                            type: string;
                            data: unknown;
                            version?: number;
                            /** Format: date-time */
                            created_at: string;
                        }[];
                        last_seq: number;
                        has_more: boolean;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description History no longer kept (retention); the problem says where it starts (`history_start`). */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    appendEvents: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    events: {
                        /** @description Lowercase dotted name, e.g. `tool.call`; at most 128 characters. */
                        type: string;
                        data: unknown;
                    }[];
                    expected_seq?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        first_seq: number;
                        last_seq: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    subscribe: {
        parameters: {
            query?: {
                after?: "now" | number;
                live?: boolean;
                /** @description The bearer token, for EventSource (which cannot send headers). */
                access_token?: string;
            };
            header?: {
                "last-event-id"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description An event stream (text/event-stream). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, malformed, badly signed or expired token (WWW-Authenticate: Bearer). */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token does not grant this. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description History no longer kept (retention); the problem says where it starts (`history_start`). */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Database unavailable; retry after the Retry-After delay. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    watchChanges: {
        parameters: {
            query?: {
                /** @description The bearer token, for EventSource (which cannot send headers). */
                access_token?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description An event stream (text/event-stream). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description Missing, malformed, badly signed or expired token (WWW-Authenticate: Bearer). */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token does not grant this. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    publishLive: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Lowercase dotted name, e.g. `tool.call`; at most 128 characters. */
                    type: string;
                    data: unknown;
                } | {
                    events: {
                        /** @description Lowercase dotted name, e.g. `tool.call`; at most 128 characters. */
                        type: string;
                        data: unknown;
                    }[];
                };
                "application/x-ndjson": unknown;
            };
        };
        responses: {
            /** @description Accepted: `accepted` events, the last of them delivered after durable event `after_seq`. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        accepted: number;
                        after_seq: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    setActivity: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @example thinking */
                    status: string;
                    detail?: unknown;
                    /** @description Reads as idle (expired) after this. */
                    ttl_ms?: number;
                };
            };
        };
        responses: {
            /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        status: string;
                        detail?: unknown;
                        /** @enum {boolean} */
                        expired?: true;
                        /** Format: date-time */
                        updated_at?: string;
                        /** Format: date-time */
                        expires_at?: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    renewLease: {
        parameters: {
            query?: never;
            header: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token": string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        /** @description Optional; ttl_ms defaults to that of the claim. */
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Milliseconds until the lease expires unless renewed. */
                    ttl_ms?: number;
                };
            };
        };
        responses: {
            /** @description The unexpired execution lease (never its token). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        owner: string;
                        fencing_token: number;
                        /** Format: date-time */
                        expires_at: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    claimLease: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Who holds it, e.g. a worker id. */
                    owner: string;
                    /** @description Milliseconds until the lease expires unless renewed. */
                    ttl_ms: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        owner: string;
                        token: string;
                        fencing_token: number;
                        /** Format: date-time */
                        expires_at: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    releaseLease: {
        parameters: {
            query?: never;
            header: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token": string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listQueue: {
        parameters: {
            query?: {
                status?: "pending" | "claimed" | "completed" | "cancelled";
                limit?: number;
                cursor?: string;
            };
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        batches: {
                            batch_id: string;
                            /** @enum {string} */
                            status: "pending" | "claimed" | "completed" | "cancelled";
                            items: unknown[];
                            /** Format: date-time */
                            created_at: string;
                        }[];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    enqueue: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    items: unknown[];
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        batch_id: string;
                        /** @enum {string} */
                        status: "pending" | "claimed" | "completed" | "cancelled";
                        items: unknown[];
                        /** Format: date-time */
                        created_at: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    claimQueue: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    max_batches: number;
                    /** @description Milliseconds until the claim expires unless renewed. */
                    ttl_ms: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        claim_id: string;
                        batches: {
                            batch_id: string;
                            /** @enum {string} */
                            status: "pending" | "claimed" | "completed" | "cancelled";
                            items: unknown[];
                            /** Format: date-time */
                            created_at: string;
                        }[];
                        /** Format: date-time */
                        expires_at: string;
                    };
                };
            };
            /** @description Nothing is pending. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    completeClaim: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                claim_id: string;
            };
            cookie?: never;
        };
        /** @description Optional; renew takes ttl_ms. */
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Milliseconds until the claim expires unless renewed. */
                    ttl_ms?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        claim_id: string;
                        /** @enum {string} */
                        status: "active" | "completed" | "abandoned";
                        batch_ids?: string[];
                        /** Format: date-time */
                        expires_at?: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    renewClaim: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                claim_id: string;
            };
            cookie?: never;
        };
        /** @description Optional; renew takes ttl_ms. */
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Milliseconds until the claim expires unless renewed. */
                    ttl_ms?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        claim_id: string;
                        /** @enum {string} */
                        status: "active" | "completed" | "abandoned";
                        batch_ids?: string[];
                        /** Format: date-time */
                        expires_at?: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    abandonClaim: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                claim_id: string;
            };
            cookie?: never;
        };
        /** @description Optional; renew takes ttl_ms. */
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Milliseconds until the claim expires unless renewed. */
                    ttl_ms?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        claim_id: string;
                        /** @enum {string} */
                        status: "active" | "completed" | "abandoned";
                        batch_ids?: string[];
                        /** Format: date-time */
                        expires_at?: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancelBatch: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                batch_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listMessages: {
        parameters: {
            query?: {
                role?: "system" | "user" | "assistant" | "tool";
                /** @description A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`. */
                kind?: string;
                after_seq?: number;
                before_seq?: number;
                limit?: number;
                order?: "asc" | "desc";
                include_archived?: boolean;
                /** @description next_cursor of the previous page (same filters and order). */
                cursor?: string;
            };
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        messages: {
                            id: string;
                            seq: number;
                            /** @enum {string} */
                            role: "system" | "user" | "assistant" | "tool";
                            kind: string;
                            content: unknown;
                            /** Format: date-time */
                            created_at: string;
                            /** Format: date-time */
                            archived_at?: string;
                        }[];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    appendMessages: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    messages: {
                        /** @enum {string} */
                        role: "system" | "user" | "assistant" | "tool";
                        /** @description A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`. */
                        kind?: string;
                        content: unknown;
                    }[];
                    expected_version?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        messages: {
                            id: string;
                            seq: number;
                            /** @enum {string} */
                            role: "system" | "user" | "assistant" | "tool";
                            kind: string;
                            content: unknown;
                            /** Format: date-time */
                            created_at: string;
                            /** Format: date-time */
                            archived_at?: string;
                        }[];
                        version: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replaceMessageKind: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                /** @description A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`. */
                kind: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @enum {string} */
                    role: "system" | "user" | "assistant" | "tool";
                    content: unknown;
                    expected_version?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        message: {
                            id: string;
                            seq: number;
                            /** @enum {string} */
                            role: "system" | "user" | "assistant" | "tool";
                            kind: string;
                            content: unknown;
                            /** Format: date-time */
                            created_at: string;
                            /** Format: date-time */
                            archived_at?: string;
                        };
                        archived_seqs: number[];
                        version: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    trimMessages: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    before_seq: number;
                    protected_kinds?: string[];
                    expected_version?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        trimmed: number;
                        version: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    getMessagesMeta: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        version: number;
                        last_seq: number;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                        archived_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    compactSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    before_seq?: number;
                };
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    forkSession: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /**
                     * @description Letters, digits and . _ : - (not first), 1-128 characters.
                     * @example team-a:run-42
                     */
                    id?: string;
                    at_version?: number;
                    /** @description Free-form JSON object. */
                    metadata?: {
                        [key: string]: unknown;
                    };
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /**
                         * @description Letters, digits and . _ : - (not first), 1-128 characters.
                         * @example team-a:run-42
                         */
                        id: string;
                        parent_id: string | null;
                        /** @description Free-form JSON object. */
                        metadata: {
                            [key: string]: unknown;
                        };
                        /** @enum {string} */
                        encoding: "json" | "binary";
                        schema_version: number | null;
                        version: number;
                        last_seq: number;
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                        /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                        retention: {
                            /** @description Keep at most this many recent events. */
                            max_events?: number;
                            /** @description Trim events older than this. */
                            max_age_ms?: number;
                        } | null;
                        /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                        forked_from: {
                            session_id: string;
                            version: number;
                        } | {
                            session_id: string;
                            /** @description The history is the source's up to this seq. */
                            seq: number;
                            /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                            sub_offset: number;
                        } | null;
                        /** @description Delete the session once no write came for this long; null: never. */
                        ttl_ms: number | null;
                        /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                        expires_at: string | null;
                        /** Format: date-time */
                        created_at: string;
                        /** Format: date-time */
                        updated_at: string;
                        /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                        activity: {
                            status: string;
                            detail?: unknown;
                            /** @enum {boolean} */
                            expired?: true;
                            /** Format: date-time */
                            updated_at?: string;
                            /** Format: date-time */
                            expires_at?: string;
                        };
                        lease: {
                            owner: string;
                            fencing_token: number;
                            /** Format: date-time */
                            expires_at: string;
                        } | null;
                        /** @description Totals of the usage the turns reported. */
                        usage: {
                            input_tokens: number;
                            output_tokens: number;
                            cost_usd: number;
                            /** @description Turns committed (POST .../turns). */
                            turns: number;
                        };
                        /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                        first_user_message: string | null;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token does not grant this. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description History no longer kept (retention); the problem says where it starts (`history_start`). */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    exportSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The export, one record a line. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/x-ndjson": string;
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Database unavailable; retry after the Retry-After delay. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    importSession: {
        parameters: {
            query?: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/x-ndjson": string;
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /**
                         * @description Letters, digits and . _ : - (not first), 1-128 characters.
                         * @example team-a:run-42
                         */
                        id: string;
                        parent_id: string | null;
                        /** @description Free-form JSON object. */
                        metadata: {
                            [key: string]: unknown;
                        };
                        /** @enum {string} */
                        encoding: "json" | "binary";
                        schema_version: number | null;
                        version: number;
                        last_seq: number;
                        /** @description History is complete after this seq (0 until something is trimmed). */
                        history_start: number;
                        /** @description The session's retention policy; null: the server default (HISTORY_MAX_EVENTS, HISTORY_MAX_AGE_MS). */
                        retention: {
                            /** @description Keep at most this many recent events. */
                            max_events?: number;
                            /** @description Trim events older than this. */
                            max_age_ms?: number;
                        } | null;
                        /** @description Set on a fork: the source session and the version it was forked at (`POST /v1/sessions/{id}/fork`), or, for a Durable Streams fork (`Stream-Forked-From`), the seq and sub-offset it was forked at. */
                        forked_from: {
                            session_id: string;
                            version: number;
                        } | {
                            session_id: string;
                            /** @description The history is the source's up to this seq. */
                            seq: number;
                            /** @description Then this many more messages (JSON) or bytes (any other type), as one event when it cuts one. */
                            sub_offset: number;
                        } | null;
                        /** @description Delete the session once no write came for this long; null: never. */
                        ttl_ms: number | null;
                        /** @description When the session expires unless written to (last write + ttl_ms; a Durable Streams read counts as a write here); for a stream with Stream-Expires-At, no later than that. */
                        expires_at: string | null;
                        /** Format: date-time */
                        created_at: string;
                        /** Format: date-time */
                        updated_at: string;
                        /** @description What the agent is doing now; `{status: "idle"}` if never set, `expired: true` once its TTL passed. */
                        activity: {
                            status: string;
                            detail?: unknown;
                            /** @enum {boolean} */
                            expired?: true;
                            /** Format: date-time */
                            updated_at?: string;
                            /** Format: date-time */
                            expires_at?: string;
                        };
                        lease: {
                            owner: string;
                            fencing_token: number;
                            /** Format: date-time */
                            expires_at: string;
                        } | null;
                        /** @description Totals of the usage the turns reported. */
                        usage: {
                            input_tokens: number;
                            output_tokens: number;
                            cost_usd: number;
                            /** @description Turns committed (POST .../turns). */
                            turns: number;
                        };
                        /** @description The first user message, for a session picker: its text (or JSON text when not a string), at most 200 characters. */
                        first_user_message: string | null;
                        /** @description Active (not archived) messages. */
                        message_count: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token does not grant this. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Database unavailable; retry after the Retry-After delay. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    commitTurn: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description The worker's own id for this turn (e.g. derived from the claimed input): a retry sends the same id and body. */
                    turn_id: string;
                    base_version?: number;
                    /** @description One state change against base_version: a delta or a snapshot, as the state routes take them. */
                    state?: {
                        schema_version?: number;
                        /** @description RFC 6902 JSON Patch (json encoding). */
                        patch?: ({
                            /** @enum {string} */
                            op: "add" | "remove" | "replace" | "move" | "copy" | "test";
                            /** @description JSON Pointer (RFC 6901). */
                            path: string;
                            from?: string;
                            value?: unknown;
                        } & {
                            [key: string]: unknown;
                        })[];
                        /** @description RFC 7396 JSON Merge Patch (json encoding). */
                        merge_patch?: unknown;
                        /**
                         * Format: byte
                         * @description Standard base64 (RFC 4648 section 4), padded.
                         */
                        delta_base64?: string;
                        /** @description json encoding: the whole state (needs schema_version). */
                        snapshot?: unknown;
                        /**
                         * Format: byte
                         * @description Standard base64 (RFC 4648 section 4), padded.
                         */
                        snapshot_base64?: string;
                    };
                    events?: {
                        /** @description Lowercase dotted name, e.g. `tool.call`; at most 128 characters. */
                        type: string;
                        data: unknown;
                    }[];
                    messages?: {
                        /** @enum {string} */
                        role: "system" | "user" | "assistant" | "tool";
                        /** @description A free tag (e.g. `message`, `summary`, `system_prompt`); default `message`. */
                        kind?: string;
                        content: unknown;
                    }[];
                    complete_claims?: string[];
                    attachments?: string[];
                    usage?: {
                        model: string;
                        input_tokens: number;
                        output_tokens: number;
                        cost_usd?: number;
                    }[];
                    release_lease?: boolean;
                };
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        turn_id: string;
                        version: number;
                        first_seq: number;
                        last_seq: number;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Well-formed but cannot be applied (see `code`). */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    listAttachments: {
        parameters: {
            query?: {
                limit?: number;
                /** @description next_cursor from the previous page. */
                cursor?: string;
            };
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        attachments: {
                            /** @description The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment. */
                            attachment_id: string;
                            size: number;
                            content_type: string;
                            sha256: string;
                            committed: boolean;
                            /** Format: date-time */
                            created_at: string;
                        }[];
                        next_cursor: string | null;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    uploadAttachment: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "*/*": string;
            };
        };
        responses: {
            /** @description Default Response */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment. */
                        attachment_id: string;
                        size: number;
                        content_type: string;
                        sha256: string;
                        committed: boolean;
                        /** Format: date-time */
                        created_at: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Over a configured size limit; nothing was stored. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body is not application/json. */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Database unavailable; retry after the Retry-After delay. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    downloadAttachment: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                /** @description The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment. */
                attachment_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The bytes. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "*/*": string;
                };
            };
            /** @description The requested range. */
            206: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "*/*": string;
                };
            };
            /** @description Default Response */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Problem details. */
            416: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    commitAttachment: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes a retry safe: a repeat with the same key and request replays the first response. */
                "idempotency-key"?: string;
                /** @description The token from POST .../lease; required while an unexpired lease exists. */
                "lease-token"?: string;
            };
            path: {
                /**
                 * @description Letters, digits and . _ : - (not first), 1-128 characters.
                 * @example team-a:run-42
                 */
                id: string;
                /** @description The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment. */
                attachment_id: string;
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": Record<string, never>;
            };
        };
        responses: {
            /** @description Default Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description The SHA-256 of the bytes, in hex: the same bytes on one session are one attachment. */
                        attachment_id: string;
                        size: number;
                        content_type: string;
                        sha256: string;
                        committed: boolean;
                        /** Format: date-time */
                        created_at: string;
                    };
                };
            };
            /** @description Invalid request: the problem names the offending field. */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not found. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Conflict with the current state (see `code`). */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
}
