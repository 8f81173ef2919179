DROP INDEX "attachments_intent_idx";--> statement-breakpoint
ALTER TABLE "attachments" ADD COLUMN "intent_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
-- Intents from before this column started when created_at says (a repeated upload used to move it).
UPDATE "attachments" SET "intent_at" = "created_at" WHERE NOT "committed";--> statement-breakpoint
CREATE INDEX "attachments_intent_idx" ON "attachments" USING btree ("intent_at") WHERE not "attachments"."committed";