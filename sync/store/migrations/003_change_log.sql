-- cpsync store, migration 003: one append-only change log instead of
-- record_history plus outbox (sync/ENGINE.md, "The change log").
--
-- Every emitted version of a unified record is one row of cpsync.changes,
-- written in the same transaction as the key state. The publisher follows the
-- log with a cursor (cpsync.publish_cursor) and never deletes; history is the
-- same log, pruned by retention (store.history_retention).
--
-- Order: rows are read by (xid, seq), and only rows whose transaction id lies
-- below the xmin of the reader's snapshot, i.e. whose transaction has ended.
-- A transaction that started writing later cannot get a smaller xid, so that
-- prefix never grows in the middle: a cursor over it skips nothing, even
-- though seq values commit out of order across concurrent workers. (This is
-- PgQ's batching idea.) One key's versions are written by transactions that
-- each read the previous version's commit, so their xids grow with the
-- version.

CREATE TABLE cpsync.changes (
	seq bigserial PRIMARY KEY,
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	entity text NOT NULL,
	key text NOT NULL,
	version bigint NOT NULL CHECK (version > 0),
	op text NOT NULL CHECK (op IN ('upsert', 'delete')),
	record jsonb,
	provenance jsonb,
	changed_fields text[] NOT NULL DEFAULT '{}',
	topic text,     -- where the publisher sends it
	payload bytea,  -- the framed unified event; NULL for versions older than this log
	committed_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (entity, key, version)
);
CREATE INDEX changes_xid_seq ON cpsync.changes (xid, seq);
CREATE INDEX changes_committed_at ON cpsync.changes (committed_at);

-- How far the publisher got: the (xid, seq) of the last change Kafka
-- acknowledged, in log order. One row per log reader.
CREATE TABLE cpsync.publish_cursor (
	name text PRIMARY KEY,
	xid xid8 NOT NULL,
	seq bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- The old tables' rows, in order: first what was published already (history
-- without an outbox row), then the outbox in its id order. The cursor stands
-- after the published part.
INSERT INTO cpsync.changes (entity, key, version, op, record, provenance, changed_fields,
                            committed_at)
SELECT h.entity, h.key, h.version, h.op, h.record, h.provenance, h.changed_fields,
       h.committed_at
FROM cpsync.record_history h
WHERE NOT EXISTS (SELECT 1 FROM cpsync.outbox o
                  WHERE o.entity = h.entity AND o.key = h.key AND o.version = h.version)
ORDER BY h.committed_at, h.entity, h.key, h.version;

INSERT INTO cpsync.publish_cursor (name, xid, seq)
SELECT 'unified', pg_current_xact_id(), COALESCE(max(seq), 0) FROM cpsync.changes;

INSERT INTO cpsync.changes (entity, key, version, op, record, provenance, changed_fields,
                            topic, payload, committed_at)
SELECT o.entity, o.key, o.version, COALESCE(h.op, 'upsert'), h.record, h.provenance,
       COALESCE(h.changed_fields, '{}'), o.topic, o.payload, o.created_at
FROM cpsync.outbox o
LEFT JOIN cpsync.record_history h
       ON h.entity = o.entity AND h.key = o.key AND h.version = o.version
ORDER BY o.id;

DROP TABLE cpsync.outbox;
DROP TABLE cpsync.record_history;

-- The names operators and their scripts know, as views of the log.
CREATE VIEW cpsync.record_history AS
SELECT entity, key, version, op, record, provenance, changed_fields, committed_at
FROM cpsync.changes;

-- (The cursor is read by scalar subqueries: as a join, the row comparison
-- is no index condition and every read would scan the whole log.)
CREATE VIEW cpsync.outbox AS
SELECT c.seq AS id, c.entity, c.key, c.version, c.topic, c.payload, c.committed_at AS created_at
FROM cpsync.changes c
WHERE (c.xid, c.seq) > ((SELECT xid FROM cpsync.publish_cursor WHERE name = 'unified'),
                        (SELECT seq FROM cpsync.publish_cursor WHERE name = 'unified'))
  AND c.payload IS NOT NULL;
