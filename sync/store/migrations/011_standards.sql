-- The policy's standards as the store versions them (issue 12): the 低保 and
-- 特困 standards per region and period that cpsync checks with
-- (policy/policy.h). A new version is written at start and at a reload when
-- the standards differ from the latest version (by the SHA-256 of their
-- canonical JSON), so the table is their history; GET /api/v1/standards.
CREATE TABLE cpsync.policy_standards (
	version bigserial PRIMARY KEY,
	hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
	standards jsonb NOT NULL,
	loaded_at timestamptz NOT NULL DEFAULT now(),
	loaded_by text NOT NULL -- the instance that loaded them
);
