-- The policy's rechecks (sync/worker/worker_policy.c): when a batch changes a
-- person or a household, the enrolments that read it are checked again. These
-- two expression indexes find them in one query: enrolments by their subject,
-- and persons by their household (an Avro JSON union: {"string": id}). Plain
-- CREATE INDEX: the migration's transaction holds off writes to records while
-- they build (seconds on the demo's store).
CREATE INDEX records_enrolment_subject ON cpsync.records ((record->>'subject_id'))
	WHERE entity = 'enrolment';
CREATE INDEX records_person_household
	ON cpsync.records ((COALESCE(record->'household_id'->>'string', record->>'household_id')))
	WHERE entity = 'person';
