-- Sinks that never block and never go backwards (issue 11).
-- A dead letter is a source's (a message cpsync could not accept) or a
-- sink's (a unified event a platform refused or that could not be made into
-- its record): `kind` says which, `link` names the sink's link
-- ("city-sink"), `version` the unified version; raw_key holds the unified
-- key and raw the unified event's bytes, so a replay re-delivers it.
ALTER TABLE cpsync.dead_letters
	ADD COLUMN kind text NOT NULL DEFAULT 'source' CHECK (kind IN ('source', 'sink')),
	ADD COLUMN link text,
	ADD COLUMN version bigint;

-- The newest version each Kafka or files sink wrote per key: its version
-- guard across restarts (the postgres sink keeps its own in the target's
-- version column). Read once per poll for the batch's keys, written once per
-- flush; a version only ever grows.
CREATE TABLE cpsync.sink_versions (
	link text NOT NULL,
	entity text NOT NULL,
	key text NOT NULL,
	version bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (link, entity, key)
);
