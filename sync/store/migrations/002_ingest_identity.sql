-- Which incarnation of the ingest topic the stored offsets belong to
-- (sync/ingest/ingest_topic.c checks it before the workers and sources start).
-- The Kafka cluster id the offsets were last verified against.
CREATE TABLE cpsync.ingest_topics (
	topic text PRIMARY KEY,
	cluster_id text,
	verified_at timestamptz NOT NULL DEFAULT now()
);

-- A 64-bit FNV-1a of the key and value of the last message applied in the
-- partition (the one at next_offset - 1): if that offset holds another
-- message now, the topic was re-created. NULL for rows older than this.
ALTER TABLE cpsync.ingest_offsets ADD COLUMN last_fingerprint bigint;
