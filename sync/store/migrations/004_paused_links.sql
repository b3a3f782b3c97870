-- Links an operator paused (sources, sinks, the reconcile workers, the
-- publisher; issue 13): a pause survives a restart. The engine reads this at
-- start and starts those links PAUSED; resume deletes the row. One row per
-- link name ("city-sink", "province-source", "publisher", "reconcile"), for
-- every instance of the cluster.
CREATE TABLE cpsync.paused_links (
	link text PRIMARY KEY,
	paused_by text NOT NULL,
	paused_at timestamptz NOT NULL DEFAULT now(),
	reason text
);
