-- Retention (store.*_retention; issue 11): the leader purges in small slices
-- the raw bytes of old dead letters, old dead letters already dealt with,
-- old closed conflicts, and the before/after values of old audit entries.
-- The audit trail itself stays append-only: the one change it now allows is
-- dropping an entry's values, every other column unchanged.
CREATE OR REPLACE FUNCTION cpsync.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.before IS NULL AND NEW.after IS NULL
	   AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.entity, NEW.key, NEW.field, NEW.reason)
	       IS NOT DISTINCT FROM
	       (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.entity, OLD.key, OLD.field, OLD.reason)
	THEN
		RETURN NEW; -- retention drops the entry's values
	END IF;
	RAISE EXCEPTION 'cpsync.audit is append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
-- When retention dropped a dead letter's raw bytes: such a row cannot be
-- replayed (its NULL raw would read as a delete).
ALTER TABLE cpsync.dead_letters ADD COLUMN raw_purged_at timestamptz;
CREATE INDEX audit_at ON cpsync.audit (at) WHERE before IS NOT NULL OR after IS NOT NULL;
CREATE INDEX conflicts_closed ON cpsync.conflicts (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX dead_letters_raw ON cpsync.dead_letters (received_at)
	WHERE raw IS NOT NULL OR raw_key IS NOT NULL;
