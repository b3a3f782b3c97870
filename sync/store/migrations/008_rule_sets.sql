-- The rules lifecycle (issue 12): every rule set cpsync runs, and a fence that
-- keeps a reconcile worker from writing back a key state that changed after
-- it loaded it (`cpsync rules apply` rewrites states without a new version
-- when only conflicts or provenance markers change).
--
-- A rule set is stored once per canonical form (reconcile/rules_canon.c:
-- every entry resolved, compact JSON, no versions); `id` is the number
-- provenance records as rule_version.
CREATE TABLE cpsync.rule_sets (
	id bigserial PRIMARY KEY,
	hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'), -- SHA-256 of canonical
	canonical text NOT NULL,
	rules jsonb NOT NULL,
	first_loaded_at timestamptz NOT NULL DEFAULT now(),
	loaded_by text NOT NULL,            -- the instance that first ran it
	applied_at timestamptz,             -- the last `rules apply` that finished
	applied_by text
);

-- The transaction that last wrote each key state. A reconcile worker sets
-- `cpsync.load_fence` on its session to pg_current_snapshot() just before
-- it loads a batch's states; the trigger below refuses (serialization
-- failure: the worker reloads and re-applies its batch) an update of a row
-- whose last writer that snapshot did not see. Sessions without the fence
-- (stewards, rules apply: they read under FOR UPDATE) are not checked.
ALTER TABLE cpsync.records ADD COLUMN written_xid xid8 DEFAULT pg_current_xact_id();

CREATE FUNCTION cpsync.records_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	fence text := current_setting('cpsync.load_fence', true);
BEGIN
	IF fence IS NOT NULL AND fence <> '' AND OLD.written_xid IS NOT NULL
	   AND OLD.written_xid <> pg_current_xact_id()
	   AND NOT pg_visible_in_snapshot(OLD.written_xid, fence::pg_snapshot) THEN
		RAISE EXCEPTION 'stale key state: the record changed after it was loaded'
			USING ERRCODE = 'serialization_failure';
	END IF;
	NEW.written_xid := pg_current_xact_id();
	RETURN NEW;
END
$$;
CREATE TRIGGER records_fence BEFORE UPDATE ON cpsync.records
	FOR EACH ROW EXECUTE FUNCTION cpsync.records_fence();
