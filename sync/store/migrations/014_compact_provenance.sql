-- A key state's provenance (reconcile.h), and each change-log row's, in a
-- compact binary form (store/state_facts.c: its first byte is the layout,
-- then the object in the facts' tagged binary JSON). cpsync parses and
-- writes it about 4x faster than jsonb text (~35 us of ~200 us per event
-- in the pipeline bench), and the server no longer parses it as jsonb.
-- cpsync writes `prov` and leaves `provenance` '{}' (records) or NULL
-- (changes); a row written before (prov NULL) is read from `provenance` as
-- it was, so no data migration.
ALTER TABLE cpsync.records ADD COLUMN prov bytea;
ALTER TABLE cpsync.changes ADD COLUMN prov bytea;

DO $$
BEGIN
	ALTER TABLE cpsync.records ALTER COLUMN prov SET COMPRESSION lz4;
	ALTER TABLE cpsync.changes ALTER COLUMN prov SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'cpsync: this server has no lz4; the store keeps pglz';
END
$$;

-- The provenance as jsonb, for psql and SQL reports:
--   SELECT key, cpsync.provenance_json(prov) -> 'name' FROM cpsync.records ...
--   COALESCE(cpsync.provenance_json(prov), provenance)  -- rows of either age
-- Slow next to cpsync's own decoder: for people, not for every row of a batch.
CREATE FUNCTION cpsync.provenance_json(b bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	r record;
BEGIN
	IF length(b) < 2 OR get_byte(b, 0) <> 1 THEN
		RAISE EXCEPTION 'provenance: unknown layout % (1 expected)', get_byte(b, 0);
	END IF;
	SELECT * INTO r FROM cpsync.facts_value(b, 1, 0);
	IF r.pos <> length(b) OR jsonb_typeof(r.v) <> 'object' THEN
		RAISE EXCEPTION 'provenance: not one object (% of % bytes read)', r.pos, length(b);
	END IF;
	RETURN r.v;
END
$$;

-- The history view operators know shows the provenance of either age.
CREATE OR REPLACE VIEW cpsync.record_history AS
SELECT entity, key, version, op, record,
       COALESCE(cpsync.provenance_json(prov), provenance) AS provenance, changed_fields,
       committed_at
FROM cpsync.changes;
