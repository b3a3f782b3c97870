-- The floor of the store's writes: what PostgreSQL alone spends, with no
-- cpsync running, on the two rows every reconciled event writes: its key's
-- cpsync.records row (the upsert with the version guard and the fence
-- trigger) and its cpsync.changes row. The statement is cpsync's merge
-- (store/store.c, ST_RECORDS_MERGE) as a static statement of a PL/pgSQL
-- loop, so its plan is cached as a prepared statement's is. It runs in
-- batches of :batch keys on copies (same columns, indexes, compression and
-- trigger) of :sample keys of the run's own store, each key taking its next
-- version. Nothing of cpsync's schema is changed.
--   psql -v sample=20000 -v batch=70 -f store_floor.sql
-- prints: NOTICE:  store floor: KEYS keys in MICROSECONDS us
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_floor CASCADE;
CREATE SCHEMA bench_floor;
CREATE TABLE bench_floor.records (LIKE cpsync.records INCLUDING ALL);
CREATE TRIGGER records_fence BEFORE UPDATE ON bench_floor.records
	FOR EACH ROW EXECUTE FUNCTION cpsync.records_fence();
CREATE SEQUENCE bench_floor.changes_seq;
CREATE TABLE bench_floor.changes (LIKE cpsync.changes INCLUDING ALL);
ALTER TABLE bench_floor.changes ALTER COLUMN seq SET DEFAULT nextval('bench_floor.changes_seq');
INSERT INTO bench_floor.records
SELECT * FROM cpsync.records WHERE NOT deleted ORDER BY md5(key) LIMIT :sample;

-- each batch's arrays, built before the timing starts
CREATE TABLE bench_floor.batches AS
SELECT n / :batch AS batch, array_agg(entity) AS e, array_agg(key) AS k,
       array_agg(version + 1) AS v, array_agg(deleted) AS d, array_agg(record) AS rec,
       array_agg(prov) AS p, array_agg(facts) AS f, array_agg(conflicts) AS c,
       array_agg('upsert'::text) AS op, array_agg('["name"]'::jsonb) AS ch,
       array_agg('cpsync.unified.' || entity) AS t, array_agg(payload) AS pl
FROM (SELECT row_number() OVER (ORDER BY md5(r.key)) - 1 AS n, r.*,
             (SELECT c.payload FROM cpsync.changes c
              WHERE c.entity = r.entity AND c.key = r.key AND c.payload IS NOT NULL
              ORDER BY c.version DESC LIMIT 1) AS payload
      FROM bench_floor.records r) s
GROUP BY 1;
ANALYZE bench_floor.records;
CHECKPOINT;
SET client_min_messages = notice;
SET cpsync.load_fence = '';

DO $$
DECLARE
	a record;
	n bigint := 0;
	t0 timestamptz := clock_timestamp();
BEGIN
	FOR a IN SELECT * FROM bench_floor.batches ORDER BY batch LOOP
		WITH i AS (SELECT * FROM unnest(a.e, a.k, a.v, a.d, a.rec, a.p, a.f, a.c, a.op, a.ch,
		                                a.t, a.pl)
		           AS i(entity, key, version, deleted, record, prov, facts, conflicts, op,
		                changed, topic, payload)),
		s AS (INSERT INTO bench_floor.records AS r (entity, key, version, deleted, record,
		                                             provenance, prov, platforms, conflicts,
		                                             updated_at, facts)
		      SELECT entity, key, version, deleted, record, '{}', prov, '{}', conflicts, now(),
		             facts FROM i
		      ON CONFLICT (entity, key) DO UPDATE SET version = EXCLUDED.version,
		         deleted = EXCLUDED.deleted, record = EXCLUDED.record, provenance = '{}',
		         prov = EXCLUDED.prov, platforms = '{}', facts = EXCLUDED.facts,
		         conflicts = EXCLUDED.conflicts, updated_at = now()
		      WHERE cpsync.not_stale(r.version, EXCLUDED.version)
		      RETURNING r.entity, r.key, r.version, r.record, r.prov)
		INSERT INTO bench_floor.changes (entity, key, version, op, record, prov, changed_fields,
		                                 topic, payload)
		SELECT s.entity, s.key, s.version, i.op, s.record, s.prov,
		       ARRAY(SELECT jsonb_array_elements_text(COALESCE(i.changed, '[]'))), i.topic,
		       i.payload
		FROM s JOIN i ON i.entity = s.entity AND i.key = s.key WHERE i.op IS NOT NULL;
		n := n + cardinality(a.e);
	END LOOP;
	IF (SELECT count(*) FROM bench_floor.changes) <> n THEN
		RAISE EXCEPTION 'store floor: % keys merged but % changes written', n,
			(SELECT count(*) FROM bench_floor.changes);
	END IF;
	RAISE NOTICE 'store floor: % keys in % us', n,
		round(extract(epoch FROM clock_timestamp() - t0) * 1e6);
END
$$;

SET client_min_messages = warning;
DROP SCHEMA bench_floor CASCADE;
