CREATE TABLE "attachment_chunks" (
	"blob_id" bigint NOT NULL,
	"n" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "attachment_chunks_blob_id_n_pk" PRIMARY KEY("blob_id","n")
);
--> statement-breakpoint
CREATE TABLE "attachments" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "attachments_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"session_sid" bigint NOT NULL,
	"attachment_id" text NOT NULL,
	"size" bigint NOT NULL,
	"content_type" text NOT NULL,
	"chunk_bytes" integer NOT NULL,
	"committed" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "turns" (
	"session_sid" bigint NOT NULL,
	"turn_id" text NOT NULL,
	"request_hash" text NOT NULL,
	"response" json NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "turns_session_sid_turn_id_pk" PRIMARY KEY("session_sid","turn_id")
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "first_user_message" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "usage_input_tokens" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "usage_output_tokens" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "usage_cost_usd" double precision DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "usage_turns" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "attachment_chunks" ADD CONSTRAINT "attachment_chunks_blob_id_attachments_id_fk" FOREIGN KEY ("blob_id") REFERENCES "public"."attachments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "attachments" ADD CONSTRAINT "attachments_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action DEFERRABLE INITIALLY DEFERRED;--> statement-breakpoint
ALTER TABLE "turns" ADD CONSTRAINT "turns_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "attachments_session_idx" ON "attachments" USING btree ("session_sid","attachment_id");--> statement-breakpoint
CREATE INDEX "attachments_intent_idx" ON "attachments" USING btree ("created_at") WHERE not "attachments"."committed";--> statement-breakpoint
ALTER TABLE "attachment_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;