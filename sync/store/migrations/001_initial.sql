-- cpsync store, migration 001: the schema `cpsync` and every table the engine
-- writes in one reconcile transaction (records, history, outbox, conflicts,
-- audit, ingest offsets) plus dead letters. Applied by cps_store_migrate inside
-- its own transaction under an advisory lock; no BEGIN/COMMIT here.

CREATE SCHEMA IF NOT EXISTS cpsync;

CREATE TABLE cpsync.schema_migrations (
	version int PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (entity, key): the key state of reconcile.h.
CREATE TABLE cpsync.records (
	entity text NOT NULL,
	key text NOT NULL,
	version bigint NOT NULL CHECK (version >= 0),
	deleted boolean NOT NULL DEFAULT false,
	record jsonb,
	provenance jsonb NOT NULL DEFAULT '{}',
	platforms jsonb NOT NULL DEFAULT '{}',  -- each platform's last-seen values
	conflicts jsonb NOT NULL DEFAULT '{}',  -- open conflicts by field
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (entity, key)
);

-- Guard of the records upsert: a key state older than the stored row comes
-- from a worker that lost its partition; its whole batch must fail.
CREATE FUNCTION cpsync.not_stale(stored bigint, incoming bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF incoming < stored THEN
		RAISE EXCEPTION 'stale key state: stored version is newer'
			USING ERRCODE = 'serialization_failure';
	END IF;
	RETURN true;
END
$$;

-- Every emitted version: the primary key proves versions are never repeated.
CREATE TABLE cpsync.record_history (
	entity text NOT NULL,
	key text NOT NULL,
	version bigint NOT NULL CHECK (version > 0),
	op text NOT NULL CHECK (op IN ('upsert', 'delete')),
	record jsonb,
	provenance jsonb,
	changed_fields text[] NOT NULL DEFAULT '{}',
	committed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (entity, key, version)
);
CREATE INDEX record_history_committed_at ON cpsync.record_history (committed_at);

CREATE TABLE cpsync.conflicts (
	id bigserial PRIMARY KEY,
	entity text NOT NULL,
	key text NOT NULL,
	field text NOT NULL,
	status text NOT NULL DEFAULT 'open'
		CHECK (status IN ('open', 'claimed', 'resolved', 'dismissed', 'auto_closed')),
	candidates jsonb NOT NULL DEFAULT '[]',
	rule text,
	opened_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	closed_at timestamptz,
	claimed_by text,
	claimed_at timestamptz,
	resolution jsonb
);
-- At most one live conflict per field of a record.
CREATE UNIQUE INDEX conflicts_live ON cpsync.conflicts (entity, key, field)
	WHERE status IN ('open', 'claimed');
CREATE INDEX conflicts_status_opened ON cpsync.conflicts (status, opened_at);

-- Append-only trail of what cpsync and stewards did.
CREATE TABLE cpsync.audit (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL,
	entity text,
	key text,
	field text,
	before jsonb,
	after jsonb,
	reason text
);
CREATE INDEX audit_entity_key ON cpsync.audit (entity, key);

CREATE FUNCTION cpsync.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'cpsync.audit is append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON cpsync.audit
	FOR EACH ROW EXECUTE FUNCTION cpsync.audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON cpsync.audit
	FOR EACH STATEMENT EXECUTE FUNCTION cpsync.audit_append_only();

CREATE TABLE cpsync.dead_letters (
	id bigserial PRIMARY KEY,
	received_at timestamptz NOT NULL DEFAULT now(),
	platform text NOT NULL,
	origin text NOT NULL UNIQUE,
	entity text,
	reason text NOT NULL,
	raw bytea,
	raw_key bytea,
	status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'replayed', 'discarded')),
	note text,
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_status ON cpsync.dead_letters (status, received_at);
CREATE INDEX dead_letters_platform ON cpsync.dead_letters (platform, received_at);

-- The next offset to consume per ingest partition: the source of truth,
-- written in the same transaction as the states the events produced.
CREATE TABLE cpsync.ingest_offsets (
	topic text NOT NULL,
	partition int NOT NULL,
	next_offset bigint NOT NULL CHECK (next_offset >= 0),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (topic, partition)
);

-- Unified events waiting for the publisher, in id order.
CREATE TABLE cpsync.outbox (
	id bigserial PRIMARY KEY,
	entity text NOT NULL,
	key text NOT NULL,
	version bigint NOT NULL,
	topic text NOT NULL,
	payload bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
