/* PostgreSQL failures said one way: see pgerr.h. */
#include "store/pgerr.h"

#include "base/common.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cps_pg_sqlstate_code(const PGconn *conn, const char *sqlstate)
{
	if (!conn || PQstatus(conn) == CONNECTION_BAD || !sqlstate || !*sqlstate)
		return CPS_ERR_RETRIABLE;
	if (!strncmp(sqlstate, "08", 2) || !strcmp(sqlstate, "40001") ||
	    !strcmp(sqlstate, "40P01") || !strncmp(sqlstate, "57P", 3) ||
	    !strcmp(sqlstate, "57014") || !strncmp(sqlstate, "53", 2) || !strcmp(sqlstate, "55P03"))
		return CPS_ERR_RETRIABLE;
	if (!strncmp(sqlstate, "22", 2) || !strncmp(sqlstate, "23", 2))
		return CPS_ERR_INVALID;
	return CPS_ERR_FATAL;
}

const char *cps_pg_conn_message(const PGconn *conn, char *buf, size_t size)
{
	const char *m = conn ? PQerrorMessage(conn) : "out of memory";
	size_t n = strcspn(m, "\n");

	if (size == 0)
		return "";
	if (n >= size)
		n = size - 1;
	memcpy(buf, m, n);
	buf[n] = '\0';
	return n ? buf : "connection lost";
}

void cps_pg_safe_message(const PGresult *res, const PGconn *conn, char *out, size_t size)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t o;
	bool quoted = false;

	if (size == 0)
		return;
	if (!msg)
		msg = conn ? PQerrorMessage(conn) : "out of memory";
	o = (size_t)snprintf(out, size, "[%s] ", state ? state : "-----");
	for (; *msg && *msg != '\n' && o + 6 < size; msg++) {
		if (*msg == '"') {
			if (!quoted)
				o += (size_t)snprintf(out + o, size - o, "\"...\"");
			quoted = !quoted;
			continue;
		}
		if (!quoted)
			out[o++] = *msg;
	}
	out[o < size ? o : size - 1] = '\0';
}

int cps_pg_result_error(const PGconn *conn, const PGresult *res, const char *who, const char *what,
                        char *errstr, size_t errstr_size)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	int code = cps_pg_sqlstate_code(conn, state);
	char line[200];

	if (!state)
		return cps_seterr(code, errstr, errstr_size, "%s: %s failed: %s", who, what,
		                  cps_pg_conn_message(conn, line, sizeof(line)));
	if (!strcmp(state, "42P01") || !strcmp(state, "3F000"))
		return cps_seterr(code, errstr, errstr_size,
		                  "%s: %s failed: SQLSTATE %s (schema missing: run cpsync migrate)",
		                  who, what, state);
	if (!strcmp(state, "40001"))
		return cps_seterr(
		    code, errstr, errstr_size,
		    "%s: %s failed: SQLSTATE %s (concurrent change or stale key state: reload the states and retry)",
		    who, what, state);
	if (constraint)
		return cps_seterr(code, errstr, errstr_size,
		                  "%s: %s failed: SQLSTATE %s (constraint %s)", who, what, state,
		                  constraint);
	return cps_seterr(code, errstr, errstr_size, "%s: %s failed: SQLSTATE %s", who, what,
	                  state);
}
