-- The wide values of the hot tables compress with lz4 instead of pglz.
-- PostgreSQL compresses a row's values once it passes ~2 kB (TOAST), which
-- every key state and change-log row of a record does; pglz_compress was
-- ~9% of the server's CPU in the pipeline bench, and lz4 costs a fraction
-- of it (bench: PostgreSQL 175 -> 150 CPU-s per million events). Values
-- already stored keep pglz and read as before; only new writes use lz4.
-- A server built without lz4 keeps pglz (a notice, not a failure).
DO $$
BEGIN
	ALTER TABLE cpsync.records
		ALTER COLUMN record SET COMPRESSION lz4,
		ALTER COLUMN provenance SET COMPRESSION lz4,
		ALTER COLUMN conflicts SET COMPRESSION lz4,
		ALTER COLUMN platforms SET COMPRESSION lz4,
		ALTER COLUMN facts SET COMPRESSION lz4;
	ALTER TABLE cpsync.changes
		ALTER COLUMN record SET COMPRESSION lz4,
		ALTER COLUMN provenance SET COMPRESSION lz4,
		ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'cpsync: this server has no lz4; the store keeps pglz';
END
$$;
