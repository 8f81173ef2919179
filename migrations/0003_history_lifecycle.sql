ALTER TABLE "sessions" ADD COLUMN "state_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "history_start" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "retention" jsonb;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "ttl_ms" bigint;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "forked_from" jsonb;--> statement-breakpoint
CREATE INDEX "sessions_ttl_idx" ON "sessions" USING btree ("updated_at") WHERE "sessions"."ttl_ms" is not null;--> statement-breakpoint
CREATE INDEX "sessions_retention_idx" ON "sessions" USING btree ("sid") WHERE "sessions"."retention" is not null;--> statement-breakpoint
-- Sessions written before this column: the state event that made the head.
UPDATE "sessions" s SET "state_seq" = coalesce((SELECT max(e."seq") FROM "events" e WHERE e."session_sid" = s."sid" AND e."version" = s."version"), 0) WHERE s."version" > 0;
