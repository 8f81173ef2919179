DROP INDEX "sessions_ttl_idx";--> statement-breakpoint
DROP INDEX "sessions_retention_idx";--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "expiry_check_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "trim_due_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "sessions_expiry_check_idx" ON "sessions" USING btree ("expiry_check_at") WHERE "sessions"."expiry_check_at" is not null;--> statement-breakpoint
CREATE INDEX "sessions_trim_due_idx" ON "sessions" USING btree ("trim_due_at") WHERE "sessions"."trim_due_at" is not null;--> statement-breakpoint
-- Sessions from before these columns: each is looked at once by each sweep, which then schedules it.
UPDATE "sessions" SET "trim_due_at" = now(), "expiry_check_at" = CASE WHEN "ttl_ms" IS NOT NULL THEN now() END;
