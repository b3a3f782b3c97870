-- The policy's findings (sync/policy/, issue 12): what a check of 深民〔2021〕80号
-- finds in a unified record, beside the conflicts in the stewards' queue.
-- A finding stays open while its check still fires on the record's latest
-- version; the reconcile batch that changes the record closes it otherwise,
-- in the same transaction. At most one open finding per (check, record).
CREATE TABLE cpsync.policy_findings (
	id bigserial PRIMARY KEY,
	check_code text NOT NULL,
	entity text NOT NULL,
	key text NOT NULL,
	fields jsonb NOT NULL,
	rule_text text NOT NULL,
	category text NOT NULL,
	severity text NOT NULL,
	detail text NOT NULL,
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	opened_at timestamptz NOT NULL DEFAULT now(),
	closed_at timestamptz
);
CREATE UNIQUE INDEX policy_findings_open ON cpsync.policy_findings (check_code, entity, key)
	WHERE status = 'open';
CREATE INDEX policy_findings_open_by_key ON cpsync.policy_findings (entity, key)
	WHERE status = 'open';
