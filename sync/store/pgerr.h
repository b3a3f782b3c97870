/*
 * PostgreSQL failures, classified and said one way for every room that talks
 * to a server (the store, ingest leadership, sinks, the postgres connector,
 * the demo). Texts carry the SQLSTATE, a constraint name or libpq's first
 * line, never a server message's quoted parts or DETAIL: those may hold
 * values, thus personal data.
 */
#ifndef CPS_PGERR_H
#define CPS_PGERR_H

#include <libpq-fe.h>
#include <stddef.h>

/* CPS_ERR_RETRIABLE for a lost connection, no SQLSTATE, connection
 * exceptions (08), serialization failures and deadlocks (40001, 40P01),
 * operator intervention (57P), a statement timeout (57014), insufficient
 * resources (53) and lock not available (55P03); CPS_ERR_INVALID for bad data (22, 23); CPS_ERR_FATAL
 * for everything else (a bug, a missing schema, no privilege). */
int cps_pg_sqlstate_code(const PGconn *conn, const char *sqlstate);

/* The first line of libpq's connection-level message (host and reason,
 * never the password or row values) into buf; "connection lost" when libpq
 * has none. Returns buf. */
const char *cps_pg_conn_message(const PGconn *conn, char *buf, size_t size);

/* "[SQLSTATE] primary message" with every quoted part blanked to "...";
 * libpq's first line when the result has no message. Never the DETAIL. */
void cps_pg_safe_message(const PGresult *res, const PGconn *conn, char *out, size_t size);

/* "<who>: <what> failed: SQLSTATE 23505 (constraint outbox_pkey)", with a
 * hint for a missing schema or a serialization failure, or libpq's first
 * line when the failure has no SQLSTATE. Returns the code of the SQLSTATE. */
int cps_pg_result_error(const PGconn *conn, const PGresult *res, const char *who, const char *what,
                        char *errstr, size_t errstr_size);

#endif
