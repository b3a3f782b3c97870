-- A key state is rewritten on every event of its key: leave room on each
-- page so the new version fits beside the old one (a HOT update: no new
-- entry in the primary key's index, and pruned without vacuum).
ALTER TABLE cpsync.records SET (fillfactor = 70);
