/*
 * The postgres source (the city): change capture over the streaming
 * replication protocol with the built-in pgoutput plugin through libpq,
 * with a consistent initial snapshot handed over to streaming through an
 * exported snapshot, or a polling mode (incrementing column + timestamp)
 * where replication rights are not granted. Each row leaves as the entity
 * record in Avro binary (framing raw); a delete as a tombstone (value NULL).
 *
 * Positions: stream = slot name, partition 0, offset = a "virtual LSN" that
 * is the change's own LSN made strictly increasing in stream order (so rows
 * of one transaction, and of transactions interleaved in WAL, stay unique and
 * ordered); snapshot rows take 1..N. The source keeps, per transaction seen
 * to its Commit, the offset of its last row and its end LSN: committing a
 * position confirms (flush) the end LSN of every transaction wholly at or
 * before it, never more. Origins read "<platform>:<commit LSN>#<row index>".
 *
 * This file: the settings, open, poll (by phase), commit, describe and close.
 * The phases are in pg_source_snapshot.c, pg_source_stream.c and
 * pg_source_poll.c; rows become messages in pg_source_rows.c; the instance
 * is made and freed in pg_source_instance.c.
 */
#include "connectors/builtin.h"
#include "connectors/postgres/pg_source_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cps_setting_decl pg_settings[] = {
    {"conninfo", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH | CPS_SETTING_REQUIRED,
     "libpq connection string of the city database (secret: may hold a password)"},
    {"schema_dir", CPS_SETTING_STRING, "schemas", 0, 0, CPS_SETTING_SOURCE,
     "directory of the entity schemas the rows are encoded in"},
    {"mode", CPS_SETTING_STRING, "replication", 0, 0, CPS_SETTING_SOURCE,
     "replication (pgoutput change capture) or polling (increment + timestamp columns)"},
    {"slot", CPS_SETTING_STRING, "cpsync_city", 0, 0, CPS_SETTING_SOURCE,
     "logical replication slot name"},
    {"publication", CPS_SETTING_STRING, "cpsync_city", 0, 0, CPS_SETTING_SOURCE,
     "publication the slot streams"},
    {"create_slot", CPS_SETTING_BOOL, "true", 0, 0, CPS_SETTING_SOURCE,
     "create the slot (with an initial snapshot) when it is missing"},
    {"create_publication", CPS_SETTING_BOOL, "true", 0, 0, CPS_SETTING_SOURCE,
     "create the publication for the mapped tables when it is missing"},
    {"ignore_origin", CPS_SETTING_STRING, "cpsync", 0, 0, CPS_SETTING_SOURCE,
     "replication origin whose changes are cpsync's own writes: skipped"},
    {"truncate", CPS_SETTING_STRING, "dead_letter", 0, 0, CPS_SETTING_SOURCE,
     "a TRUNCATE of a mapped table: dead_letter (one dead letter per table, naming it; nothing is deleted downstream) or ignore (a warning in the log only)"},
    {"snapshot_table", CPS_SETTING_STRING, "public.cpsync_snapshot", 0, 0, CPS_SETTING_SOURCE,
     "schema.table in the city database keeping the incremental snapshots' requests and progress per slot (created when missing; POST /api/v1/connectors/{name}/snapshot)"},
    {"poll_table", CPS_SETTING_STRING, "public.cpsync_poll", 0, 0, CPS_SETTING_SOURCE,
     "polling mode: schema.table in the city database keeping each table's committed progress under the source's slot name (created when missing; without it progress is kept in memory and a restart reads everything again)"},
    {"snapshot_chunk_delay_ms", CPS_SETTING_INT, "0", 0, 10000, CPS_SETTING_SOURCE,
     "testing aid: pause between reading an incremental snapshot's chunk and its high watermark, which widens the window in which the stream changes rows of the chunk (0 in production)"},
    {"status_interval_ms", CPS_SETTING_INT, "10000", 100, 3600000, CPS_SETTING_SOURCE,
     "interval of standby status updates to the server"},
    {"max_slot_lag_bytes", CPS_SETTING_INT, "1073741824", 0, 0, CPS_SETTING_SOURCE,
     "slot lag beyond which the status reports an error (status only)"},
    {"poll_interval_ms", CPS_SETTING_INT, "1000", 10, 3600000, CPS_SETTING_SOURCE,
     "polling mode: pause between rounds that found nothing"},
    {"snapshot_batch", CPS_SETTING_INT, "1000", 1, 1000000, CPS_SETTING_SOURCE,
     "rows fetched per round trip in the initial snapshot and in polling"},
    {"table.*", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH,
     "table.<schema.table>.entity | .key | .column.<col> (field name) | .increment_column | .timestamp_column | .effective_column (a timestamp or date column: when the row's fact became true; else the commit time) | .deleted_column (polling: true, or a non-boolean value not NULL, makes the row a delete)"},
};

/* ---------------------------------------------------- the source table */

static void pg_source_close(struct cps_conn *c)
{
	pg_source_free((struct pg_source *)c);
}

