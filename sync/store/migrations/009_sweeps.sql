-- Three-way sweeps (sync/sweep/, issue 12): each run compares every
-- platform's full current data with cpsync.records, and each difference it
-- finds is a steward task beside conflicts and policy findings. One run at a
-- time per store (an advisory lock); a run's counts are written when it ends.
CREATE TABLE cpsync.sweep_runs (
	id bigserial PRIMARY KEY,
	trigger text NOT NULL CHECK (trigger IN ('schedule', 'api')),
	requested_by text,
	state text NOT NULL DEFAULT 'running'
		CHECK (state IN ('running', 'done', 'failed')),
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz,
	duration_ms bigint,
	-- [{"platform", "entity", "kind", "count"}]: differences by platform, entity, kind
	counts jsonb NOT NULL DEFAULT '[]',
	-- {"<platform>": {"records": n, "entities": [...], "error": "..."?}}
	platforms jsonb NOT NULL DEFAULT '{}',
	error text
);
CREATE INDEX sweep_runs_started ON cpsync.sweep_runs (started_at DESC);

CREATE TABLE cpsync.sweep_differences (
	id bigserial PRIMARY KEY,
	run_id bigint NOT NULL REFERENCES cpsync.sweep_runs (id) ON DELETE CASCADE,
	platform text NOT NULL,
	entity text NOT NULL,
	key text NOT NULL,
	field text, -- stale_value only
	kind text NOT NULL
		CHECK (kind IN ('missing_at_platform', 'stale_value', 'unknown_to_store')),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	found_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sweep_differences_run ON cpsync.sweep_differences (run_id, id);
