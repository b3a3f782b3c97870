/*
 * The postgres source's offsets (connector.h: offsets_get, offsets_reset):
 * its replication slot's confirmed_flush_lsn next to the server's current
 * WAL LSN, and moving the slot forward with pg_replication_slot_advance. A
 * slot cannot go back (the WAL before it is gone): earliest, a time or an
 * LSN behind the slot are refused with the reason. Polling mode has no
 * offset: its progress is a (timestamp, increment) per table (poll_table).
 */
#include "connectors/postgres/pg_source_int.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT_BUSY_WAIT_MS 10000 /* the closed source's walsender may hold the slot a moment */

static const char slot_sql[] =
    "SELECT (confirmed_flush_lsn - '0/0'::pg_lsn)::bigint, confirmed_flush_lsn::text, "
    "(pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, pg_current_wal_lsn()::text "
    "FROM pg_replication_slots WHERE slot_name = $1";

static int refuse_polling(const char *platform, const struct cps_settings *settings, char *errstr,
                          size_t errstr_size)
{
	if (strcmp(cps_settings_get(settings, "mode"), "polling") != 0)
		return CPS_OK;
	return cps_seterr(
	    CPS_ERR_INVALID, errstr, errstr_size,
	    "postgres source '%s' polls (mode polling): its progress is a (timestamp, "
	    "increment) per table in its poll_table, there is no offset to show or reset",
	    platform);
}

/* A session to read and move the slot (a polling source has none). */
static int conn_open(const char *platform, const struct cps_settings *settings, PGconn **out,
                     char *errstr, size_t errstr_size)
{
	char why[256];
	int rc = refuse_polling(platform, settings, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	*out = pg_source_connect(cps_settings_get(settings, "conninfo"), false);
	if (PQstatus(*out) == CONNECTION_OK)
		return CPS_OK;
	cps_pg_conn_message(*out, why, sizeof(why));
	PQfinish(*out);
	*out = NULL;
	return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
	                  "postgres source '%s': connecting to read the slot failed: %s", platform,
	                  why);
}

/* The slot's entry (offset -1 when it does not exist yet). */
static int slot_entry(PGconn *c, const char *platform, const char *slot, struct cps_offset_entry *e,
                      char *errstr, size_t errstr_size)
{
	const char *params[] = {slot};
	PGresult *r = PQexecParams(c, slot_sql, 1, NULL, params, NULL, NULL, 0);
	int rc = CPS_OK;

	cps_offset_entry_init(e, "slot", slot);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = cps_pg_result_error(c, r, platform, "reading the replication slot", errstr,
		                         errstr_size);
	} else if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		e->offset = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		e->end = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
		e->lag = e->end > e->offset ? e->end - e->offset : 0;
		snprintf(e->text, sizeof(e->text), "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return rc;
}

/* The slot's entry, appended to `out`. */
static int add_slot_entry(PGconn *c, const char *platform, const char *slot,
                          struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	struct cps_offset_entry e;
	int rc = slot_entry(c, platform, slot, &e, errstr, errstr_size);

	if (rc == CPS_OK && cps_offsets_add(out, &e) != CPS_OK)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return rc;
}

