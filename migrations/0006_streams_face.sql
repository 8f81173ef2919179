CREATE TABLE "stream_producers" (
	"session_sid" bigint NOT NULL,
	"producer_id" text NOT NULL,
	"epoch" bigint NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "stream_producers_session_sid_producer_id_pk" PRIMARY KEY("session_sid","producer_id")
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "stream_content_type" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "closed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "stream_seq" text;--> statement-breakpoint
ALTER TABLE "stream_producers" ADD CONSTRAINT "stream_producers_session_sid_sessions_sid_fk" FOREIGN KEY ("session_sid") REFERENCES "public"."sessions"("sid") ON DELETE cascade ON UPDATE no action;