static int pg_source_open(const char *platform, const struct cps_settings *settings,
                          struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct pg_source *s = pg_source_new(platform, cps_settings_get(settings, "conninfo"),
	                                    cps_settings_get(settings, "slot"));
	const char *mode = cps_settings_get(settings, "mode"), *truncate;
	int rc;

	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	s->publication = cps_arena_strdup(&s->strings, cps_settings_get(settings, "publication"));
	s->ignore_origin =
	    cps_arena_strdup(&s->strings, cps_settings_get(settings, "ignore_origin"));
	s->snapshot_table =
	    cps_arena_strdup(&s->strings, cps_settings_get(settings, "snapshot_table"));
	s->poll_table = cps_arena_strdup(&s->strings, cps_settings_get(settings, "poll_table"));
	if (!s->publication || !s->ignore_origin || !s->snapshot_table || !s->poll_table) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_close;
	}
	s->create_slot = cps_settings_get_bool(settings, "create_slot", true);
	s->create_publication = cps_settings_get_bool(settings, "create_publication", true);
	s->status_interval_ms = cps_settings_get_int(settings, "status_interval_ms", 10000);
	s->poll_interval_ms = cps_settings_get_int(settings, "poll_interval_ms", 1000);
	s->batch_rows = cps_settings_get_int(settings, "snapshot_batch", 1000);
	s->chunk_delay_ms = cps_settings_get_int(settings, "snapshot_chunk_delay_ms", 0);
	s->max_lag_bytes = cps_settings_get_int(settings, "max_slot_lag_bytes", 1 << 30);
	truncate = cps_settings_get(settings, "truncate");
	if (strcmp(truncate, "dead_letter") && strcmp(truncate, "ignore")) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "setting 'truncate' is '%s', not dead_letter or ignore", truncate);
		goto out_close;
	}
	s->truncate_dead_letter = !strcmp(truncate, "dead_letter");
	if (strcmp(mode, "replication") && strcmp(mode, "polling")) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "postgres source '%s': mode '%s' is not replication or polling",
		                platform, mode);
		goto out_close;
	}
	s->polling = !strcmp(mode, "polling");
	rc = pg_source_load(s, settings, "connection", errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	if (s->polling) {
		s->phase = PHASE_POLLING;
		rc = pg_source_poll_open(s, errstr, errstr_size);
	} else {
		rc = pg_source_open_replication(s, errstr, errstr_size);
	}
	if (rc != CPS_OK)
		goto out_close;
	*out = &s->base;
	return CPS_OK;
out_close:
	pg_source_close(&s->base);
	return rc;
}

static int pg_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                          int timeout_ms, char *errstr, size_t errstr_size)
{
	struct pg_source *s = (struct pg_source *)c;
	int rc;

	pg_source_batch_reset(s);
	batch->msgs = NULL;
	batch->n = 0;
	if (max == 0)
		return CPS_OK;
	switch (s->phase) {
	case PHASE_SNAPSHOT:
		rc = pg_source_poll_snapshot(
		    s, max < (size_t)s->batch_rows ? max : (size_t)s->batch_rows, errstr,
		    errstr_size);
		break;
	case PHASE_STREAMING:
		rc = pg_source_poll_stream(s, max, timeout_ms, errstr, errstr_size);
		break;
	default:
		rc = pg_source_poll_tables(
		    s, max < (size_t)s->batch_rows ? max : (size_t)s->batch_rows, timeout_ms,
		    errstr, errstr_size);
		break;
	}
	if (rc != CPS_OK && s->n_msgs > 0 && rc == CPS_ERR_RETRIABLE) {
		/* hand out what was collected; the error comes back on the next poll */
		pg_source_batch_finish(s, batch);
		return CPS_OK;
	}
	if (rc == CPS_ERR_RETRIABLE && s->phase == PHASE_STREAMING && s->repl &&
	    PQstatus(s->repl) != CONNECTION_OK) {
		/* the replication connection is gone (the server ended it, e.g. after
		 * wal_sender_timeout while ingest waited for Kafka): nothing here
		 * reconnects it, so this instance is done and the runner reopens */
		rc = CPS_ERR_FATAL;
	}
	if (rc != CPS_OK) {
		s->n_msgs = 0;
		return rc;
	}
	pg_source_batch_finish(s, batch);
	return CPS_OK;
}

static int pg_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n,
                            char *errstr, size_t errstr_size)
{
	struct pg_source *s = (struct pg_source *)c;

	for (size_t i = 0; i < n; i++) {
		s->counts.committed++;
		if (s->polling) {
			int rc = pg_source_poll_commit(s, &pos[i], errstr, errstr_size);

			if (rc != CPS_OK)
				return rc;
			continue;
		}
		if (strcmp(pos[i].stream, s->slot) != 0)
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "postgres source '%s': position of stream '%s' is not slot '%s'",
			    s->platform, pos[i].stream, s->slot);
		if (pos[i].offset > s->committed_offset)
			s->committed_offset = pos[i].offset;
	}
	if (s->polling)
		return CPS_OK;
	pg_source_resnap_committed(s);
	if (pg_source_advance_flush(s))
		return pg_source_send_status(s, true, errstr, errstr_size);
	return CPS_OK;
}

static void pg_source_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct pg_source *s = (struct pg_source *)c;

	*st = s->counts; /* last_msg_ms: the last commit's time; slot lag in seconds = now - this */
	st->lag = s->lag_bytes; /* bytes of WAL the slot retains past its confirmed flush */
	pg_source_resnap_describe(s, st);
	if (s->lag_bytes > s->max_lag_bytes && s->max_lag_bytes > 0)
		snprintf(st->last_error, sizeof(st->last_error),
		         "slot '%s' lags %" PRId64 " bytes (max_slot_lag_bytes %" PRId64 ")",
		         s->slot, s->lag_bytes, s->max_lag_bytes);
}

const struct cps_connector_ops cps_postgres_connector = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "postgres",
    .settings = pg_settings,
    .n_settings = CPS_ARRAY_SIZE(pg_settings),
    .source_open = pg_source_open,
    .source_poll = pg_source_poll,
    .source_commit = pg_source_commit,
    .source_close = pg_source_close,
    .source_describe = pg_source_describe,
    .offsets_get = pg_source_offsets_get,
    .offsets_reset = pg_source_offsets_reset,
    .snapshot_request = pg_source_snapshot_request,
    .sweep_read = pg_source_sweep_read,
};