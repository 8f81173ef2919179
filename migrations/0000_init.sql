CREATE TABLE "events" (
	"session_sid" bigint NOT NULL,
	"seq" bigint NOT NULL,
	"type" text NOT NULL,
	"data" json NOT NULL,
	"version" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_session_sid_seq_pk" PRIMARY KEY("session_sid","seq")
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"scope" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status_code" integer NOT NULL,
	"response" json,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_scope_key_pk" PRIMARY KEY("scope","key")
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"session_sid" bigint NOT NULL,
	"seq" bigint NOT NULL,
	"id" text NOT NULL,
	"role" text NOT NULL,
	"kind" text DEFAULT 'message' NOT NULL,
	"content" json NOT NULL,
	"archived_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "messages_session_sid_seq_pk" PRIMARY KEY("session_sid","seq"),
	CONSTRAINT "messages_id_unique" UNIQUE("id"),
	CONSTRAINT "messages_role_check" CHECK ("messages"."role" in ('system', 'user', 'assistant', 'tool'))
);
--> statement-breakpoint
CREATE TABLE "queue_batches" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "queue_batches_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"batch_id" text NOT NULL,
	"session_sid" bigint NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"items" json NOT NULL,
	"claim_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "queue_batches_batch_id_unique" UNIQUE("batch_id"),
	CONSTRAINT "queue_batches_status_check" CHECK ("queue_batches"."status" in ('pending', 'claimed', 'completed', 'cancelled'))
);
--> statement-breakpoint
CREATE TABLE "queue_claims" (
	"claim_id" text PRIMARY KEY NOT NULL,
	"session_sid" bigint NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"fencing_token" bigint,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "queue_claims_status_check" CHECK ("queue_claims"."status" in ('active', 'completed', 'abandoned', 'expired'))
);
--> statement-breakpoint
CREATE TABLE "session_activity" (
	"session_sid" bigint PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"detail" json,
	"expires_at" timestamp with time zone,
	"expired_sent" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"sid" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "sessions_sid_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text NOT NULL,
	"parent_id" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"encoding" text DEFAULT 'json' NOT NULL,
	"schema_version" integer,
	"version" bigint DEFAULT 0 NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"base_version" bigint DEFAULT 0 NOT NULL,
	"snapshot_version" bigint DEFAULT 0 NOT NULL,
	"chain_deltas" integer DEFAULT 0 NOT NULL,
	"chain_bytes" bigint DEFAULT 0 NOT NULL,
	"lease_owner" text,
	"lease_token_hash" text,
	"lease_fencing_token" bigint DEFAULT 0 NOT NULL,
	"lease_expires_at" timestamp with time zone,
	"lease_ttl_ms" integer,
	"lease_expiry_announced" boolean DEFAULT true NOT NULL,
	"message_seq" bigint DEFAULT 0 NOT NULL,
	"message_version" bigint DEFAULT 0 NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"archived_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sessions_id_unique" UNIQUE("id"),
	CONSTRAINT "sessions_encoding_check" CHECK ("sessions"."encoding" in ('json', 'binary'))
);
--> statement-breakpoint
CREATE TABLE "state_snapshots" (
	"session_sid" bigint NOT NULL,
	"version" bigint NOT NULL,
	"schema_version" integer NOT NULL,
	"origin" text NOT NULL,
	"body" json,
	"body_bytes" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "state_snapshots_session_sid_version_pk" PRIMARY KEY("session_sid","version")
);
--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queue_batches" ADD CONSTRAINT "queue_batches_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queue_claims" ADD CONSTRAINT "queue_claims_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "session_activity" ADD CONSTRAINT "session_activity_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_parent_id_sessions_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."sessions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "state_snapshots" ADD CONSTRAINT "state_snapshots_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "events_state_version_idx" ON "events" USING btree ("session_sid","version") WHERE "events"."version" is not null;--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_kind_idx" ON "messages" USING btree ("session_sid","kind","seq");--> statement-breakpoint
CREATE INDEX "messages_role_idx" ON "messages" USING btree ("session_sid","role","seq");--> statement-breakpoint
CREATE INDEX "queue_batches_session_idx" ON "queue_batches" USING btree ("session_sid","status","id");--> statement-breakpoint
CREATE INDEX "queue_claims_active_idx" ON "queue_claims" USING btree ("expires_at") WHERE "queue_claims"."status" = 'active';--> statement-breakpoint
CREATE INDEX "session_activity_expiry_idx" ON "session_activity" USING btree ("expires_at") WHERE not "session_activity"."expired_sent";--> statement-breakpoint
CREATE INDEX "sessions_parent_idx" ON "sessions" USING btree ("parent_id","sid");--> statement-breakpoint
CREATE INDEX "sessions_lease_expiry_idx" ON "sessions" USING btree ("lease_expires_at") WHERE not "sessions"."lease_expiry_announced";