int pg_source_offsets_get(const char *platform, const struct cps_settings *settings,
                          struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	PGconn *c;
	int rc = conn_open(platform, settings, &c, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	rc = add_slot_entry(c, platform, cps_settings_get(settings, "slot"), out, errstr,
	                    errstr_size);
	PQfinish(c);
	return rc;
}

/* The LSN to advance to, as text, from `to` and the slot's entry. */
static int reset_target(const char *platform, const char *slot, const struct cps_offsets_reset *to,
                        const struct cps_offset_entry *cur, PGconn *c, char *lsn, size_t lsn_size,
                        char *errstr, size_t errstr_size)
{
	const char *params[1];
	PGresult *r;
	int rc = CPS_OK;

	if (cur->offset < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "postgres source '%s': slot '%s' does not exist yet", platform,
		                  slot);
	if (to->to == CPS_OFFSETS_EARLIEST || to->to == CPS_OFFSETS_TIMESTAMP)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "postgres source '%s': a replication slot cannot go back (the WAL "
		    "before its confirmed_flush_lsn %s is gone) and has no map from "
		    "time to LSN: reset it to latest or to an LSN ahead of it",
		    platform, cur->text);
	if (to->to == CPS_OFFSETS_LATEST) {
		snprintf(lsn, lsn_size, "%" PRId64, cur->end);
		return CPS_OK;
	}
	if (to->n_targets != 1 ||
	    (to->targets[0].stream[0] && strcmp(to->targets[0].stream, slot) != 0))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "postgres source '%s': give exactly one offset, for slot '%s'",
		                  platform, slot);
	params[0] = to->targets[0].offset;
	r = PQexecParams(c, "SELECT ($1::pg_lsn - '0/0'::pg_lsn)::bigint", 1, NULL, params, NULL,
	                 NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "postgres source '%s': offset '%s' is not an LSN (like 0/16B3748)", platform,
		    to->targets[0].offset);
	}
	{
		int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);

		if (v < cur->offset)
			rc = cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "postgres source '%s': LSN %s lies behind the slot's "
			    "confirmed_flush_lsn %s, and a replication slot cannot go back",
			    platform, to->targets[0].offset, cur->text);
		else if (v > cur->end)
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "postgres source '%s': LSN %s lies ahead of the server's "
			                "current WAL LSN",
			                platform, to->targets[0].offset);
		else
			snprintf(lsn, lsn_size, "%" PRId64, v);
	}
	PQclear(r);
	return rc;
}

/* pg_replication_slot_advance, retried while the slot is still active (the
 * walsender of the source just closed ends a moment later). */
static int slot_advance(PGconn *c, const char *platform, const char *slot, const char *lsn,
                        char *errstr, size_t errstr_size)
{
	const char *params[] = {slot, lsn};
	int64_t waited = 0;

	for (;;) {
		PGresult *r = PQexecParams(
		    c, "SELECT pg_replication_slot_advance($1, '0/0'::pg_lsn + $2::numeric)", 2,
		    NULL, params, NULL, NULL, 0);
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		int rc = CPS_OK;

		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			PQclear(r);
			return CPS_OK;
		}
		if (state && !strcmp(state, "55006") && waited < SLOT_BUSY_WAIT_MS) {
			struct timespec ts = {0, 200 * 1000000};

			PQclear(r);
			nanosleep(&ts, NULL);
			waited += 200;
			continue;
		}
		rc = cps_pg_result_error(c, r, platform, "advancing the replication slot", errstr,
		                         errstr_size);
		PQclear(r);
		/* never INVALID here: the source's session is already ended, so the
		 * caller must close it (INVALID would keep it) */
		return rc == CPS_ERR_RETRIABLE ? rc : CPS_ERR_FATAL;
	}
}

/* The open source's replication session ends: the slot must be inactive to
 * move (the caller closes the source right after). */
static void end_replication(struct cps_conn *open)
{
	struct pg_source *s = (struct pg_source *)open;

	if (!s || !s->repl)
		return;
	pg_source_stream_end(s);
	PQfinish(s->repl);
	s->repl = NULL;
}

int pg_source_offsets_reset(const char *platform, const struct cps_settings *settings,
                            struct cps_conn *open, const struct cps_offsets_reset *to,
                            struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	const char *slot = cps_settings_get(settings, "slot");
	struct cps_offset_entry e;
	char lsn[32];
	PGconn *c;
	int rc = conn_open(platform, settings, &c, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	rc = slot_entry(c, platform, slot, &e, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = reset_target(platform, slot, to, &e, c, lsn, sizeof(lsn), errstr, errstr_size);
	if (rc == CPS_OK)
		end_replication(open);
	if (rc == CPS_OK && strtoll(lsn, NULL, 10) > e.offset)
		rc = slot_advance(c, platform, slot, lsn, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = add_slot_entry(c, platform, slot, out, errstr, errstr_size);
	PQfinish(c);
	return rc;
}
